package session

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// Store-level tests of what the README's "Sessions that hold" and "Running
// several Caddy instances" promise, each in milliseconds, beside the
// process tests that check the same through a Caddy binary.

var errTestStoreDown = errors.New("test store: connection refused")

// switchStore is a session store that can be turned off: while down, every
// call fails as an unreachable store does, and nothing reaches the store
// behind it.
type switchStore struct {
	Store
	down atomic.Bool
}

func (s *switchStore) Load(ctx context.Context, key string) ([]byte, error) {
	if s.down.Load() {
		return nil, errTestStoreDown
	}
	return s.Store.Load(ctx, key)
}

func (s *switchStore) Save(ctx context.Context, key string, val []byte, expires time.Time) error {
	if s.down.Load() {
		return errTestStoreDown
	}
	return s.Store.Save(ctx, key, val, expires)
}

func (s *switchStore) Replace(ctx context.Context, key string, val []byte, expires time.Time) error {
	if s.down.Load() {
		return errTestStoreDown
	}
	return s.Store.Replace(ctx, key, val, expires)
}

func (s *switchStore) Remove(ctx context.Context, key string) error {
	if s.down.Load() {
		return errTestStoreDown
	}
	return s.Store.Remove(ctx, key)
}

func (s *switchStore) SaveSignout(ctx context.Context, key string, mark int64, ttl time.Duration) error {
	if s.down.Load() {
		return errTestStoreDown
	}
	return s.Store.SaveSignout(ctx, key, mark, ttl)
}

func (s *switchStore) LoadSignout(ctx context.Context, key string) (int64, error) {
	if s.down.Load() {
		return 0, errTestStoreDown
	}
	return s.Store.LoadSignout(ctx, key)
}

func (s *switchStore) BumpSignouts(ctx context.Context) error {
	if s.down.Load() {
		return errTestStoreDown
	}
	return s.Store.BumpSignouts(ctx)
}

func (s *switchStore) Signouts(ctx context.Context) (string, error) {
	if s.down.Load() {
		return "", errTestStoreDown
	}
	return s.Store.Signouts(ctx)
}

func (s *switchStore) ClaimPin(ctx context.Context, key string, expires time.Time) (bool, error) {
	if s.down.Load() {
		return false, errTestStoreDown
	}
	return s.Store.ClaimPin(ctx, key, expires)
}

func (s *switchStore) UnclaimPin(ctx context.Context, key string) error {
	if s.down.Load() {
		return errTestStoreDown
	}
	return s.Store.UnclaimPin(ctx, key)
}

func fileStore(t *testing.T) *CaddyStore {
	return &CaddyStore{st: &certmagic.FileStorage{Path: t.TempDir()}}
}

func redisStoreForTest(t *testing.T) *RedisStore {
	t.Helper()
	r, err := NewRedisStore("redis://"+startRedis(t)+"/0", StoreTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func liveSession(name string) *Session {
	now := time.Now()
	return &Session{UserID: 1003, Username: name, Token: "token-of-" + name, Created: now, Checked: now, Expires: now.Add(time.Hour)}
}

// "A restart keeps everyone signed in": a new cache over the same storage
// (a new process) finds the session a sign-in wrote.
func TestSessionWrittenAtSignInIsFoundAfterARestart(t *testing.T) {
	st := &certmagic.FileStorage{Path: t.TempDir()}
	before := NewCache(&CaddyStore{st: st}, nil, Config{})
	if err := before.Put(context.Background(), "id", liveSession("friend")); err != nil {
		t.Fatal(err)
	}
	before.Destruct()

	after := NewCache(&CaddyStore{st: st}, nil, Config{})
	defer after.Destruct()
	s, err := after.Lookup("id", time.Now(), time.Minute)
	if err != nil || s == nil {
		t.Fatalf("after a restart the session is gone: %v, %v", s, err)
	}
	if s.Username != "friend" || s.Token != "token-of-friend" {
		t.Fatalf("after a restart the session reads %q/%q", s.Username, s.Token)
	}
}

// "Entries expire with the session": an entry whose session is over is
// not read back, even before a sweep removes it; in Redis it carries the
// session's remaining lifetime as its TTL.
func TestStoredEntriesExpireWithTheirSession(t *testing.T) {
	t.Run("caddy storage, before the sweep", func(t *testing.T) {
		st := fileStore(t)
		s := liveSession("friend")
		s.Expires = time.Now().Add(-time.Second)
		b, err := sealEntry("id", s)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Save(context.Background(), storeKey("id"), b, s.Expires); err != nil {
			t.Fatal(err)
		}
		if _, err := openEntry("id", b); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an entry past its session's expiry opened: %v", err)
		}
		sc := NewCache(st, nil, Config{})
		defer sc.Destruct()
		if got, _ := sc.Lookup("id", time.Now(), time.Minute); got != nil {
			t.Fatal("a session past its expiry was read back from the store")
		}
	})
	t.Run("redis TTL", func(t *testing.T) {
		r := redisStoreForTest(t)
		addr := r.addr
		sc := NewCache(r, nil, Config{})
		defer sc.Destruct()
		s := liveSession("friend")
		s.Expires = time.Now().Add(10 * time.Minute)
		if err := sc.Put(context.Background(), "id", s); err != nil {
			t.Fatal(err)
		}
		if ttl := redisTTL(t, addr, redisKeyPrefix+storeKey("id")); ttl <= 0 || ttl > 600 {
			t.Fatalf("session entry TTL %d s, want about 600", ttl)
		}
		// A re-check's write keeps the TTL too.
		sc.Update("id", s, liveSessionUntil("friend", s.Expires))
		if ttl := redisTTL(t, addr, redisKeyPrefix+storeKey("id")); ttl <= 0 || ttl > 600 {
			t.Fatalf("after a re-check the entry TTL is %d s, want about 600", ttl)
		}
	})
}

func liveSessionUntil(name string, expires time.Time) *Session {
	s := liveSession(name)
	s.Expires = expires
	return s
}

// The conditional write a re-check makes ("SET … XX", and under the lock
// in Caddy storage): it writes an entry that is still there, and refuses
// to bring back one that is not.
func TestReplaceWritesOnlyAnEntryThatIsStillThere(t *testing.T) {
	for _, c := range []struct {
		name  string
		store func(t *testing.T) Store
	}{
		{"caddy storage", func(t *testing.T) Store { return fileStore(t) }},
		{"redis", func(t *testing.T) Store { return redisStoreForTest(t) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := c.store(t)
			ctx := context.Background()
			exp := time.Now().Add(time.Hour)
			if err := st.Replace(ctx, "k", []byte("new entry"), exp); !errors.Is(err, ErrNotFound) {
				t.Fatalf("replace of a missing entry = %v, want ErrNotFound", err)
			}
			if _, err := st.Load(ctx, "k"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("replace of a missing entry wrote it: %v", err)
			}
			if err := st.Save(ctx, "k", []byte("old entry"), exp); err != nil {
				t.Fatal(err)
			}
			if err := st.Replace(ctx, "k", []byte("new entry"), exp); err != nil {
				t.Fatalf("replace of an entry that is there = %v", err)
			}
			if b, err := st.Load(ctx, "k"); err != nil || string(b) != "new entry" {
				t.Fatalf("after replace the entry reads %q, %v", b, err)
			}
		})
	}
}

// "A sign-in on one instance works on all; a session ended on one
// instance stops working on every other within cache_ttl."
func TestSessionsAreSharedAndEndOnEveryInstanceWithinCacheTTL(t *testing.T) {
	const cacheTTL = time.Minute
	for _, c := range []struct {
		name  string
		store func(t *testing.T) (Store, Store)
	}{
		{"caddy storage", func(t *testing.T) (Store, Store) {
			st := &certmagic.FileStorage{Path: t.TempDir()}
			return &CaddyStore{st: st}, &CaddyStore{st: st}
		}},
		{"redis", func(t *testing.T) (Store, Store) {
			r := redisStoreForTest(t)
			r2, err := NewRedisStore("redis://"+r.addr+"/0", StoreTimeout)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r2.Close() })
			return r, r2
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			sa, sb := c.store(t)
			a, b := NewCache(sa, nil, Config{}), NewCache(sb, nil, Config{})
			defer a.Destruct()
			defer b.Destruct()
			if err := a.Put(context.Background(), "id", liveSession("friend")); err != nil {
				t.Fatal(err)
			}
			if s, err := b.Lookup("id", time.Now(), cacheTTL); s == nil || s.Username != "friend" {
				t.Fatalf("a sign-in on instance A is unknown to instance B: %v, %v", s, err)
			}
			a.Remove("id")
			if s, _ := a.Lookup("id", time.Now(), cacheTTL); s != nil {
				t.Fatal("the instance that logged out still admits the session")
			}
			if s, _ := b.Lookup("id", time.Now().Add(cacheTTL), cacheTTL); s != nil {
				t.Fatal("cache_ttl after a logout on A, instance B still admits the session")
			}
		})
	}
}

// "If the store is unreachable, sessions already in memory keep working;
// new sign-ins get a clear 503 (nothing half-made is left behind)."
func TestStoreOutageKeepsSessionsInMemoryAndMakesNoHalfSignIns(t *testing.T) {
	st := &switchStore{Store: fileStore(t)}
	sc := NewCache(st, nil, Config{})
	defer sc.Destruct()
	s := liveSession("friend")
	if err := sc.Put(context.Background(), "id", s); err != nil {
		t.Fatal(err)
	}
	st.down.Store(true)
	// Past cache_ttl the store would be read: it fails, memory is trusted.
	for _, later := range []time.Duration{2 * time.Minute, 3 * time.Minute} {
		if got, err := sc.Lookup("id", time.Now().Add(later), time.Minute); got != s || err != nil {
			t.Fatalf("store down: the signed-in session reads %v, %v", got, err)
		}
	}
	if err := sc.Put(context.Background(), "new", liveSession("homie")); err == nil {
		t.Fatal("a sign-in succeeded while the store was down: other instances and a restart would lose it")
	}
	if _, ok := sc.c.Get("new"); ok {
		t.Fatal("a sign-in the store refused was left in memory")
	}
	st.down.Store(false)
	if _, err := st.Load(context.Background(), storeKey("new")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a sign-in the store refused is in the store: %v", err)
	}
}

// "The outage is logged when it starts and when it ends, not per request",
// and the probe notices the store's return.
func TestStoreOutageIsLoggedOnceWhenItStartsAndOnceWhenItEnds(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	st := &switchStore{Store: fileStore(t)}
	sc := NewCache(st, zap.New(core), Config{})
	defer sc.Destruct()
	if err := sc.Put(context.Background(), "id", liveSession("friend")); err != nil {
		t.Fatal(err)
	}
	st.down.Store(true)
	for i := range 5 {
		_, _ = sc.Lookup("id", time.Now().Add(time.Duration(i+2)*time.Minute), time.Minute)
		_ = sc.Put(context.Background(), "other", liveSession("homie"))
	}
	sc.probeStore()
	if n := logs.FilterMessageSnippet("session store unreachable").Len(); n != 1 {
		t.Fatalf("the store outage was logged %d times, want once", n)
	}
	if !sc.storeDown.Load() {
		t.Fatal("the cache does not know the store is down")
	}
	st.down.Store(false)
	sc.probeStore()
	if sc.storeDown.Load() {
		t.Fatal("the probe did not notice the store is back")
	}
	_, _ = sc.Lookup("id", time.Now().Add(10*time.Minute), time.Minute)
	if n := logs.FilterMessageSnippet("session store reachable again").Len(); n != 1 {
		t.Fatalf("the store's return was logged %d times, want once", n)
	}
}

// "A logout whose store deletion fails is retried until it succeeds",
// and the session is refused here meanwhile.
func TestLogoutWhoseStoreDeletionFailsIsRetried(t *testing.T) {
	inner := fileStore(t)
	st := &switchStore{Store: inner}
	sc := NewCache(st, nil, Config{})
	defer sc.Destruct()
	if err := sc.Put(context.Background(), "id", liveSession("friend")); err != nil {
		t.Fatal(err)
	}
	st.down.Store(true)
	sc.Remove("id")
	if s, _ := sc.Lookup("id", time.Now().Add(time.Hour-time.Second), time.Minute); s != nil {
		t.Fatal("a session logged out while the store was down is still admitted here")
	}
	sc.retryRemovals() // still down: stays pending
	if _, err := inner.Load(context.Background(), storeKey("id")); err != nil {
		t.Fatalf("the test store deleted while down: %v", err)
	}
	st.down.Store(false)
	sc.retryRemovals()
	if _, err := inner.Load(context.Background(), storeKey("id")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the logged-out session is still in the store after the store came back: %v", err)
	}
	// Another instance reading the store now finds nothing.
	other := NewCache(inner, nil, Config{})
	defer other.Destruct()
	if s, _ := other.Lookup("id", time.Now(), time.Minute); s != nil {
		t.Fatal("another instance admits the logged-out session")
	}
}

// "Removing the directive in a reload stops every goroutine the module
// started": the last handler's Cleanup destructs the pooled cache, whose
// sweeper and sign-out watcher then end (Destruct waits for them).
func TestDestructStopsTheCachesGoroutines(t *testing.T) {
	sc := NewCache(fileStore(t), nil, Config{})
	done := make(chan struct{})
	go func() { sc.Destruct(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Destruct did not return: a goroutine of the cache did not stop")
	}
	select {
	case <-sc.stop:
	default:
		t.Fatal("Destruct left the stop channel open")
	}
}
