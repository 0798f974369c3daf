package plexauth

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
	"github.com/caddy-plexauth/caddy-plexauth/internal/recheck"
	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

// Unit tests of what the README's "Sessions that hold" and "During a
// plex.tv outage" promise about re-checks, in milliseconds, beside the
// process tests that check the same through a Caddy binary.

// "One background re-check per session": requests that find the same
// session due while its re-check runs start no other.
func TestRecheckRunsOncePerSessionAtATime(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	plex := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v2/user" {
			calls.Add(1)
			<-release
			w.Write([]byte(`{"id":1003,"uuid":"u","username":"friend"}`))
			return
		}
		w.Write([]byte(`[]`))
	}))
	defer plex.Close()
	h := recheckHandler(t, plex.URL)
	s := dueSession("token")
	h.sessions.PutLocal("id", s)
	for range 5 {
		h.maybeRevalidate(nil, "id", s, time.Now())
	}
	waitFor(t, 10*time.Second, "the re-check reaching plex.tv", func() bool { return calls.Load() > 0 })
	close(release)
	waitFor(t, 10*time.Second, "the re-check ending", func() bool { return !s.Checking() })
	if n := calls.Load(); n != 1 {
		t.Fatalf("5 requests on one due session asked plex.tv %d times, want once", n)
	}
}

// "A re-check refreshes the account and the servers it reaches", cleaned
// like any account's values; the session keeps its own start and expiry.
func TestRecheckRefreshesTheAccountAndServersButNotTheExpiry(t *testing.T) {
	plex := plextest.NewServer()
	defer plex.Close()
	plex.AddServer(machineID, "Living Room")
	acct := plex.AddAccount("friend")
	plex.Share(machineID, "friend", plextest.Friend)
	if err := plex.Rename("friend", "friend-renamed"); err != nil {
		t.Fatal(err)
	}
	if err := plex.SetTitle("friend-renamed", "Friend\r\nX-Injected: 1"); err != nil {
		t.Fatal(err)
	}
	h := recheckHandler(t, plex.URL)
	s := dueSession(acct.Token)
	s.Servers = map[string]string{machineID: access.TierOwner, "unshared-server": access.TierFriend}
	created, expires := s.Created, s.Expires
	h.sessions.PutLocal("id", s)

	h.revalidateSession("id", s, origin{})

	got, _ := h.sessions.Lookup("id", time.Now(), time.Hour)
	if got == nil || got == s {
		t.Fatalf("the re-check did not refresh the session: %v", got)
	}
	if got.Username != "friend-renamed" {
		t.Fatalf("username after the re-check = %q, want the one plex.tv gives now", got.Username)
	}
	if strings.ContainsAny(got.Title, "\r\n") {
		t.Fatalf("title after the re-check = %q: not cleaned", got.Title)
	}
	if len(got.Servers) != 1 || got.Servers[machineID] != access.TierFriend {
		t.Fatalf("servers after the re-check = %v, want only %s as friend", got.Servers, machineID)
	}
	if !got.Created.Equal(created) || !got.Expires.Equal(expires) {
		t.Fatalf("the re-check moved the session's life: created %v→%v, expires %v→%v", created, got.Created, expires, got.Expires)
	}
	if time.Since(got.Checked) > time.Minute {
		t.Fatalf("the re-check did not record when it checked: %v", got.Checked)
	}
}

// "Waiting revalidate, then twice that, and so on up to an hour, with
// jitter": the wait never passes an hour (plus its jitter of at most a
// tenth), and instances failing together do not probe in step.
func TestRecheckBackoffStopsAtAnHourAndIsJittered(t *testing.T) {
	now := time.Now()
	var b recheck.Backoff
	for range 20 {
		b.Failed(now, 7*time.Minute, 0)
	}
	if wait := waitAfter(&b, now); wait < maxPlexBackoff || wait > maxPlexBackoff+maxPlexBackoff/10 {
		t.Fatalf("after 20 failures the next probe waits %v, want an hour and at most a tenth more", wait)
	}
	seen := map[time.Time]bool{}
	for range 20 {
		var b recheck.Backoff
		b.Failed(now, time.Minute, 0)
		if wait := waitAfter(&b, now); wait < time.Minute || wait > time.Minute+time.Minute/10 {
			t.Fatalf("after one failure the next probe waits %v, want revalidate and at most a tenth more", wait)
		}
		_, _, at := b.State()
		seen[at] = true
	}
	if len(seen) < 2 {
		t.Fatal("20 instances failing at once would all probe again at the same instant: no jitter")
	}
}

// "plex_auth keeps a sign-in open 30 minutes at most", however long
// plex.tv keeps the pin.
func TestSignInStaysOpenAtMostThirtyMinutes(t *testing.T) {
	for _, c := range []struct {
		expiresIn int
		want      time.Duration
	}{
		{600, 10 * time.Minute},
		{1800, 30 * time.Minute},
		{7200, 30 * time.Minute},
		{86400, 30 * time.Minute},
		{0, 30 * time.Minute},
		{-5, 30 * time.Minute},
	} {
		if got := pinStateTTL(&plextv.Pin{ExpiresIn: c.expiresIn}); got != c.want {
			t.Errorf("pin expiring in %d s: sign-in open %v, want %v", c.expiresIn, got, c.want)
		}
	}
}

// "plex.tv answered, about this token only": a re-check during an outage
// whose token plex.tv refuses ends that session and the outage with it, so
// other sessions' re-checks carry on instead of waiting on a probe that
// never reports.
func TestRefusedTokenDuringAnOutageLetsOtherRechecksCarryOn(t *testing.T) {
	plex := plextest.NewServer()
	defer plex.Close()
	acct := plex.AddAccount("friend")
	plex.SetTokenStatus("friend", http.StatusUnauthorized)
	h := recheckHandler(t, plex.URL)
	now := time.Now()
	h.rechecks.Failed(now.Add(-2*time.Hour), time.Minute, 0) // an outage whose wait is over
	s := dueSession(acct.Token)
	h.sessions.PutLocal("id", s)
	if !h.rechecks.AdmitProbe(now) {
		t.Fatal("the probe of an outage whose wait is over was not let through")
	}
	h.revalidateSession("id", s, origin{})
	h.rechecks.Finished()
	if got, _ := h.sessions.Lookup("id", now, time.Hour); got != nil {
		t.Fatal("the session whose token plex.tv refused is still there")
	}
	for i := range 2 {
		if !h.rechecks.AdmitProbe(now) {
			t.Fatalf("after plex.tv answered, re-check %d of other sessions still waits on the outage", i+1)
		}
	}
}

// "Cookies are … SameSite=Lax": the login state cookie too, so another
// site's page cannot make the browser send it along with a request of its
// own; and it lives no longer than a sign-in stays open.
func TestStateCookieIsSameSiteLaxAndLivesAtMostThirtyMinutes(t *testing.T) {
	newEnv(t, basicSite)
	b := newBrowser(t)
	resp, body := b.do(http.MethodPost, "/_plexauth/start", url.Values{"rd": {"/"}})
	expectStatus(t, resp, http.StatusSeeOther, body)
	state := responseCookie(resp, "plex_auth_session_state")
	if state == nil {
		t.Fatal("/start set no state cookie")
	}
	if state.SameSite != http.SameSiteLaxMode {
		t.Fatalf("state cookie SameSite = %v, want Lax", state.SameSite)
	}
	if state.MaxAge <= 0 || state.MaxAge > int(maxStateTTL/time.Second) {
		t.Fatalf("state cookie Max-Age = %d, want at most %d", state.MaxAge, int(maxStateTTL/time.Second))
	}
}
