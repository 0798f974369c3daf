package plexauth

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// newBrowserFrom is newBrowser for a client at addr (127.0.0.x): Caddy sees
// that address as the client's IP, so the per-client limits take it for
// another person. The URLs stay on localhost; only the dial changes.
func newBrowserFrom(t *testing.T, addr string) *browser {
	b := newBrowser(t)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(addr)}, Timeout: 10 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, hostport string) (net.Conn, error) {
			if host, port, err := net.SplitHostPort(hostport); err == nil && host == "localhost" {
				hostport = net.JoinHostPort("127.0.0.1", port)
			}
			return d.DialContext(ctx, "tcp4", hostport)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	b.c.Transport = tr
	return b
}

// flowJSON is the popup flow's JSON answer as the login page's script
// reads it.
type flowJSON struct {
	Status     string `json:"status"`
	Message    string `json:"message"`
	RetryAfter int    `json:"retryAfter"`
}

// expectLimited checks a local refusal: 429, Retry-After in whole seconds,
// and a body that says how long to wait and does not blame plex.tv.
func expectLimited(t *testing.T, resp *http.Response, body string) int {
	t.Helper()
	expectStatus(t, resp, http.StatusTooManyRequests, body)
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 1 {
		t.Fatalf("Retry-After = %q, want whole seconds", resp.Header.Get("Retry-After"))
	}
	want := fmt.Sprintf("too many sign-in attempts, try again in %d second", secs)
	if !strings.Contains(strings.ToLower(body), want) {
		t.Errorf("refusal should say %q: %.600s", want, body)
	}
	if strings.Contains(body, "Plex could not be reached") || strings.Contains(body, "plex.tv did not answer") {
		t.Errorf("a local refusal blames plex.tv: %.600s", body)
	}
	return secs
}

// logLines reads Caddy's JSON log.
func logLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// The measure: one client at 30 requests a second on /start, and
// 20 people at other addresses each starting one sign-in during it. The
// flood here lasts until those 20 are through (and at least 3 s), not 10 s;
// it cannot create more than the client's burst plus its refill either way.
func TestStartFloodFromOneAddressLeavesOthersSigningIn(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "caddy.log")
	e := newEnvGlobal(t, "log {\n\t\toutput file "+logPath+"\n\t\tformat json\n\t}", basicSite)
	attacker := newBrowserFrom(t, "127.0.0.2")

	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		badRetry []string
	)
	sent := func() (n, refused int) {
		mu.Lock()
		defer mu.Unlock()
		for st, c := range statuses {
			n += c
			if st != http.StatusSeeOther {
				refused += c
			}
		}
		return n, refused
	}
	began := time.Now()
	stop := make(chan struct{})
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		tick := time.NewTicker(time.Second / 30)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			req, _ := http.NewRequest(http.MethodPost, siteURL+"/_plexauth/start", strings.NewReader("rd=%2F"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := attacker.c.Do(req)
			if err != nil {
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			statuses[resp.StatusCode]++
			if resp.StatusCode != http.StatusSeeOther {
				if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 1 {
					badRetry = append(badRetry, resp.Status+" Retry-After "+resp.Header.Get("Retry-After"))
				}
			}
			mu.Unlock()
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-flooded
	}()

	// The people start once the flood is being refused.
	deadline := time.Now().Add(30 * time.Second)
	for _, refused := sent(); refused == 0; _, refused = sent() {
		if time.Now().After(deadline) {
			t.Fatalf("30 s of flood and nothing refused: %v", statuses)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := range 20 {
		b := newBrowserFrom(t, fmt.Sprintf("127.0.0.%d", 10+i))
		resp, body := e.signIn(b, "friend", "/welcome")
		expectStatus(t, resp, http.StatusFound, body)
		if resp.Header.Get("Location") != "/welcome" || b.cookie("plex_auth_session") == nil {
			t.Fatalf("person %d did not get through: %s %q", i, resp.Status, resp.Header.Get("Location"))
		}
	}
	for n, _ := sent(); n < 90; n, _ = sent() {
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	<-flooded
	elapsed := time.Since(began)

	n, refused := sent()
	pins := e.plex.Count(http.MethodPost, "/api/v2/pins")
	t.Logf("flood: %d requests in %v, %v; plex.tv saw %d pin creations", n, elapsed.Round(time.Millisecond), statuses, pins)
	if fromFlood := pins - 20; fromFlood > 20 {
		t.Errorf("the flooding client created %d pins at plex.tv, want at most 20", fromFlood)
	}
	if statuses[http.StatusTooManyRequests] != refused {
		t.Errorf("refusals should all be 429: %v", statuses)
	}
	if len(badRetry) > 0 {
		t.Errorf("refusals without Retry-After: %v", badRetry[:min(3, len(badRetry))])
	}

	// The log names the local limit, never plex.tv, and sums the refusals
	// up instead of writing a line each.
	refusalLines := 0
	for _, l := range logLines(t, logPath) {
		line, _ := json.Marshal(l)
		if strings.Contains(string(line), "answered 429") {
			t.Errorf("log blames plex.tv for a local refusal: %s", line)
		}
		if l["logger"] == "http.handlers.plex_auth" && strings.Contains(fmt.Sprint(l["msg"]), "refused") {
			refusalLines++
		}
	}
	if max := int(elapsed/(10*time.Second)) + 1; refusalLines == 0 || refusalLines > max {
		t.Errorf("%d refusals in %v wrote %d log lines, want 1 to %d", refused, elapsed, refusalLines, max)
	}
}

// A client that used its pin creations gets 429 saying so, as a page or as
// JSON for the login page's script; the pin it already has still settles,
// because checks have a budget of their own.
func TestClientOverItsStartBudgetGets429SayingSo(t *testing.T) {
	e := newEnv(t, basicSite)
	b := newBrowserFrom(t, "127.0.0.2")
	first := e.start(b, "/first")
	firstState := stateCookie(b)
	var resp *http.Response
	var body string
	for i := 0; ; i++ {
		if i == 50 {
			t.Fatalf("50 starts from one address were all let through")
		}
		resp, body = b.do(http.MethodPost, "/_plexauth/start", url.Values{"rd": {"/"}})
		if resp.StatusCode != http.StatusSeeOther {
			break
		}
	}
	pins := e.plex.Count(http.MethodPost, "/api/v2/pins")
	expectLimited(t, resp, body)
	if !strings.Contains(body, `href="/_plexauth/login?rd=%2F"`) {
		t.Errorf("the page should lead back to the login page: %.600s", body)
	}

	resp, body = b.do(http.MethodPost, "/_plexauth/start", url.Values{"rd": {"/"}, "popup": {"1"}}, "Accept", "application/json")
	expectLimited(t, resp, body)
	var a flowJSON
	if err := json.Unmarshal([]byte(body), &a); err != nil || a.Status != "limited" || a.RetryAfter < 1 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("popup start refused: %q, %+v", body, a)
	}
	if got := e.plex.Count(http.MethodPost, "/api/v2/pins"); got != pins {
		t.Errorf("refused starts reached plex.tv: %d pins, then %d", pins, got)
	}

	// Another address is not affected.
	e.start(newBrowserFrom(t, "127.0.0.3"), "/")

	// The first sign-in of the limited client still finishes.
	if err := e.plex.Approve(first, "owner"); err != nil {
		t.Fatal(err)
	}
	resp, body = b.get("/_plexauth/callback", "Cookie", firstState.Name+"="+firstState.Value)
	expectStatus(t, resp, http.StatusFound, body)
	if resp.Header.Get("Location") != "/first" {
		t.Errorf("callback Location = %q", resp.Header.Get("Location"))
	}
}

// One address asking about many pins runs out of pin checks; its polls get
// 429 JSON the script can wait out, its callback a page that retries by
// itself, and other addresses keep polling.
func TestClientOverItsCheckBudgetGets429(t *testing.T) {
	e := newEnv(t, basicSite)
	b := newBrowserFrom(t, "127.0.0.2")
	var states []*http.Cookie
	for range 10 {
		startPopup(t, e, b, "/")
		states = append(states, stateCookie(b))
	}
	other := newBrowserFrom(t, "127.0.0.3")
	startPopup(t, e, other, "/")

	var resp *http.Response
	var body string
	deadline := time.Now().Add(60 * time.Second)
poll:
	for {
		if time.Now().After(deadline) {
			t.Fatalf("a minute of polling 10 pins from one address was never refused")
		}
		for _, st := range states {
			resp, body = b.get("/_plexauth/poll", "Accept", "application/json", "Cookie", st.Name+"="+st.Value)
			switch resp.StatusCode {
			case http.StatusOK:
			case http.StatusTooManyRequests:
				break poll
			default:
				t.Fatalf("poll answered %d: %s", resp.StatusCode, body)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	secs := expectLimited(t, resp, body)
	var a flowJSON
	if err := json.Unmarshal([]byte(body), &a); err != nil || a.Status != "limited" || a.RetryAfter != secs {
		t.Errorf("poll refused: %q, %+v", body, a)
	}

	// The same-tab flow gets a page that tries again by itself.
	for i := 0; ; i++ {
		resp, body = b.get("/_plexauth/callback", "Cookie", states[i%len(states)].Name+"="+states[i%len(states)].Value)
		if resp.StatusCode == http.StatusTooManyRequests {
			break
		}
		expectStatus(t, resp, http.StatusOK, body)
		if i > 100 {
			t.Fatal("the callback is never refused while polls are")
		}
	}
	secs = expectLimited(t, resp, body)
	if !strings.Contains(body, fmt.Sprintf(`http-equiv="refresh" content="%d"`, secs)) {
		t.Errorf("the callback's refusal should reload itself after %d s: %.600s", secs, body)
	}

	resp, a2 := pollJSON(t, other)
	if resp.StatusCode != http.StatusOK || a2.Status != "pending" {
		t.Errorf("another address's poll: %d %+v", resp.StatusCode, a2)
	}
}

func TestGetStartCreatesNothingAndGoesToTheLoginPage(t *testing.T) {
	e := newEnv(t, basicSite)
	b := newBrowser(t)
	resp, body := b.get("/_plexauth/start?rd=%2Fdeep%3Fx%3D1")
	expectStatus(t, resp, http.StatusSeeOther, body)
	if got, want := resp.Header.Get("Location"), "/_plexauth/login?rd="+url.QueryEscape("/deep?x=1"); got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if n := e.plex.Count(http.MethodPost, "/api/v2/pins"); n != 0 {
		t.Errorf("GET /start created %d pins", n)
	}
	if stateCookie(b) != nil {
		t.Error("GET /start set a state cookie")
	}
}
