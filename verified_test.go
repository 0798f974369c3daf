package plexauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// The table of verified cookie values (internal/session/verified.go) must
// never admit what opening the cookie would refuse. Each test here breaks
// one way it could.

func admitted(t *testing.T, h *PlexAuth, cookie string) bool {
	t.Helper()
	_, seen := serveWithCookie(t, h, cookie, nil)
	return seen != nil
}

func TestVerifiedCookieIsRememberedOnlyOnceItOpened(t *testing.T) {
	h := sessionHandler(t, time.Hour)
	cookie := storeSession(t, h, testSession(time.Now(), time.Now().Add(time.Hour)))
	if n := h.sessionSealer.verified.Len(); n != 0 {
		t.Fatalf("table holds %d values before any request", n)
	}
	if !admitted(t, h, cookie) {
		t.Fatal("a live session was refused")
	}
	if n := h.sessionSealer.verified.Len(); n != 1 {
		t.Fatalf("table holds %d values after one signed-in request, want 1", n)
	}
	if !admitted(t, h, cookie) {
		t.Fatal("the remembered value was refused")
	}
}

func TestTamperedCookieIsRefusedAfterTheGenuineOneWasVerified(t *testing.T) {
	h := sessionHandler(t, time.Hour)
	cookie := storeSession(t, h, testSession(time.Now(), time.Now().Add(time.Hour)))
	if !admitted(t, h, cookie) {
		t.Fatal("a live session was refused")
	}
	// Every character of the value replaced by every other base64url
	// character: the last one's unused low bits included, which a lenient
	// decoder would ignore (one random change hit them now and then).
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	admittedAt := map[int]int{} // position: how many replacements there were admitted
	tried := 0
	for i := range len(cookie) {
		for _, c := range []byte(alphabet) {
			if c == cookie[i] {
				continue
			}
			tried++
			if admitted(t, h, cookie[:i]+string(c)+cookie[i+1:]) {
				admittedAt[i]++
			}
		}
	}
	if want := len(cookie) * (len(alphabet) - 1); tried != want {
		t.Fatalf("tried %d changed values, want %d", tried, want)
	}
	for i, n := range admittedAt {
		t.Errorf("character %d of %d changed: %d of %d replacements admitted", i, len(cookie), n, len(alphabet)-1)
	}
	for name, v := range map[string]string{
		"truncated": cookie[:len(cookie)-1],
		"extended":  cookie + "A",
		"doubled":   cookie + cookie,
	} {
		if admitted(t, h, v) {
			t.Errorf("%s: admitted", name)
		}
	}
	if n := h.sessionSealer.verified.Len(); n != 1 {
		t.Errorf("table holds %d values, want only the genuine one", n)
	}
	if !admitted(t, h, cookie) {
		t.Error("the genuine value stopped working after forgeries were tried")
	}
}

func TestVerifiedCookieIsNotAcceptedForAnotherCookieName(t *testing.T) {
	// Two blocks sharing keys but not the cookie name: the name is the
	// sealed value's additional data, so the table must compare it too.
	h := sessionHandler(t, time.Hour)
	cookie := storeSession(t, h, testSession(time.Now(), time.Now().Add(time.Hour)))
	if !admitted(t, h, cookie) {
		t.Fatal("a live session was refused")
	}
	if _, ok := h.sessionSealer.verified.Get("other_cookie", cookie, time.Now()); ok {
		t.Fatal("a value verified for one cookie name was accepted for another")
	}
}

func TestVerifiedCookieExpiresWithItsSealedExpiryAndTheSession(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name          string
		sealed, ends  time.Time
		handlerTTL    time.Duration
		wantExpiresAt time.Time
	}{
		{"sealed expiry first", now.Add(time.Minute), now.Add(time.Hour), 24 * time.Hour, now.Add(time.Minute)},
		{"session expiry first", now.Add(time.Hour), now.Add(time.Minute), 24 * time.Hour, now.Add(time.Minute)},
		{"block's session_ttl first", now.Add(time.Hour), now.Add(time.Hour), 2 * time.Minute, now.Add(2 * time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := sessionHandler(t, tc.handlerTTL)
			raw := randomBytes(sessionIDLen)
			if err := h.sessions.Put(context.Background(), string(raw), testSession(now, tc.ends)); err != nil {
				t.Fatal(err)
			}
			cookie := h.sessionSealer.Seal(h.CookieName, raw, tc.sealed)
			if !admitted(t, h, cookie) {
				t.Fatal("a live session was refused")
			}
			table := h.sessionSealer.verified
			before := tc.wantExpiresAt.Add(-time.Second)
			if _, ok := table.Get(h.CookieName, cookie, before); !ok {
				t.Fatal("the value was not remembered")
			}
			if _, ok := table.Get(h.CookieName, cookie, tc.wantExpiresAt); ok {
				t.Fatal("the table still vouches for the value at its expiry")
			}
			if table.Len() != 0 {
				t.Fatal("an expired value stays in the table")
			}
		})
	}
}

func TestLogoutDropsVerifiedCookie(t *testing.T) {
	h := sessionHandler(t, time.Hour)
	h.audit = zap.NewNop()
	cookie := storeSession(t, h, testSession(time.Now(), time.Now().Add(time.Hour)))
	if !admitted(t, h, cookie) {
		t.Fatal("a live session was refused")
	}
	r := httptest.NewRequest(http.MethodPost, "http://media.example.com/_plexauth/logout", nil)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.Header.Set("Cookie", h.CookieName+"="+cookie)
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	w := httptest.NewRecorder()
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { t.Fatal("next ran"); return nil })
	if err := h.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusSeeOther {
		t.Fatalf("logout answered %d, want 303", w.Code)
	}
	if n := h.sessionSealer.verified.Len(); n != 0 {
		t.Fatalf("table holds %d values after logout, want 0", n)
	}
	if admitted(t, h, cookie) {
		t.Fatal("the cookie still works after logout")
	}
}

func TestSessionEndedElsewhereIsRefusedAndForgotten(t *testing.T) {
	// Another block (or a re-check) ended the session: this block's table
	// still holds the value, and must neither admit it nor keep it.
	h := sessionHandler(t, time.Hour)
	raw := randomBytes(sessionIDLen)
	if err := h.sessions.Put(context.Background(), string(raw), testSession(time.Now(), time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	cookie := h.sessionSealer.Seal(h.CookieName, raw, time.Now().Add(time.Hour))
	if !admitted(t, h, cookie) {
		t.Fatal("a live session was refused")
	}
	h.sessions.Remove(string(raw))
	if admitted(t, h, cookie) {
		t.Fatal("a session ended elsewhere was admitted from the table")
	}
	if n := h.sessionSealer.verified.Len(); n != 0 {
		t.Fatalf("table holds %d values after the session ended, want 0", n)
	}
}

func TestReloadWithNewSecretsDoesNotAcceptValuesVerifiedUnderADroppedSecret(t *testing.T) {
	old, rotated := randomBytes(32), randomBytes(32)
	before := sessionHandler(t, time.Hour)
	var err error
	if before.sessionSealer, err = newSealer("session", [][]byte{old}); err != nil {
		t.Fatal(err)
	}
	cookie := storeSession(t, before, testSession(time.Now(), time.Now().Add(time.Hour)))
	if !admitted(t, before, cookie) {
		t.Fatal("a live session was refused")
	}

	// The reload: new handlers, provisioned with the new list, over the
	// same session cache (it lives in a UsagePool across reloads).
	for _, tc := range []struct {
		name    string
		secrets [][]byte
		admit   bool
	}{
		{"old secret dropped", [][]byte{rotated}, false},
		{"old secret kept second", [][]byte{rotated, old}, true},
	} {
		after := sessionHandler(t, time.Hour)
		after.sessions = before.sessions
		if after.sessionSealer, err = newSealer("session", tc.secrets); err != nil {
			t.Fatal(err)
		}
		if got := admitted(t, after, cookie); got != tc.admit {
			t.Errorf("%s: admitted = %v, want %v", tc.name, got, tc.admit)
		}
	}
}

// A hit on the table skips the lookup only while memory still holds the
// very session object the entry remembers. These break that one way each.

func TestSessionReplacedInMemoryIsNotServedFromTheTable(t *testing.T) {
	h := sessionHandler(t, time.Hour)
	raw := randomBytes(sessionIDLen)
	first := testSession(time.Now(), time.Now().Add(time.Hour))
	h.sessions.PutLocal(string(raw), first)
	cookie := h.sessionSealer.Seal(h.CookieName, raw, time.Now().Add(time.Hour))
	if _, seen := serveWithCookie(t, h, cookie, nil); seen == nil || seen.Header.Get("Remote-User") != "friend" {
		t.Fatal("a live session was refused")
	}
	// A re-check, or a read from the store, puts a new object in its place.
	second := testSession(first.Created, first.Expires)
	second.Username = "renamed"
	h.sessions.PutLocal(string(raw), second)
	if h.sessions.Trusts(first, time.Now(), time.Hour) {
		t.Fatal("the replaced object is still trusted: it is not marked evicted")
	}
	for range 2 { // the request that finds the change, and the one after
		_, seen := serveWithCookie(t, h, cookie, nil)
		if seen == nil || seen.Header.Get("Remote-User") != "renamed" {
			t.Fatalf("the request went on as %q, want the session memory holds now (renamed)", seen.Header.Get("Remote-User"))
		}
	}
}
