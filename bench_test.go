package plexauth

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

// Benchmarks of the request path, run with
//
//	go test -run '^$' -bench . -benchmem
//
// The handler is provisioned by Caddy itself (LoadModuleByID on the active
// context), so it is the handler a Caddyfile gives, not a hand-made copy.
// plex_tv_url points at the fake plex.tv; every benchmark that must not
// call plex.tv fails if the fake saw a request.

// benchHandler provisions a plex_auth handler admitting the friends of
// machineID, with plex.tv played by plex, as a Caddyfile gives it: in the
// route of a real HTTP server, loaded by caddy.Load, so it learns from its
// config what a handler does inside Caddy (placeholders.go). The server
// listens on a free loopback port; the benchmarks call the handler
// directly. Requests for it come from caddyRequest on benchSrv(h).
func benchHandler(b *testing.B, plex *plextest.Server) *PlexAuth {
	return benchHandlerOn(b, plex, nil)
}

// benchHandlerOn is benchHandler with more options for the server (e.g.
// expected_underscore_headers).
func benchHandlerOn(b *testing.B, plex *plextest.Server, server map[string]any) *PlexAuth {
	return benchHandlerWith(b, plex, server, nil)
}

// benchHandlerWith is benchHandlerOn with more options for plex_auth
// (e.g. app_sign_in).
func benchHandlerWith(b *testing.B, plex *plextest.Server, server, handler map[string]any) *PlexAuth {
	b.Helper()
	storage := benchStorage(b)
	pa := map[string]any{
		"handler":      "plex_auth",
		"servers":      []string{machineID},
		"plex_tv_url":  plex.URL,
		"plex_app_url": plex.AppURL(),
	}
	for k, v := range handler {
		pa[k] = v
	}
	srv := map[string]any{
		"listen": []string{fmt.Sprintf("127.0.0.1:%d", freePort(b))},
		"routes": []any{map[string]any{"handle": []any{
			pa,
			map[string]any{"handler": "static_response", "body": "ok"},
		}}},
	}
	for k, v := range server {
		srv[k] = v
	}
	cfg, _ := json.Marshal(map[string]any{
		"admin":   map[string]any{"disabled": true},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}},
		"storage": map[string]any{"module": "bench_counting", "root": storage},
		"apps":    map[string]any{"http": map[string]any{"servers": map[string]any{"bench": srv}}},
	})
	if err := caddy.Load(cfg, true); err != nil {
		b.Fatal(err)
	}
	app, err := caddy.ActiveContext().App("http")
	if err != nil {
		b.Fatal(err)
	}
	h, ok := app.(*caddyhttp.App).Servers["bench"].Routes[0].Handlers[0].(*PlexAuth)
	if !ok {
		b.Fatal("the route's first handler is not plex_auth")
	}
	benchStoreCalls.Store(0) // Provision's own reads are not the request path's
	return h
}

// benchSrv is the Caddy server h runs in, for caddyRequest.
func benchSrv(b *testing.B) *caddyhttp.Server {
	app, err := caddy.ActiveContext().App("http")
	if err != nil {
		b.Fatal(err)
	}
	return app.(*caddyhttp.App).Servers["bench"]
}

var benchStore struct {
	once sync.Once
	dir  string
	err  error
}

// benchStorage is the Caddy storage every benchmark's config shares, in
// the run folder.
func benchStorage(b *testing.B) string {
	benchStore.once.Do(func() { benchStore.dir, benchStore.err = os.MkdirTemp(runDir, "bench-") })
	if benchStore.err != nil {
		b.Fatal(benchStore.err)
	}
	return benchStore.dir
}

// benchPlex is a fake plex.tv that answers slowly, so a benchmark that
// waited on it would show it in ns/op, not only in the request count.
func benchPlex(b *testing.B) *plextest.Server {
	plex := plextest.NewServer()
	b.Cleanup(plex.Close)
	plex.AddServer(machineID, "Living Room")
	plex.SetDelay(time.Second)
	return plex
}

// expectNoPlexCalls fails b if the request path called plex.tv, or the
// session store (bench_store_test.go).
func expectNoPlexCalls(b *testing.B, plex *plextest.Server) {
	b.Helper()
	if n := len(plex.Requests()); n != 0 {
		b.Fatalf("the request path made %d calls to plex.tv, want none", n)
	}
	expectNoStoreCalls(b)
}

// measureCPU adds cpu-ns/op, the process's CPU time per operation, to the
// wall-clock ns/op. On a shared machine the wall clock also counts the
// time other processes held the core; CPU time does not. It includes the
// garbage collector's work, which the allocations of the request cause.
// Call the function it returns after the loop.
func measureCPU(b *testing.B) func() {
	start := processCPU()
	return func() {
		if used := processCPU() - start; used > 0 && b.N > 0 {
			b.ReportMetric(float64(used)/float64(b.N), "cpu-ns/op")
		}
	}
}

// benchSession is a session shaped like one identify makes: a friend of
// machineID.
func benchSession(i int, now time.Time, ttl time.Duration) *Session {
	return &Session{
		UserID:   int64(10_000_000 + i),
		UUID:     fmt.Sprintf("%016x", 0x5eed0000+i),
		Username: fmt.Sprintf("viewer%d", i),
		Email:    fmt.Sprintf("viewer%d@example.com", i),
		Title:    fmt.Sprintf("Viewer %d", i),
		Thumb:    fmt.Sprintf("https://plex.tv/users/%016x/avatar", 0x5eed0000+i),
		Servers:  map[string]string{machineID: access.TierFriend},
		Token:    fmt.Sprintf("tok-%016x", i),
		Created:  now,
		Checked:  now,
		Expires:  now.Add(ttl),
	}
}

// addSession stores a session as newSession does, in memory only, and
// returns its cookie value. The next re-check is due revalidate after
// s.Checked.
func addSession(h *PlexAuth, s *Session) string {
	rawID := randomBytes(sessionIDLen)
	h.sessions.PutLocal(string(rawID), s)
	return h.sessionSealer.Seal(h.CookieName, rawID, s.Expires)
}

// benchRequest is one request reused for every iteration, for the
// benchmarks of refused requests, where the handler adds nothing to the
// request state (signed-in ones use caddyRequest). cookie resets its
// Cookie header without allocating.
type benchRequest struct {
	r       *http.Request
	cookies []string
}

func newBenchRequest(method, target string, hdr ...string) *benchRequest {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), nil, benchServer)
	return &benchRequest{r: r, cookies: make([]string, 1)}
}

// benchServer is a Caddy server with the default options; the request
// context carries it, as Caddy's does.
var benchServer = &caddyhttp.Server{}

// yieldEvery makes BenchmarkSignedIn yield the processor between two
// requests every so many requests: under callgrind (bench/run.sh -handler
// sets it), where a request lasts about a millisecond, yielding more often
// than every 10 ms keeps sysmon from preempting the goroutine inside the
// handler, where callgrind would count what runs meanwhile as the
// handler's; what runs at the yield is counted outside it. 0: never (the
// timings of a plain run are left alone).
var yieldEvery = flag.Int("bench.yield", 0, "BenchmarkSignedIn: yield the processor every N requests (bench/run.sh -handler sets it)")

func (br *benchRequest) cookie(line string) *http.Request {
	br.cookies[0] = line
	br.r.Header["Cookie"] = br.cookies[:1]
	return br.r
}

var browserHeaders = []string{
	"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
	"Accept-Language", "en-GB,en;q=0.9",
	"User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
	"Sec-Fetch-Mode", "navigate",
}

// nopWriter is a ResponseWriter that keeps one header map across requests.
type nopWriter struct {
	h      http.Header
	status int
}

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(status int)      { w.status = status }
func (w *nopWriter) reset()                      { clear(w.h); w.status = 0 }

// upstreamSaw is the next handler: it records that it ran.
type upstreamSaw struct{ n int }

func (u *upstreamSaw) handler() caddyhttp.Handler {
	return caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { u.n++; return nil })
}

// caddyRequest makes a request the way Caddy's server hands it to a
// handler: the header map net/http reads, sized for the lines received
// and its values backed by one array, then caddyhttp.PrepareRequest's
// fresh replacer, request vars and the rest of the context. Whatever a
// handler adds per request (request vars, a replacer provider, header
// entries) starts from nothing each time, as it does in Caddy.
func caddyRequest(srv *caddyhttp.Server, method, target string, hdr ...string) *http.Request {
	r := new(http.Request)
	*r = *parsedRequest(method, target)
	u := *r.URL
	r.URL = &u
	n := len(hdr) / 2
	r.Header = make(http.Header, n)
	vals := make([]string, n)
	for i := range n {
		vals[i] = hdr[2*i+1]
		r.Header[hdr[2*i]] = vals[i : i+1 : i+1]
	}
	return caddyhttp.PrepareRequest(r, caddy.NewReplacer(), nil, srv)
}

// parsedRequests holds one parsed request per method and target, which
// caddyRequest copies: parsing is not what a benchmark measures, and
// net/http does not allocate a reader per request on a kept-alive
// connection as httptest.NewRequest does.
var parsedRequests sync.Map

func parsedRequest(method, target string) *http.Request {
	key := method + " " + target
	if r, ok := parsedRequests.Load(key); ok {
		return r.(*http.Request)
	}
	r, _ := parsedRequests.LoadOrStore(key, httptest.NewRequest(method, target, nil))
	return r.(*http.Request)
}

// preparedRequests hands out requests made by build, a batch at a time,
// made (and the batch before collected) with the timer stopped and their
// CPU time left out of cpu-ns/op (measureCPUExcept), so a benchmark times
// the handler on a request as Caddy builds it and not the building.
type preparedRequests struct {
	b       *testing.B
	build   func(i int) *http.Request
	batch   []*http.Request
	next    int
	made    int
	prepCPU time.Duration
	collect bool // collect the last batch before timing the next
}

func newPreparedRequests(b *testing.B, build func(i int) *http.Request) *preparedRequests {
	return &preparedRequests{b: b, build: build, batch: make([]*http.Request, 1024), next: 1024, collect: true}
}

func (p *preparedRequests) get() *http.Request {
	if p.next == len(p.batch) {
		p.b.StopTimer()
		start := processCPU()
		for i := range p.batch {
			p.batch[i] = p.build(p.made)
			p.made++
		}
		// The last batch is garbage now: collect it here, or the collector
		// would do it, and be counted, while the next batch is timed. Not
		// over a large heap (SessionCount), where a forced collection per
		// batch would cost more than it saves and leave sweeping to the
		// timed loop: there the collector runs as it would in a server.
		if p.collect {
			runtime.GC()
		}
		p.next = 0
		p.prepCPU += processCPU() - start
		p.b.StartTimer()
	}
	r := p.batch[p.next]
	p.batch[p.next] = nil
	p.next++
	return r
}

// measureCPUExcept is measureCPU leaving out the CPU time p spent making
// requests.
func measureCPUExcept(b *testing.B, p *preparedRequests) func() {
	start := processCPU()
	return func() {
		if used := processCPU() - start - p.prepCPU; used > 0 && b.N > 0 {
			b.ReportMetric(float64(used)/float64(b.N), "cpu-ns/op")
		}
	}
}

// BenchmarkSignedIn is a signed-in request through ServeHTTP: cookie parse
// and open, session lookup, rule check, placeholders, identity headers and
// cookie stripping. Every request is a new one as Caddy's server builds it
// (caddyRequest), made beforehand with the timer stopped, so the handler
// starts each time from an empty replacer, fresh request vars and a header
// map sized for what the browser sent: what it adds to those per request
// is counted, and nothing carries over from the request before.
// underscore-headers-allowed runs on a server whose options let header
// names with '_' through, where every header is looked at for another
// spelling of the identity headers. app-sign-in is a block with
// app_sign_in whose browser presents the app cookie its session made:
// the app is never called (its URL answers nothing). oidc-client is
// session-cookie-only on a block that is also an OpenID Connect provider:
// it must count what session-cookie-only counts (bench/run.sh -handler).
func BenchmarkSignedIn(b *testing.B) {
	allowing := map[string]any{"expected_underscore_headers": []string{"X_Api_Key"}}
	app := map[string]any{"app_sign_in": map[string]any{"kind": "overseerr", "url": "http://127.0.0.1:9"}}
	oidcClient := map[string]any{"oidc_clients": []any{map[string]any{
		"id": "grafana", "secret": "bench-oidc-secret-0123456789abcdef", "redirect_uris": []string{"https://grafana.example.com/login/generic_oauth"},
	}}}
	for _, tc := range []struct {
		name, other     string
		server, handler map[string]any
	}{
		{"session-cookie-only", "", nil, nil},
		{"with-other-cookies", "theme=dark; _ga=GA1.1.123456789.1700000000", nil, nil},
		{"underscore-headers-allowed", "", allowing, nil},
		{"app-sign-in", "connect.sid=s%3AbenchSessionId0123456789abcdef.signature0123456789", nil, app},
		{"oidc-client", "", nil, oidcClient},
	} {
		b.Run(tc.name, func(b *testing.B) {
			plex := benchPlex(b)
			h := benchHandlerWith(b, plex, tc.server, tc.handler)
			srv := benchSrv(b)
			s := benchSession(1, time.Now(), time.Hour)
			if tc.handler["app_sign_in"] != nil {
				s.Apps = []AppSession{{Kind: "overseerr", URL: "http://127.0.0.1:9", Name: "connect.sid", Value: "s%3AbenchSessionId0123456789abcdef.signature0123456789", Path: "/"}}
			}
			cookie := h.CookieName + "=" + addSession(h, s)
			if tc.other != "" {
				cookie = tc.other + "; " + cookie
			}
			hdr := append(slices.Clip(browserHeaders), "Cookie", cookie)
			reqs := newPreparedRequests(b, func(int) *http.Request {
				return caddyRequest(srv, http.MethodGet, "http://media.example.com/tautulli/home?section=2", hdr...)
			})
			w := &nopWriter{h: http.Header{}}
			up := &upstreamSaw{}
			next := up.handler()
			var r *http.Request
			b.ReportAllocs()
			cpu := measureCPUExcept(b, reqs)
			n := 0
			for b.Loop() {
				r = reqs.get()
				if err := h.ServeHTTP(w, r, next); err != nil {
					b.Fatal(err)
				}
				if n++; n == *yieldEvery {
					n = 0
					runtime.Gosched()
				}
			}
			b.StopTimer()
			cpu()
			if up.n != b.N || w.status != 0 {
				b.Fatalf("upstream ran %d times for %d requests, status %d", up.n, b.N, w.status)
			}
			expectAdmitted(b, r, "viewer1")
			expectNoPlexCalls(b, plex)
			if tc.handler["app_sign_in"] != nil {
				if c, err := r.Cookie("connect.sid"); err != nil || c.Value != s.Apps[0].Value || len(w.h["Set-Cookie"]) != 0 {
					b.Fatalf("the app cookie went on as %v (%v), Set-Cookie %q; want it as presented, untouched", c, err, w.h["Set-Cookie"])
				}
			}
		})
	}
}

// expectAdmitted fails b unless r went on as username's: identity header,
// placeholders, and the session cookie gone.
func expectAdmitted(b *testing.B, r *http.Request, username string) {
	b.Helper()
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	got, _ := repl.GetString("http.auth.user.username")
	if r.Header.Get("Remote-User") != username || got != username {
		b.Fatalf("request went on as Remote-User %q, {http.auth.user.username} %q; want %q", r.Header.Get("Remote-User"), got, username)
	}
	if _, err := r.Cookie(defaultCookieName); err == nil {
		b.Fatal("the session cookie went on to the next handler")
	}
}

// BenchmarkFreshRequest is BenchmarkSignedIn with the building of each
// request (caddyRequest) inside the timed loop, as in a real server, where
// the garbage of both is collected together. "next-only" builds the same
// requests and calls next directly: the handler's cost is the difference
// between the two.
func BenchmarkFreshRequest(b *testing.B) {
	plex := benchPlex(b)
	h := benchHandler(b, plex)
	srv := benchSrv(b)
	cookie := h.CookieName + "=" + addSession(h, benchSession(1, time.Now(), time.Hour))
	hdr := append(slices.Clip(browserHeaders), "Cookie", cookie)
	fresh := func() *http.Request {
		return caddyRequest(srv, http.MethodGet, "http://media.example.com/tautulli/home?section=2", hdr...)
	}
	w := &nopWriter{h: http.Header{}}
	up := &upstreamSaw{}
	next := up.handler()
	for _, tc := range []struct {
		name  string
		serve func(*http.Request) error
	}{
		{"next-only", func(r *http.Request) error { return next.ServeHTTP(w, r) }},
		{"plex_auth", func(r *http.Request) error { return h.ServeHTTP(w, r, next) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			up.n = 0
			b.ReportAllocs()
			cpu := measureCPU(b)
			for b.Loop() {
				if err := tc.serve(fresh()); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cpu()
			if up.n != b.N || w.status != 0 {
				b.Fatalf("upstream ran %d times for %d requests, status %d", up.n, b.N, w.status)
			}
		})
	}
	expectNoPlexCalls(b, plex)
}

// BenchmarkSignedInParallel is BenchmarkFreshRequest on every core at
// once, each goroutine with its own session, to show contention on the
// cache. "next-only" builds the same requests without plex_auth: the
// handler's cost is the difference.
func BenchmarkSignedInParallel(b *testing.B) {
	plex := benchPlex(b)
	h := benchHandler(b, plex)
	srv := benchSrv(b)
	now := time.Now()
	var hdrs [][]string
	for i := range 64 {
		cookie := h.CookieName + "=" + addSession(h, benchSession(i, now, time.Hour))
		hdrs = append(hdrs, append(slices.Clip(browserHeaders), "Cookie", cookie))
	}
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	for _, tc := range []struct {
		name  string
		serve func(http.ResponseWriter, *http.Request) error
	}{
		{"next-only", func(w http.ResponseWriter, r *http.Request) error { return next.ServeHTTP(w, r) }},
		{"plex_auth", func(w http.ResponseWriter, r *http.Request) error { return h.ServeHTTP(w, r, next) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var goroutine atomic.Int64
			b.ReportAllocs()
			cpu := measureCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				g := int(goroutine.Add(1))
				hdr := hdrs[g%len(hdrs)]
				w := &nopWriter{h: http.Header{}}
				var r *http.Request
				for pb.Next() {
					r = caddyRequest(srv, http.MethodGet, "http://media.example.com/sonarr/", hdr...)
					if err := tc.serve(w, r); err != nil {
						b.Error(err)
						return
					}
				}
				if r != nil && tc.name == "plex_auth" && r.Header.Get("Remote-User") != fmt.Sprintf("viewer%d", g%len(hdrs)) {
					b.Errorf("request went on as %q", r.Header.Get("Remote-User"))
				}
			})
			b.StopTimer()
			cpu()
		})
	}
	expectNoPlexCalls(b, plex)
}

// BenchmarkSessionCount is a signed-in request with 1k, 100k and 1M
// sessions in the cache. "active=1" repeats one session: what grows with
// the count there is the lookup itself. "active=1000" cycles, in random
// order, over 1,000 sessions spread over the whole set, so what changes
// with the count is only how many idle sessions lie between them in
// memory. heap-B/session is the memory the cache holds per session
// (Session, its strings and map, the cache entry).
func BenchmarkSessionCount(b *testing.B) {
	for _, n := range []int{1_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			plex := benchPlex(b)
			h := benchHandler(b, plex)
			srv := benchSrv(b)
			cookies, perSession := fillSessions(b, h, n)
			for _, active := range []int{1, activeSessions} {
				b.Run(fmt.Sprintf("active=%d", active), func(b *testing.B) {
					reqs := newPreparedRequests(b, func(i int) *http.Request {
						return caddyRequest(srv, http.MethodGet, "http://media.example.com/radarr/",
							append(slices.Clip(browserHeaders), "Cookie", cookies[i%active])...)
					})
					reqs.collect = false // the heap is up to a gigabyte of sessions
					w := &nopWriter{h: http.Header{}}
					next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
					var r *http.Request
					b.ReportAllocs()
					cpu := measureCPUExcept(b, reqs)
					for b.Loop() {
						r = reqs.get()
						if err := h.ServeHTTP(w, r, next); err != nil {
							b.Fatal(err)
						}
					}
					b.StopTimer()
					cpu()
					if r.Header.Get("Remote-User") == "" {
						b.Fatal("request was not admitted")
					}
					b.ReportMetric(perSession, "heap-B/session")
				})
			}
			expectNoPlexCalls(b, plex)
		})
	}
}

// activeSessions is how many sessions BenchmarkSessionCount's requests
// cycle over.
const activeSessions = 1000

// fillSessions empties the shared cache, stores n sessions and returns the
// cookies of activeSessions of them, spread over the whole set and
// shuffled, with the heap bytes the cache grew by per session.
func fillSessions(b *testing.B, h *PlexAuth, n int) ([]string, float64) {
	b.Helper()
	h.sessions.FlushLocal()
	b.Cleanup(h.sessions.FlushLocal)
	now := time.Now()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	stride := max(1, n/activeSessions)
	var cookies []string
	for i := range n {
		c := addSession(h, benchSession(i, now, time.Hour))
		if i%stride == 0 {
			cookies = append(cookies, h.CookieName+"="+c)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	// The cookies kept are not the cache's; take them out again.
	cookieBytes := len(cookies) * (16 + len(cookies[0]))
	perSession := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)-int64(cookieBytes)) / float64(n)
	if h.sessions.Count() != n {
		b.Fatalf("cache holds %d sessions, want %d", h.sessions.Count(), n)
	}
	// In allocation order the sessions' memory would be read in sequence,
	// which the CPU prefetches and users do not do.
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(cookies), func(i, j int) { cookies[i], cookies[j] = cookies[j], cookies[i] })
	return cookies, perSession
}

// BenchmarkUnauthenticatedNavigation is a browser navigation without a
// session: 302 to the login page.
func BenchmarkUnauthenticatedNavigation(b *testing.B) {
	plex := benchPlex(b)
	h := benchHandler(b, plex)
	br := newBenchRequest(http.MethodGet, "http://media.example.com/tautulli/home?section=2", browserHeaders...)
	w := &nopWriter{h: http.Header{}}
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { b.Fatal("next ran"); return nil })
	b.ReportAllocs()
	cpu := measureCPU(b)
	for b.Loop() {
		w.reset()
		if err := h.ServeHTTP(w, br.cookie("theme=dark"), next); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu()
	if w.status != http.StatusFound {
		b.Fatalf("status %d, want 302", w.status)
	}
	expectNoPlexCalls(b, plex)
}

// BenchmarkUnauthenticatedAPI is an API client without a session: 401 with
// a JSON body. Its cookie is forged, so the cookie is opened and refused.
func BenchmarkUnauthenticatedAPI(b *testing.B) {
	plex := benchPlex(b)
	h := benchHandler(b, plex)
	otherKey, err := newSealer("session", [][]byte{randomBytes(32)})
	if err != nil {
		b.Fatal(err)
	}
	forged := h.CookieName + "=" + otherKey.Seal(h.CookieName, randomBytes(sessionIDLen), time.Now().Add(time.Hour))
	br := newBenchRequest(http.MethodGet, "http://media.example.com/api/v2/status", "Accept", "application/json")
	w := &nopWriter{h: http.Header{}}
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { b.Fatal("next ran"); return nil })
	b.ReportAllocs()
	cpu := measureCPU(b)
	for b.Loop() {
		w.reset()
		if err := h.ServeHTTP(w, br.cookie(forged), next); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu()
	if w.status != http.StatusUnauthorized {
		b.Fatalf("status %d, want 401", w.status)
	}
	expectNoPlexCalls(b, plex)
}

// BenchmarkRevalidationDue is a signed-in request whose session was last
// checked against plex.tv a year ago, so a re-check is due on every
// request. The request must go through on the cached identity without
// waiting: in "recheck-in-flight" plex.tv takes a minute to answer, so the
// one background re-check is still running when the benchmark ends and any
// request that waited for it would cost a minute; in "plex-down" plex.tv
// refuses connections and re-checks back off. plex-calls/op counts the
// calls plex.tv saw.
func BenchmarkRevalidationDue(b *testing.B) {
	for _, tc := range []struct {
		name string
		set  func(*plextest.Server)
	}{
		{"recheck-in-flight", func(p *plextest.Server) { p.SetDelay(time.Minute) }},
		{"plex-down", func(p *plextest.Server) { p.SetDown(true) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			plex := benchPlex(b)
			plex.AddAccount("viewer")
			plex.Share(machineID, "viewer", plextest.Friend)
			acct := plex.Account("viewer")
			tc.set(plex)
			h := benchHandler(b, plex)
			now := time.Now()
			s := benchSession(1, now, time.Hour)
			s.UserID, s.Username, s.Token = int64(acct.ID), acct.Username, acct.Token
			s.Checked = now.Add(-365 * 24 * time.Hour)
			cookie := h.CookieName + "=" + addSession(h, s)
			srv := benchSrv(b)
			hdr := append(slices.Clip(browserHeaders), "Cookie", cookie)
			reqs := newPreparedRequests(b, func(int) *http.Request {
				return caddyRequest(srv, http.MethodGet, "http://media.example.com/tautulli/", hdr...)
			})
			w := &nopWriter{h: http.Header{}}
			next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
			var r *http.Request
			b.ReportAllocs()
			cpu := measureCPUExcept(b, reqs)
			for b.Loop() {
				r = reqs.get()
				if err := h.ServeHTTP(w, r, next); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cpu()
			if r.Header.Get("Remote-User") != "viewer" {
				b.Fatal("request was not admitted while the re-check was due")
			}
			b.ReportMetric(float64(len(plex.Requests()))/float64(b.N), "plex-calls/op")
		})
	}
}
