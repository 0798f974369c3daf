package plexauth

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// finish asks for the end of a sign-in with the state cookie value, as a
// browser holding it (or a copy of it) would: the same-tab callback, or
// the popup's poll.
func finish(t *testing.T, base, state string, poll bool) (*http.Response, string) {
	t.Helper()
	b := newBrowser(t)
	if poll {
		return b.get(base+"/_plexauth/poll", "Accept", "application/json", "Cookie", "plex_auth_session_state="+state)
	}
	return b.get(base+"/_plexauth/callback", "Cookie", "plex_auth_session_state="+state)
}

// sessionSet reports whether resp sets a session cookie.
func sessionSet(resp *http.Response) bool {
	for _, c := range setCookies(resp, "plex_auth_session") {
		if c.MaxAge > 0 && c.Value != "" {
			return true
		}
	}
	return false
}

// A copy of the state cookie (saved by malware, a shared computer, a proxy
// log) must not sign anyone in once its sign-in has finished: not from
// another browser, not after logout, not from the popup's poll.
func TestASavedStateCookieFinishesItsSignInOnlyOnce(t *testing.T) {
	e := newEnv(t, basicSite)
	b := newBrowser(t)
	code := e.start(b, "/x")
	saved := stateCookie(b)
	if saved == nil {
		t.Fatal("start set no state cookie")
	}
	if err := e.plex.Approve(code, "friend"); err != nil {
		t.Fatal(err)
	}
	resp, body := b.get("/_plexauth/callback")
	expectStatus(t, resp, http.StatusFound, body)
	if b.cookie("plex_auth_session") == nil {
		t.Fatal("the sign-in itself set no session")
	}

	replay := func(when string) {
		t.Helper()
		for _, poll := range []bool{false, true} {
			resp, body := finish(t, "", saved.Value, poll)
			expectStatus(t, resp, http.StatusBadRequest, body)
			if sessionSet(resp) {
				t.Fatalf("%s: a copy of the state cookie (poll=%v) got a session", when, poll)
			}
			if !strings.Contains(body, "already") {
				t.Errorf("%s: the answer should say the sign-in was already finished: %.400s", when, body)
			}
			if poll && !strings.Contains(body, `"status":"error"`) {
				t.Errorf("%s: poll answered %s", when, body)
			}
			if !poll && (!strings.Contains(body, "/_plexauth/login?rd=%2Fx") || resp.Header.Get("Content-Type") != "text/html; charset=utf-8") {
				t.Errorf("%s: the page should lead to the login page with the return URL: %.600s", when, body)
			}
		}
	}
	replay("right after the sign-in")
	replay("again")
	resp, body = b.do(http.MethodPost, "/_plexauth/logout", nil)
	expectStatus(t, resp, http.StatusSeeOther, body)
	replay("after logout")

	// The sign-in that used the pin still works, and nothing else came of it.
	if n := e.plex.Count(http.MethodGet, "/api/v2/user"); n != 1 {
		t.Errorf("plex.tv was asked who the account is %d times, want once", n)
	}
}

// Copies of the state cookie sent at the same time must not each make a
// session: one request claims the pin, the others are refused.
func TestConcurrentFinishesOfOnePinMakeOneSession(t *testing.T) {
	e := newEnv(t, basicSite)
	b := newBrowser(t)
	code := e.start(b, "/")
	saved := stateCookie(b).Value
	if err := e.plex.Approve(code, "friend"); err != nil {
		t.Fatal(err)
	}
	concurrentFinishes(t, []string{siteURL}, saved, 12)
}

// concurrentFinishes sends n finishes of one state cookie at once, spread
// over the bases (instances) and over callback and poll, and expects
// exactly one session and a clean 4xx for the others.
func concurrentFinishes(t *testing.T, bases []string, state string, n int) {
	t.Helper()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		sessions int
		statuses []int
	)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, _ := finish(t, bases[i%len(bases)], state, i%2 == 1)
			mu.Lock()
			defer mu.Unlock()
			statuses = append(statuses, resp.StatusCode)
			if sessionSet(resp) {
				sessions++
			}
		}()
	}
	close(start)
	wg.Wait()
	if sessions != 1 {
		t.Errorf("%d finishes at once made %d sessions, want 1 (statuses %v)", n, sessions, statuses)
	}
	for _, s := range statuses {
		if s >= 500 {
			t.Errorf("a finish got %d: statuses %v", s, statuses)
		}
	}
}

// stolenStateSealer is what someone holding a copy of the storage folder
// can make: the state cookie sealer, from the secret kept there.
func stolenStateSealer(t *testing.T, storage string) *sealer {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(storage, "plex_auth", "secret"))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSealer("state", [][]byte{secret})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// With a copy of the storage folder, an attacker can seal a state cookie
// naming the next pin id someone else will get: pin ids are sequential.
// They cannot know that pin's code, and the code plex.tv returns for the
// pin must match the one sealed in the state.
func TestForgedStateNamingSomeoneElsesPinIsRefused(t *testing.T) {
	e := newEnv(t, basicSite)
	stolen := stolenStateSealer(t, e.storage)
	const name = "plex_auth_session_state"
	open := func(v string) loginState {
		t.Helper()
		raw, err := stolen.Open(name, v, time.Now(), nil)
		if err != nil {
			t.Fatalf("the stolen secret does not open a state cookie: %v", err)
		}
		var st loginState
		if err := json.Unmarshal(raw, &st); err != nil {
			t.Fatal(err)
		}
		return st
	}

	// The attacker learns the current pin id from a sign-in of their own.
	attacker := newBrowser(t)
	e.start(attacker, "/")
	mine := open(stateCookie(attacker).Value)
	forged, _ := json.Marshal(loginState{PinID: mine.PinID + 1, Code: "guessed", RD: "/"})
	forgedState := stolen.Seal(name, forged, time.Now().Add(10*time.Minute))

	// The victim starts next, and approves as the owner.
	victim := newBrowser(t)
	code := e.start(victim, "/")
	if got := open(stateCookie(victim).Value).PinID; got != mine.PinID+1 {
		t.Fatalf("the victim's pin is %d, not the forged %d: the test proves nothing", got, mine.PinID+1)
	}

	// Before approval, the forged state learns nothing either.
	for _, poll := range []bool{false, true} {
		resp, body := finish(t, "", forgedState, poll)
		expectStatus(t, resp, http.StatusBadRequest, body)
	}
	if err := e.plex.Approve(code, "owner"); err != nil {
		t.Fatal(err)
	}
	for _, poll := range []bool{false, true} {
		resp, body := finish(t, "", forgedState, poll)
		expectStatus(t, resp, http.StatusBadRequest, body)
		if sessionSet(resp) {
			t.Fatalf("a forged state cookie (poll=%v) got the owner's session", poll)
		}
	}
	// The victim's own sign-in is not spoiled by the attempt. Checks of
	// one pin are answered from one plex.tv call a second, so the victim
	// may see "waiting" (200) once more, as the page's refresh would.
	resp, body := victim.get("/_plexauth/callback")
	for deadline := time.Now().Add(10 * time.Second); resp.StatusCode == http.StatusOK && time.Now().Before(deadline); {
		time.Sleep(250 * time.Millisecond)
		resp, body = victim.get("/_plexauth/callback")
	}
	expectStatus(t, resp, http.StatusFound, body)
	if !sessionSet(resp) {
		t.Fatal("the victim got no session")
	}
}

// Across instances and restarts: an approved pin finished on A is refused
// on B, sharing Caddy's storage or Redis, and on A after a restart; copies
// sent to A and B at once make one session.
func TestProcessSettledPinIsRefusedByOtherInstancesAndAfterRestart(t *testing.T) {
	t.Run("shared storage", func(t *testing.T) {
		plex := procPlex(t)
		storage := t.TempDir()
		processReplays(t, func(admin, port int) string {
			return procConfig(admin, port, storage, plexBlock(plex, ""))
		}, plex.Approve)
	})
	t.Run("shared redis", func(t *testing.T) {
		addr := startRedis(t)
		plex := procPlex(t)
		processReplays(t, func(admin, port int) string {
			// Only Redis is shared: each start gets a storage of its
			// own, so nothing is remembered there. The client id and
			// secret are set, as several instances need.
			return procConfig(admin, port, t.TempDir(), plexBlock(plex,
				"\t\tstore redis redis://"+addr+"/0\n\t\tsecret this-is-a-shared-test-secret\n\t\tclient_id caddy-plexauth-test-shared"))
		}, plex.Approve)
	})
}

func processReplays(t *testing.T, cfg func(admin, port int) string, approve func(code, user string) error) {
	pa, pb := freePort(t), freePort(t)
	a := startCaddy(t, pa, func(admin int) string { return cfg(admin, pa) })
	startCaddy(t, pb, func(admin int) string { return cfg(admin, pb) })
	baseA, baseB := fmt.Sprintf("http://127.0.0.1:%d", pa), fmt.Sprintf("http://127.0.0.1:%d", pb)

	// Two sign-ins started on A: the first finished there, then replayed;
	// the second finished by copies on A and B at once.
	var states []string
	for range 2 {
		resp, body := newBrowser(t).do(http.MethodPost, baseA+"/_plexauth/start", nil)
		expectStatus(t, resp, http.StatusSeeOther, body)
		states = append(states, oneSetCookie(t, resp, "plex_auth_session_state", false).Value)
		code := resp.Header.Get("Location")
		code = code[strings.Index(code, "code=")+5:]
		code = code[:strings.IndexByte(code+"&", '&')]
		if err := approve(code, "friend"); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := finish(t, baseA, states[0], false)
	expectStatus(t, resp, http.StatusFound, body)
	for _, poll := range []bool{false, true} {
		resp, body = finish(t, baseB, states[0], poll)
		expectStatus(t, resp, http.StatusBadRequest, body)
		if sessionSet(resp) {
			t.Fatalf("instance B made a session from a pin A had settled (poll=%v)", poll)
		}
	}
	concurrentFinishes(t, []string{baseA, baseB}, states[1], 8)

	// A restarts: its memory is gone, the store remembers.
	a.stop()
	startCaddy(t, pa, func(admin int) string { return cfg(admin, pa) })
	for _, st := range states {
		resp, body = finish(t, baseA, st, false)
		expectStatus(t, resp, http.StatusBadRequest, body)
		if sessionSet(resp) {
			t.Fatal("after a restart, a settled pin made a session")
		}
	}
}
