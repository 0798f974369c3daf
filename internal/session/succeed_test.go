package session

import (
	"reflect"
	"testing"
	"time"
)

// A re-check's new session takes what plex.tv said from the check and
// the session's own facts from its predecessor: when it began and ends,
// the sign-out mark it was made under, its app sessions; it is checked
// now, and prepared for the hot path.
func TestSucceedKeepsTheSessionsOwnFactsAndTakesPlexsAnswer(t *testing.T) {
	mark := int64(7)
	created, expires, checked := time.Unix(1000, 0), time.Unix(9000, 0), time.Unix(5000, 0)
	old := &Session{UserID: 1, Username: "old", Token: "tok", Servers: map[string]string{"a": "friend"},
		Created: created, Expires: expires, Checked: time.Unix(2000, 0), SignoutMark: &mark,
		Apps: []AppSession{{Kind: "overseerr", URL: "http://app", Name: "connect.sid", Value: "v"}}}
	fresh := &Session{UserID: 1, Username: "New", Token: "tok", Servers: map[string]string{"b": "home"}}
	fresh.Succeed(old, checked)
	if !fresh.Created.Equal(created) || !fresh.Expires.Equal(expires) || !fresh.Checked.Equal(checked) ||
		fresh.SignoutMark != old.SignoutMark || !reflect.DeepEqual(fresh.Apps, old.Apps) {
		t.Errorf("the session's own facts were not kept: %+v", fresh)
	}
	if fresh.Username != "New" || fresh.Servers["b"] != "home" || fresh.Servers["a"] != "" {
		t.Errorf("plex.tv's answer was not taken: %+v", fresh)
	}
	if fresh.FoldedUsername() != "new" || fresh.Boxed.Username != "New" {
		t.Errorf("not prepared: folded %q, boxed %+v", fresh.FoldedUsername(), fresh.Boxed)
	}
}
