package plexauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/admin"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

// adminFixture is the admin API over session caches that share one Caddy
// storage, as instances sharing a storage folder do. Only the first cache
// is in the session pool, so the admin API sees it as this instance's.
type adminFixture struct {
	t      *testing.T
	api    *AdminAPI
	dir    string
	caches []*session.Cache
}

func newAdminFixture(t *testing.T, instances int) *adminFixture {
	t.Helper()
	return newAdminFixtureIn(t, t.TempDir(), instances)
}

// newAdminFixtureIn is newAdminFixture with the storage in the folder dir.
func newAdminFixtureIn(t *testing.T, dir string, instances int) *adminFixture {
	t.Helper()
	f := &adminFixture{t: t, api: &AdminAPI{}, dir: dir}
	if err := f.api.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	st := &certmagic.FileStorage{Path: f.dir}
	for i := range instances {
		sc := newSessionCache(session.NewCaddyStore(st), nil)
		f.caches = append(f.caches, sc)
		if i == 0 {
			key := sessionPoolKey + "|admin test|" + t.Name()
			if _, _, err := sessionPool.LoadOrNew(key, func() (caddy.Destructor, error) { return &pooledSessions{cache: sc}, nil }); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _, _ = sessionPool.Delete(key) })
		} else {
			t.Cleanup(func() { _ = sc.Destruct() })
		}
	}
	return f
}

// signIn makes a session on instance i, as a sign-in there does.
func (f *adminFixture) signIn(i int, userID int64, username string, servers map[string]string) (string, *Session) {
	f.t.Helper()
	now := time.Now()
	s := &Session{UserID: userID, Username: username, Title: strings.ToUpper(username[:1]) + username[1:],
		Email: username + "@example.com", Token: "plex-token-of-" + username + "-" + hex.EncodeToString(randomBytes(4)),
		Servers: servers, Created: now, Checked: now, Expires: now.Add(time.Hour)}
	id := string(randomBytes(sessionIDLen))
	if err := f.caches[i].Put(context.Background(), id, s); err != nil {
		f.t.Fatal(err)
	}
	return id, s
}

// call makes an admin API request and returns the status and body.
func (f *adminFixture) call(method, path string) (int, string) {
	f.t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(method, "http://localhost:2019"+path, nil)
	err := f.api.serve(w, r)
	if err != nil {
		var apiErr caddy.APIError
		if !errors.As(err, &apiErr) {
			f.t.Fatalf("%s %s: error %v is no caddy.APIError", method, path, err)
		}
		return apiErr.HTTPStatus, apiErr.Err.Error()
	}
	return w.Code, w.Body.String()
}

// list returns the sessions the admin API shows for the given accounts.
func (f *adminFixture) list(accounts ...int64) []admin.Session {
	f.t.Helper()
	code, body := f.call(http.MethodGet, "/plex_auth/sessions")
	if code != http.StatusOK {
		f.t.Fatalf("GET sessions: %d %s", code, body)
	}
	var all, out []admin.Session
	if err := json.Unmarshal([]byte(body), &all); err != nil {
		f.t.Fatal(err)
	}
	for _, s := range all {
		if slices.Contains(accounts, s.AccountID) {
			out = append(out, s)
		}
	}
	return out
}

// live reports whether instance i admits the session, trusting its memory
// for an hour: only what ends sessions at once can end it.
func (f *adminFixture) live(i int, id string) bool {
	f.t.Helper()
	s, err := f.caches[i].Lookup(id, time.Now(), time.Hour)
	if err != nil {
		f.t.Fatal(err)
	}
	return s != nil
}

func TestAdminListsSessionsWithoutTokensOrSessionIDs(t *testing.T) {
	f := newAdminFixture(t, 1)
	ownerID, owner := f.signIn(0, 9001, "owner", map[string]string{"m1": access.TierOwner, "m2": access.TierFriend, "m3": access.TierFriend})
	friendID, friend := f.signIn(0, 9002, "friend", map[string]string{"m1": access.TierFriend})
	f.caches[0].Remove("a-session-that-ended") // leaves a placeholder in memory
	past := time.Now().Add(-2 * time.Hour)
	f.caches[0].PutLocal("an-expired-session", &Session{UserID: 9003, Username: "late", Created: past, Expires: time.Now().Add(-time.Second)})

	_, body := f.call(http.MethodGet, "/plex_auth/sessions")
	for _, secret := range []string{owner.Token, friend.Token, ownerID, friendID, hex.EncodeToString([]byte(ownerID)), owner.Email} {
		if strings.Contains(body, secret) {
			t.Fatalf("the session list shows a token, a session id or an email: %s", body)
		}
	}
	var raw []map[string]any
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatal(err)
	}
	for _, m := range raw {
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range m {
				if !yield(k) {
					return
				}
			}
		})
		if want := []string{"account_id", "checked", "created", "expires", "handle", "tiers", "title", "username"}; !slices.Equal(keys, want) {
			t.Fatalf("a session has fields %v, want %v", keys, want)
		}
	}

	got := f.list(9001, 9002, 9003)
	if len(got) != 2 {
		t.Fatalf("listed %d sessions (%+v), want the two live ones", len(got), got)
	}
	o, fr := got[0], got[1]
	if o.AccountID != 9001 || o.Username != "owner" || o.Title != "Owner" || !slices.Equal(o.Tiers, []string{access.TierOwner, access.TierFriend}) ||
		!o.Created.Equal(owner.Created) || !o.Expires.Equal(owner.Expires) || !o.Checked.Equal(owner.Checked) {
		t.Errorf("owner's session listed as %+v", o)
	}
	if fr.AccountID != 9002 || fr.Username != "friend" || !slices.Equal(fr.Tiers, []string{access.TierFriend}) {
		t.Errorf("friend's session listed as %+v", fr)
	}
	if o.Handle == "" || o.Handle == fr.Handle {
		t.Errorf("handles %q and %q must name the sessions apart", o.Handle, fr.Handle)
	}
	if again := f.list(9001); again[0].Handle != o.Handle {
		t.Errorf("the handle changed between two lists: %q, then %q", o.Handle, again[0].Handle)
	}
}

func TestAdminEndsOneSessionByHandleOnEveryInstance(t *testing.T) {
	f := newAdminFixture(t, 2)
	id, _ := f.signIn(0, 9001, "owner", map[string]string{"m1": access.TierOwner})
	keep, _ := f.signIn(0, 9001, "owner", map[string]string{"m1": access.TierOwner})
	if !f.live(1, id) || !f.live(1, keep) {
		t.Fatal("the other instance does not see the sessions")
	}
	handle := admin.Handle(id)

	code, body := f.call(http.MethodDelete, "/plex_auth/sessions/"+handle)
	if code != http.StatusOK || strings.TrimSpace(body) != `{"ended":1}` {
		t.Fatalf("DELETE session: %d %s", code, body)
	}
	if f.live(0, id) {
		t.Fatal("the session still works on the instance that ended it")
	}
	if !f.live(1, id) {
		t.Fatal("the other instance dropped its copy before reading the sign-out counter; the check below could not fail")
	}
	f.caches[1].CheckSignouts()
	if f.live(1, id) {
		t.Fatal("the other instance still admits the session after reading the sign-out counter")
	}
	if !f.live(0, keep) || !f.live(1, keep) {
		t.Fatal("ending one session ended another of the same account")
	}
	if code, _ := f.call(http.MethodDelete, "/plex_auth/sessions/"+handle); code != http.StatusNotFound {
		t.Fatalf("DELETE of an ended session's handle: %d, want 404", code)
	}
}

func TestAdminEndsEveryAccountSessionOnEveryInstance(t *testing.T) {
	// Instance 0 serves the admin API; 1 holds copies in memory; 2 has
	// not seen the account yet.
	f := newAdminFixture(t, 3)
	here1, _ := f.signIn(0, 9001, "friend", map[string]string{"m1": access.TierFriend})
	here2, _ := f.signIn(0, 9001, "friend", map[string]string{"m1": access.TierFriend})
	there, _ := f.signIn(1, 9001, "friend", map[string]string{"m1": access.TierFriend})    // instance 0 never saw it
	unseen, _ := f.signIn(1, 9001, "friend", map[string]string{"m1": access.TierFriend})   // nor did 2, until below
	other, _ := f.signIn(1, 9002, "neighbour", map[string]string{"m1": access.TierFriend}) // another account
	if !f.live(1, here1) {
		t.Fatal("instance 1 does not see a session made on 0")
	}

	code, body := f.call(http.MethodDelete, "/plex_auth/users/9001")
	if code != http.StatusOK || strings.TrimSpace(body) != `{"ended":2}` {
		t.Fatalf("DELETE user: %d %s, want the two sessions instance 0 held", code, body)
	}
	if f.live(0, here1) || f.live(0, here2) {
		t.Fatal("the account's sessions still work on the instance that ended them")
	}
	// Instance 2 reads the session from the store for the first time: the
	// marker, read with it, ends it.
	if f.live(2, unseen) {
		t.Fatal("an instance reading the session from the store after the sign-out admits it")
	}
	// Instance 1 trusts its memory until it reads the sign-out counter.
	if !f.live(1, there) {
		t.Fatal("instance 1 dropped its copy before reading the sign-out counter; the check below could not fail")
	}
	f.caches[1].CheckSignouts()
	if f.live(1, there) || f.live(1, here1) {
		t.Fatal("instance 1 still admits the account after reading the sign-out counter")
	}
	if !f.live(1, other) || !f.live(2, other) {
		t.Fatal("another account's session ended too")
	}

	// The account can sign in again.
	again, _ := f.signIn(1, 9001, "friend", map[string]string{"m1": access.TierFriend})
	if !f.live(2, again) || !f.live(0, again) {
		t.Fatal("a sign-in after the sign-out is refused")
	}

	// The marker gives nothing away: named by a hash of the account id (as
	// internal/session names it, signoutKey), holding a time.
	markers := filepath.Join(f.dir, "plex_auth", "signouts")
	named := sha256.Sum256([]byte("plex_auth account sign-out\x00" + "9001"))
	entries, err := os.ReadDir(markers)
	if err != nil || len(entries) != 1 || entries[0].Name() != hex.EncodeToString(named[:]) {
		t.Fatalf("markers: %v, %v; want one, named by the account's hash", entries, err)
	}
	b, _ := os.ReadFile(filepath.Join(markers, entries[0].Name()))
	if len(b) != 16 || strings.Contains(string(b), "friend") {
		t.Fatalf("the marker holds %q, want 16 bytes of times", b)
	}
}

func TestAdminSaysWhenTheStoreCouldNotBeTold(t *testing.T) {
	// A storage whose folder is a file: every write and read fails.
	blocked := filepath.Join(t.TempDir(), "not-a-folder")
	if err := os.WriteFile(blocked, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f := newAdminFixtureIn(t, blocked, 1)
	now := time.Now()
	for _, id := range []string{"one", "two"} {
		f.caches[0].PutLocal(id, &Session{UserID: 9001, Username: "friend", Created: now, Checked: now, Expires: now.Add(time.Hour)})
	}

	code, body := f.call(http.MethodDelete, "/plex_auth/sessions/"+admin.Handle("one"))
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "other instances") {
		t.Fatalf("DELETE session with the store down: %d %s, want 503 saying other instances may keep it", code, body)
	}
	code, body = f.call(http.MethodDelete, "/plex_auth/users/9001")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "1 sessions ended here") {
		t.Fatalf("DELETE user with the store down: %d %s, want 503 saying what ended here", code, body)
	}
	if len(f.list(9001)) != 0 {
		t.Fatal("with the store down, the sessions held here were not ended")
	}
}

func TestAdminRefusesWhatItDoesNotServe(t *testing.T) {
	f := newAdminFixture(t, 1)
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{http.MethodDelete, "/plex_auth/users/friend", http.StatusBadRequest},
		{http.MethodDelete, "/plex_auth/users/-4", http.StatusBadRequest},
		{http.MethodDelete, "/plex_auth/users/", http.StatusNotFound},
		{http.MethodDelete, "/plex_auth/sessions/unknown-handle", http.StatusNotFound},
		{http.MethodGet, "/plex_auth/users/9001", http.StatusMethodNotAllowed},
		{http.MethodPost, "/plex_auth/sessions", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/plex_auth/sessions", http.StatusMethodNotAllowed},
		{http.MethodGet, "/plex_auth/nothing", http.StatusNotFound},
	} {
		if code, body := f.call(c.method, c.path); code != c.want {
			t.Errorf("%s %s: %d (%s), want %d", c.method, c.path, code, body, c.want)
		}
	}
}
