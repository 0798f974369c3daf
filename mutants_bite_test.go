package plexauth

// Tests for survivors of scripts/mutants.sh over the security files: each
// fails with the line it names changed as the run changed it.

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/admin"
	"github.com/caddy-plexauth/caddy-plexauth/internal/recheck"
	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

// revalidate.go:98, 101, 116: a re-check starts only when due, one per
// session at a time, and the session can be re-checked again afterwards.
func TestRecheckOnlyWhenDueOncePerSessionAndAgainLater(t *testing.T) {
	release := make(chan struct{})
	plex := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v2/user" {
			<-release
			w.Write([]byte(`{"id":1003,"uuid":"u","username":"friend"}`))
			return
		}
		w.Write([]byte(`[]`))
	}))
	defer plex.Close()
	h := recheckHandler(t, plex.URL)
	running := func() int {
		_, n, _ := h.rechecks.State()
		return n
	}

	fresh := dueSession("token")
	fresh.Checked = time.Now()
	h.sessions.PutLocal("fresh", fresh)
	h.maybeRevalidate(nil, "fresh", fresh, time.Now())
	if running() != 0 || fresh.Checking() {
		t.Fatal("a session checked just now was re-checked")
	}

	due := dueSession("token")
	h.sessions.PutLocal("due", due)
	for range 3 {
		h.maybeRevalidate(nil, "due", due, time.Now())
	}
	if n := running(); n != 1 {
		close(release)
		t.Fatalf("%d re-checks of one session at once, want 1", n)
	}
	close(release)
	waitFor(t, 10*time.Second, "the re-check to end", func() bool { return running() == 0 })
	if due.Checking() {
		t.Fatal("the session still reads as being re-checked after its re-check ended: it would never be re-checked again")
	}
}

// revalidate.go:125, 127, 154: a token plex.tv refuses ends the outage's
// backoff (plex.tv answered) and the cookie values remembered for the
// session; a re-check that keeps the session refreshes what the rules read.
func TestRecheckEndsBackoffAndRememberedValuesOrRefreshesTheAccount(t *testing.T) {
	plex := plextest.NewServer()
	defer plex.Close()
	acct := plex.AddAccount("friend")
	h := recheckHandler(t, plex.URL)
	var err error
	if h.sessionSealer, err = newSealer("session", [][]byte{make([]byte, 32)}); err != nil {
		t.Fatal(err)
	}

	s := dueSession(acct.Token)
	h.sessions.PutLocal("id", s)
	exp := time.Now().Add(time.Hour).Unix()
	h.sessionSealer.verified.Put("plex_auth_session", "cookie-value", "id", s, exp, exp)
	h.rechecks.Failed(time.Now().Add(-time.Hour), time.Minute, 0) // an outage, its wait over
	plex.SetTokenStatus("friend", http.StatusUnauthorized)
	h.revalidateSession("id", s, origin{})
	fails, _, _ := h.rechecks.State()
	if fails != 0 {
		t.Error("plex.tv answered (401 for one token) and re-checks still back off")
	}
	if _, ok := h.sessionSealer.verified.Get("plex_auth_session", "cookie-value", time.Now()); ok {
		t.Error("the ended session's cookie value is still remembered as verified")
	}

	plex.SetTokenStatus("friend", 0)
	if err := plex.Rename("friend", "Renamed"); err != nil {
		t.Fatal(err)
	}
	s2 := dueSession(acct.Token)
	h.sessions.PutLocal("id2", s2)
	h.revalidateSession("id2", s2, origin{})
	got, _ := h.sessions.Lookup("id2", time.Now(), time.Hour)
	if got == nil || got.Username != "Renamed" || got.FoldedUsername() != "renamed" || got.Boxed.ID != formatInt(got.UserID) {
		t.Fatalf("after the re-check: %+v; allow_users and the placeholders read the old or empty values", got)
	}
}

// revalidate.go:139, 146: an outage is logged once when it starts (at
// warn) and once when it ends (at info, with the count of failed
// re-checks), however many re-checks fail, whether plex.tv cannot be
// reached or answers 503.
func TestPlexOutageIsLoggedOnceEachWay(t *testing.T) {
	for _, c := range []struct {
		name   string
		outage func(*plextest.Server, bool)
	}{
		{"unreachable", (*plextest.Server).SetDown},
		{"503", func(p *plextest.Server, on bool) {
			if on {
				p.SetStatus(http.StatusServiceUnavailable, 0)
			} else {
				p.SetStatus(0, 0)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			plex := plextest.NewServer()
			defer plex.Close()
			acct := plex.AddAccount("friend")
			h := recheckHandler(t, plex.URL)
			core, logs := observer.New(zap.InfoLevel)
			h.logger = zap.New(core)
			// Re-checks while plex.tv is up log nothing of the kind.
			s := dueSession(acct.Token)
			h.sessions.PutLocal("id", s)
			h.revalidateSession("id", s, origin{})
			if n := logs.FilterMessageSnippet("plex.tv").Len(); n != 0 {
				t.Fatalf("a good re-check without an outage logged %d lines about plex.tv: %v", n, logs.All())
			}
			c.outage(plex, true)
			for i := range 3 {
				s := dueSession(acct.Token)
				h.sessions.PutLocal("id", s)
				h.revalidateSession("id", s, origin{})
				if i == 0 && logs.FilterMessageSnippet("plex.tv unavailable").Len() != 1 {
					t.Fatalf("the first failed re-check logged no warning: %v", logs.All())
				}
			}
			c.outage(plex, false)
			for range 2 {
				s := dueSession(acct.Token)
				h.sessions.PutLocal("id", s)
				h.revalidateSession("id", s, origin{})
			}
			down, back := logs.FilterMessageSnippet("plex.tv unavailable"), logs.FilterMessageSnippet("plex.tv reachable again")
			if down.Len() != 1 || back.Len() != 1 {
				t.Fatalf("logged %d times as down and %d as back, want once each: %v", down.Len(), back.Len(), logs.All())
			}
			if down.All()[0].Level != zap.WarnLevel || back.All()[0].Level != zap.InfoLevel {
				t.Errorf("the outage was logged at %s and its end at %s, want warn and info", down.All()[0].Level, back.All()[0].Level)
			}
			if n := back.All()[0].ContextMap()["failed_checks"]; n != int64(3) {
				t.Fatalf("the line saying plex.tv is back counts %v failed re-checks, want 3", n)
			}
		})
	}
}

// trailerBody is a request body that fills in trailers when read to the
// end, as net/http does.
type trailerBody struct {
	io.Reader
	trailer http.Header
	late    http.Header
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if err == io.EOF {
		for k, v := range b.late {
			b.trailer[k] = v
		}
	}
	return n, err
}

func (b *trailerBody) Close() error { return nil }

// identityheaders.go:50, 75-78, 105-106, 121-122, in milliseconds (the
// in-process Caddy test is TestIdentityTrailersNeverReachTheUpstream).
func TestIdentityTrailersAndUpperCaseSpellingsAreRemoved(t *testing.T) {
	for _, k := range []string{"REMOTE_NAME", "Remote_NAME", "REMOTE.USER", "rEMOTE_gROUPS", "REMOTE_EMAIL"} {
		if !isIdentityHeader(k) {
			t.Errorf("%s is not taken for an identity header", k)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("body"))
	announced := http.Header{"Remote-User": {"admin"}, "Remote_Groups": {"admins"}, "X-Other": {"kept"}}
	r.Trailer = announced
	r.Body = &trailerBody{Reader: strings.NewReader("body"), trailer: announced,
		late: http.Header{"Remote-Email": {"admin@example.com"}, "REMOTE_NAME": {"Admin"}}}
	stripOtherSpellings(r, &caddyhttp.Server{})
	if left := spoofedIdentity(r.Trailer); len(left) > 0 {
		t.Fatalf("announced identity trailers left: %v", left)
	}
	if _, err := io.ReadAll(r.Body); err != nil {
		t.Fatal(err)
	}
	if left := spoofedIdentity(r.Trailer); len(left) > 0 || r.Trailer.Get("X-Other") != "kept" {
		t.Fatalf("after the body: trailers %v, want only X-Other", r.Trailer)
	}
}

// crosssite.go:53, 55: a default port counts as written only for its own
// scheme.
func TestOriginWithTheOtherSchemesDefaultPortIsAnotherSite(t *testing.T) {
	for _, c := range []struct {
		host, origin string
		cross        bool
	}{
		{"example.com", "https://example.com:80", true},
		{"example.com:80", "https://example.com", true},
		{"example.com", "http://example.com:443", true},
		{"example.com:443", "http://example.com", true},
		{"example.com:80", "http://example.com", false},
		{"example.com", "https://example.com:443", false},
	} {
		r := httptest.NewRequest(http.MethodPost, "/_plexauth/start", nil)
		r.Host = c.host
		r.Header.Set("Origin", c.origin)
		if got := crossSite(r); got != c.cross {
			t.Errorf("Host %s, Origin %s: crossSite = %v, want %v", c.host, c.origin, got, c.cross)
		}
	}
}

// admin.go:108-109, 117, 126: only DELETE ends a session or an account;
// account ids are positive; a 405 says what is allowed.
func TestAdminEndsNothingButOnDeleteAndOnlyPositiveAccounts(t *testing.T) {
	f := newAdminFixture(t, 1)
	id, _ := f.signIn(0, 9201, "kept", map[string]string{"m1": access.TierFriend})
	handle := admin.Handle(id)
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut} {
		for _, path := range []string{"/plex_auth/sessions/" + handle, "/plex_auth/users/9201"} {
			w := httptest.NewRecorder()
			r := httptest.NewRequest(m, "http://localhost:2019"+path, nil)
			err := f.api.serve(w, r)
			code := w.Code
			var apiErr caddy.APIError
			if errors.As(err, &apiErr) {
				code = apiErr.HTTPStatus
			} else if err != nil {
				code = http.StatusInternalServerError
			}
			if code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != http.MethodDelete {
				t.Errorf("%s %s: %d (%v), Allow %q; want 405 naming DELETE", m, path, code, err, w.Header().Get("Allow"))
			}
		}
	}
	if !f.live(0, id) {
		t.Fatal("a request other than DELETE ended the session")
	}
	for _, bad := range []string{"0", "-1", "x"} {
		if code, _ := f.call(http.MethodDelete, "/plex_auth/users/"+bad); code != http.StatusBadRequest {
			t.Errorf("DELETE users/%s: %d, want 400", bad, code)
		}
	}
}

// admin.go:20, 112, 131, 166, 181: the admin API is registered, answers
// 404 for paths it does not serve, JSON with its type, sessions oldest
// first and tiers highest first.
func TestAdminRoutesOrderAndRegistration(t *testing.T) {
	if _, err := caddy.GetModule("admin.api.plex_auth"); err != nil {
		t.Fatalf("the admin API is not registered: %v", err)
	}
	f := newAdminFixture(t, 1)
	id, _ := f.signIn(0, 9301, "kept", map[string]string{"m1": access.TierFriend})
	for _, c := range []struct{ method, path string }{
		{http.MethodDelete, "/plex_auth/users"},
		{http.MethodDelete, "/plex_auth/users/"},
		{http.MethodDelete, "/plex_auth/other/9301"},
		{http.MethodGet, "/plex_auth/other/9301"},
		{http.MethodDelete, "/plex_auth/users/9301/x"},
	} {
		if code, body := f.call(c.method, c.path); code != http.StatusNotFound {
			t.Errorf("%s %s: %d %s, want 404", c.method, c.path, code, body)
		}
	}
	if !f.live(0, id) {
		t.Fatal("a path the admin API does not serve ended the session")
	}
	w := httptest.NewRecorder()
	if err := f.api.serve(w, httptest.NewRequest(http.MethodGet, "http://localhost:2019/plex_auth/sessions", nil)); err != nil {
		t.Fatal(err)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("session list has Content-Type %q", ct)
	}
	base := time.Now().Add(-time.Hour)
	for i := range 6 {
		s := &Session{UserID: int64(9310 + i), Username: "u", Created: base.Add(time.Duration(5-i) * time.Minute),
			Checked: base, Expires: time.Now().Add(time.Hour), Servers: map[string]string{"a": access.TierFriend, "b": access.TierHome, "c": access.TierOwner, "d": access.TierFriend}}
		f.caches[0].PutLocal(string(randomBytes(sessionIDLen)), s)
	}
	list := f.list(9310, 9311, 9312, 9313, 9314, 9315)
	for i := range list {
		if i > 0 && list[i].Created.Before(list[i-1].Created) {
			t.Fatalf("sessions are not listed oldest first: %+v", list)
		}
		if want := []string{access.TierOwner, access.TierHome, access.TierFriend}; strings.Join(list[i].Tiers, ",") != strings.Join(want, ",") {
			t.Fatalf("tiers %v, want highest first %v", list[i].Tiers, want)
		}
	}
}

// revalidate.go:128, 129, 138, 145: every re-check is counted under its
// result, and one that ends a session has its audit line, in milliseconds
// (the process tests read the same at the admin endpoint and in the log).
func TestRechecksAreCountedAndAnEndedOneAudited(t *testing.T) {
	plex := plextest.NewServer()
	defer plex.Close()
	acct := plex.AddAccount("friend")
	h := recheckHandler(t, plex.URL)
	core, logs := observer.New(zap.InfoLevel)
	h.audit = zap.New(core)
	count := func(result string) float64 {
		return collected(t, metrics.rechecks, map[string]string{"result": result})
	}
	recheck := func() {
		s := dueSession(acct.Token)
		h.sessions.PutLocal("id", s)
		h.revalidateSession("id", s, origin{clientIP: "192.0.2.7", host: "site.example"})
	}
	for _, c := range []struct {
		result string
		set    func()
	}{
		{recheckOK, func() {}},
		{recheckError, func() { plex.SetDown(true) }},
		{recheckEnded, func() { plex.SetDown(false); plex.SetTokenStatus("friend", http.StatusUnauthorized) }},
	} {
		c.set()
		before := count(c.result)
		recheck()
		if got := count(c.result); got != before+1 {
			t.Errorf("a re-check with result %q moved its counter from %v to %v", c.result, before, got)
		}
	}
	ended := logs.FilterMessage("session ended").All()
	if len(ended) != 1 || ended[0].ContextMap()["reason"] != endedTokenRejected || ended[0].ContextMap()["username"] != "friend" ||
		ended[0].ContextMap()["client_ip"] != "192.0.2.7" {
		t.Fatalf("audit lines of the ended session: %v", logs.All())
	}
}

// admin.go:77, 192, 214, 235-236: a session ended through the admin API
// has its audit line, naming the account and the admin client's address;
// an account signed out has one more, with its username.
func TestAdminEndingsAreAudited(t *testing.T) {
	f := newAdminFixture(t, 1)
	core, logs := observer.New(zap.InfoLevel)
	f.api.audit = zap.New(core)
	id, _ := f.signIn(0, 9401, "alice", map[string]string{"m1": access.TierFriend})
	f.signIn(0, 9402, "bob", map[string]string{"m1": access.TierFriend})
	do := func(method, path string) {
		r := httptest.NewRequest(method, "http://localhost:2019"+path, nil)
		r.RemoteAddr = "198.51.100.4:40000"
		if err := f.api.serve(httptest.NewRecorder(), r); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	do(http.MethodDelete, "/plex_auth/sessions/"+admin.Handle(id))
	do(http.MethodDelete, "/plex_auth/users/9402")
	lines := map[string]map[string]any{}
	for _, e := range logs.All() {
		m := e.ContextMap()
		lines[e.Message+" "+m["username"].(string)] = m
	}
	for _, want := range []string{"session ended alice", "session ended bob", "account signed out bob"} {
		m, ok := lines[want]
		if !ok || m["client_ip"] != "198.51.100.4" || m["reason"] != endedByAdmin {
			t.Errorf("no audit line %q from 198.51.100.4 (admin_api): %v", want, logs.All())
		}
	}
}

// admin.go:143: the admin API lists and ends the sessions of every store
// this process uses, not only the first cache it finds.
func TestAdminSeesTheSessionsOfEveryStore(t *testing.T) {
	f := newAdminFixture(t, 1)
	f.signIn(0, 9501, "first", map[string]string{"m1": access.TierFriend})
	other := newSessionCache(nil, nil) // a block with store memory
	key := sessionPoolKey + "|admin test, other store|" + t.Name()
	if _, _, err := sessionPool.LoadOrNew(key, func() (caddy.Destructor, error) { return &pooledSessions{cache: other}, nil }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = sessionPool.Delete(key) })
	now := time.Now()
	other.PutLocal("other-store-session", &Session{UserID: 9502, Username: "second", Created: now, Checked: now, Expires: now.Add(time.Hour)})
	if got := f.list(9501, 9502); len(got) != 2 {
		t.Fatalf("listed %+v, want the sessions of both stores", got)
	}
	if code, body := f.call(http.MethodDelete, "/plex_auth/users/9502"); code != http.StatusOK || !strings.Contains(body, `"ended":1`) {
		t.Fatalf("signing out the account of the second store: %d %s", code, body)
	}
}

// revalidate.go:106: a due session that finds no room for its re-check
// starts none (TestRechecksRunAtMostFourAtATime sees an extra one only
// when it reaches plex.tv in time). A started re-check is a goroutine,
// counted from its go statement on, and blocked here at plex.tv: twenty
// refused sessions must not add twenty goroutines.
func TestDueSessionWithoutRoomStartsNoRecheck(t *testing.T) {
	hold := make(chan struct{})
	plex := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hold }))
	defer plex.Close()
	defer close(hold)
	h := recheckHandler(t, plex.URL)
	for range recheck.MaxRunning { // room for none
		h.rechecks.AdmitProbe(time.Now())
	}
	before := runtime.NumGoroutine()
	for i := range 20 {
		s := dueSession("token")
		id := fmt.Sprint("full-", i)
		h.sessions.PutLocal(id, s)
		h.maybeRevalidate(nil, id, s, time.Now())
		if s.Checking() {
			t.Fatal("a session refused a re-check reads as being re-checked")
		}
	}
	if n := runtime.NumGoroutine() - before; n >= 10 {
		t.Fatalf("%d goroutines more after 20 re-checks that found no room: they were started anyway", n)
	}
}
