package plexauth

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

// Tests here run Caddy as real processes, built from ./cmd/caddy with the
// race detector, so restarts, reloads and several instances are real.

var (
	caddyBinOnce sync.Once
	caddyBin     string
	caddyBinErr  error
)

func caddyBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("process tests build and run Caddy; skipped with -short")
	}
	caddyBinOnce.Do(func() {
		// Into the run's own folder, which TestMain removes: one build per
		// run, nothing left behind in the system's temp folder.
		caddyBin = filepath.Join(runDir, "caddy")
		cmd := exec.Command("go", "build", "-race", "-o", caddyBin, "./cmd/caddy")
		cmd.Env = goEnv
		out, err := cmd.CombinedOutput()
		if err != nil {
			caddyBinErr = fmt.Errorf("building caddy: %v\n%s", err, out)
		}
	})
	if caddyBinErr != nil {
		t.Fatal(caddyBinErr)
	}
	return caddyBin
}

var (
	portsMu   sync.Mutex
	portsUsed = map[int]bool{}
)

// freePort returns a loopback port nobody listens on, never the same one
// twice in a test run: the kernel may hand a just-closed port out again,
// and two Caddy processes (which listen with SO_REUSEPORT) would then
// share it silently.
func freePort(t testing.TB) int {
	portsMu.Lock()
	defer portsMu.Unlock()
	lo, hi := belowEphemeralPorts()
	for tries := 0; ; tries++ {
		var port int
		if hi > lo && tries < 1000 {
			// Below the kernel's range for outgoing connections: a port
			// from that range, free now, can be taken as the source port
			// of some connection before the server listens on it.
			port = lo + rand.IntN(hi-lo)
			l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
			if err != nil {
				continue
			}
			l.Close()
		} else {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				if t == nil {
					panic(err)
				}
				t.Fatal(err)
			}
			port = l.Addr().(*net.TCPAddr).Port
			l.Close()
		}
		if !portsUsed[port] {
			portsUsed[port] = true
			return port
		}
	}
}

// belowEphemeralPorts is a range of ports for the tests' servers that
// outgoing connections never take: from 10000 up to the start of
// /proc/sys/net/ipv4/ip_local_port_range (32768 by default).
func belowEphemeralPorts() (lo, hi int) {
	lo, hi = 10000, 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var a, z int
		if n, _ := fmt.Sscan(string(b), &a, &z); n == 2 {
			hi = a
		}
	}
	return lo, hi
}

// caddyProc is one running Caddy process.
type caddyProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	admin   int
	port    int
	home    string
	stderr  *syncBuffer
	stopped bool
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// procConfig is a Caddyfile for one instance: global options, then one
// site on port answering with the signed-in username. block is the inside
// of plex_auth; empty means no plex_auth at all.
func procConfig(admin, port int, storage, block string) string {
	site := "\trespond \"hello {http.auth.user.username}\"\n"
	if block != "" {
		site = "\tplex_auth {\n" + block + "\n\t}\n" + site
	}
	return fmt.Sprintf(`{
	admin localhost:%d
	http_port %d
	storage file_system %s
	skip_install_trust
	grace_period 1s
}
http://127.0.0.1:%d {
%s}
`, admin, port, storage, port, site)
}

func startCaddy(t *testing.T, port int, config func(admin int) string) *caddyProc {
	t.Helper()
	bin := caddyBinary(t)
	p := &caddyProc{t: t, admin: freePort(t), port: port, home: t.TempDir(), stderr: &syncBuffer{}}
	cfg := filepath.Join(p.home, "Caddyfile")
	if err := os.WriteFile(cfg, []byte(config(p.admin)), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "run", "--config", cfg, "--adapter", "caddyfile")
	p.cmd.Env = append(os.Environ(), "HOME="+p.home, "XDG_CONFIG_HOME="+p.home, "XDG_DATA_HOME="+p.home)
	p.cmd.Stdout = p.stderr
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err == nil {
			resp.Body.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy did not come up on port %d: %v\n%s", port, err, p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the process gracefully and fails the test on a data race.
func (p *caddyProc) stop() {
	if p.stopped {
		return
	}
	p.stopped = true
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	if out := p.stderr.String(); strings.Contains(out, "DATA RACE") {
		p.t.Errorf("caddy process reported a data race:\n%s", out)
	}
}

// reload loads a new Caddyfile through the admin API, as `caddy reload` does.
func (p *caddyProc) reload(config string) {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://localhost:%d/load", p.admin), strings.NewReader(config))
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		p.t.Fatalf("reload: %d %s", resp.StatusCode, body)
	}
	// The reload closes the old servers' connections: the next request on
	// a kept-alive one would fail with EOF.
	closeIdleTransports()
}

// goroutines returns the process's goroutine dump from the admin API.
func (p *caddyProc) goroutines() string {
	p.t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://localhost:%d/debug/pprof/goroutine?debug=2", p.admin))
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// procPlex is the fake plex.tv with an owner, a friend and a stranger.
func procPlex(t *testing.T) *plextest.Server {
	plex := plextest.NewServer()
	t.Cleanup(plex.Close)
	plex.AddServer(machineID, "Living Room")
	plex.AddAccount("owner")
	plex.Share(machineID, "owner", plextest.Owner)
	plex.AddAccount("friend")
	plex.Share(machineID, "friend", plextest.Friend)
	return plex
}

func plexBlock(plex *plextest.Server, extra string) string {
	return fmt.Sprintf("\t\tserver %s\n\t\tplex_tv_url %s\n\t\tplex_app_url %s\n\t\ttimeout 2s\n%s", machineID, plex.URL, plex.AppURL(), extra)
}

// procSignIn walks the same-tab flow on base (http://127.0.0.1:port) and
// returns the session cookie.
func procSignIn(t *testing.T, b *browser, plex *plextest.Server, base, account string) *http.Cookie {
	t.Helper()
	resp, body := b.do(http.MethodPost, base+"/_plexauth/start", url.Values{"rd": {"/"}})
	expectStatus(t, resp, http.StatusSeeOther, body)
	frag, _ := url.ParseQuery(resp.Header.Get("Location")[len(plex.AppURL())+2:])
	if err := plex.Approve(frag.Get("code"), account); err != nil {
		t.Fatal(err)
	}
	resp, body = b.get(base + "/_plexauth/callback")
	expectStatus(t, resp, http.StatusFound, body)
	for _, c := range resp.Cookies() {
		if c.Name == "plex_auth_session" && c.MaxAge > 0 {
			return c
		}
	}
	t.Fatal("no session cookie")
	return nil
}

// withCookie requests base+path sending only the given session cookie, so
// each instance is asked with exactly the cookie under test.
func withCookie(t *testing.T, target string, c *http.Cookie) (*http.Response, string) {
	t.Helper()
	b := newBrowser(t)
	return b.get(target, "Cookie", c.Name+"="+c.Value)
}

func expectSignedIn(t *testing.T, target string, c *http.Cookie, user string) {
	t.Helper()
	resp, body := withCookie(t, target, c)
	expectStatus(t, resp, http.StatusOK, body)
	if body != "hello "+user {
		t.Fatalf("body = %q, want hello %s", body, user)
	}
}

func TestProcessSessionSurvivesRestart(t *testing.T) {
	plex := procPlex(t)
	storage, port := t.TempDir(), freePort(t)
	cfg := func(admin int) string { return procConfig(admin, port, storage, plexBlock(plex, "")) }
	a := startCaddy(t, port, cfg)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := procSignIn(t, newBrowser(t), plex, base, "friend")
	expectSignedIn(t, base+"/", c, "friend")
	a.stop()

	startCaddy(t, port, cfg)
	expectSignedIn(t, base+"/after-restart", c, "friend")
}

func TestProcessReloadKeepsSessionsAndRemovalLeaksNothing(t *testing.T) {
	plex := procPlex(t)
	storage, port := t.TempDir(), freePort(t)
	p := startCaddy(t, port, func(admin int) string { return procConfig(admin, port, storage, plexBlock(plex, "")) })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := procSignIn(t, newBrowser(t), plex, base, "owner")

	p.reload(procConfig(p.admin, port, storage, plexBlock(plex, "\t\tproduct \"Renamed\"\n\t\tsession_ttl 48h")))
	expectSignedIn(t, base+"/after-reload", c, "owner")
	if !strings.Contains(p.goroutines(), "caddy-plexauth") {
		t.Fatal("goroutine dump shows no plex_auth goroutine while it runs; the leak check below could not fail")
	}

	p.reload(procConfig(p.admin, port, storage, ""))
	resp, body := withCookie(t, base+"/", c)
	expectStatus(t, resp, http.StatusOK, body)
	var leaked []string
	for _, g := range strings.Split(p.goroutines(), "\n\n") {
		if strings.Contains(g, "caddy-plexauth") || strings.Contains(g, "go-cache") {
			leaked = append(leaked, g)
		}
	}
	if len(leaked) > 0 {
		t.Fatalf("after removing plex_auth, %d goroutines remain:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	}
}

func TestProcessReloadWithAnotherStorageWritesSessionsThere(t *testing.T) {
	plex := procPlex(t)
	oldStore, newStore, port := t.TempDir(), t.TempDir(), freePort(t)
	p := startCaddy(t, port, func(admin int) string { return procConfig(admin, port, oldStore, plexBlock(plex, "")) })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	procSignIn(t, newBrowser(t), plex, base, "owner")

	p.reload(procConfig(p.admin, port, newStore, plexBlock(plex, "")))
	c := procSignIn(t, newBrowser(t), plex, base, "friend")
	expectSignedIn(t, base+"/", c, "friend")

	sessions := func(dir string) int {
		n := 0
		for _, e := range dumpDir(t, dir) {
			if strings.Contains(e, string(filepath.Separator)+"sessions"+string(filepath.Separator)) {
				n++
			}
		}
		return n
	}
	if got := sessions(oldStore); got != 1 {
		t.Errorf("old storage holds %d sessions, want 1 (the sign-in before the reload)", got)
	}
	if got := sessions(newStore); got != 1 {
		t.Errorf("configured storage holds %d sessions, want 1 (the sign-in after the reload)", got)
	}
}

func TestProcessTwoInstancesShareStorage(t *testing.T) {
	plex := procPlex(t)
	storage := t.TempDir()
	twoInstances(t, plex, func(admin, port int) string {
		return procConfig(admin, port, storage, plexBlock(plex, "\t\tcache_ttl 1s"))
	}, func() []string { return dumpDir(t, storage) })
}

// twoInstances signs in on A, uses the cookie on B, logs out on B and
// expects A to refuse the cookie once cache_ttl (1s) has passed. dump
// returns the raw content of the shared store, which must hold no Plex
// token and no cookie value.
func twoInstances(t *testing.T, plex *plextest.Server, cfg func(admin, port int) string, dump func() []string) {
	pa, pb := freePort(t), freePort(t)
	startCaddy(t, pa, func(admin int) string { return cfg(admin, pa) })
	startCaddy(t, pb, func(admin int) string { return cfg(admin, pb) })
	a, b := fmt.Sprintf("http://127.0.0.1:%d", pa), fmt.Sprintf("http://127.0.0.1:%d", pb)

	c := procSignIn(t, newBrowser(t), plex, a, "friend")
	expectSignedIn(t, a+"/", c, "friend")
	expectSignedIn(t, b+"/", c, "friend")

	token := plex.Account("friend").Token
	entries := dump()
	if len(entries) == 0 {
		t.Fatal("the shared store holds nothing; the dump check could not fail")
	}
	for _, e := range entries {
		if strings.Contains(e, token) || strings.Contains(e, c.Value) || strings.Contains(e, "friend@example.com") {
			t.Fatalf("store holds a Plex token, a cookie value or account data in clear: %.200q", e)
		}
	}

	resp, body := withCookie(t, b+"/_plexauth/logout", c)
	expectStatus(t, resp, http.StatusFound, body)
	time.Sleep(1100 * time.Millisecond) // cache_ttl: how long A may trust its memory
	resp, body = withCookie(t, a+"/", c)
	if resp.StatusCode == http.StatusOK {
		t.Fatalf("A still admits a session logged out on B after cache_ttl: %q", body)
	}
}

func dumpDir(t *testing.T, dir string) []string {
	var out []string
	_ = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			b, _ := os.ReadFile(path)
			out = append(out, path+"\n"+string(b))
		}
		return nil
	})
	return out
}

// startRedis runs a throwaway redis-server for the test and returns its
// address and a function that stops it.
func startRedis(t *testing.T) string {
	t.Helper()
	addr, _ := startRedisAt(t, freePort(t))
	return addr
}

func startRedisAt(t *testing.T, port int) (string, func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is missing; .ci/run installs it")
		}
		t.Skip("redis-server not installed (apt-get install redis-server); skipping the Redis tests")
	}
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }) }
	t.Cleanup(stop)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; ; i++ {
		if conn, err := net.Dial("tcp", addr); err == nil {
			conn.Close()
			return addr, stop
		}
		if i > 200 {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// redisDump returns every key and value in the Redis at addr, speaking
// RESP directly so the check does not share the module's client.
func redisDump(t *testing.T, addr string) []string {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	cmd := func(args ...string) []string {
		fmt.Fprintf(conn, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(conn, "$%d\r\n%s\r\n", len(a), a)
		}
		return readRESP(t, r)
	}
	var out []string
	for _, k := range cmd("KEYS", "*") {
		out = append(out, k+"\n"+strings.Join(cmd("GET", k), ""))
	}
	return out
}

func readRESP(t *testing.T, r *bufio.Reader) []string {
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	line = strings.TrimRight(line, "\r\n")
	switch line[0] {
	case '*':
		var n int
		fmt.Sscan(line[1:], &n)
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, readRESP(t, r)...)
		}
		return out
	case '$':
		var n int
		fmt.Sscan(line[1:], &n)
		if n < 0 {
			return nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatal(err)
		}
		return []string{string(buf[:n])}
	default:
		return []string{line[1:]}
	}
}

func TestProcessTwoInstancesShareRedis(t *testing.T) {
	addr := startRedis(t)
	plex := procPlex(t)
	twoInstances(t, plex, func(admin, port int) string {
		// Each instance has its own storage: only Redis is shared, and
		// the cookie secret must be too.
		return procConfig(admin, port, t.TempDir(), plexBlock(plex,
			"\t\tcache_ttl 1s\n\t\tstore redis redis://"+addr+"/0\n\t\tsecret this-is-a-shared-test-secret"))
	}, func() []string { return redisDump(t, addr) })
}

// waitStatus asks target with the cookie until it answers want, or fails
// after limit. Used only where a background re-check must land.
func waitStatus(t *testing.T, target string, c *http.Cookie, want int, limit time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		resp, body := withCookie(t, target, c)
		if resp.StatusCode == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still answers %d (%q), want %d", target, resp.StatusCode, body, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestProcessRevalidationEndsRevokedAndUnsharedSessions(t *testing.T) {
	plex := procPlex(t)
	plex.AddAccount("leaver")
	plex.Share(machineID, "leaver", plextest.Friend)
	port := freePort(t)
	startCaddy(t, port, func(admin int) string {
		return procConfig(admin, port, t.TempDir(), plexBlock(plex, "\t\trevalidate 1s"))
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	revoked := procSignIn(t, newBrowser(t), plex, base, "friend")
	unshared := procSignIn(t, newBrowser(t), plex, base, "leaver")
	expectSignedIn(t, base+"/", revoked, "friend")
	expectSignedIn(t, base+"/", unshared, "leaver")

	plex.RevokeToken("friend")
	plex.Unshare(machineID, "leaver")
	time.Sleep(1100 * time.Millisecond) // revalidate

	waitStatus(t, base+"/", revoked, http.StatusFound, 10*time.Second)
	body := waitStatus(t, base+"/", unshared, http.StatusForbidden, 10*time.Second)
	if !strings.Contains(body, "leaver") {
		t.Errorf("the refusal after losing access should name the account: %.300s", body)
	}
}

func TestProcessPlexOutageKeepsUsersSignedInWithBoundedCalls(t *testing.T) {
	plex := procPlex(t)
	port := freePort(t)
	startCaddy(t, port, func(admin int) string {
		return procConfig(admin, port, t.TempDir(), plexBlock(plex, "\t\trevalidate 1s"))
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := procSignIn(t, newBrowser(t), plex, base, "owner")

	plex.SetStatus(http.StatusServiceUnavailable, 0)
	plex.ResetLog()
	outage := 6 * time.Second // six times revalidate
	requests := 0
	for start := time.Now(); time.Since(start) < outage; requests++ {
		expectSignedIn(t, base+"/", c, "owner")
		time.Sleep(50 * time.Millisecond)
	}
	calls := plex.Count(http.MethodGet, "/api/v2/user")
	// Backoff from 1s doubling: checks near 1s, 2s, 4s after the first
	// failure, so at most about four in six seconds; a retry per request
	// would be over a hundred.
	if calls == 0 || calls > 5 {
		t.Fatalf("plex.tv saw %d re-checks during a %v outage with %d requests; want between 1 and 5", calls, outage, requests)
	}

	plex.SetStatus(0, 0)
	plex.RevokeToken("owner")
	// Once plex.tv answers again, re-checks resume and see the revocation.
	waitStatus(t, base+"/", c, http.StatusFound, 20*time.Second)
}

func TestProcessRedisOutageKeepsSignedInUsersAndRefusesNewSignInsCleanly(t *testing.T) {
	redisPort := freePort(t)
	addr, stopRedis := startRedisAt(t, redisPort)
	plex := procPlex(t)
	port := freePort(t)
	p := startCaddy(t, port, func(admin int) string {
		return procConfig(admin, port, t.TempDir(), plexBlock(plex, "\t\tstore redis redis://"+addr+"/0\n\t\tcache_ttl 1s"))
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := procSignIn(t, newBrowser(t), plex, base, "owner")

	stopRedis()
	time.Sleep(1100 * time.Millisecond) // past cache_ttl: the store is asked again, and fails
	for i := 0; i < 5; i++ {
		expectSignedIn(t, base+"/", c, "owner")
	}
	b := newBrowser(t)
	resp, body := b.do(http.MethodPost, base+"/_plexauth/start", url.Values{"rd": {"/"}})
	expectStatus(t, resp, http.StatusSeeOther, body)
	frag, _ := url.ParseQuery(resp.Header.Get("Location")[len(plex.AppURL())+2:])
	if err := plex.Approve(frag.Get("code"), "friend"); err != nil {
		t.Fatal(err)
	}
	resp, body = b.get(base + "/_plexauth/callback")
	expectStatus(t, resp, http.StatusServiceUnavailable, body)
	if b.cookie("plex_auth_session") != nil {
		t.Fatal("a sign-in the store could not keep still set a session cookie")
	}
	if logs := p.stderr.String(); strings.Count(logs, "session store unreachable") != 1 {
		t.Errorf("the store outage should be logged once, got %d times", strings.Count(logs, "session store unreachable"))
	}

	startRedisAt(t, redisPort) // back, empty: nothing was half-written
	c2 := procSignIn(t, newBrowser(t), plex, base, "friend")
	expectSignedIn(t, base+"/", c2, "friend")
}

func TestProcessStartLineSaysWhatItDoesAndAnUnreachableRedisOnlyWarns(t *testing.T) {
	plex := procPlex(t)
	port, deadRedis := freePort(t), freePort(t) // nothing listens on deadRedis
	p := startCaddy(t, port, func(admin int) string {
		return procConfig(admin, port, t.TempDir(), plexBlock(plex, fmt.Sprintf("\t\tstore redis redis://:hunter2secret@127.0.0.1:%d/0\n\t\tallow_tier owner home", deadRedis)))
	})
	logs := p.stderr.String()
	for _, want := range []string{
		`"msg":"plex_auth ready"`,
		`"admits":"owner, home of server ` + machineID + `"`,
		fmt.Sprintf(`"store":"redis 127.0.0.1:%d"`, deadRedis),
		`"store_state":"unreachable"`,
		`"prefix":"/_plexauth"`,
		`"revalidate":"10m0s"`,
		`"session_ttl":"168h0m0s"`,
		`"msg":"session store unreachable at start`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("start-up log lacks %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "hunter2secret") {
		t.Error("the Redis password is in the log")
	}
	// It started: unauthenticated requests get the sign-in answer.
	resp, body := newBrowser(t).get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	expectStatus(t, resp, http.StatusFound, body)
}

// TestProcessLogsNeverCarryTokensOrCookieValues runs a sign-in, requests,
// a re-check, a refusal and a sign-out through a Caddy logging at debug
// level with access logs on, then searches everything it wrote for the
// Plex token, the pin code and every cookie value it set.
func TestProcessLogsNeverCarryTokensOrCookieValues(t *testing.T) {
	plex := procPlex(t)
	plex.AddAccount("stranger")
	port := freePort(t)
	p := startCaddy(t, port, func(admin int) string {
		cfg := procConfig(admin, port, t.TempDir(), plexBlock(plex, "\t\trevalidate 1s"))
		cfg = strings.Replace(cfg, "{\n", "{\n\tdebug\n", 1)
		return strings.Replace(cfg, "\tplex_auth {", "\tlog\n\tplex_auth {", 1)
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	var secrets []string
	b := newBrowser(t)
	resp, body := b.do(http.MethodPost, base+"/_plexauth/start", url.Values{"rd": {"/"}})
	expectStatus(t, resp, http.StatusSeeOther, body)
	frag, _ := url.ParseQuery(resp.Header.Get("Location")[len(plex.AppURL())+2:])
	code := frag.Get("code")
	for _, c := range resp.Cookies() {
		secrets = append(secrets, c.Value)
	}
	if err := plex.Approve(code, "friend"); err != nil {
		t.Fatal(err)
	}
	resp, body = b.get(base + "/_plexauth/callback")
	expectStatus(t, resp, http.StatusFound, body)
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Value != "" {
			secrets = append(secrets, c.Value)
		}
		if c.Name == "plex_auth_session" && c.MaxAge > 0 {
			session = c
		}
	}
	if session == nil {
		t.Fatal("no session cookie")
	}
	expectSignedIn(t, base+"/page", session, "friend")
	// Wait for a re-check with plex.tv to have run on this session.
	deadline := time.Now().Add(30 * time.Second)
	for plex.Count(http.MethodGet, "/api/v2/user") < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no re-check reached plex.tv")
		}
		expectSignedIn(t, base+"/page", session, "friend")
		time.Sleep(200 * time.Millisecond)
	}
	// A refused account, and a sign-out.
	stranger := newBrowser(t)
	procSignInExpect(t, stranger, plex, base, "stranger", http.StatusForbidden)
	resp, body = withCookie(t, base+"/_plexauth/logout", session)
	expectStatus(t, resp, http.StatusFound, body)

	secrets = append(secrets, plex.Account("friend").Token, plex.Account("stranger").Token)
	logs := p.stderr.String()
	if !strings.Contains(logs, `"logger":"http.log.access`) || !strings.Contains(logs, "signed in") {
		t.Fatalf("the log lacks access lines or the sign-in line; the search below could not fail:\n%.2000s", logs)
	}
	for _, s := range secrets {
		if len(s) >= 8 && strings.Contains(logs, s) {
			t.Errorf("the log carries a secret value (%.6s…)", s)
		}
	}
	if strings.Contains(logs, code) {
		t.Log("the pin code appears in the log (the Location header of /start, in the access log); see docs/security.md")
	}
}

// procSignInExpect walks the same-tab flow as account and expects the
// callback to answer want.
func procSignInExpect(t *testing.T, b *browser, plex *plextest.Server, base, account string, want int) {
	t.Helper()
	resp, body := b.do(http.MethodPost, base+"/_plexauth/start", url.Values{"rd": {"/"}})
	expectStatus(t, resp, http.StatusSeeOther, body)
	frag, _ := url.ParseQuery(resp.Header.Get("Location")[len(plex.AppURL())+2:])
	if err := plex.Approve(frag.Get("code"), account); err != nil {
		t.Fatal(err)
	}
	resp, body = b.get(base + "/_plexauth/callback")
	expectStatus(t, resp, want, body)
}
