package session

import (
	"strings"
	"testing"
	"time"
)

// Re-checks, restarts and other instances know the app cookie app_sign_in
// made: it is in the sealed store entry, never in clear.
func TestAppSessionIsSealedWithTheSession(t *testing.T) {
	now := time.Now()
	s := &Session{UserID: 1, Username: "u", Token: "tok", Created: now, Expires: now.Add(time.Hour), Checked: now}
	s.Apps = []AppSession{{Kind: "overseerr", URL: "http://127.0.0.1:5055", Name: "connect.sid", Value: "s%3Aabc.def", Path: "/", Expires: now.Add(time.Hour).Round(time.Second)}}
	b, err := sealEntry("id", s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "s%3Aabc.def") {
		t.Fatal("the app cookie is in clear in the store entry")
	}
	got, err := openEntry("id", b)
	if err != nil {
		t.Fatal(err)
	}
	if a, w := got.Apps, s.Apps; len(a) != 1 || a[0].Value != w[0].Value || a[0].Name != w[0].Name || a[0].URL != w[0].URL || !a[0].Expires.Equal(w[0].Expires) {
		t.Fatalf("the store gave back %+v, want %+v", got.Apps, s.Apps)
	}
}
