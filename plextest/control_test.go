package plextest

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSwitches(t *testing.T) {
	s := NewServer()
	defer s.Close()
	a := s.AddAccount("alice")
	userHdr := jsonHdr(hdr{"X-Plex-Token": a.Token})

	s.SetDown(true)
	for _, path := range []string{"/api/v2/user", "/auth"} {
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Errorf("down: GET %s answered %d", path, resp.StatusCode)
		}
	}
	s.SetDown(false)
	if st, _, _ := call(t, nil, "GET", s.URL+"/api/v2/user", userHdr, nil); st != 200 {
		t.Fatalf("back up: %d", st)
	}

	s.SetDelay(time.Minute)
	short := &http.Client{Timeout: 100 * time.Millisecond}
	req, _ := http.NewRequest("GET", s.URL+"/api/v2/user", nil)
	req.Header.Set("X-Plex-Token", a.Token)
	if resp, err := short.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("delay: answered %d before the client timeout", resp.StatusCode)
	}
	if st, _, _ := call(t, short, "GET", s.URL+"/auth", nil, nil); st != 200 {
		t.Errorf("delay must not apply to the sign-in page: %d", st)
	}
	s.SetDelay(0)

	for _, tc := range []struct {
		code, retry int
	}{{503, 0}, {429, 7}, {500, 0}} {
		s.SetStatus(tc.code, tc.retry)
		st, h, b := call(t, nil, "GET", s.URL+"/api/v2/user", userHdr, nil)
		if st != tc.code {
			t.Errorf("SetStatus(%d): got %d", tc.code, st)
			continue
		}
		wantErrors(t, b, tc.code, tc.code, "")
		if want := fmt.Sprint(tc.retry); tc.retry > 0 && h.Get("Retry-After") != want || tc.retry == 0 && h.Get("Retry-After") != "" {
			t.Errorf("SetStatus(%d, %d): Retry-After %q", tc.code, tc.retry, h.Get("Retry-After"))
		}
		if st, _, _ := call(t, nil, "POST", s.URL+"/api/v2/pins", jsonHdr(nil), nil); st != tc.code {
			t.Errorf("SetStatus(%d) on pins: %d", tc.code, st)
		}
	}
	s.SetStatus(0, 0)
	if st, _, _ := call(t, nil, "GET", s.URL+"/api/v2/user", userHdr, nil); st != 200 {
		t.Fatalf("SetStatus(0,0): %d", st)
	}
}

func TestCloseAbortsDelay(t *testing.T) {
	s := NewServer()
	s.SetDelay(time.Hour)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Post(s.URL+"/api/v2/pins", "", nil)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	for s.Count("POST", "/api/v2/pins") == 0 {
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Close hangs on a delayed request")
	}
	<-errc
}

func TestLog(t *testing.T) {
	s := NewServer()
	defer s.Close()
	p := createPin(t, s, true)
	call(t, nil, "GET", s.URL+pinPath(p)+"?x=1", jsonHdr(nil), nil)
	call(t, nil, "GET", s.URL+pinPath(p), jsonHdr(nil), nil)
	call(t, nil, "GET", s.URL+"/api/v2/user", nil, nil)

	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"POST", "/api/v2/pins", 1},
		{"GET", "/api/v2/pins", 0},
		{"GET", pinPath(p), 2},
		{"GET", "/api/v2/pins/*", 2},
		{"", "/api/v2/pins*", 3},
		{"GET", "/api/*", 3},
		{"", "*", 4},
		{"DELETE", "*", 0},
	} {
		if got := s.Count(tc.method, tc.path); got != tc.want {
			t.Errorf("Count(%q, %q) = %d, want %d", tc.method, tc.path, got, tc.want)
		}
	}
	reqs := s.Requests()
	if len(reqs) != 4 {
		t.Fatalf("Requests: %d entries", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/api/v2/pins" || r.Query.Get("strong") != "true" ||
		r.Header.Get("X-Plex-Client-Identifier") != clientID || r.Time.IsZero() {
		t.Errorf("Requests()[0] = %+v", r)
	}
	reqs[0].Header.Set("X-Plex-Client-Identifier", "changed")
	reqs[0].Query.Set("strong", "changed")
	if r := s.Requests()[0]; r.Header.Get("X-Plex-Client-Identifier") != clientID || r.Query.Get("strong") != "true" {
		t.Error("Requests does not return a copy")
	}
	if reqs[1].Query.Get("x") != "1" || reqs[1].Path != pinPath(p) {
		t.Errorf("Requests()[1] = %+v", reqs[1])
	}
	s.ResetLog()
	if n := len(s.Requests()); n != 0 || s.Count("", "*") != 0 {
		t.Errorf("after ResetLog: %d entries", n)
	}
}

func TestAuthPage(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddAccount("alice")
	s.AddAccount("bob")
	if s.AppURL() != s.URL+"/auth" {
		t.Fatalf("AppURL %q", s.AppURL())
	}
	st, h, b := call(t, nil, "GET", s.AppURL(), nil, nil)
	page := string(b)
	if st != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("auth page: %d %q", st, h.Get("Content-Type"))
	}
	for _, want := range []string{`id="continue-alice"`, `id="continue-bob"`, "Continue as alice",
		"forwardUrl", "clientID", "context[device][product]", "/auth/approve", "window.close()", "location.hash"} {
		if !strings.Contains(page, want) {
			t.Errorf("auth page lacks %q", want)
		}
	}
	for _, bad := range []string{"src=", "href=", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("auth page may load external assets: contains %q", bad)
		}
	}

	p := createPin(t, s, true)
	form := func(code, client, user string) *strings.Reader {
		return strings.NewReader(url.Values{"code": {code}, "clientID": {client}, "username": {user}}.Encode())
	}
	fh := hdr{"Content-Type": "application/x-www-form-urlencoded"}
	code := p["code"].(string)
	for _, tc := range []struct {
		name               string
		code, client, user string
		want               int
	}{
		{"unknown code", "zzzz", clientID, "alice", 404},
		{"other client", code, "someone-else", "alice", 404},
		{"unknown user", code, clientID, "mallory", 400},
		{"ok", code, clientID, "bob", 204},
	} {
		if st, _, b := call(t, nil, "POST", s.URL+"/auth/approve", fh, form(tc.code, tc.client, tc.user)); st != tc.want {
			t.Errorf("%s: %d, want %d (%s)", tc.name, st, tc.want, b)
		}
	}
	_, _, b = call(t, nil, "GET", s.URL+pinPath(p), jsonHdr(nil), nil)
	if !strings.Contains(string(b), s.Account("bob").Token) {
		t.Errorf("pin not approved by the page: %s", b)
	}
}

func TestConcurrent(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddServer("srv", "S")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := fmt.Sprintf("user%d", i)
			s.AddAccount(u)
			s.Share("srv", u, Friend)
			p := createPin(t, s, i%2 == 0)
			if err := s.Approve(p["code"].(string), u); err != nil {
				t.Error(err)
			}
			call(t, nil, "GET", s.URL+pinPath(p), jsonHdr(nil), nil)
			st, _, _ := call(t, nil, "GET", s.URL+"/api/v2/resources", jsonHdr(hdr{"X-Plex-Token": s.Account(u).Token}), nil)
			if st != 200 {
				t.Errorf("%s: resources %d", u, st)
			}
			_ = s.Requests()
			_ = s.Count("GET", "/api/*")
			s.SetDelay(0)
			s.SetStatus(0, 0)
			s.Unshare("srv", u)
			s.RevokeToken(u)
		}()
	}
	wg.Wait()
	if n := s.Count("POST", "/api/v2/pins"); n != 8 {
		t.Errorf("pins created: %d", n)
	}
}

func TestRouting(t *testing.T) {
	s := NewServer()
	defer s.Close()
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/nope", 404},
		{"GET", "/api/v2/nope", 404},
		{"GET", "/api/v2/pins", 405},
		{"DELETE", "/api/v2/pins/1", 405},
		{"POST", "/api/v2/user", 405},
		{"PUT", "/api/v2/resources", 405},
		{"GET", "/auth/approve", 405},
		{"GET", "/auth", 200},
	} {
		if st, _, _ := call(t, nil, tc.method, s.URL+tc.path, jsonHdr(nil), nil); st != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, st, tc.want)
		}
	}
}
