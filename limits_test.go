package plexauth

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-plexauth/caddy-plexauth/internal/signin"
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
	trackTransport(t, tr)
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
	e.start(b, "/first")
	firstState := stateCookie(b)
	var resp *http.Response
	var body, last string
	for i := 0; ; i++ {
		if i == 50 {
			t.Fatalf("50 starts from one address were all let through")
		}
		resp, body = b.do(http.MethodPost, "/_plexauth/start", url.Values{"rd": {"/last"}})
		if resp.StatusCode != http.StatusSeeOther {
			break
		}
		frag, _ := url.ParseQuery(strings.TrimPrefix(resp.Header.Get("Location"), e.plex.AppURL()+"#?"))
		last = frag.Get("code")
	}
	pins := e.plex.Count(http.MethodPost, "/api/v2/pins")
	expectLimited(t, resp, body)
	if !strings.Contains(body, `href="/_plexauth/login?rd=%2Flast"`) {
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

	// Each start replaced the browser's earlier sign-in: a copy of the
	// first one's state cookie is answered without asking plex.tv.
	checks := e.plex.Count(http.MethodGet, "/api/v2/pins/*")
	resp, body = newBrowserFrom(t, "127.0.0.2").get("/_plexauth/callback", "Cookie", firstState.Name+"="+firstState.Value)
	expectStatus(t, resp, http.StatusGone, body)
	if got := e.plex.Count(http.MethodGet, "/api/v2/pins/*"); got != checks {
		t.Errorf("a replaced sign-in was checked at plex.tv: %d checks, then %d", checks, got)
	}

	// The limited client's sign-in in progress still finishes.
	if last == "" {
		t.Fatal("no start let through")
	}
	if err := e.plex.Approve(last, "owner"); err != nil {
		t.Fatal(err)
	}
	resp, body = b.get("/_plexauth/callback")
	expectStatus(t, resp, http.StatusFound, body)
	if resp.Header.Get("Location") != "/last" {
		t.Errorf("callback Location = %q", resp.Header.Get("Location"))
	}
}

// One address asking about many pins (here pins started at ten other
// addresses, as a client holding collected state cookies would) runs out
// of pin checks; its polls get 429 JSON the script can wait out, its
// callback a page that retries by itself, and other addresses keep
// polling.
func TestClientOverItsCheckBudgetGets429(t *testing.T) {
	e := newEnv(t, basicSite)
	b := newBrowserFrom(t, "127.0.0.2")
	var states []*http.Cookie
	for i := range 10 {
		starter := newBrowserFrom(t, fmt.Sprintf("127.0.0.%d", 30+i))
		startPopup(t, e, starter, "/")
		states = append(states, stateCookie(starter))
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

func TestClientKeyIsCaddysClientIPWithIPv6ByItsSlash64(t *testing.T) {
	key := func(clientIP, remote string) string {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		if clientIP != "" {
			ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: clientIP})
			r = r.WithContext(ctx)
		}
		k := clientKey(r)
		if !k.IsValid() {
			return "invalid"
		}
		return k.String()
	}
	for _, c := range []struct {
		name, clientIP, remote, want string
	}{
		{"IPv4", "203.0.113.7", "10.0.0.1:5000", "203.0.113.7"},
		{"client_ip wins over the peer (trusted proxy)", "198.51.100.2", "127.0.0.1:5000", "198.51.100.2"},
		{"IPv4-mapped IPv6", "::ffff:203.0.113.7", "", "203.0.113.7"},
		{"IPv6 by its /64", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "", "2001:db8:1:2::"},
		{"another address in the same /64", "2001:db8:1:2::1", "", "2001:db8:1:2::"},
		{"another /64", "2001:db8:1:3::1", "", "2001:db8:1:3::"},
		{"zone dropped", "fe80::1%eth0", "", "fe80::"},
		{"no client_ip: the peer", "", "192.0.2.9:1234", "192.0.2.9"},
		{"garbage", "not an ip", "also not", "invalid"},
	} {
		if got := key(c.clientIP, c.remote); got != c.want {
			t.Errorf("%s: key(%q, %q) = %s, want %s", c.name, c.clientIP, c.remote, got, c.want)
		}
	}
}

// A config reload keeps the budgets: a flood gets no fresh start from one.
func TestBudgetsSurviveConfigReload(t *testing.T) {
	e := newEnv(t, basicSite)
	b := newBrowserFrom(t, "127.0.0.2")
	for i := 0; ; i++ {
		resp, body := b.do(http.MethodPost, "/_plexauth/start", url.Values{"rd": {"/"}})
		if resp.StatusCode == http.StatusTooManyRequests {
			break
		}
		expectStatus(t, resp, http.StatusSeeOther, body)
		if i == 50 {
			t.Fatal("never refused")
		}
	}
	e.load(strings.Replace(basicSite, `"Media Tools"`, `"Other Name"`, 1))
	b.c.Transport.(*http.Transport).CloseIdleConnections() // the reload closed them
	resp, body := b.do(http.MethodPost, "/_plexauth/start", url.Values{"rd": {"/"}})
	expectLimited(t, resp, body)
}

// The message for people says the wait as Retry-After does, in whole
// seconds (signin's TestLimitErrorSaysWholeSeconds holds the rounding).
func TestLimitedMessageSaysWholeSeconds(t *testing.T) {
	for _, c := range []struct {
		wait time.Duration
		msg  string
	}{
		{0, "Too many sign-in attempts, try again in 1 second."},
		{time.Second, "Too many sign-in attempts, try again in 1 second."},
		{time.Second + time.Millisecond, "Too many sign-in attempts, try again in 2 seconds."},
		{9500 * time.Millisecond, "Too many sign-in attempts, try again in 10 seconds."},
	} {
		e := &signin.Refusal{Call: signin.CreatePin, Wait: c.wait}
		if got := refusalMessage(e); got != c.msg {
			t.Errorf("wait %v: %q, want %q", c.wait, got, c.msg)
		}
		if strings.Contains(e.Error(), "429") || strings.Contains(e.Error(), "plex.tv") {
			t.Errorf("the error reads as plex.tv's: %q", e.Error())
		}
	}
}

// The refusal log's lines (signin.RefusalLog says when) name the local
// limit and sum up by kind; they never read as plex.tv's 429. An IPv6
// client is named by its /64.
func TestRefusalLogLinesSayALocalLimit(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	l := refusalLogger{zap.New(core)}
	l.Refused(&signin.Refusal{Call: signin.CheckPin, Shared: true, Wait: 1500 * time.Millisecond}, netip.MustParseAddr("2001:db8:1:2::"))
	l.Summary(signin.Summary{Creates: 99, Checks: 20, Shared: 20, InProgress: 3, Last: netip.MustParseAddr("192.0.2.1")})
	if logs.Len() != 2 {
		t.Fatalf("%d lines, want 2", logs.Len())
	}
	first, sum := logs.All()[0].ContextMap(), logs.All()[1].ContextMap()
	if first["during"] != "checking pin" || first["all_clients"] != true || first["sign_ins_in_progress"] != false ||
		first["client_ip"] != "2001:db8:1:2::/64" || first["retry_after"] != int64(2) {
		t.Errorf("first refusal = %v", first)
	}
	if sum["refused"] != int64(119) || sum["pin_creations"] != int64(99) || sum["pin_checks"] != int64(20) ||
		sum["over_all_clients_budget"] != int64(20) || sum["sign_ins_in_progress"] != int64(3) ||
		sum["last_client_ip"] != "192.0.2.1" || sum["over"] != signin.SummaryEvery {
		t.Errorf("summary = %v", sum)
	}
	for _, e := range logs.All() {
		if e.Level != zap.WarnLevel || !strings.Contains(e.Message, "local rate limit") || strings.Contains(e.Message, "429") {
			t.Errorf("log line %s %q does not say it was a local limit", e.Level, e.Message)
		}
	}
}
