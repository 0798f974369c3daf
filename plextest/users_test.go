package plextest

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// usersFixture: alice owns srv1 and srv2; bob is in her Plex Home; carol is
// a friend on srv1 and srv2; dave a friend on srv2 only; erin is invited to
// srv1 and has not accepted; mallory claims srv1 as her own; frank is a
// friend on zed's server.
func usersFixture(t *testing.T) *Server {
	s := NewServer()
	t.Cleanup(s.Close)
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin", "mallory", "zed", "frank"} {
		s.AddAccount(u)
	}
	s.AddServer("srv1", "Alice's Server")
	s.AddServer("srv2", "Alice's Other")
	s.AddServer("srv3", "Zed's Server")
	s.Share("srv1", "alice", Owner)
	s.Share("srv2", "alice", Owner)
	s.Share("srv1", "bob", Home)
	s.Share("srv1", "carol", Friend)
	s.Share("srv2", "carol", Friend)
	s.Share("srv2", "dave", Friend)
	s.Invite("srv1", "erin")
	s.ClaimServer("srv1", "mallory")
	s.Share("srv3", "zed", Owner)
	s.Share("srv3", "frank", Friend)
	return s
}

// user is what a test reads of one User, from either encoding.
type user struct {
	id       int
	username string
	home     string
	servers  map[string]string // machineIdentifier -> pending
}

func parseUsersXML(t *testing.T, b []byte) []user {
	t.Helper()
	var mc struct {
		XMLName   xml.Name `xml:"MediaContainer"`
		Size      string   `xml:"size,attr"`
		TotalSize string   `xml:"totalSize,attr"`
		Users     []struct {
			ID       int    `xml:"id,attr"`
			Username string `xml:"username,attr"`
			Home     string `xml:"home,attr"`
			Email    string `xml:"email,attr"`
			Servers  []struct {
				MachineIdentifier string `xml:"machineIdentifier,attr"`
				Pending           string `xml:"pending,attr"`
				Owned             string `xml:"owned,attr"`
			} `xml:"Server"`
		} `xml:"User"`
	}
	if err := xml.Unmarshal(b, &mc); err != nil {
		t.Fatalf("XML: %v\n%s", err, b)
	}
	var out []user
	for _, u := range mc.Users {
		x := user{id: u.ID, username: u.Username, home: u.Home, servers: map[string]string{}}
		if u.Email == "" {
			t.Errorf("user %s has no email attribute", u.Username)
		}
		for _, s := range u.Servers {
			x.servers[s.MachineIdentifier] = s.Pending
			if s.Owned != "1" {
				t.Errorf("user %s, server %s: owned=%q, want 1", u.Username, s.MachineIdentifier, s.Owned)
			}
		}
		out = append(out, x)
	}
	if mc.Size != mc.TotalSize || mc.Size != strconv.Itoa(len(out)) {
		t.Errorf("size=%q totalSize=%q for %d users", mc.Size, mc.TotalSize, len(out))
	}
	return out
}

func parseUsersJSON(t *testing.T, b []byte) []user {
	t.Helper()
	var doc struct {
		MediaContainer struct {
			FriendlyName      string `json:"friendlyName"`
			Identifier        string `json:"identifier"`
			MachineIdentifier string `json:"machineIdentifier"`
			Size              int    `json:"size"`
			TotalSize         int    `json:"totalSize"`
			User              []struct {
				ID       int         `json:"id"`
				Username string      `json:"username"`
				Home     json.Number `json:"home"`
				Server   []struct {
					MachineIdentifier string      `json:"machineIdentifier"`
					Pending           json.Number `json:"pending"`
				} `json:"Server"`
			} `json:"User"`
		} `json:"MediaContainer"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("JSON: %v\n%s", err, b)
	}
	mc := doc.MediaContainer
	if mc.FriendlyName != "myPlex" || mc.Identifier != "com.plexapp.plugins.myplex" || mc.MachineIdentifier == "" {
		t.Errorf("container fields: %s", b)
	}
	var out []user
	for _, u := range mc.User {
		x := user{id: u.ID, username: u.Username, home: string(u.Home), servers: map[string]string{}}
		for _, s := range u.Server {
			x.servers[s.MachineIdentifier] = string(s.Pending)
		}
		out = append(out, x)
	}
	if mc.Size != len(out) || mc.TotalSize != len(out) {
		t.Errorf("size=%d totalSize=%d for %d users", mc.Size, mc.TotalSize, len(out))
	}
	return out
}

// wantAliceUsers is alice's list: home member, friends with and without
// srv1, the pending invitation; not alice, not mallory (who only claims
// srv1), not zed's friend.
var wantAliceUsers = map[string]user{
	"bob":   {home: "1", servers: map[string]string{"srv1": "0"}},
	"carol": {home: "0", servers: map[string]string{"srv1": "0", "srv2": "0"}},
	"dave":  {home: "0", servers: map[string]string{"srv2": "0"}},
	"erin":  {home: "0", servers: map[string]string{"srv1": "1"}},
}

func checkUsers(t *testing.T, s *Server, got []user, want map[string]user) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d users %v, want %d", len(got), got, len(want))
	}
	last := 0
	for _, g := range got {
		w, ok := want[g.username]
		if !ok {
			t.Errorf("unexpected user %q", g.username)
			continue
		}
		if g.id != s.Account(g.username).ID {
			t.Errorf("%s: id %d, want %d", g.username, g.id, s.Account(g.username).ID)
		}
		if g.id <= last {
			t.Errorf("users not in id order: %v", got)
		}
		last = g.id
		if g.home != w.home || len(g.servers) != len(w.servers) {
			t.Errorf("%s: home=%q servers=%v, want home=%q servers=%v", g.username, g.home, g.servers, w.home, w.servers)
			continue
		}
		for id, p := range w.servers {
			if g.servers[id] != p {
				t.Errorf("%s: server %s pending=%q, want %q", g.username, id, g.servers[id], p)
			}
		}
	}
}

func TestUsersAnswersXMLEvenWhenJSONIsAsked(t *testing.T) {
	s := usersFixture(t)
	for _, h := range []hdr{
		{"X-Plex-Client-Identifier": clientID},
		jsonHdr(nil),
	} {
		h["X-Plex-Token"] = s.Account("alice").Token
		st, rh, b := call(t, nil, "GET", s.URL+"/api/users", h, nil)
		if st != http.StatusOK || !strings.HasPrefix(rh.Get("Content-Type"), "application/xml") {
			t.Fatalf("Accept %q: %d %q", h["Accept"], st, rh.Get("Content-Type"))
		}
		checkUsers(t, s, parseUsersXML(t, b), wantAliceUsers)
	}
}

func TestUsersAnswersJSONWhenSwitchedOn(t *testing.T) {
	s := usersFixture(t)
	s.SetUsersJSON(true)
	st, rh, b := call(t, nil, "GET", s.URL+"/api/users", jsonHdr(hdr{"X-Plex-Token": s.Account("alice").Token}), nil)
	if st != http.StatusOK || !strings.HasPrefix(rh.Get("Content-Type"), "application/json") {
		t.Fatalf("%d %q", st, rh.Get("Content-Type"))
	}
	for _, want := range []string{`"home":1`, `"pending":1`, `"pending":0`, `"protected":0`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s (booleans are 0/1 integers): %s", want, b)
		}
	}
	checkUsers(t, s, parseUsersJSON(t, b), wantAliceUsers)

	// Without Accept: application/json, XML still.
	st, rh, b = call(t, nil, "GET", s.URL+"/api/users", hdr{"X-Plex-Token": s.Account("alice").Token}, nil)
	if st != http.StatusOK || !strings.HasPrefix(rh.Get("Content-Type"), "application/xml") {
		t.Fatalf("no Accept: %d %q", st, rh.Get("Content-Type"))
	}
	checkUsers(t, s, parseUsersXML(t, b), wantAliceUsers)
}

func TestUsersFollowsSharesInvitationsAndClaims(t *testing.T) {
	s := usersFixture(t)
	get := func(who string) []user {
		st, _, b := call(t, nil, "GET", s.URL+"/api/users", hdr{"X-Plex-Token": s.Account(who).Token}, nil)
		if st != http.StatusOK {
			t.Fatalf("%s: %d %s", who, st, b)
		}
		return parseUsersXML(t, b)
	}
	// Zed's list is his own; a list of an account that owns nothing, or
	// only claims a server, is empty.
	checkUsers(t, s, get("zed"), map[string]user{"frank": {home: "0", servers: map[string]string{"srv3": "0"}}})
	checkUsers(t, s, get("mallory"), map[string]user{})
	checkUsers(t, s, get("carol"), map[string]user{})

	// The invitation accepted, dave removed.
	s.Share("srv1", "erin", Friend)
	s.Unshare("srv2", "dave")
	want := map[string]user{
		"bob":   wantAliceUsers["bob"],
		"carol": wantAliceUsers["carol"],
		"erin":  {home: "0", servers: map[string]string{"srv1": "0"}},
	}
	checkUsers(t, s, get("alice"), want)

	st, _, b := call(t, nil, "GET", s.URL+"/api/users", jsonHdr(hdr{"X-Plex-Token": "bad"}), nil)
	if st != http.StatusUnauthorized {
		t.Fatalf("bad token: %d", st)
	}
	wantErrors(t, b, 1001, 401, "")
	s.RevokeToken("alice")
	if st, _, _ := call(t, nil, "GET", s.URL+"/api/users", hdr{"X-Plex-Token": s.Account("alice").Token}, nil); st != http.StatusUnauthorized {
		t.Fatalf("revoked owner token: %d, want 401", st)
	}
}

// The account claiming a server sees it as owned in its own resources, a
// pending invitee does not see it at all, and the owner's answers do not
// change.
func TestClaimAndInvitationInResources(t *testing.T) {
	s := usersFixture(t)
	resources := func(who string) map[string]device {
		st, _, b := call(t, nil, "GET", s.URL+"/api/v2/resources", jsonHdr(hdr{"X-Plex-Token": s.Account(who).Token}), nil)
		if st != http.StatusOK {
			t.Fatalf("%s: %d", who, st)
		}
		var devs []device
		if err := json.Unmarshal(b, &devs); err != nil {
			t.Fatal(err)
		}
		out := map[string]device{}
		for _, d := range devs {
			if d.Provides == "server" {
				out[d.ClientIdentifier] = d
			}
		}
		return out
	}
	if d, ok := resources("mallory")["srv1"]; !ok || !d.Owned {
		t.Errorf("mallory's resources should claim srv1 as owned: %+v (present %v)", d, ok)
	}
	if _, ok := resources("erin")["srv1"]; ok {
		t.Error("a pending invitee's resources list the server")
	}
	if d := resources("carol")["srv1"]; d.SourceTitle == nil || *d.SourceTitle != "alice" {
		t.Errorf("srv1's owner as a friend sees it should stay alice, got %v", d.SourceTitle)
	}
	s.Share("srv1", "erin", Friend)
	if _, ok := resources("erin")["srv1"]; !ok {
		t.Error("an accepted invitation should list the server")
	}
}
