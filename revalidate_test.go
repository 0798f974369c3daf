package plexauth

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/account"
	"github.com/caddy-plexauth/caddy-plexauth/internal/recheck"
	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRecheckOnOwnerOnlyRouteKeepsFriendSignedInElsewhere(t *testing.T) {
	e := newEnv(t, `http://localhost:SITEPORT {
	route /admin/* {
		plex_auth {
			server `+machineID+`
			allow_tier owner
			revalidate 1s
			{PLEX}
		}
		reverse_proxy {UP}
	}
	route {
		plex_auth {
			server `+machineID+`
			revalidate 1s
			{PLEX}
		}
		reverse_proxy {UP}
	}
}`)
	b := newBrowser(t)
	resp, body := e.signIn(b, "friend", "/")
	expectStatus(t, resp, http.StatusFound, body)
	resp, body = b.get("/media")
	expectStatus(t, resp, http.StatusOK, body)

	// Only the owner-only route is asked until a re-check is due, so that
	// route's request is the one that starts it.
	users := func() int { return e.plex.Count(http.MethodGet, "/api/v2/user") }
	signInCalls := users()
	waitFor(t, 15*time.Second, "a re-check started from /admin", func() bool {
		resp, body := b.get("/admin/settings")
		expectStatus(t, resp, http.StatusForbidden, body)
		return users() > signInCalls
	})
	// The next re-check starts only once the first one has been applied
	// to the session (it is due revalidate after that one's answer).
	waitFor(t, 15*time.Second, "a second re-check", func() bool {
		resp, body := b.get("/media")
		expectStatus(t, resp, http.StatusOK, body)
		resp, body = b.get("/admin/settings")
		expectStatus(t, resp, http.StatusForbidden, body)
		return users() > signInCalls+1
	})
	resp, body = b.get("/media")
	expectStatus(t, resp, http.StatusOK, body)
}

func TestRecheckEndsSessionWhenPlexSaysTheTokenIsNoLongerValid(t *testing.T) {
	e := newEnv(t, strings.Replace(basicSite, "{PLEX}", "{PLEX}\n\t\trevalidate 1s", 1))
	for _, code := range []int{498, http.StatusUnprocessableEntity, http.StatusForbidden} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			b := newBrowser(t)
			resp, body := e.signIn(b, "friend", "/")
			expectStatus(t, resp, http.StatusFound, body)
			resp, body = b.get("/")
			expectStatus(t, resp, http.StatusOK, body)

			e.plex.SetTokenStatus("friend", code)
			defer e.plex.SetTokenStatus("friend", 0)
			waitFor(t, 15*time.Second, "the session to end", func() bool {
				resp, _ := b.get("/")
				return resp.StatusCode == http.StatusFound &&
					strings.HasPrefix(resp.Header.Get("Location"), "/_plexauth/login")
			})
		})
	}
}

// recheckHandler is a handler with just what a re-check needs: a plex.tv
// client for base and a memory-only session cache.
func recheckHandler(t *testing.T, base string) *PlexAuth {
	t.Helper()
	h := &PlexAuth{Timeout: caddy.Duration(5 * time.Second), revalidate: time.Minute, logger: zap.NewNop(), audit: zap.NewNop()}
	h.plex = newPlexClient(base, "test", "test-client", 5*time.Second)
	h.sessions, h.rechecks = newSessionCache(nil, nil), new(recheck.Backoff)
	t.Cleanup(func() { h.sessions.Destruct() })
	return h
}

func dueSession(token string) *Session {
	now := time.Now()
	s := &Session{UserID: 1003, Username: "friend", Token: token, Servers: map[string]string{machineID: access.TierFriend},
		Created: now.Add(-time.Hour), Checked: now.Add(-time.Hour), Expires: now.Add(time.Hour)}
	return s
}

func TestRecheckAnswersEndTheSessionOrBackOff(t *testing.T) {
	for _, c := range []struct {
		status int
		ends   bool // the session ends; otherwise it stays and re-checks back off
	}{
		{http.StatusBadRequest, true},
		{http.StatusUnauthorized, true},
		{http.StatusForbidden, true},
		{http.StatusNotFound, true},
		{http.StatusUnprocessableEntity, true},
		{498, true}, // token expired (Plex's JWTs)
		{http.StatusTooManyRequests, false},
		{http.StatusInternalServerError, false},
		{http.StatusServiceUnavailable, false},
	} {
		t.Run(fmt.Sprint(c.status), func(t *testing.T) {
			plex := plextest.NewServer()
			defer plex.Close()
			acct := plex.AddAccount("friend")
			plex.SetTokenStatus("friend", c.status)
			h := recheckHandler(t, plex.URL)
			s := dueSession(acct.Token)
			h.sessions.PutLocal("id", s)

			h.revalidateSession("id", s, origin{})

			got, _ := h.sessions.Lookup("id", time.Now(), time.Hour)
			if c.ends && got != nil {
				t.Fatalf("plex.tv answered %d for the token and the session is still there", c.status)
			}
			if !c.ends && got != s {
				t.Fatalf("plex.tv answered %d (not about the token) and the session ended", c.status)
			}
			fails, _, _ := h.rechecks.State()
			if c.ends && fails != 0 {
				t.Fatalf("a %d for one token counted as plex.tv failing (%d); other sessions' re-checks would wait", c.status, fails)
			}
			if !c.ends && fails != 1 {
				t.Fatalf("a %d did not count as plex.tv failing", c.status)
			}
		})
	}
}

// The refreshed session keeps the account's sign-out marker it was made
// under (internal/session/signout.go): without it, it would be judged by
// the clocks again.
func TestRecheckKeepsTheSignoutMarkTheSessionWasMadeUnder(t *testing.T) {
	plex := plextest.NewServer()
	defer plex.Close()
	acct := plex.AddAccount("friend")
	h := recheckHandler(t, plex.URL)
	s := dueSession(acct.Token)
	mark := time.Now().UnixNano()
	s.SignoutMark = &mark
	h.sessions.PutLocal("id", s)

	h.revalidateSession("id", s, origin{})

	got, _ := h.sessions.Lookup("id", time.Now(), time.Hour)
	if got == nil || got == s {
		t.Fatalf("the re-check did not refresh the session: %v", got)
	}
	if got.SignoutMark == nil || *got.SignoutMark != mark {
		t.Fatalf("the refreshed session's sign-out marker is %v, want %d", got.SignoutMark, mark)
	}
}

func TestRechecksRunAtMostFourAtATime(t *testing.T) {
	release := make(chan struct{})
	var inFlight, maxInFlight, served atomic.Int32
	plex := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v2/user" {
			n := inFlight.Add(1)
			for {
				m := maxInFlight.Load()
				if n <= m || maxInFlight.CompareAndSwap(m, n) {
					break
				}
			}
			<-release
			inFlight.Add(-1)
			served.Add(1)
			w.Write([]byte(`{"id":1003,"uuid":"u","username":"friend"}`))
			return
		}
		w.Write([]byte(`[]`))
	}))
	defer plex.Close()
	h := recheckHandler(t, plex.URL)

	const n = 12
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprint("session-", i)
		h.sessions.PutLocal(ids[i], dueSession(fmt.Sprint("token-", i)))
	}
	current := func(id string) *Session {
		s, _ := h.sessions.Lookup(id, time.Now(), time.Hour)
		return s
	}
	checking := func() int {
		k := 0
		for _, id := range ids {
			if current(id).Checking() {
				k++
			}
		}
		return k
	}
	// Every session falls due at once, as after a restart.
	for _, id := range ids {
		h.maybeRevalidate(nil, id, current(id), time.Now())
	}
	if k := checking(); k != 4 {
		close(release)
		t.Fatalf("%d of %d due sessions started a re-check at once, want 4", k, n)
	}
	close(release)
	// The ones left waiting start on their next request.
	waitFor(t, 15*time.Second, "every session re-checked", func() bool {
		done := 0
		for _, id := range ids {
			s := current(id)
			if time.Since(s.Checked) < time.Minute {
				done++
			} else {
				h.maybeRevalidate(nil, id, s, time.Now())
			}
		}
		return done == n
	})
	if m := maxInFlight.Load(); m > 4 {
		t.Fatalf("plex.tv saw %d re-checks at once", m)
	}
}

func TestServerListedTwiceKeepsItsHighestTier(t *testing.T) {
	for _, c := range []struct {
		name    string
		entries string
		want    string
	}{
		{"owner then friend", `{"owned":true},{}`, access.TierOwner},
		{"friend then owner", `{},{"owned":true}`, access.TierOwner},
		{"home then friend", `{"home":true},{}`, access.TierHome},
		{"friend then home", `{},{"home":true}`, access.TierHome},
		{"owner then home", `{"owned":true},{"home":true}`, access.TierOwner},
	} {
		t.Run(c.name, func(t *testing.T) {
			devices := strings.ReplaceAll("["+c.entries+"]", "{", `{"clientIdentifier":"srv","provides":"server",`)
			devices = strings.ReplaceAll(devices, ",}", "}")
			plex := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(devices))
			}))
			defer plex.Close()
			h := recheckHandler(t, plex.URL)
			listed, err := h.plex.Resources(context.Background(), "token")
			if err != nil {
				t.Fatal(err)
			}
			got := account.ServerTiers(listed)
			if got["srv"] != c.want {
				t.Fatalf("%s: tier %q, want %q", devices, got["srv"], c.want)
			}
		})
	}
}
