package plextest

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestTokenStatusAffectsOnlyThatAccount(t *testing.T) {
	s := NewServer()
	defer s.Close()
	alice, bob := s.AddAccount("alice"), s.AddAccount("bob")
	s.SetTokenStatus("alice", 498)
	for _, path := range []string{"/api/v2/user", "/api/v2/resources"} {
		st, _, b := call(t, nil, "GET", s.URL+path, jsonHdr(hdr{"X-Plex-Token": alice.Token}), nil)
		if st != 498 {
			t.Fatalf("GET %s with the marked token: %d, want 498", path, st)
		}
		wantErrors(t, b, 498, 498, "Token expired")
		if st, _, _ := call(t, nil, "GET", s.URL+path, jsonHdr(hdr{"X-Plex-Token": bob.Token}), nil); st != 200 {
			t.Fatalf("GET %s as another account: %d", path, st)
		}
	}
	s.SetTokenStatus("alice", 0)
	if st, _, _ := call(t, nil, "GET", s.URL+"/api/v2/user", jsonHdr(hdr{"X-Plex-Token": alice.Token}), nil); st != 200 {
		t.Fatalf("after SetTokenStatus(alice, 0): %d", st)
	}
}

func TestRenameAndHostileProfileValues(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddServer("srv", "Box")
	a := s.AddAccount("alice")
	s.AddAccount("bob")
	s.Share("srv", "alice", Friend)
	if err := s.Rename("alice", "bob"); err == nil {
		t.Fatal("Rename onto a taken username succeeded")
	}
	if err := s.Rename("nobody", "x"); err == nil {
		t.Fatal("Rename of an unknown account succeeded")
	}
	if err := s.Rename("alice", "alice\r\nX"); err != nil {
		t.Fatal(err)
	}
	if s.Account("alice") != nil || s.Account("alice\r\nX").ID != a.ID {
		t.Fatal("the renamed account is not found under its new name only")
	}
	if err := s.SetTitle("alice\r\nX", "T\x00"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetEmail("alice\r\nX", "e\n@example.com"); err != nil {
		t.Fatal(err)
	}
	h := jsonHdr(hdr{"X-Plex-Token": a.Token})
	_, _, b := call(t, nil, "GET", s.URL+"/api/v2/user", h, nil)
	var u struct{ Username, Title, Email string }
	if err := json.Unmarshal(b, &u); err != nil || u.Username != "alice\r\nX" || u.Title != "T\x00" || u.Email != "e\n@example.com" {
		t.Fatalf("user after edits: %+v, %v", u, err)
	}
	_, _, b = call(t, nil, "GET", s.URL+"/api/v2/resources", h, nil)
	if !strings.Contains(string(b), `"clientIdentifier":"srv"`) {
		t.Fatalf("the share did not follow the rename: %s", b)
	}
	if k := s.AddAccount("\u212aevin"); k.Title != "\u212aevin" {
		t.Fatalf("title of a non-ASCII username: %q", k.Title)
	}
}
