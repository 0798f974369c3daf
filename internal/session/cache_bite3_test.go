package session

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Tests for the survivors of the mutation run over cache.go
// (scripts/mutants.sh internal/session/cache.go).

// Trusts is the hot path's whole check (a verified cookie that remembered
// the object, verified.go): nothing, a placeholder, an object memory no
// longer holds, or, with a store, a copy past cache_ttl or older than a
// sign-out seen elsewhere, is not trusted; in a memory-only cache there is
// no store to read again, so a held object is trusted past cache_ttl.
func TestTrustsOnlyTheObjectMemoryHoldsAsLookupWould(t *testing.T) {
	const cacheTTL = time.Minute
	now := time.Now()

	mem := NewCache(nil, nil, Config{})
	defer mem.Destruct()
	s := liveSession("friend")
	mem.PutLocal("id", s)
	if !mem.Trusts(s, now.Add(10*cacheTTL), cacheTTL) {
		t.Error("memory only: the held session is not trusted past cache_ttl, though no store could say more")
	}
	if mem.Trusts(nil, now, cacheTTL) {
		t.Error("memory only: nothing is trusted")
	}

	st := fileStore(t)
	sc := NewCache(st, nil, Config{})
	defer sc.Destruct()
	held := liveSession("friend")
	if err := sc.Put(context.Background(), "id", held); err != nil {
		t.Fatal(err)
	}
	switch {
	case sc.Trusts(nil, now, cacheTTL):
		t.Error("nothing is trusted")
	case !sc.Trusts(held, time.Now(), cacheTTL):
		t.Error("the session just written is not trusted within cache_ttl")
	case sc.Trusts(held, time.Now().Add(2*cacheTTL), cacheTTL):
		t.Error("a copy past cache_ttl is trusted: a session ended on another instance would live here")
	}
	sc.Remove("gone")
	if v, ok := sc.c.Get("gone"); !ok || sc.Trusts(v.(*Session), time.Now(), cacheTTL) {
		t.Error("the placeholder a logout leaves is trusted as a session")
	}

	// A sign-out elsewhere (the counter changed) ends the trust in every
	// copy read before it.
	if err := st.BumpSignouts(context.Background()); err != nil {
		t.Fatal(err)
	}
	sc.CheckSignouts()
	if sc.Trusts(held, time.Now(), cacheTTL) {
		t.Error("a copy read before a sign-out seen elsewhere is trusted")
	}
}

// A session replaced in memory (a re-check's result, another sign-in under
// the id) stops being trusted at once; the object written again under its
// own id is not marked. The table of verified cookies relies on it.
func TestReplacingASessionInMemoryEndsTheTrustInTheOldObjectOnly(t *testing.T) {
	const cacheTTL = time.Minute
	sc := NewCache(nil, nil, Config{})
	defer sc.Destruct()
	old := liveSession("friend")
	sc.PutLocal("id", old)
	sc.PutLocal("id", old) // the same object again
	if !sc.Trusts(old, time.Now(), cacheTTL) {
		t.Fatal("writing the held object again made it untrusted")
	}
	fresh := liveSession("friend")
	sc.PutLocal("id", fresh)
	if sc.Trusts(old, time.Now(), cacheTTL) {
		t.Error("the replaced object is still trusted")
	}
	if !sc.Trusts(fresh, time.Now(), cacheTTL) {
		t.Error("the object that replaced it is not trusted")
	}
}

// A session already over (a re-check finishing after its expiry) is not
// kept in memory: go-cache would keep it, token and all, for ever.
func TestASessionAlreadyOverIsNotKeptInMemory(t *testing.T) {
	sc := NewCache(nil, nil, Config{})
	defer sc.Destruct()
	live := liveSession("friend")
	sc.PutLocal("id", live)
	over := liveSession("friend")
	over.Expires = time.Now().Add(-time.Second)
	sc.PutLocal("id", over)
	if n := sc.Count(); n != 0 {
		t.Errorf("memory holds %d entries after a session already over was written, want none", n)
	}
	if sc.Trusts(live, time.Now(), time.Minute) {
		t.Error("the session it replaced is still trusted")
	}
}

// A logout whose store deletion failed leaves a placeholder that memory
// trusts for cache_ttl from the logout: when the store answers again before
// the sweeper retried the deletion, the entry still there must not bring
// the session back.
func TestLogoutPlaceholderHoldsWhileTheStoreStillHasTheEntry(t *testing.T) {
	inner := fileStore(t)
	st := &switchStore{Store: inner}
	sc := NewCache(st, nil, Config{})
	defer sc.Destruct()
	if err := sc.Put(context.Background(), "id", liveSession("friend")); err != nil {
		t.Fatal(err)
	}
	st.down.Store(true)
	sc.Remove("id") // the deletion fails: the entry stays in the store
	st.down.Store(false)
	sc.probeStore() // the store answers again (another request's read)
	if _, err := inner.Load(context.Background(), storeKey("id")); err != nil {
		t.Fatalf("the entry is not in the store any more (%v): the test tests nothing", err)
	}
	if s, err := sc.Lookup("id", time.Now(), time.Minute); s != nil || err != nil {
		t.Fatalf("the logged-out session came back from the store before its deletion was retried: %v, %v", s, err)
	}
}

// sweepCounter counts the store sweeps asked of the store behind it.
type sweepCounter struct {
	Store
	sweeps atomic.Int32
}

func (s *sweepCounter) Sweep(ctx context.Context) error {
	s.sweeps.Add(1)
	return s.Store.Sweep(ctx)
}

// One round of the sweeper (every sweepInterval): what ran out leaves
// memory (sessions, pin claims: their tokens and ids stay no longer than
// their lifetime), a store known to be down is asked whether it is back,
// a logout's deletion the store refused is retried, and the store is swept
// once storeSweepInterval has passed, not before.
func TestSweeperRoundDropsWhatRanOutRetriesAndSweepsTheStore(t *testing.T) {
	inner := fileStore(t)
	down := &switchStore{Store: inner}
	st := &sweepCounter{Store: down}
	sc := NewCache(st, nil, Config{})
	defer sc.Destruct()
	ctx := context.Background()

	soon := liveSession("short")
	soon.Expires = time.Now().Add(50 * time.Millisecond)
	sc.PutLocal("short", soon)
	sc.PutLocal("long", liveSession("long"))
	if ok, err := sc.ClaimPin(ctx, "pin", 50*time.Millisecond); !ok || err != nil {
		t.Fatalf("ClaimPin = %v, %v", ok, err)
	}
	if err := sc.Put(ctx, "leaving", liveSession("leaving")); err != nil {
		t.Fatal(err)
	}
	sc.StoreResult(errTestStoreDown) // a call failed: the store is known down
	waitFor(t, 5*time.Second, "the short lifetimes to run out", func() bool { return time.Now().After(soon.Expires) })

	start := time.Now()
	if last := sc.sweepOnce(start, start); !last.Equal(start) {
		t.Errorf("a round before storeSweepInterval moved the last store sweep to %v", last)
	}
	if n := sc.c.ItemCount(); n != 2 { // "long" and "leaving"
		t.Errorf("memory holds %d entries after the round, want 2 (the session that ran out dropped)", n)
	}
	if n := sc.pins.ItemCount(); n != 0 {
		t.Errorf("%d pin claims that ran out are still in memory", n)
	}
	if sc.storeDown.Load() {
		t.Error("the round did not notice the store is back")
	}

	down.down.Store(true)
	sc.Remove("leaving") // refused: retried by a later round
	down.down.Store(false)
	sc.sweepOnce(start, start)
	if _, err := inner.Load(ctx, storeKey("leaving")); !errors.Is(err, ErrNotFound) {
		t.Errorf("the logout's deletion was not retried: %v", err)
	}
	if n := st.sweeps.Load(); n != 0 {
		t.Errorf("the store was swept %d times before storeSweepInterval", n)
	}

	due := start.Add(storeSweepInterval)
	if last := sc.sweepOnce(due, start); !last.Equal(due) || st.sweeps.Load() != 1 {
		t.Errorf("at storeSweepInterval: %d store sweeps, last at %v; want one, now", st.sweeps.Load(), last)
	}

	// A memory-only cache has no store to ask.
	mem := NewCache(nil, nil, Config{})
	defer mem.Destruct()
	over := liveSession("short")
	over.Expires = time.Now().Add(20 * time.Millisecond)
	mem.PutLocal("short", over)
	waitFor(t, 5*time.Second, "the short lifetime to run out", func() bool { return time.Now().After(over.Expires) })
	if last := mem.sweepOnce(due, start); !last.Equal(start) || mem.Count() != 0 {
		t.Errorf("memory only: last store sweep %v, %d entries; want %v and none", last, mem.Count(), start)
	}
}

// A copy is trusted for cache_ttl after it was read, not at cache_ttl, and
// not if it was read at or before the last sign-out seen elsewhere
// (staleBefore: "at or before").
func TestTrustEndsAtCacheTTLAndAtTheLastSignoutSeen(t *testing.T) {
	const cacheTTL = time.Minute
	sc := NewCache(fileStore(t), nil, Config{})
	defer sc.Destruct()
	s := liveSession("friend")
	if err := sc.Put(context.Background(), "id", s); err != nil {
		t.Fatal(err)
	}
	loaded := s.loadedAt.Load()
	if !sc.Trusts(s, time.Unix(0, loaded+int64(cacheTTL)-1), cacheTTL) {
		t.Error("not trusted just before cache_ttl ran out")
	}
	if sc.Trusts(s, time.Unix(0, loaded+int64(cacheTTL)), cacheTTL) {
		t.Error("trusted once cache_ttl ran out")
	}
	sc.staleBefore.Store(loaded)
	if sc.Trusts(s, time.Unix(0, loaded), cacheTTL) {
		t.Error("a copy read at the instant of the last sign-out seen is trusted")
	}
}

// FlushLocal empties memory and leaves the store as it is: what memory held
// is no longer trusted, and a lookup reads the store again.
func TestFlushLocalEmptiesMemoryAndKeepsTheStore(t *testing.T) {
	sc := NewCache(fileStore(t), nil, Config{})
	defer sc.Destruct()
	s := liveSession("friend")
	if err := sc.Put(context.Background(), "id", s); err != nil {
		t.Fatal(err)
	}
	sc.FlushLocal()
	if n := sc.Count(); n != 0 {
		t.Errorf("memory holds %d entries after FlushLocal", n)
	}
	if sc.Trusts(s, time.Now(), time.Minute) {
		t.Error("a flushed object is still trusted")
	}
	got, err := sc.Lookup("id", time.Now(), time.Minute)
	if err != nil || got == nil || got == s || got.Username != "friend" {
		t.Errorf("after FlushLocal, Lookup = %v, %v; want the session read again from the store", got, err)
	}
}

// blockingCounter is a store whose sign-out counter read holds until
// released, as a store that stopped answering does until StoreTimeout.
type blockingCounter struct {
	Store
	inside  atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (s *blockingCounter) Signouts(ctx context.Context) (string, error) {
	s.inside.Store(true)
	defer s.inside.Store(false)
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-s.release
	return "", nil
}

// Destruct waits for the cache's goroutines, as it says: once it returns,
// none of them is still inside the store, which Destruct then closes (a
// Redis store) or the caller may drop. (The 200 ms only give a Destruct
// that does not wait the time to return early; the correct one passes
// however long it takes.)
func TestDestructReturnsOnlyOnceTheGoroutinesEnded(t *testing.T) {
	st := &blockingCounter{Store: fileStore(t), entered: make(chan struct{}, 1), release: make(chan struct{})}
	sc := NewCache(st, nil, Config{})
	select {
	case <-st.entered: // the watcher's read of the counter, every second
	case <-time.After(10 * time.Second):
		t.Fatal("the watcher never read the sign-out counter")
	}
	done := make(chan bool, 1)
	go func() {
		_ = sc.Destruct()
		done <- st.inside.Load()
	}()
	select {
	case inside := <-done:
		t.Fatalf("Destruct returned while the watcher was still inside the store (inside: %v)", inside)
	case <-time.After(200 * time.Millisecond):
	}
	close(st.release)
	if inside := <-done; inside {
		t.Fatal("Destruct returned while the watcher was still inside the store")
	}
}

// Destruct closes a Redis store's connections: a reload that drops the
// cache leaves no connection open behind it.
func TestDestructClosesARedisStore(t *testing.T) {
	r := redisStoreForTest(t)
	sc := NewCache(r, nil, Config{})
	if err := r.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = sc.Destruct()
	if err := r.Ping(context.Background()); !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("after Destruct, a Redis command = %v; want the client closed", err)
	}
}

// faultyStore is a store whose calls fail one kind at a time, and that
// counts its reads of session entries; onLoad, if set, runs inside each
// read (another request acting meanwhile).
type faultyStore struct {
	Store
	failSave, failReplace, failRemove, failMarker atomic.Bool
	loads                                         atomic.Int32
	onLoad                                        func()
}

func (s *faultyStore) Load(ctx context.Context, key string) ([]byte, error) {
	s.loads.Add(1)
	if s.onLoad != nil {
		s.onLoad()
	}
	return s.Store.Load(ctx, key)
}

func (s *faultyStore) Save(ctx context.Context, key string, val []byte, exp time.Time) error {
	if s.failSave.Load() {
		return errTestStoreDown
	}
	return s.Store.Save(ctx, key, val, exp)
}

func (s *faultyStore) Replace(ctx context.Context, key string, val []byte, exp time.Time) error {
	if s.failReplace.Load() {
		return errTestStoreDown
	}
	return s.Store.Replace(ctx, key, val, exp)
}

func (s *faultyStore) Remove(ctx context.Context, key string) error {
	if s.failRemove.Load() {
		return errTestStoreDown
	}
	return s.Store.Remove(ctx, key)
}

func (s *faultyStore) LoadSignout(ctx context.Context, key string) (int64, error) {
	if s.failMarker.Load() {
		return 0, errTestStoreDown
	}
	return s.Store.LoadSignout(ctx, key)
}

// "The hot path reads only memory, except once per cache_ttl per session":
// a lookup within cache_ttl does not read the store, a session read from
// the store is then served from memory, and a cookie whose session the
// store does not have reads the store once, not on every request.
func TestLookupReadsTheStoreOncePerCacheTTL(t *testing.T) {
	const cacheTTL = time.Minute
	inner := fileStore(t)
	here := NewCache(inner, nil, Config{})
	defer here.Destruct()
	if err := here.Put(context.Background(), "id", liveSession("friend")); err != nil {
		t.Fatal(err)
	}
	st := &faultyStore{Store: inner}
	there := NewCache(st, nil, Config{}) // another instance, or after a restart
	defer there.Destruct()
	for i := range 3 {
		if s, err := there.Lookup("id", time.Now(), cacheTTL); err != nil || s == nil {
			t.Fatalf("lookup %d = %v, %v", i, s, err)
		}
	}
	if n := st.loads.Load(); n != 1 {
		t.Errorf("3 lookups within cache_ttl read the store %d times, want once", n)
	}
	for range 3 {
		if s, err := there.Lookup("stale", time.Now(), cacheTTL); err != nil || s != nil {
			t.Fatalf("a cookie of no session = %v, %v", s, err)
		}
	}
	if n := st.loads.Load(); n != 2 {
		t.Errorf("3 lookups of a session the store lacks read the store %d times in all, want once more", n-1)
	}
}

// A memory-only cache has no store to read again: past cache_ttl it
// answers from memory (and does not reach for a store it does not have).
func TestMemoryOnlyLookupPastCacheTTLAnswersFromMemory(t *testing.T) {
	sc := NewCache(nil, nil, Config{})
	defer sc.Destruct()
	s := liveSession("friend")
	sc.PutLocal("id", s)
	if got, err := sc.Lookup("id", time.Now().Add(time.Hour), time.Minute); got != s || err != nil {
		t.Fatalf("memory only, past cache_ttl: %v, %v; want the session", got, err)
	}
}

// Every store call that fails is counted (Config.StoreFailed, the root's
// store_errors metric), wherever the cache makes it; and a sign-in the
// store refused is refused, with nothing of it in memory.
func TestEveryFailedStoreCallIsCounted(t *testing.T) {
	var failed atomic.Int32
	inner := fileStore(t)
	st := &faultyStore{Store: inner}
	var ended []*Session
	sc := NewCache(st, nil, Config{
		StoreFailed:    func() { failed.Add(1) },
		EndedBySignout: func(s *Session) { ended = append(ended, s) },
	})
	defer sc.Destruct()
	ctx := context.Background()
	expect := func(what string, n int32) {
		t.Helper()
		if got := failed.Load(); got != n {
			t.Errorf("%s: %d failures counted in all, want %d", what, got, n)
		}
	}

	st.failSave.Store(true)
	if err := sc.Put(ctx, "refused", liveSession("friend")); err == nil {
		t.Error("Put succeeded though the store refused the entry")
	}
	if sc.Count() != 0 {
		t.Error("the sign-in the store refused is in memory")
	}
	expect("a save that failed", 1)
	st.failSave.Store(false)

	old := liveSession("friend")
	if err := sc.Put(ctx, "id", old); err != nil {
		t.Fatal(err)
	}
	st.failReplace.Store(true)
	fresh := liveSession("friend")
	sc.Update("id", old, fresh)
	expect("a re-check's write that failed", 2)
	if got, _ := sc.Lookup("id", time.Now(), time.Minute); got != fresh {
		t.Errorf("a re-check whose store write failed: memory holds %v, want its result", got)
	}
	st.failReplace.Store(false)

	st.failRemove.Store(true)
	sc.Remove("id")
	expect("a logout's deletion that failed", 3)
	sc.retryRemovals()
	expect("its retry, failing again", 4)
	st.failRemove.Store(false)
	sc.retryRemovals()

	// A session read from the store whose account's marker cannot be read.
	other := NewCache(inner, nil, Config{})
	defer other.Destruct()
	if err := other.Put(ctx, "elsewhere", liveSession("friend")); err != nil {
		t.Fatal(err)
	}
	st.failMarker.Store(true)
	if s, err := sc.Lookup("elsewhere", time.Now(), time.Minute); s != nil || err == nil {
		t.Errorf("a session whose marker could not be read = %v, %v; want the failure", s, err)
	}
	expect("a marker read that failed", 5)
	st.failMarker.Store(false)

	// A session the account's sign-out ended, whose entry cannot be
	// removed: counted, and handed to EndedBySignout all the same. (The
	// instance signing the account out no longer holds the session, so
	// the entry stays for the reader to find ended.)
	other.FlushLocal()
	if _, err := other.EndAccount(ctx, 1003, time.Now()); err != nil {
		t.Fatal(err)
	}
	st.failRemove.Store(true)
	if s, err := sc.Lookup("elsewhere", time.Now(), time.Minute); s != nil || err != nil {
		t.Errorf("a session ended by its account's sign-out = %v, %v; want none", s, err)
	}
	expect("the removal of an ended entry that failed", 6)
	if len(ended) != 1 || ended[0].Username != "friend" {
		t.Errorf("EndedBySignout got %v, want the ended session", ended)
	}
}

// A re-check's result replaces the session it re-checked, in memory and
// in the store; a result for a session replaced meanwhile (another
// re-check finished first) or ended meanwhile is dropped, in both.
func TestUpdateKeepsTheLatestRecheckAndDropsAStaleOne(t *testing.T) {
	const cacheTTL = time.Minute
	named := func(title string) *Session { s := liveSession("friend"); s.Title = title; return s }
	mem := NewCache(nil, nil, Config{})
	defer mem.Destruct()
	a, b := named("a"), named("b")
	mem.PutLocal("id", a)
	mem.Update("id", a, b)
	if got, _ := mem.Lookup("id", time.Now(), cacheTTL); got != b {
		t.Fatalf("after a re-check, memory holds %v, want its result", got)
	}
	mem.Update("id", a, named("stale"))
	if got, _ := mem.Lookup("id", time.Now(), cacheTTL); got != b {
		t.Errorf("a stale re-check replaced the newer result: %v", got)
	}
	mem.Remove("id")
	mem.Update("id", b, named("after logout"))
	if got, _ := mem.Lookup("id", time.Now(), cacheTTL); got != nil {
		t.Errorf("a re-check brought back a session logged out meanwhile: %v", got)
	}

	inner := fileStore(t)
	sc := NewCache(inner, nil, Config{})
	defer sc.Destruct()
	a, b = named("a"), named("b")
	if err := sc.Put(context.Background(), "id", a); err != nil {
		t.Fatal(err)
	}
	sc.Update("id", a, b)
	sc.Update("id", a, named("stale"))
	raw, err := inner.Load(context.Background(), storeKey("id"))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := openEntry("id", raw); err != nil || s.Title != "b" {
		t.Errorf("the store holds %v, %v; want the newer re-check (b)", s, err)
	}
}

// A session memory dropped while its store read ran (expired, flushed) is
// not brought back by the read: memory stays empty, the next request reads
// the store again.
func TestStoreReadLeavesMemoryEmptyWhenItWasEmptiedMeanwhile(t *testing.T) {
	inner := fileStore(t)
	st := &faultyStore{Store: inner}
	sc := NewCache(st, nil, Config{})
	defer sc.Destruct()
	if err := sc.Put(context.Background(), "id", liveSession("friend")); err != nil {
		t.Fatal(err)
	}
	st.onLoad = sc.FlushLocal
	if s, err := sc.Lookup("id", time.Now().Add(time.Hour-time.Second), time.Minute); s != nil || err != nil {
		t.Errorf("Lookup = %v, %v; want nothing (memory was emptied during the read)", s, err)
	}
	if n := sc.Count(); n != 0 {
		t.Errorf("memory holds %d entries, want none", n)
	}
}

// A session read from the store is prepared as one put in memory is: the
// folded names allow_users compares and the boxed placeholder values.
func TestSessionReadFromTheStoreIsPrepared(t *testing.T) {
	inner := fileStore(t)
	here := NewCache(inner, nil, Config{})
	defer here.Destruct()
	s := liveSession("Friend")
	s.Email = "Friend@Example.com"
	if err := here.Put(context.Background(), "id", s); err != nil {
		t.Fatal(err)
	}
	there := NewCache(inner, nil, Config{})
	defer there.Destruct()
	got, err := there.Lookup("id", time.Now(), time.Minute)
	if err != nil || got == nil {
		t.Fatalf("Lookup = %v, %v", got, err)
	}
	if got.FoldedUsername() != "friend" || got.FoldedEmail() != "friend@example.com" || got.Boxed.Username != "Friend" {
		t.Errorf("read from the store unprepared: folded %q, %q, boxed %v", got.FoldedUsername(), got.FoldedEmail(), got.Boxed.Username)
	}
}

// The sweeper runs its round every sweepInterval (10 s; TestSweeperRound...
// tests the round itself): a session that ran out leaves memory without any
// request for it. Parallel, as the conformance suite is, so the wait for
// the first round overlaps theirs.
func TestSweeperRunsItsRoundEverySweepInterval(t *testing.T) {
	t.Parallel()
	sc := NewCache(nil, nil, Config{})
	defer sc.Destruct()
	s := liveSession("short")
	s.Expires = time.Now().Add(20 * time.Millisecond)
	sc.PutLocal("short", s)
	waitFor(t, 3*sweepInterval, "the sweeper to drop the session that ran out", func() bool { return sc.Count() == 0 })
}
