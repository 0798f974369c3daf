package session

import (
	"context"
	"encoding/json"
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
