package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

// The root's tests (admin_test.go there) run these routes through the
// module, with its audit lines and the caches of its pool; these run them
// alone, over caches made here, so that what Serve decides is checked in
// this package's own tests.

// fixture is an API over caches sharing one Caddy storage, recording what
// it reports.
type fixture struct {
	t        *testing.T
	api      *API
	caches   []*session.Cache
	ended    []*session.Session
	accounts []string // "id username n" of each AccountEnded
}

func newFixture(t *testing.T, dir string, n int) *fixture {
	t.Helper()
	f := &fixture{t: t}
	st := &certmagic.FileStorage{Path: dir}
	for range n {
		sc := session.NewCache(session.NewCaddyStore(st), nil, session.Config{MarkerTTL: time.Hour})
		t.Cleanup(func() { _ = sc.Destruct() })
		f.caches = append(f.caches, sc)
	}
	f.api = &API{
		Caches: func() []*session.Cache { return f.caches },
		Ended: func(r *http.Request, s *session.Session) {
			if r == nil {
				t.Error("Ended without the admin request")
			}
			f.ended = append(f.ended, s)
		},
		AccountEnded: func(r *http.Request, userID int64, username string, endedHere int) {
			if r == nil {
				t.Error("AccountEnded without the admin request")
			}
			f.accounts = append(f.accounts, strconv.FormatInt(userID, 10)+" "+username+" "+strconv.Itoa(endedHere))
		},
	}
	return f
}

// put holds a session in cache i's memory only.
func (f *fixture) put(i int, id string, userID int64, username string, created time.Time, servers map[string]string) *session.Session {
	s := &session.Session{UserID: userID, Username: username, Title: "T " + username, Token: "token-of-" + username,
		Servers: servers, Created: created, Checked: created.Add(time.Minute), Expires: time.Now().Add(time.Hour)}
	f.caches[i].PutLocal(id, s)
	return s
}

// serve answers method path, returning the status (an APIError's, or the
// recorder's), the body or the error's text, and the recorder.
func (f *fixture) serve(method, path string) (int, string, *httptest.ResponseRecorder) {
	f.t.Helper()
	w := httptest.NewRecorder()
	err := f.api.Serve(w, httptest.NewRequest(method, "http://localhost:2019"+path, nil))
	if err != nil {
		var apiErr caddy.APIError
		if !errors.As(err, &apiErr) {
			f.t.Fatalf("%s %s: %v is no caddy.APIError", method, path, err)
		}
		return apiErr.HTTPStatus, apiErr.Err.Error(), w
	}
	return w.Code, w.Body.String(), w
}

func (f *fixture) held(i int, id string) bool {
	return slices.ContainsFunc(f.caches[i].Held(), func(h session.HeldSession) bool { return h.ID == id })
}

func TestServeListsEveryCachesSessionsOldestFirstWithTiersHighestFirst(t *testing.T) {
	f := newFixture(t, t.TempDir(), 2)
	code, body, w := f.serve(http.MethodGet, "/plex_auth/sessions")
	if code != http.StatusOK || strings.TrimSpace(body) != "[]" || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("no sessions: %d %q (%s), want 200 [] as JSON", code, body, w.Header().Get("Content-Type"))
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	f.put(1, "late", 3, "late", t0.Add(2*time.Minute), nil)
	owner := f.put(0, "owner", 1, "owner", t0, map[string]string{
		"a": access.TierFriend, "b": access.TierOwner, "c": access.TierFriend, "d": "zeta", "e": access.TierHome, "f": "alpha"})
	f.put(0, "twin-1", 2, "twin", t0.Add(time.Minute), map[string]string{"a": access.TierFriend})
	f.put(1, "twin-2", 2, "twin", t0.Add(time.Minute), map[string]string{"a": access.TierFriend})

	code, body, _ = f.serve(http.MethodGet, "/plex_auth/sessions")
	var got []Session
	if err := json.Unmarshal([]byte(body), &got); code != http.StatusOK || err != nil {
		t.Fatalf("GET sessions: %d %s %v", code, body, err)
	}
	if len(got) != 4 || got[0].AccountID != 1 || got[1].AccountID != 2 || got[2].AccountID != 2 || got[3].AccountID != 3 {
		t.Fatalf("listed %+v, want the owner, the twins, then late (oldest first, from both caches)", got)
	}
	if got[1].Handle > got[2].Handle {
		t.Errorf("sessions created at once are ordered by handle: %q before %q", got[1].Handle, got[2].Handle)
	}
	o := got[0]
	if want := []string{access.TierOwner, access.TierHome, access.TierFriend, "alpha", "zeta"}; !slices.Equal(o.Tiers, want) {
		t.Errorf("tiers %v, want %v (distinct, highest first, the rest by name)", o.Tiers, want)
	}
	if o.Handle != Handle("owner") || o.Username != "owner" || o.Title != "T owner" ||
		!o.Created.Equal(owner.Created) || !o.Checked.Equal(owner.Checked) || !o.Expires.Equal(owner.Expires) {
		t.Errorf("owner listed as %+v", o)
	}
	if got[3].Tiers == nil || len(got[3].Tiers) != 0 || !strings.Contains(body, `"tiers":[]`) {
		t.Errorf("a session without servers has tiers %v in %s, want []", got[3].Tiers, body)
	}
	if strings.Contains(body, "token-of-") || strings.Contains(body, `"twin-1"`) {
		t.Errorf("the list shows a token or a session id: %s", body)
	}
}

func TestServeEndsOneSessionByHandle(t *testing.T) {
	f := newFixture(t, t.TempDir(), 2)
	now := time.Now()
	s := f.put(1, "gone", 1, "friend", now, nil)
	f.put(1, "kept", 1, "friend", now, nil)
	code, body, w := f.serve(http.MethodDelete, "/plex_auth/sessions/"+Handle("gone"))
	if code != http.StatusOK || strings.TrimSpace(body) != `{"ended":1}` || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("DELETE session: %d %s", code, body)
	}
	if f.held(1, "gone") || !f.held(1, "kept") {
		t.Fatal("the session named is held still, or another was ended")
	}
	if len(f.ended) != 1 || f.ended[0] != s || len(f.accounts) != 0 {
		t.Fatalf("reported %v and %v, want the one session ended and no account", f.ended, f.accounts)
	}
	if code, _, _ := f.serve(http.MethodDelete, "/plex_auth/sessions/"+Handle("gone")); code != http.StatusNotFound {
		t.Fatalf("DELETE of an ended session's handle: %d, want 404", code)
	}
}

func TestServeEndsEveryAccountSessionInEveryCache(t *testing.T) {
	f := newFixture(t, t.TempDir(), 2)
	now := time.Now()
	f.put(0, "a1", 9001, "friend", now, nil)
	f.put(1, "a2", 9001, "friend", now, nil)
	f.put(1, "other", 9002, "neighbour", now, nil)
	code, body, _ := f.serve(http.MethodDelete, "/plex_auth/users/9001")
	if code != http.StatusOK || strings.TrimSpace(body) != `{"ended":2}` {
		t.Fatalf("DELETE user: %d %s", code, body)
	}
	if f.held(0, "a1") || f.held(1, "a2") || !f.held(1, "other") {
		t.Fatal("the account's sessions are held still, or another account's ended")
	}
	if len(f.ended) != 2 || !slices.Equal(f.accounts, []string{"9001 friend 2"}) {
		t.Fatalf("reported %d sessions and %v, want 2 and the account with its username", len(f.ended), f.accounts)
	}
	// An account with no session here is signed out all the same.
	if code, body, _ := f.serve(http.MethodDelete, "/plex_auth/users/77"); code != http.StatusOK || strings.TrimSpace(body) != `{"ended":0}` {
		t.Fatalf("DELETE of an account without sessions here: %d %s", code, body)
	}
	if f.accounts[len(f.accounts)-1] != "77  0" {
		t.Errorf("reported %q, want the account with no username and 0 ended", f.accounts[len(f.accounts)-1])
	}
}

func TestServeSaysWhenTheStoreCouldNotBeTold(t *testing.T) {
	// A storage whose folder is a file: every write and read fails.
	blocked := filepath.Join(t.TempDir(), "not-a-folder")
	if err := os.WriteFile(blocked, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, blocked, 1)
	now := time.Now()
	f.put(0, "one", 9001, "friend", now, nil)
	f.put(0, "two", 9001, "friend", now, nil)
	code, body, _ := f.serve(http.MethodDelete, "/plex_auth/sessions/"+Handle("one"))
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "other instances") || len(f.ended) != 1 {
		t.Fatalf("DELETE session with the store down: %d %s, %d reported; want 503 and the session reported ended", code, body, len(f.ended))
	}
	code, body, _ = f.serve(http.MethodDelete, "/plex_auth/users/9001")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "1 sessions ended here") ||
		len(f.ended) != 2 || !slices.Equal(f.accounts, []string{"9001 friend 1"}) {
		t.Fatalf("DELETE user with the store down: %d %s, reported %v; want 503 saying what ended here, and the account reported", code, body, f.accounts)
	}
	if f.held(0, "one") || f.held(0, "two") {
		t.Fatal("with the store down, the sessions held here were not ended")
	}
}

func TestServeRefusesWhatItDoesNotServe(t *testing.T) {
	f := newFixture(t, t.TempDir(), 1)
	f.put(0, "kept", 9201, "kept", time.Now(), nil)
	for _, c := range []struct {
		method, path string
		want         int
		allow        string
	}{
		{http.MethodDelete, "/plex_auth/users/friend", http.StatusBadRequest, ""},
		{http.MethodDelete, "/plex_auth/users/-4", http.StatusBadRequest, ""},
		{http.MethodDelete, "/plex_auth/users/0", http.StatusBadRequest, ""},
		{http.MethodDelete, "/plex_auth/users/", http.StatusNotFound, ""},
		{http.MethodDelete, "/plex_auth/users", http.StatusNotFound, ""},
		{http.MethodDelete, "/plex_auth/users/9201/x", http.StatusNotFound, ""},
		{http.MethodDelete, "/plex_auth/other/9201", http.StatusNotFound, ""},
		{http.MethodDelete, "/plex_auth/sessions/", http.StatusNotFound, ""},
		{http.MethodDelete, "/plex_auth/sessions/unknown-handle", http.StatusNotFound, ""},
		{http.MethodDelete, "/plex_auth/sessions/" + Handle("kept") + "/x", http.StatusNotFound, ""},
		{http.MethodGet, "/plex_auth/nothing", http.StatusNotFound, ""},
		{http.MethodGet, "/plex_auth/users/9201", http.StatusMethodNotAllowed, http.MethodDelete},
		{http.MethodPost, "/plex_auth/sessions/" + Handle("kept"), http.StatusMethodNotAllowed, http.MethodDelete},
		{http.MethodPost, "/plex_auth/sessions", http.StatusMethodNotAllowed, http.MethodGet},
		{http.MethodDelete, "/plex_auth/sessions", http.StatusMethodNotAllowed, http.MethodGet},
	} {
		code, body, w := f.serve(c.method, c.path)
		if code != c.want || w.Header().Get("Allow") != c.allow {
			t.Errorf("%s %s: %d (%s), Allow %q; want %d, Allow %q", c.method, c.path, code, body, w.Header().Get("Allow"), c.want, c.allow)
		}
	}
	if !f.held(0, "kept") || len(f.ended) != 0 || len(f.accounts) != 0 {
		t.Fatal("a request the API refuses ended something")
	}
}

func TestHandleIsFixedSizeStableAndNamesSessionsApart(t *testing.T) {
	seen := map[string]string{}
	for _, id := range []string{"", "a", "b", "abc", strings.Repeat("x", 32), strings.Repeat("x", 33)} {
		h := Handle(id)
		if len(h) != 24 || strings.Trim(h, "0123456789abcdef") != "" || h != Handle(id) {
			t.Fatalf("Handle(%q) = %q: want 24 hex characters, the same each time", id, h)
		}
		if other, ok := seen[h]; ok {
			t.Fatalf("%q and %q share the handle %q", id, other, h)
		}
		seen[h] = id
	}
}
