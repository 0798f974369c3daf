package session

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// A session read from the store just before an account's marker was
// written, and kept in memory just after the instance saw the sign-out
// counter change, must still be read again: its copy counts as read when
// the read began.
func TestASessionReadWhileItsAccountIsSignedOutIsReadAgain(t *testing.T) {
	fs := &certmagic.FileStorage{Path: t.TempDir()}
	hs := &hookStorage{Storage: fs, locks: make(chan string, 16), held: map[string]bool{}}
	a := NewCache(&CaddyStore{st: fs}, nil, Config{})
	b := NewCache(&CaddyStore{st: hs}, nil, Config{})
	defer a.Destruct()
	defer b.Destruct()
	now := time.Now()
	id := "a-session"
	if err := a.Put(context.Background(), id, &Session{UserID: 9001, Username: "friend", Created: now, Checked: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	hs.mu.Lock()
	hs.path = caddySignoutPrefix + "/" + signoutKey(9001)
	hs.onLoad = func() {
		// b has read the entry and found no marker: now the account is
		// signed out, and b notices the counter before it keeps its copy.
		if _, err := a.EndAccount(context.Background(), 9001, time.Now()); err != nil {
			t.Error(err)
		}
		b.CheckSignouts()
	}
	hs.mu.Unlock()

	if s, err := b.Lookup(id, time.Now(), time.Hour); s == nil || err != nil {
		t.Fatalf("first read: %v, %v; want the session, read before the sign-out", s, err)
	}
	if hs.onLoad != nil {
		t.Fatal("b never read the marker; the test injected nothing")
	}
	if s, _ := b.Lookup(id, time.Now(), time.Hour); s != nil {
		t.Fatal("a copy read before the sign-out is trusted after it")
	}
}

// sharedStores are the stores instances share, and so the ones that keep
// sign-out markers; memory is no such store.
var sharedStores = []struct {
	name  string
	store func(t *testing.T) Store
}{
	{"caddy storage", func(t *testing.T) Store {
		return &CaddyStore{st: &certmagic.FileStorage{Path: t.TempDir()}}
	}},
	{"redis", func(t *testing.T) Store {
		r, err := NewRedisStore("redis://"+startRedis(t)+"/0", StoreTimeout)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		return r
	}},
}

// Instances sharing a store may read clocks minutes or hours apart. An
// account's sign-out must end exactly the sessions made before it, whichever
// instance's clock is right: here instance a, which signs the account out,
// reads its own clock (an hour fast, then five minutes slow, then standing
// still), and b, where the account signs in, the true time.
func TestAccountSignoutHoldsAcrossInstancesWhoseClocksDisagree(t *testing.T) {
	for _, c := range sharedStores {
		t.Run(c.name, func(t *testing.T) {
			st := c.store(t)
			a, b := NewCache(st, nil, Config{}), NewCache(st, nil, Config{})
			defer a.Destruct()
			defer b.Destruct()
			signIn := func(userID int64) string {
				t.Helper()
				now := time.Now() // b's clock
				id := string(randomBytes(sessionIDLen))
				if err := b.Put(context.Background(), id, &Session{UserID: userID, Username: "friend", Created: now, Checked: now, Expires: now.Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
				return id
			}
			signOut := func(userID int64, aClock time.Time) {
				t.Helper()
				if _, err := a.EndAccount(context.Background(), userID, aClock); err != nil {
					t.Fatal(err)
				}
				b.CheckSignouts() // as b's watcher does within a second
			}
			// live: both instances admit the session, a reading it from
			// the store (it never held it), b from memory or, after the
			// sign-out counter changed, from the store again.
			live := func(id string) (onA, onB bool) {
				t.Helper()
				sa, err := a.Lookup(id, time.Now(), time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				sb, err := b.Lookup(id, time.Now(), time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				return sa != nil, sb != nil
			}

			// a's clock an hour fast: its marker reads as an hour ahead.
			before := signIn(9001)
			signOut(9001, time.Now().Add(time.Hour))
			after := signIn(9001)
			if onA, onB := live(before); onA || onB {
				t.Errorf("a session made before the sign-out lives on (instance a: %v, b: %v)", onA, onB)
			}
			if onA, onB := live(after); !onA || !onB {
				t.Errorf("a sign-in made after a sign-out from a clock an hour fast is refused (instance a: %v, b: %v)", onA, onB)
			}

			// a's clock five minutes slow: the session made just before the
			// sign-out reads as made five minutes after it.
			justBefore := signIn(9002)
			signOut(9002, time.Now().Add(-5*time.Minute))
			if onA, onB := live(justBefore); onA || onB {
				t.Errorf("a session made just before a sign-out from a clock five minutes slow lives on (instance a: %v, b: %v)", onA, onB)
			}
			if onA, onB := live(signIn(9002)); !onA || !onB {
				t.Errorf("a sign-in after the sign-out is refused (instance a: %v, b: %v)", onA, onB)
			}

			// a's clock reads the same for two sign-outs (coarse, or set
			// back): the second still ends what was made between them.
			stuck := time.Now()
			signOut(9003, stuck)
			between := signIn(9003)
			signOut(9003, stuck)
			if onA, onB := live(between); onA || onB {
				t.Errorf("a session made between two sign-outs at one clock reading lives on (instance a: %v, b: %v)", onA, onB)
			}
		})
	}
}

func TestSignoutMarkersAndCounterInEveryStore(t *testing.T) {
	for _, c := range sharedStores {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			st := c.store(t)
			if mark, err := st.LoadSignout(ctx, signoutKey(1)); err != nil || mark != 0 {
				t.Fatalf("no marker yet: %v, %v", mark, err)
			}
			before, err := st.Signouts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			mark := time.Now().UnixNano()
			if err := st.SaveSignout(ctx, signoutKey(1), mark, time.Hour); err != nil {
				t.Fatal(err)
			}
			if got, err := st.LoadSignout(ctx, signoutKey(1)); err != nil || got != mark {
				t.Fatalf("marker = %v, %v; want %v", got, err, mark)
			}
			if got, _ := st.LoadSignout(ctx, signoutKey(2)); got != 0 {
				t.Fatal("another account has the marker")
			}
			if err := st.BumpSignouts(ctx); err != nil {
				t.Fatal(err)
			}
			after, err := st.Signouts(ctx)
			if err != nil || after == before {
				t.Fatalf("the counter did not change: %q, then %q (%v)", before, after, err)
			}
		})
	}
}

// Session entries stored before sessions recorded the account's marker,
// and markers stored before then (the same format: the sign-out's time),
// are still read: such a session is judged by the times, as it was.
func TestSessionStoredBeforeSignoutMarksIsJudgedByItsTimes(t *testing.T) {
	for _, c := range sharedStores {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			st := c.store(t)
			sc := NewCache(st, nil, Config{})
			defer sc.Destruct()
			signedOut := time.Now()
			old := func(created time.Time) string {
				t.Helper()
				id := string(randomBytes(sessionIDLen))
				s := &Session{UserID: 9001, Username: "friend", Created: created, Checked: created, Expires: signedOut.Add(time.Hour)}
				if plain, _ := json.Marshal(s); strings.Contains(string(plain), "signout") {
					t.Fatalf("a session that recorded no marker is stored as %s, not as before", plain)
				}
				b, err := sealEntry(id, s)
				if err != nil {
					t.Fatal(err)
				}
				if err := st.Save(ctx, storeKey(id), b, s.Expires); err != nil {
					t.Fatal(err)
				}
				return id
			}
			before, after := old(signedOut.Add(-time.Minute)), old(signedOut.Add(time.Minute))
			if err := st.SaveSignout(ctx, signoutKey(9001), signedOut.UnixNano(), time.Hour); err != nil {
				t.Fatal(err)
			}
			if s, err := sc.Lookup(before, time.Now(), time.Hour); s != nil || err != nil {
				t.Errorf("an old session made before the old marker's time: %v, %v; want it ended", s, err)
			}
			if s, err := sc.Lookup(after, time.Now(), time.Hour); s == nil || err != nil {
				t.Errorf("an old session made after the old marker's time: %v, %v; want it live", s, err)
			}
		})
	}
}

func TestCaddyStoreSweepDropsExpiredSignoutMarkers(t *testing.T) {
	ctx := context.Background()
	st := &CaddyStore{st: &certmagic.FileStorage{Path: t.TempDir()}}
	now := time.Now()
	if err := st.SaveSignout(ctx, signoutKey(1), now.Add(-2*time.Hour).UnixNano(), -time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveSignout(ctx, signoutKey(2), now.UnixNano(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := st.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if mark, _ := st.LoadSignout(ctx, signoutKey(1)); mark != 0 {
		t.Fatal("an expired marker survived the sweep")
	}
	if mark, _ := st.LoadSignout(ctx, signoutKey(2)); mark == 0 {
		t.Fatal("a live marker was swept")
	}
}

// signout.go:64: an account's marker outlives the longest session_ttl of
// the handlers using the cache (or Config.MarkerTTL, when longer) by a day
// (signoutMarkMargin): a shorter session_ttl noted later does not shorten
// it, or a session of the longer one would outlive the marker that ended it.
func TestSignoutMarkerOutlivesTheLongestSessionTTLByADay(t *testing.T) {
	for _, c := range []struct {
		name   string
		marker time.Duration   // Config.MarkerTTL
		ttls   []time.Duration // NoteSessionTTL, in this order
		want   time.Duration
	}{
		{"no session_ttl noted", time.Hour, nil, time.Hour + signoutMarkMargin},
		{"the longest of several", time.Hour, []time.Duration{72 * time.Hour, 24 * time.Hour, 72 * time.Hour, 48 * time.Hour}, 72*time.Hour + signoutMarkMargin},
		{"MarkerTTL when longer", 96 * time.Hour, []time.Duration{time.Hour}, 96*time.Hour + signoutMarkMargin},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := &certmagic.FileStorage{Path: t.TempDir()}
			sc := NewCache(&CaddyStore{st: fs}, nil, Config{MarkerTTL: c.marker})
			defer sc.Destruct()
			noted := make(chan struct{})
			go func() {
				defer close(noted)
				for _, d := range c.ttls {
					sc.NoteSessionTTL(d)
				}
			}()
			select {
			case <-noted:
			case <-time.After(10 * time.Second):
				t.Fatal("NoteSessionTTL does not return")
			}
			before := time.Now()
			if _, err := sc.EndAccount(context.Background(), 9001, before); err != nil {
				t.Fatal(err)
			}
			b, err := fs.Load(context.Background(), caddySignoutPrefix+"/"+signoutKey(9001))
			if err != nil {
				t.Fatal(err)
			}
			// The marker's expiry is whole seconds, set after before.
			exp := entryExpiry(b)
			if lo, hi := before.Add(c.want).Add(-time.Second), time.Now().Add(c.want); exp.Before(lo) || exp.After(hi) {
				t.Fatalf("the marker lasts until %v, want %v after the sign-out (%v)", exp, c.want, before)
			}
		})
	}
}

// signout.go:81: Held lists the live sessions in memory, each under its
// id, and not the placeholders a logout leaves (the admin API lists what
// Held gives).
func TestHeldListsLiveSessionsNotPlaceholders(t *testing.T) {
	sc := NewCache(&CaddyStore{st: &certmagic.FileStorage{Path: t.TempDir()}}, nil, Config{})
	defer sc.Destruct()
	ctx := context.Background()
	for _, id := range []string{"kept", "logged-out"} {
		if err := sc.Put(ctx, id, testSession(time.Now(), time.Now().Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	sc.Remove("logged-out")
	if sc.Count() != 2 {
		t.Fatalf("memory holds %d entries, want the session and the logout's placeholder", sc.Count())
	}
	held := sc.Held()
	if len(held) != 1 || held[0].ID != "kept" || held[0].Session == nil || held[0].Session.Username != "friend" {
		t.Fatalf("Held = %+v, want the one live session", held)
	}
}

// signout.go:107: ending an account ends at once, in this instance's
// memory, every session of that account made before, and no other
// account's; with no store (`store memory`) that is all there is to it, and
// with one the store's marker ends them on the other instances.
func TestEndAccountEndsThatAccountsSessionsHereAtOnce(t *testing.T) {
	for name, st := range map[string]Store{
		"memory":        nil,
		"caddy storage": &CaddyStore{st: &certmagic.FileStorage{Path: t.TempDir()}},
	} {
		t.Run(name, func(t *testing.T) {
			sc := NewCache(st, nil, Config{})
			defer sc.Destruct()
			ctx := context.Background()
			made := time.Now().Add(-time.Minute)
			for id, user := range map[string]int64{"a1": 9001, "a2": 9001, "b": 9002} {
				s := testSession(made, time.Now().Add(time.Hour))
				s.UserID = user
				if err := sc.Put(ctx, id, s); err != nil {
					t.Fatal(err)
				}
			}
			ended, err := sc.EndAccount(ctx, 9001, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if len(ended) != 2 || ended[0].UserID != 9001 || ended[1].UserID != 9001 {
				t.Fatalf("EndAccount returned %d sessions (%+v), want the account's 2", len(ended), ended)
			}
			for _, id := range []string{"a1", "a2"} {
				if s, _ := sc.Lookup(id, time.Now(), time.Hour); s != nil {
					t.Errorf("session %s of the ended account lives on in memory", id)
				}
			}
			if s, _ := sc.Lookup("b", time.Now(), time.Hour); s == nil {
				t.Error("another account's session was ended")
			}
		})
	}
}

// signout.go:97: EndSession ends the session here at once and in the store,
// and changes the sign-out counter, so that other instances read their
// copies again.
func TestEndSessionEndsItHereAndInTheStoreAndTellsTheOthers(t *testing.T) {
	st := &CaddyStore{st: &certmagic.FileStorage{Path: t.TempDir()}}
	sc := NewCache(st, nil, Config{})
	defer sc.Destruct()
	ctx := context.Background()
	if err := sc.Put(ctx, "x", testSession(time.Now(), time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	before, err := st.Signouts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.EndSession(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if s, _ := sc.Lookup("x", time.Now(), time.Hour); s != nil {
		t.Error("the ended session is still found here")
	}
	if _, err := st.Load(ctx, storeKey("x")); !errors.Is(err, ErrNotFound) {
		t.Errorf("the ended session's entry is still in the store (%v)", err)
	}
	if after, _ := st.Signouts(ctx); after == before {
		t.Error("the sign-out counter did not change: other instances keep trusting their copies")
	}
}

// markerFailingStore refuses to write sign-out markers, and does all else.
type markerFailingStore struct{ Store }

func (markerFailingStore) SaveSignout(context.Context, string, int64, time.Duration) error {
	return errTestStoreDown
}

// signout.go:107: when the account's marker cannot be written, EndAccount
// says so (the other instances were not told), the failure counts as the
// store's, and this instance's sessions of the account end all the same.
func TestEndAccountWhoseMarkerFailsSaysSoAndStillEndsItHere(t *testing.T) {
	failed := 0
	sc := NewCache(markerFailingStore{&CaddyStore{st: &certmagic.FileStorage{Path: t.TempDir()}}}, nil, Config{StoreFailed: func() { failed++ }})
	defer sc.Destruct()
	ctx := context.Background()
	s := testSession(time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	if err := sc.Put(ctx, "x", s); err != nil {
		t.Fatal(err)
	}
	ended, err := sc.EndAccount(ctx, s.UserID, time.Now())
	if !errors.Is(err, errTestStoreDown) {
		t.Errorf("EndAccount = %v, want the marker's failure", err)
	}
	if failed != 1 {
		t.Errorf("the store's failure counted %d times, want once", failed)
	}
	if len(ended) != 1 {
		t.Errorf("EndAccount ended %d sessions here, want 1", len(ended))
	}
	if got, _ := sc.Lookup("x", time.Now(), time.Hour); got != nil {
		t.Error("the account's session lives on here")
	}
}

// signout.go:136: a new marker differs from the one in the store, even
// when the clock repeats itself, and is never 0 (which reads as no
// marker), even from a clock at the Unix epoch.
func TestNewSignoutMarkIsNeitherTheCurrentOneNorZero(t *testing.T) {
	at := time.Now()
	for _, c := range []struct {
		at  time.Time
		cur int64
	}{
		{at, 0}, {at, at.UnixNano()}, {time.Unix(0, 0), 0}, {time.Unix(0, 0), 1}, {time.Unix(0, -1), 0},
	} {
		if m := newSignoutMark(c.at, c.cur); m == c.cur || m == 0 {
			t.Errorf("newSignoutMark(%d, %d) = %d", c.at.UnixNano(), c.cur, m)
		}
	}
}

// markerUnreadableStore cannot read sign-out markers, and does all else.
type markerUnreadableStore struct{ Store }

func (markerUnreadableStore) LoadSignout(context.Context, string) (int64, error) {
	return 0, errTestStoreDown
}

// signout.go:162: a session read from the store whose account's marker
// cannot be read is not admitted: the marker may end it.
func TestSessionWhoseMarkerCannotBeReadIsNotAdmitted(t *testing.T) {
	inner := &CaddyStore{st: &certmagic.FileStorage{Path: t.TempDir()}}
	b, err := sealEntry("x", testSession(time.Now(), time.Now().Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if err := inner.Save(context.Background(), storeKey("x"), b, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	sc := NewCache(markerUnreadableStore{inner}, nil, Config{})
	defer sc.Destruct()
	if s, err := sc.Lookup("x", time.Now(), time.Hour); s != nil || !errors.Is(err, errTestStoreDown) {
		t.Fatalf("Lookup = %v, %v; want no session and the store's error", s, err)
	}
}

// signout.go:146: a sign-out counter the store could not take counts as
// the store's failure, as the entry's removal does, and EndSession says so.
func TestEndSessionOnAStoreThatIsDownSaysSoAndCountsEachFailure(t *testing.T) {
	st := &failingStore{entries: map[string][]byte{}}
	failed := 0
	sc := NewCache(st, nil, Config{StoreFailed: func() { failed++ }})
	defer sc.Destruct()
	if err := sc.Put(context.Background(), "x", testSession(time.Now(), time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	st.down.Store(true)
	if err := sc.EndSession(context.Background(), "x"); !errors.Is(err, errStoreDown) {
		t.Fatalf("EndSession = %v, want the store's error", err)
	}
	if failed != 2 {
		t.Fatalf("%d failures counted, want 2: the removal and the counter", failed)
	}
}

// signout.go:185: a sign-in whose account's marker cannot be read is
// refused (the session would record no marker, and a sign-out's marker
// would not end it), counted as the store's failure, and leaves nothing in
// memory.
func TestSignInWhoseMarkerCannotBeReadIsRefused(t *testing.T) {
	failed := 0
	sc := NewCache(markerUnreadableStore{&CaddyStore{st: &certmagic.FileStorage{Path: t.TempDir()}}}, nil, Config{StoreFailed: func() { failed++ }})
	defer sc.Destruct()
	if err := sc.Put(context.Background(), "x", testSession(time.Now(), time.Now().Add(time.Hour))); !errors.Is(err, errTestStoreDown) {
		t.Fatalf("Put = %v, want the store's error", err)
	}
	if failed != 1 {
		t.Errorf("the store's failure counted %d times, want once", failed)
	}
	if sc.Count() != 0 {
		t.Error("a refused sign-in is held in memory")
	}
}

// signout.go:200: each instance's watcher reads the sign-out counter on
// its own: a session ended on another instance stops being trusted here
// within about a second, however long cache_ttl is.
func TestSessionEndedElsewhereEndsHereWithinTheWatchInterval(t *testing.T) {
	st := &CaddyStore{st: &certmagic.FileStorage{Path: t.TempDir()}}
	a, b := NewCache(st, nil, Config{}), NewCache(st, nil, Config{})
	defer a.Destruct()
	defer b.Destruct()
	if err := b.Put(context.Background(), "x", testSession(time.Now(), time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if s, _ := a.Lookup("x", time.Now(), time.Hour); s == nil {
		t.Fatal("instance a does not find the session")
	}
	if err := b.EndSession(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*signoutWatchInterval, "instance a to see the sign-out", func() bool {
		s, _ := a.Lookup("x", time.Now(), time.Hour)
		return s == nil
	})
}

// counterStore's sign-out counter is set by the test, and fails on demand.
type counterStore struct {
	Store
	gen  string
	fail bool
}

func (c *counterStore) Signouts(context.Context) (string, error) {
	if c.fail {
		return "", errTestStoreDown
	}
	return c.gen, nil
}

// signout.go:224: a counter that could not be read counts as changed at the
// next read, even if it reads as before: a store that lost its data
// meanwhile (a Redis restarted without persistence) may count its sign-outs
// again up to the same number.
func TestSignoutCounterThatCouldNotBeReadCountsAsChanged(t *testing.T) {
	st := &counterStore{Store: &CaddyStore{st: &certmagic.FileStorage{Path: t.TempDir()}}, gen: "1"}
	sc := NewCache(st, nil, Config{})
	// The watcher stopped: the test reads the counter itself, step by step.
	_ = sc.Destruct()
	sc.CheckSignouts()
	st.fail = true
	sc.CheckSignouts()
	st.fail = false
	before := sc.staleBefore.Load()
	sc.CheckSignouts() // "1" again
	if sc.staleBefore.Load() == before {
		t.Fatal("the counter read after a failed read, as before it, did not count as a change")
	}
}

// signout.go:158: a memory-only cache keeps no markers: no marker ends a
// session there (it asks no store).
func TestNoMarkerEndsASessionInAMemoryOnlyCache(t *testing.T) {
	sc := NewCache(nil, nil, Config{})
	defer sc.Destruct()
	if ended, err := sc.endedBySignout(context.Background(), testSession(time.Now(), time.Now().Add(time.Hour))); ended || err != nil {
		t.Fatalf("endedBySignout = %v, %v; want false, nil", ended, err)
	}
}
