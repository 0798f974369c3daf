package plexauth

// Tests for survivors of scripts/mutants.sh over limits_http.go and
// pinflow.go: each fails with the line it names changed as the run
// changed it.

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-plexauth/caddy-plexauth/internal/signin"
)

// limits_http.go:54 and :66-67: blocks that share a plex.tv and a client
// identifier share the limits (plex.tv counts by client identifier);
// another identifier or another plex.tv has its own; the last block to
// go releases them, so the next config's budgets start afresh rather than
// pile up in the pool.
func TestLimitsAreSharedPerPlexTVAndClientIDAndReleasedByTheLastBlock(t *testing.T) {
	id := "mutants-bite4-" + t.Name()
	provision := func(plexTV, clientID string) *PlexAuth {
		h := &PlexAuth{PlexTVURL: plexTV, ClientID: clientID}
		if err := h.provisionLimits(); err != nil {
			t.Fatal(err)
		}
		return h
	}
	a := provision("https://plex.tv", id)
	a2 := provision("https://plex.tv", id)
	other := provision("https://plex.tv", id+"-other")
	elsewhere := provision("https://plex.example", id)
	if a.limits != a2.limits {
		t.Error("two blocks with one client identifier at one plex.tv have separate limits")
	}
	if other.limits == a.limits {
		t.Error("another client identifier shares the limits")
	}
	if elsewhere.limits == a.limits {
		t.Error("another plex.tv shares the limits")
	}
	key := limitsKey("https://plex.tv", id)
	if n, _ := limitsPool.References(key); n != 2 {
		t.Errorf("the pool holds the shared limits %d times, want 2", n)
	}
	first := a.limits
	a.cleanupLimits()
	if n, _ := limitsPool.References(key); n != 1 {
		t.Errorf("after one block's cleanup the pool holds the limits %d times, want 1", n)
	}
	a2.cleanupLimits()
	other.cleanupLimits()
	elsewhere.cleanupLimits()
	for _, k := range []string{key, limitsKey("https://plex.tv", id+"-other"), limitsKey("https://plex.example", id)} {
		if n, ok := limitsPool.References(k); ok || n != 0 {
			t.Errorf("%s still in the pool (%d) after every block's cleanup", k, n)
		}
	}
	again := provision("https://plex.tv", id)
	defer again.cleanupLimits()
	if again.limits == first {
		t.Error("limits released by every block came back from the pool")
	}
}

// limits_http.go:43: when the limits go (the last block using them is
// cleaned up), the refusals noted since the last summary are summed up
// then, not dropped or left to a timer writing into a stopped config's log.
func TestDestructSumsUpTheRefusalsLeft(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	rep := refusalLogger{zap.New(core)}
	l := newSigninLimits(time.Now())
	client := netip.MustParseAddr("192.0.2.7")
	r := &signin.Refusal{Call: signin.CreatePin, Wait: time.Second}
	l.refusals.Note(rep, r, client) // the first: at once
	l.refusals.Note(rep, r, client) // summed up
	l.refusals.Note(rep, &signin.Refusal{Call: signin.CheckPin, Wait: time.Second}, client)
	if logs.Len() != 1 {
		t.Fatalf("%d lines before Destruct, want the first refusal's alone", logs.Len())
	}
	if err := l.Destruct(); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 2 {
		t.Fatalf("%d lines after Destruct, want the first refusal and a summary", logs.Len())
	}
	sum := logs.All()[1]
	if !strings.Contains(sum.Message, "refused by local rate limits") || sum.ContextMap()["refused"] != int64(2) ||
		sum.ContextMap()["pin_creations"] != int64(1) || sum.ContextMap()["pin_checks"] != int64(1) {
		t.Errorf("summary at Destruct = %q %v", sum.Message, sum.ContextMap())
	}
}

// limits_http.go:201-202: a client the limits could not place (no
// parseable address) is logged with an empty client_ip, not Go's
// "invalid IP" as if it were one.
func TestRefusalOfAClientWithoutAnAddressLogsNoAddress(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	l := refusalLogger{zap.New(core)}
	l.Refused(&signin.Refusal{Call: signin.CreatePin, Wait: time.Second}, netip.Addr{})
	l.Summary(signin.Summary{Creates: 1})
	for _, e := range logs.All() {
		for _, k := range []string{"client_ip", "last_client_ip"} {
			if v, ok := e.ContextMap()[k]; ok && v != "" {
				t.Errorf("%q: %s = %q, want \"\"", e.Message, k, v)
			}
		}
	}
	if logs.Len() != 2 {
		t.Fatalf("%d lines, want 2", logs.Len())
	}
}

// limits_http.go:97-98 and :135-137: a pin creation or a pin check the
// limits refuse is counted as rate_limited and logged as a local limit
// (the first of a spell at once), and plex.tv is not asked (the handler
// here has no plex.tv client at all).
func TestLocalRefusalsAtStartAndCheckAreCountedAndLogged(t *testing.T) {
	refused := func(t *testing.T, call func(h *PlexAuth, r *http.Request, client netip.Addr) error, spend func(l *signinLimits, client netip.Addr) *signin.Refusal, during string) {
		t.Helper()
		core, logs := observer.New(zap.InfoLevel)
		h := &PlexAuth{logger: zap.New(core), limits: newSigninLimits(time.Now())}
		r := httptest.NewRequest(http.MethodPost, "/_plexauth/start", nil)
		r.RemoteAddr = "192.0.2.50:4000"
		client := clientKey(r)
		for i := 0; spend(h.limits, client) == nil; i++ {
			if i == 1000 {
				t.Fatal("the budget never ran out")
			}
		}
		before := signInCounts(t)[signInRateLimited]
		err := call(h, r, client)
		if asRefusal(err) == nil {
			t.Fatalf("%s over the budget: %v, want a refusal", during, err)
		}
		if got := signInCounts(t)[signInRateLimited] - before; got != 1 {
			t.Errorf("%s refused: rate_limited moved by %v, want 1", during, got)
		}
		if logs.Len() != 1 {
			t.Fatalf("%s refused: %d log lines, want 1", during, logs.Len())
		}
		if e := logs.All()[0]; !strings.Contains(e.Message, "local rate limit") || e.ContextMap()["during"] != during ||
			e.ContextMap()["client_ip"] != "192.0.2.50" {
			t.Errorf("%s refused: log %q %v", during, e.Message, e.ContextMap())
		}
	}
	refused(t, func(h *PlexAuth, r *http.Request, _ netip.Addr) error {
		pin, _, err := h.createPin(r, signin.PinRef{})
		if pin != nil {
			t.Error("a refused creation returned a pin")
		}
		return err
	}, func(l *signinLimits, client netip.Addr) *signin.Refusal {
		return l.AllowCreate(client, signin.PinRef{}, time.Now())
	}, "creating pin")
	refused(t, func(h *PlexAuth, r *http.Request, _ netip.Addr) error {
		_, err := h.checkPin(r, 42)
		return err
	}, func(l *signinLimits, client netip.Addr) *signin.Refusal {
		return l.AllowCheck(client, time.Now())
	}, "checking pin")
}

// limits_http.go:145-148: the page for a refused sign-in is a 429 whose
// title says why, with Retry-After in whole seconds.
func TestLimitedPageIsTitledTooManySignInAttempts(t *testing.T) {
	h := pageHandler(t, nil)
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/_plexauth/start", nil)
	h.tooMany(w, r, &signin.Refusal{Call: signin.CreatePin, Wait: 2500 * time.Millisecond}, pageData{LoginURL: "/_plexauth/login"})
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != strconv.Itoa(3) {
		t.Errorf("status %d, Retry-After %q; want 429 and 3", w.Code, w.Header().Get("Retry-After"))
	}
	if body := w.Body.String(); !strings.Contains(body, "<title>Too many sign-in attempts · Media Tools</title>") {
		t.Errorf("the page's title does not say why: %.400s", body)
	}
}
