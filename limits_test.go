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
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
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

func TestBucketSpendsAndRefills(t *testing.T) {
	l := limit{rate: 0.5, burst: 2} // a token every 2 s
	t0 := time.Unix(1000, 0)
	b := newBucket(l, t0)
	steps := []struct {
		at   time.Duration
		ok   bool
		wait time.Duration
	}{
		{0, true, 0},
		{0, true, 0},
		{0, false, 2 * time.Second},
		{time.Second, false, time.Second},
		{2 * time.Second, true, 0},
		{2 * time.Second, false, 2 * time.Second},
		{time.Hour, true, 0}, // refilled, but never past the burst
		{time.Hour, true, 0},
		{time.Hour, false, 2 * time.Second},
		{time.Hour - time.Minute, false, 2 * time.Second}, // a clock going back refills nothing
	}
	for i, s := range steps {
		ok, wait := b.take(l, t0.Add(s.at))
		if ok != s.ok || (!ok && (wait < s.wait-time.Millisecond || wait > s.wait+time.Millisecond)) {
			t.Fatalf("step %d at +%v: take = %v, wait %v; want %v, %v", i, s.at, ok, wait, s.ok, s.wait)
		}
	}
}

func TestLimitErrorSaysWholeSeconds(t *testing.T) {
	for _, c := range []struct {
		wait time.Duration
		secs int
		msg  string
	}{
		{0, 1, "Too many sign-in attempts, try again in 1 second."},
		{time.Millisecond, 1, "Too many sign-in attempts, try again in 1 second."},
		{time.Second, 1, "Too many sign-in attempts, try again in 1 second."},
		{time.Second + time.Millisecond, 2, "Too many sign-in attempts, try again in 2 seconds."},
		{9500 * time.Millisecond, 10, "Too many sign-in attempts, try again in 10 seconds."},
	} {
		e := &limitError{during: duringCreate, wait: c.wait}
		if e.retryAfter() != c.secs || e.message() != c.msg {
			t.Errorf("wait %v: %d, %q; want %d, %q", c.wait, e.retryAfter(), e.message(), c.secs, c.msg)
		}
		if strings.Contains(e.Error(), "429") || strings.Contains(e.Error(), "plex.tv") {
			t.Errorf("the error reads as plex.tv's: %q", e.Error())
		}
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

func TestLimitsKeepBudgetsApart(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newSigninLimits(t0)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for i := range int(clientCreates.burst) {
		if err := l.allow(duringCreate, a, t0); err != nil {
			t.Fatalf("creation %d refused: %v", i, err)
		}
	}
	err := l.allow(duringCreate, a, t0)
	if err == nil || err.shared || err.retryAfter() != 10 {
		t.Fatalf("creation past the client's burst: %+v, want refused, own budget, 10 s", err)
	}
	if err := l.allow(duringCheck, a, t0); err != nil {
		t.Errorf("a client out of creations cannot check its pins: %v", err)
	}
	if err := l.allow(duringCreate, b, t0); err != nil {
		t.Errorf("another client is refused: %v", err)
	}
	if err := l.allow(duringCreate, a, t0.Add(10*time.Second)); err != nil {
		t.Errorf("no creation after the refill time: %v", err)
	}

	// All clients together: the shared budget, and a refusal by it costs
	// the client its own token all the same (hammering is not free).
	l = newSigninLimits(t0)
	n := 0
	for i := 0; n < int(sharedCreates.burst); i++ {
		c := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
		for range int(clientCreates.burst) {
			if n < int(sharedCreates.burst) && l.allow(duringCreate, c, t0) == nil {
				n++
			}
		}
	}
	err = l.allow(duringCreate, a, t0)
	if err == nil || !err.shared {
		t.Fatalf("past the shared burst: %+v, want refused by the shared budget", err)
	}
	if got := l.createClients.m[a].tokens; got != clientCreates.burst-1 {
		t.Errorf("after one call refused by the shared budget the client has %v tokens of its own, want %v", got, clientCreates.burst-1)
	}
}

func TestClientTableIsBounded(t *testing.T) {
	const max = 64
	l := limit{rate: 0.1, burst: 3} // a token every 10 s
	t0 := time.Unix(1000, 0)
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) }

	// Many addresses at once, all spending: the table stays within its bound.
	c := newClientBuckets(l, max)
	for i := range 10000 {
		c.take(addr(i), t0)
		if c.len() > max {
			t.Fatalf("table grew to %d entries, bound %d", c.len(), max)
		}
	}

	// A full table of clients that came once and went: new clients push
	// those out, not a client still spending.
	c = newClientBuckets(l, max)
	spender := netip.MustParseAddr("192.0.2.1")
	for range 3 {
		c.take(spender, t0)
	}
	for i := range max - 1 {
		c.take(addr(i), t0)
	}
	t1 := t0.Add(20 * time.Second) // the others refilled; the spender has 2 of 3
	for i := range 10 {
		c.take(addr(100000+i), t1)
	}
	ok1, _ := c.take(spender, t1)
	ok2, _ := c.take(spender, t1)
	ok3, _ := c.take(spender, t1)
	if !ok1 || !ok2 || ok3 {
		t.Errorf("the spender's budget was reset: %v %v %v", ok1, ok2, ok3)
	}
	if c.len() != 11 {
		t.Errorf("%d entries, want 11: the spender and the new clients", c.len())
	}
}

func TestPinChecksAreCoalesced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pinChecks{calls: make(map[int64]*pinCall)}
		var calls atomic.Int32
		release := make(chan struct{})
		call := func(ctx context.Context) (*plextv.Pin, error) {
			calls.Add(1)
			<-release
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return &plextv.Pin{ID: 7, Code: "c"}, nil
		}
		var allowed atomic.Int32
		allow := func(time.Time) error { allowed.Add(1); return nil }

		// The first asker goes away before plex.tv answers: the call goes
		// on for the others.
		firstCtx, cancelFirst := context.WithCancel(context.Background())
		answers := make(chan *plextv.Pin, 20)
		go func() {
			pin, _ := p.check(firstCtx, 7, allow, call)
			answers <- pin
		}()
		synctest.Wait()
		leaverCtx, leave := context.WithCancel(context.Background())
		left := make(chan error, 1)
		go func() {
			_, err := p.check(leaverCtx, 7, allow, call)
			left <- err
		}()
		for range 10 {
			go func() {
				pin, _ := p.check(context.Background(), 7, allow, call)
				answers <- pin
			}()
		}
		synctest.Wait() // all waiting on the one call
		cancelFirst()
		leave()
		if err := <-left; err == nil {
			t.Error("an asker whose request ended kept waiting")
		}
		close(release)
		var first *plextv.Pin
		for range 11 {
			pin := <-answers
			if pin == nil || (first != nil && pin != first) {
				t.Fatalf("askers did not share one answer: %v", pin)
			}
			first = pin
		}
		if calls.Load() != 1 || allowed.Load() != 1 {
			t.Fatalf("%d calls, %d budget checks for 12 askers; want 1 and 1", calls.Load(), allowed.Load())
		}

		// Within the second, the answer is shared too; after it, a new call.
		time.Sleep(pinCheckEvery - time.Millisecond)
		if pin, _ := p.check(context.Background(), 7, allow, call); pin != first || calls.Load() != 1 {
			t.Errorf("asked again within a second: %d calls", calls.Load())
		}
		time.Sleep(time.Millisecond)
		if pin, _ := p.check(context.Background(), 7, allow, call); pin == first || calls.Load() != 2 {
			t.Errorf("a second later: %d calls, want 2", calls.Load())
		}
		// Another pin is its own.
		p.check(context.Background(), 8, allow, call)
		if calls.Load() != 3 {
			t.Errorf("another pin shared a call: %d calls", calls.Load())
		}

		// A refused asker is refused alone; the next one asks.
		time.Sleep(pinCheckEvery)
		refuse := func(time.Time) error { return &limitError{during: duringCheck, wait: time.Second} }
		if _, err := p.check(context.Background(), 7, refuse, call); asLimit(err) == nil {
			t.Errorf("refused asker got %v", err)
		}
		if pin, err := p.check(context.Background(), 7, allow, call); err != nil || pin == nil || calls.Load() != 4 {
			t.Errorf("after a refusal: %v, %v, %d calls", pin, err, calls.Load())
		}

		// Answers older than a second are swept.
		time.Sleep(2 * pinCheckEvery)
		p.check(context.Background(), 9, allow, call)
		p.mu.Lock()
		n := len(p.calls)
		p.mu.Unlock()
		if n != 1 {
			t.Errorf("%d answers kept, want only the fresh one", n)
		}
	})
}

func TestRefusalsAreSummedUpInTheLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		core, logs := observer.New(zap.InfoLevel)
		logger := zap.New(core)
		var l refusalLog
		client := netip.MustParseAddr("192.0.2.1")
		create := &limitError{during: duringCreate, wait: 5 * time.Second}
		check := &limitError{during: duringCheck, shared: true, wait: time.Second}

		for range 100 {
			l.note(logger, create, client)
		}
		for range 20 {
			l.note(logger, check, client)
		}
		if logs.Len() != 1 {
			t.Fatalf("120 refusals wrote %d lines at once, want 1", logs.Len())
		}
		time.Sleep(refusalLogEvery)
		synctest.Wait()
		if logs.Len() != 2 {
			t.Fatalf("after 10 s: %d lines, want 2", logs.Len())
		}
		sum := logs.All()[1].ContextMap()
		if sum["refused"] != int64(119) || sum["pin_creations"] != int64(99) || sum["pin_checks"] != int64(20) || sum["over_all_clients_budget"] != int64(20) {
			t.Errorf("summary = %v", sum)
		}
		// Quiet: nothing more, and the next refusal is written at once.
		time.Sleep(3 * refusalLogEvery)
		synctest.Wait()
		if logs.Len() != 2 {
			t.Fatalf("quiet 30 s wrote %d more lines", logs.Len()-2)
		}
		l.note(logger, create, client)
		if logs.Len() != 3 {
			t.Fatalf("a refusal after a quiet spell was not written at once")
		}
		// What is left is written when the limits are dropped.
		for range 5 {
			l.note(logger, create, client)
		}
		l.stop()
		if logs.Len() != 4 || logs.All()[3].ContextMap()["refused"] != int64(5) {
			t.Fatalf("stop left %d lines, last %v", logs.Len(), logs.All()[logs.Len()-1].ContextMap())
		}
		time.Sleep(2 * refusalLogEvery)
		synctest.Wait()
		for _, e := range logs.All() {
			if !strings.Contains(e.Message, "local rate limit") || strings.Contains(e.Message, "429") {
				t.Errorf("log line %q does not say it was a local limit", e.Message)
			}
		}
		if logs.Len() != 4 {
			t.Errorf("lines after stop: %d", logs.Len()-4)
		}
	})
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
