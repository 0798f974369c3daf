package plextest

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

const clientID = "test-client-1"

type hdr map[string]string

// call sends a request and returns the status, headers and body.
func call(t *testing.T, c *http.Client, method, u string, h hdr, body io.Reader) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func jsonHdr(extra hdr) hdr {
	h := hdr{"Accept": "application/json", "X-Plex-Client-Identifier": clientID, "X-Plex-Product": "Test App"}
	for k, v := range extra {
		h[k] = v
	}
	return h
}

// createPin creates a pin over HTTP and returns its decoded JSON body.
func createPin(t *testing.T, s *Server, strong bool) map[string]any {
	t.Helper()
	st, _, b := call(t, nil, "POST", s.URL+"/api/v2/pins?strong="+strconv.FormatBool(strong), jsonHdr(nil), nil)
	if st != http.StatusCreated {
		t.Fatalf("create pin: %d %s", st, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func pinPath(m map[string]any) string {
	return "/api/v2/pins/" + strconv.Itoa(int(m["id"].(float64)))
}

func wantErrors(t *testing.T, b []byte, code, status int, msg string) {
	t.Helper()
	var e struct {
		Errors []struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  int    `json:"status"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(b, &e); err != nil || len(e.Errors) != 1 {
		t.Fatalf("errors body %s: %v", b, err)
	}
	if g := e.Errors[0]; g.Code != code || g.Status != status || (msg != "" && g.Message != msg) {
		t.Fatalf("errors body %s, want code %d status %d %q", b, code, status, msg)
	}
}

func TestCreatePinShape(t *testing.T) {
	s := NewServer()
	defer s.Close()
	for _, tc := range []struct {
		strong  bool
		codeLen int
		expires float64
	}{{true, 25, 1799}, {false, 4, 900}} {
		m := createPin(t, s, tc.strong)
		for _, k := range []string{"id", "code", "product", "trusted", "qr", "clientIdentifier", "location",
			"expiresIn", "createdAt", "expiresAt", "authToken", "newRegistration"} {
			if _, ok := m[k]; !ok {
				t.Errorf("strong=%v: field %q missing in %v", tc.strong, k, m)
			}
		}
		if id, ok := m["id"].(float64); !ok || id != float64(int(id)) {
			t.Errorf("id %v is not an integer", m["id"])
		}
		if c, _ := m["code"].(string); len(c) != tc.codeLen {
			t.Errorf("strong=%v: code %q, want %d chars", tc.strong, c, tc.codeLen)
		}
		if m["clientIdentifier"] != clientID || m["product"] != "Test App" || m["trusted"] != false {
			t.Errorf("clientIdentifier/product/trusted: %v", m)
		}
		if m["authToken"] != nil || m["newRegistration"] != nil {
			t.Errorf("authToken/newRegistration should be null: %v", m)
		}
		if loc, ok := m["location"].(map[string]any); !ok || loc["code"] == nil || loc["time_zone"] == nil {
			t.Errorf("location: %v", m["location"])
		}
		if m["expiresIn"] != tc.expires {
			t.Errorf("strong=%v: expiresIn %v, want %v", tc.strong, m["expiresIn"], tc.expires)
		}
		ca, err1 := time.Parse(time.RFC3339, m["createdAt"].(string))
		ea, err2 := time.Parse(time.RFC3339, m["expiresAt"].(string))
		if err1 != nil || err2 != nil || ea.Sub(ca) < time.Duration(tc.expires-1)*time.Second {
			t.Errorf("createdAt/expiresAt: %v %v", m["createdAt"], m["expiresAt"])
		}
	}
	s.PinTTL = 10 * time.Minute
	if m := createPin(t, s, true); m["expiresIn"] != 600.0 {
		t.Errorf("PinTTL: expiresIn %v, want 600", m["expiresIn"])
	}
}

func TestPinErrors(t *testing.T) {
	s := NewServer()
	defer s.Close()
	st, _, b := call(t, nil, "POST", s.URL+"/api/v2/pins?strong=true", hdr{"Accept": "application/json"}, nil)
	if st != http.StatusBadRequest || strings.TrimSpace(string(b)) !=
		`{"errors":[{"code":1000,"message":"X-Plex-Client-Identifier is missing","status":400}]}` {
		t.Fatalf("missing client id: %d %s", st, b)
	}

	live := createPin(t, s, true)
	expired := createPin(t, s, true)
	s.ExpirePins()
	fresh := createPin(t, s, true)
	for _, tc := range []struct {
		name, path string
		h          hdr
		want       int
	}{
		{"live", pinPath(fresh), nil, 200},
		{"unknown", "/api/v2/pins/1", nil, 404},
		{"non-numeric", "/api/v2/pins/abc", nil, 404},
		{"expired by ExpirePins", pinPath(expired), nil, 404},
		{"expired live one", pinPath(live), nil, 404},
		{"other client", pinPath(fresh), hdr{"X-Plex-Client-Identifier": "someone-else"}, 404},
	} {
		st, _, b := call(t, nil, "GET", s.URL+tc.path, jsonHdr(tc.h), nil)
		if st != tc.want {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, st, tc.want, b)
		} else if st == 404 {
			wantErrors(t, b, 1020, 404, "Code not found or expired")
		}
	}

	s.PinTTL = time.Millisecond
	short := createPin(t, s, false)
	time.Sleep(20 * time.Millisecond)
	if st, _, _ := call(t, nil, "GET", s.URL+pinPath(short), jsonHdr(nil), nil); st != 404 {
		t.Errorf("pin past its lifetime: %d, want 404", st)
	}
	if err := s.Approve(short["code"].(string), "nobody"); err == nil {
		t.Error("Approve of an expired pin succeeded")
	}
}

func TestApproveAndUser(t *testing.T) {
	s := NewServer()
	defer s.Close()
	alice := s.AddAccount("alice")
	bob := s.AddAccount("bob")
	if alice.ID == bob.ID || alice.Token == bob.Token || len(alice.Token) < 20 || len(alice.UUID) != 16 ||
		alice.Email != "alice@example.com" || alice.Title != "Alice" {
		t.Fatalf("accounts: %+v %+v", alice, bob)
	}

	p := createPin(t, s, true)
	if err := s.Approve("nope", "alice"); err == nil {
		t.Error("Approve of unknown code succeeded")
	}
	if err := s.Approve(p["code"].(string), "nobody"); err == nil {
		t.Error("Approve as unknown account succeeded")
	}
	if err := s.Approve(p["code"].(string), "alice"); err != nil {
		t.Fatal(err)
	}
	var got struct{ AuthToken *string }
	_, _, b := call(t, nil, "GET", s.URL+pinPath(p), jsonHdr(nil), nil)
	if json.Unmarshal(b, &got); got.AuthToken == nil || *got.AuthToken != alice.Token {
		t.Fatalf("approved pin: %s", b)
	}

	p2 := createPin(t, s, false)
	if err := s.ApproveLatest("bob"); err != nil {
		t.Fatal(err)
	}
	_, _, b = call(t, nil, "GET", s.URL+pinPath(p2), jsonHdr(nil), nil)
	if !strings.Contains(string(b), bob.Token) {
		t.Fatalf("ApproveLatest: %s", b)
	}

	s.RevokeToken("alice")
	p3 := createPin(t, s, true)
	if err := s.Approve(p3["code"].(string), "alice"); err != nil {
		t.Fatal(err)
	}
	newTok := s.Account("alice").Token
	if newTok == alice.Token {
		t.Fatal("approval after revocation kept the revoked token")
	}

	for _, tc := range []struct {
		name string
		h    hdr
		q    string
		want int
		user string
	}{
		{"header token", hdr{"X-Plex-Token": bob.Token}, "", 200, "bob"},
		{"query token", nil, "?X-Plex-Token=" + url.QueryEscape(bob.Token), 200, "bob"},
		{"fresh token", hdr{"X-Plex-Token": newTok}, "", 200, "alice"},
		{"missing token", nil, "", 401, ""},
		{"bad token", hdr{"X-Plex-Token": "not-a-token"}, "", 401, ""},
		{"revoked token", hdr{"X-Plex-Token": alice.Token}, "", 401, ""},
	} {
		st, _, b := call(t, nil, "GET", s.URL+"/api/v2/user"+tc.q, jsonHdr(tc.h), nil)
		if st != tc.want {
			t.Errorf("%s: %d, want %d (%s)", tc.name, st, tc.want, b)
			continue
		}
		if st == 401 {
			wantErrors(t, b, 1001, 401, "User could not be authenticated")
			continue
		}
		var u map[string]any
		json.Unmarshal(b, &u)
		for _, k := range []string{"id", "uuid", "username", "title", "email", "thumb", "home", "homeAdmin", "restricted", "guest", "authToken"} {
			if _, ok := u[k]; !ok {
				t.Errorf("%s: user field %q missing", tc.name, k)
			}
		}
		if u["username"] != tc.user {
			t.Errorf("%s: username %v, want %s", tc.name, u["username"], tc.user)
		}
	}
}

type device struct {
	ClientIdentifier string  `json:"clientIdentifier"`
	Provides         string  `json:"provides"`
	Owned            bool    `json:"owned"`
	Home             bool    `json:"home"`
	OwnerID          *int    `json:"ownerId"`
	SourceTitle      *string `json:"sourceTitle"`
	AccessToken      string  `json:"accessToken"`
	Connections      []struct {
		URI string `json:"uri"`
	} `json:"connections"`
}

func TestResources(t *testing.T) {
	s := NewServer()
	defer s.Close()
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		s.AddAccount(u)
	}
	s.AddServer("srv1", "Alice's Server")
	s.AddServer("srv2", "Other Server")
	s.Share("srv1", "alice", Owner)
	s.Share("srv1", "bob", Home)
	s.Share("srv1", "carol", Friend)
	s.Share("srv2", "carol", Friend)
	s.Share("srv2", "dave", Friend)
	s.Unshare("srv2", "dave")

	type srv struct{ owned, home bool }
	for _, tc := range []struct {
		user string
		want map[string]srv
	}{
		{"alice", map[string]srv{"srv1": {true, false}}},
		{"bob", map[string]srv{"srv1": {false, true}}},
		{"carol", map[string]srv{"srv1": {false, false}, "srv2": {false, false}}},
		{"dave", map[string]srv{}},
	} {
		st, _, b := call(t, nil, "GET", s.URL+"/api/v2/resources?includeHttps=1&includeRelay=1",
			jsonHdr(hdr{"X-Plex-Token": s.Account(tc.user).Token}), nil)
		if st != 200 {
			t.Fatalf("%s: %d %s", tc.user, st, b)
		}
		var devs []device
		if err := json.Unmarshal(b, &devs); err != nil {
			t.Fatal(err)
		}
		servers, others := map[string]srv{}, 0
		for _, d := range devs {
			if d.Provides != "server" {
				others++
				continue
			}
			servers[d.ClientIdentifier] = srv{d.Owned, d.Home}
			if d.Owned != (d.OwnerID == nil) || d.AccessToken == "" || len(d.Connections) == 0 {
				t.Errorf("%s: server entry %+v", tc.user, d)
			}
			if !d.Owned && (d.SourceTitle == nil || *d.SourceTitle != "alice") && d.ClientIdentifier == "srv1" {
				t.Errorf("%s: sourceTitle of shared srv1: %v", tc.user, d.SourceTitle)
			}
		}
		if others == 0 {
			t.Errorf("%s: no non-server device in %s", tc.user, b)
		}
		if len(servers) != len(tc.want) {
			t.Errorf("%s: servers %v, want %v", tc.user, servers, tc.want)
		}
		for id, w := range tc.want {
			if g, ok := servers[id]; !ok || g != w {
				t.Errorf("%s: %s = %+v (present %v), want %+v", tc.user, id, g, ok, w)
			}
		}
	}
	st, _, b := call(t, nil, "GET", s.URL+"/api/v2/resources", jsonHdr(hdr{"X-Plex-Token": "bad"}), nil)
	if st != 401 {
		t.Fatalf("bad token: %d", st)
	}
	wantErrors(t, b, 1001, 401, "")
}

func TestXML(t *testing.T) {
	s := NewServer()
	defer s.Close()
	a := s.AddAccount("alice")
	s.AddServer("srv1", "S")
	s.Share("srv1", "alice", Owner)
	xh := hdr{"X-Plex-Client-Identifier": clientID, "X-Plex-Token": a.Token}

	type attrs struct {
		XMLName xml.Name
		Attrs   []xml.Attr `xml:",any,attr"`
		Kids    []attrs    `xml:",any"`
	}
	get := func(x attrs, name string) string {
		for _, at := range x.Attrs {
			if at.Name.Local == name {
				return at.Value
			}
		}
		return ""
	}
	for _, tc := range []struct {
		method, path string
		status       int
		root, attr   string
		want         string
	}{
		{"POST", "/api/v2/pins?strong=true", 201, "pin", "clientIdentifier", clientID},
		{"GET", "/api/v2/user", 200, "user", "username", "alice"},
		{"GET", "/api/v2/resources?includeHttps=1", 200, "MediaContainer", "size", "3"},
		{"GET", "/api/v2/pins/42", 404, "errors", "", ""},
	} {
		st, h, b := call(t, nil, tc.method, s.URL+tc.path, xh, nil)
		if st != tc.status || !strings.HasPrefix(h.Get("Content-Type"), "application/xml") {
			t.Errorf("%s: %d %q", tc.path, st, h.Get("Content-Type"))
			continue
		}
		var x attrs
		if err := xml.Unmarshal(b, &x); err != nil || x.XMLName.Local != tc.root {
			t.Errorf("%s: root %q, err %v: %s", tc.path, x.XMLName.Local, err, b)
			continue
		}
		if tc.attr != "" && get(x, tc.attr) != tc.want {
			t.Errorf("%s: %s=%q, want %q", tc.path, tc.attr, get(x, tc.attr), tc.want)
		}
		switch tc.root {
		case "errors":
			if len(x.Kids) != 1 || get(x.Kids[0], "code") != "1020" || get(x.Kids[0], "status") != "404" {
				t.Errorf("errors XML: %s", b)
			}
		case "MediaContainer":
			if len(x.Kids) != 3 || get(x.Kids[1], "provides") != "server" || get(x.Kids[1], "owned") != "1" {
				t.Errorf("resources XML: %s", b)
			}
		}
	}
}
