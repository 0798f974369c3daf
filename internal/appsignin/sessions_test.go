package appsignin

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

// withApps copies every stored field: one added to Session later and
// forgotten there would be lost at the first app sign-in.
func TestSessionWithAppsCopiesEveryStoredField(t *testing.T) {
	mark := int64(7)
	now := time.Now()
	s := &session.Session{
		UserID: 10_000_001, UUID: "000000005eed0001", Username: "viewer1", Email: "viewer1@example.com",
		Title: "Viewer 1", Thumb: "https://plex.tv/users/000000005eed0001/avatar",
		Servers: map[string]string{"9f1c2e3d4b5a6978a1b2c3d4e5f60718293a4b5c": "friend"},
		Token:   "tok-0000000000000001", Created: now, Checked: now, Expires: now.Add(time.Hour),
	}
	s.SignoutMark = &mark
	s.Apps = []session.AppSession{{Kind: "tautulli", Name: "a", Value: "b"}}
	want, _ := json.Marshal(s)
	var fields map[string]any
	_ = json.Unmarshal(want, &fields)
	for k, v := range fields {
		if v == nil || v == "" || v == float64(0) {
			t.Fatalf("the test leaves %s empty: fill it", k)
		}
	}
	got, _ := json.Marshal(withApps(s, s.Apps))
	if string(got) != string(want) {
		t.Fatalf("copy %s\nwant %s", got, want)
	}
}
