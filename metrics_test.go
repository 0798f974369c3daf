package plexauth

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-plexauth/caddy-plexauth/internal/account"
	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

// scrape reads the admin endpoint's /metrics, as Prometheus does, and
// returns the caddy_plex_auth_ samples by name{labels} as the text format
// writes them (labels in name order). It fails the test on a sample
// written twice.
func scrape(t *testing.T, admin int) map[string]float64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://localhost:%d/metrics", admin), nil)
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics answered %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "caddy_plex_auth_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("unreadable sample %q", line)
		}
		if _, dup := out[line[:i]]; dup {
			t.Fatalf("sample %s written twice", line[:i])
		}
		out[line[:i]] = v
	}
	return out
}

// expectSamples fails for each sample whose value is not the wanted one;
// a sample missing from the scrape fails too.
func expectSamples(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	for k, w := range want {
		v, ok := got[k]
		switch {
		case !ok:
			t.Errorf("/metrics lacks %s", k)
		case v != w:
			t.Errorf("%s = %v, want %v", k, v, w)
		}
	}
}

// waitSample scrapes until the sample reaches at least min, doing poke
// between scrapes (a request that lets a re-check fall due).
func waitSample(t *testing.T, admin int, sample string, min float64, poke func()) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if scrape(t, admin)[sample] >= min {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached %v: %v", sample, min, scrape(t, admin)[sample])
		}
		poke()
		time.Sleep(100 * time.Millisecond)
	}
}

// twoBlockSite is a Caddyfile with two plex_auth blocks: /owner-only/*
// admits owners only; everything else is behind main. Both sign in at
// /_plexauth (the main block's endpoints).
func twoBlockSite(admin, port int, storage, ownerOnly, main string) string {
	return fmt.Sprintf(`{
	admin localhost:%d
	http_port %d
	storage file_system %s
	skip_install_trust
	grace_period 1s
}
http://127.0.0.1:%d {
	handle /owner-only/* {
		plex_auth {
%s
		}
		respond "owner-only {http.auth.user.username}"
	}
	handle {
		plex_auth {
%s
		}
		respond "hello {http.auth.user.username}"
	}
}
`, admin, port, storage, port, ownerOnly, main)
}

func TestProcessMetricsCountSignInsRefusalsAndRechecksAndSurviveReload(t *testing.T) {
	plex := procPlex(t)
	plex.AddAccount("stranger")
	plex.AddAccount("lapsed")
	plex.Share(machineID, "lapsed", plextest.Friend)
	port, storage := freePort(t), t.TempDir()
	config := func(admin int, product string) string {
		return twoBlockSite(admin, port, storage,
			plexBlock(plex, "\t\t\tallow_tier owner\n\t\t\tproduct "+product),
			plexBlock(plex, "\t\t\trevalidate 1s\n\t\t\tproduct "+product))
	}
	p := startCaddy(t, port, func(admin int) string { return config(admin, "Before") })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	// Before anything: every result is there, at 0, once although two
	// blocks registered the metrics.
	expectSamples(t, scrape(t, p.admin), map[string]float64{
		`caddy_plex_auth_sign_ins_total{result="ok"}`:           0,
		`caddy_plex_auth_sign_ins_total{result="denied"}`:       0,
		`caddy_plex_auth_sign_ins_total{result="expired"}`:      0,
		`caddy_plex_auth_sign_ins_total{result="error"}`:        0,
		`caddy_plex_auth_sign_ins_total{result="rate_limited"}`: 0,
		`caddy_plex_auth_rechecks_total{result="ok"}`:           0,
		`caddy_plex_auth_rechecks_total{result="ended"}`:        0,
		`caddy_plex_auth_rechecks_total{result="error"}`:        0,
		`caddy_plex_auth_sessions`:                              0,
		`caddy_plex_auth_store_errors_total`:                    0,
	})

	// A sign-in, and what it cost at plex.tv.
	owner := procSignIn(t, newBrowserFrom(t, nextClientAddr()), plex, base, "owner")
	expectSamples(t, scrape(t, p.admin), map[string]float64{
		`caddy_plex_auth_sign_ins_total{result="ok"}`:                                     1,
		`caddy_plex_auth_sessions`:                                                        1,
		`caddy_plex_auth_plex_requests_total{code="201",endpoint="pins"}`:                 1,
		`caddy_plex_auth_plex_requests_total{code="200",endpoint="pin"}`:                  1,
		`caddy_plex_auth_plex_requests_total{code="200",endpoint="user"}`:                 1,
		`caddy_plex_auth_plex_requests_total{code="200",endpoint="resources"}`:            1,
		`caddy_plex_auth_plex_request_duration_seconds_count{endpoint="pins"}`:            1,
		`caddy_plex_auth_plex_request_duration_seconds_count{endpoint="pin"}`:             1,
		`caddy_plex_auth_plex_request_duration_seconds_count{endpoint="user"}`:            1,
		`caddy_plex_auth_plex_request_duration_seconds_count{endpoint="resources"}`:       1,
		`caddy_plex_auth_plex_request_duration_seconds_bucket{endpoint="pins",le="+Inf"}`: 1,
	})

	// A refusal, a sign-in whose token plex.tv refuses, and a client over
	// its limit (ten pin creations in a burst, the eleventh refused).
	procSignInExpect(t, newBrowserFrom(t, nextClientAddr()), plex, base, "stranger", http.StatusForbidden)
	plex.SetTokenStatus("lapsed", http.StatusUnauthorized)
	procSignInExpect(t, newBrowserFrom(t, nextClientAddr()), plex, base, "lapsed", http.StatusGone)
	plex.SetTokenStatus("lapsed", 0)
	eager := newBrowserFrom(t, nextClientAddr())
	for i := 0; i < 10; i++ {
		resp, body := eager.do(http.MethodPost, base+"/_plexauth/start", url.Values{"rd": {"/"}})
		expectStatus(t, resp, http.StatusSeeOther, body)
	}
	resp, body := eager.do(http.MethodPost, base+"/_plexauth/start", url.Values{"rd": {"/"}})
	expectStatus(t, resp, http.StatusTooManyRequests, body)
	expectSamples(t, scrape(t, p.admin), map[string]float64{
		`caddy_plex_auth_sign_ins_total{result="ok"}`:                     1,
		`caddy_plex_auth_sign_ins_total{result="denied"}`:                 1,
		`caddy_plex_auth_sign_ins_total{result="expired"}`:                1,
		`caddy_plex_auth_sign_ins_total{result="rate_limited"}`:           1,
		`caddy_plex_auth_sign_ins_total{result="error"}`:                  0,
		`caddy_plex_auth_sessions`:                                        1,
		`caddy_plex_auth_plex_requests_total{code="201",endpoint="pins"}`: 13,
		`caddy_plex_auth_plex_requests_total{code="401",endpoint="user"}`: 1,
	})

	// Re-checks (revalidate 1s): one that passes, one that ends a session
	// whose token was revoked, one that finds plex.tv down.
	friend := procSignIn(t, newBrowserFrom(t, nextClientAddr()), plex, base, "friend")
	if got := scrape(t, p.admin)[`caddy_plex_auth_sessions`]; got != 2 {
		t.Fatalf("sessions = %v after a second sign-in, want 2", got)
	}
	waitSample(t, p.admin, `caddy_plex_auth_rechecks_total{result="ok"}`, 1, func() { expectSignedIn(t, base+"/", owner, "owner") })
	plex.RevokeToken("friend")
	waitStatus(t, base+"/", friend, http.StatusFound, 20*time.Second)
	waitSample(t, p.admin, `caddy_plex_auth_rechecks_total{result="ended"}`, 1, func() {})
	plex.SetStatus(http.StatusServiceUnavailable, 0)
	waitSample(t, p.admin, `caddy_plex_auth_rechecks_total{result="error"}`, 1, func() { expectSignedIn(t, base+"/", owner, "owner") })
	plex.SetStatus(0, 0)
	after := scrape(t, p.admin)
	expectSamples(t, after, map[string]float64{
		`caddy_plex_auth_rechecks_total{result="ended"}`:                  1,
		`caddy_plex_auth_sign_ins_total{result="ok"}`:                     2,
		`caddy_plex_auth_sessions`:                                        1, // the ended one is gone
		`caddy_plex_auth_plex_requests_total{code="401",endpoint="user"}`: 2,
	})
	if after[`caddy_plex_auth_plex_requests_total{code="503",endpoint="user"}`] < 1 {
		t.Error("the re-check plex.tv answered 503 is not counted under code 503")
	}

	// A reload keeps the counts: the collectors are registered in the new
	// config's registry, not made anew.
	p.reload(config(p.admin, "After"))
	expectSamples(t, scrape(t, p.admin), map[string]float64{
		`caddy_plex_auth_sign_ins_total{result="ok"}`:                     after[`caddy_plex_auth_sign_ins_total{result="ok"}`],
		`caddy_plex_auth_sign_ins_total{result="denied"}`:                 1,
		`caddy_plex_auth_rechecks_total{result="ended"}`:                  1,
		`caddy_plex_auth_sessions`:                                        1,
		`caddy_plex_auth_plex_requests_total{code="201",endpoint="pins"}`: after[`caddy_plex_auth_plex_requests_total{code="201",endpoint="pins"}`],
	})
	// And they keep counting after it.
	procSignIn(t, newBrowserFrom(t, nextClientAddr()), plex, base, "friend")
	expectSamples(t, scrape(t, p.admin), map[string]float64{
		`caddy_plex_auth_sign_ins_total{result="ok"}`: after[`caddy_plex_auth_sign_ins_total{result="ok"}`] + 1,
		`caddy_plex_auth_sessions`:                    2,
	})
}

func TestProcessMetricsCountStoreErrorsAndTheSignInsTheyFail(t *testing.T) {
	redisPort := freePort(t)
	addr, stopRedis := startRedisAt(t, redisPort)
	plex := procPlex(t)
	port := freePort(t)
	p := startCaddy(t, port, func(admin int) string {
		return procConfig(admin, port, t.TempDir(), plexBlock(plex, "\t\tstore redis redis://"+addr+"/0\n\t\tcache_ttl 1s"))
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := procSignIn(t, newBrowserFrom(t, nextClientAddr()), plex, base, "owner")
	if got := scrape(t, p.admin)[`caddy_plex_auth_store_errors_total`]; got != 0 {
		t.Fatalf("store errors = %v while Redis answers", got)
	}

	stopRedis()
	// Past cache_ttl a request reads the store again, and fails.
	waitSample(t, p.admin, `caddy_plex_auth_store_errors_total`, 1, func() { expectSignedIn(t, base+"/", c, "owner") })
	procSignInExpect(t, newBrowserFrom(t, nextClientAddr()), plex, base, "friend", http.StatusServiceUnavailable)
	expectSamples(t, scrape(t, p.admin), map[string]float64{
		`caddy_plex_auth_sign_ins_total{result="ok"}`:    1,
		`caddy_plex_auth_sign_ins_total{result="error"}`: 1,
		`caddy_plex_auth_sessions`:                       1,
	})
}

// TestEveryPlexCallIsCountedUnderItsEndpoint makes each plex.tv call of the
// client once against the fake and checks the counter and the histogram of
// its endpoint moved by one, with plex.tv's status as the code.
func TestEveryPlexCallIsCountedUnderItsEndpoint(t *testing.T) {
	plex := plextest.NewServer()
	defer plex.Close()
	plex.AddServer(machineID, "Living Room")
	token := plex.AddAccount("owner").Token
	plex.Share(machineID, "owner", plextest.Owner)
	c := newPlexClient(plex.URL, "test", "metrics-test", 5*time.Second)
	ctx := context.Background()
	var pinID int64
	for _, call := range []struct {
		endpoint, code string
		do             func() error
	}{
		{"pins", "201", func() error { p, err := c.CreatePin(ctx); pinID = p.ID; return err }},
		{"pin", "200", func() error { _, err := c.CheckPin(ctx, pinID); return err }},
		{"pin", "404", func() error { _, err := c.CheckPin(ctx, pinID+1000); return ignore(err, plextv.ErrPinNotFound) }},
		{"user", "200", func() error { _, err := c.User(ctx, token); return err }},
		{"user", "401", func() error { _, err := c.User(ctx, "not-a-token"); return ignore(err, plextv.ErrTokenRejected) }},
		{"resources", "200", func() error { _, err := account.Identify(ctx, c, token); return err }},
		{"resources", "200", func() error { _, err := c.Resources(ctx, token); return err }},
		{"users", "200", func() error { _, err := c.Users(ctx, token); return err }},
	} {
		series := map[string]string{"endpoint": call.endpoint, "code": call.code}
		ep := map[string]string{"endpoint": call.endpoint}
		before, beforeObs := collected(t, metrics.plexRequests, series), collected(t, metrics.plexDuration, ep)
		if err := call.do(); err != nil {
			t.Fatalf("%s: %v", call.endpoint, err)
		}
		if got := collected(t, metrics.plexRequests, series) - before; got != 1 {
			t.Errorf("%s answered %s: counter moved by %v, want 1", call.endpoint, call.code, got)
		}
		if got := collected(t, metrics.plexDuration, ep) - beforeObs; got != 1 {
			t.Errorf("%s: duration histogram got %v observations, want 1", call.endpoint, got)
		}
	}

	plex.Close() // nothing answers now
	none := map[string]string{"endpoint": "user", "code": "none"}
	before := collected(t, metrics.plexRequests, none)
	if _, err := c.User(ctx, token); err == nil {
		t.Fatal("a closed plex.tv answered")
	}
	if got := collected(t, metrics.plexRequests, none) - before; got != 1 {
		t.Errorf("a call without an answer moved code=\"none\" by %v, want 1", got)
	}
}

func ignore(err, want error) error {
	if errors.Is(err, want) {
		return nil
	}
	return err
}

// collected is the value c reports for the series with exactly these
// labels: a counter's count, a histogram's number of observations.
func collected(t *testing.T, c prometheus.Collector, labels map[string]string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
	series:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// signInCounts is the sign-in counter's value for each result.
func signInCounts(t *testing.T) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, r := range []string{signInOK, signInDenied, signInExpired, signInError, signInRateLimited} {
		out[r] = collected(t, metrics.signIns, map[string]string{"result": r})
	}
	return out
}

// TestEachEndedSignInCountsUnderOneResult: a sign-in that ended counts once
// under its result; one still pending, a copy of one already finished, and
// a limited check (counted by the limits) count nothing here.
func TestEachEndedSignInCountsUnderOneResult(t *testing.T) {
	for _, c := range []struct {
		status pinStatus
		result string // "": nothing counted
	}{
		{pinApproved, signInOK},
		{pinDenied, signInDenied},
		{pinExpired, signInExpired},
		{pinFailed, signInError},
		{pinForged, signInError},
		{pinPending, ""},
		{pinUsed, ""},
		{pinLimited, ""},
	} {
		before := signInCounts(t)
		countSettled(c.status)
		after := signInCounts(t)
		for r := range after {
			want := 0.0
			if r == c.result {
				want = 1
			}
			if got := after[r] - before[r]; got != want {
				t.Errorf("status %d moved result %q by %v, want %v", c.status, r, got, want)
			}
		}
	}
}

// TestFailedPinCreationCountsAsSignInError: plex.tv failing at /start is a
// sign-in that ended in error, in both flows.
func TestFailedPinCreationCountsAsSignInError(t *testing.T) {
	e := newEnv(t, basicSite)
	e.plex.SetStatus(http.StatusServiceUnavailable, 0)
	for _, popup := range []string{"0", "1"} {
		before := signInCounts(t)[signInError]
		resp, body := newBrowser(t).do(http.MethodPost, "/_plexauth/start", url.Values{"rd": {"/"}, "popup": {popup}})
		expectStatus(t, resp, http.StatusServiceUnavailable, body)
		if got := signInCounts(t)[signInError] - before; got != 1 {
			t.Errorf("popup=%s: a failed pin creation moved error by %v, want 1", popup, got)
		}
	}
}

// TestMetricsRegisterOncePerRegistryForEveryBlock registers the collectors
// twice in one registry (two plex_auth blocks of one config) and once in a
// second registry (the next config): neither fails, and both registries
// serve the same counts.
func TestMetricsRegisterOncePerRegistryForEveryBlock(t *testing.T) {
	first, second := prometheus.NewPedanticRegistry(), prometheus.NewPedanticRegistry()
	for _, reg := range []*prometheus.Registry{first, first, second} {
		if err := registerMetrics(reg); err != nil {
			t.Fatal(err)
		}
	}
	countSignIn(signInDenied)
	a, b := gathered(t, first), gathered(t, second)
	if len(a) != 5 || len(b) != 5 {
		t.Errorf("sign-in series: %d in the first registry, %d in the second; want the 5 results in each", len(a), len(b))
	}
	if a[signInDenied] != b[signInDenied] || a[signInDenied] == 0 {
		t.Errorf("the registries disagree on denied sign-ins: %v and %v", a[signInDenied], b[signInDenied])
	}
	// A different collector under one of our names is a real conflict.
	clash := prometheus.NewCounter(prometheus.CounterOpts{Name: "caddy_plex_auth_store_errors_total", Help: "x"})
	other := prometheus.NewPedanticRegistry()
	other.MustRegister(clash)
	if err := registerMetrics(other); err == nil {
		t.Error("a clashing collector was accepted silently")
	}
}

// gathered is the sign-in counts reg serves, by result.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "caddy_plex_auth_sign_ins_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}
