package session

// Unit tests of what "Running several Caddy instances" promises while the
// store is unreachable, in milliseconds (the process test with a stopped
// Redis, TestProcessRedisOutageKeepsSignedInUsersAndRefusesNewSignInsCleanly,
// checks the same through Caddy).

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// failingStore is a session store in memory that refuses every call while
// down is set, as an unreachable store does.
type failingStore struct {
	mu      sync.Mutex
	entries map[string][]byte
	down    atomic.Bool
}

var errStoreDown = errors.New("dial tcp 127.0.0.1:1: connection refused")

func (s *failingStore) call() error {
	if s.down.Load() {
		return errStoreDown
	}
	return nil
}

func (s *failingStore) Load(_ context.Context, key string) ([]byte, error) {
	if err := s.call(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.entries[key]; ok {
		return b, nil
	}
	return nil, ErrNotFound
}

func (s *failingStore) Save(_ context.Context, key string, val []byte, _ time.Time) error {
	if err := s.call(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries[key] = val
	return nil
}

func (s *failingStore) Replace(ctx context.Context, key string, val []byte, exp time.Time) error {
	if _, err := s.Load(ctx, key); err != nil {
		return err
	}
	return s.Save(ctx, key, val, exp)
}

func (s *failingStore) Remove(_ context.Context, key string) error {
	if err := s.call(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.entries, key)
	return nil
}

func (s *failingStore) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.entries[storeKey(id)]
	return ok
}

func (s *failingStore) Sweep(context.Context) error { return s.call() }
func (s *failingStore) Describe() string            { return "failing test store" }

// It keeps no sign-out markers and grants every pin claim, and refuses
// those calls too while down.
func (s *failingStore) SaveSignout(context.Context, string, int64, time.Duration) error {
	return s.call()
}
func (s *failingStore) LoadSignout(context.Context, string) (int64, error) { return 0, s.call() }
func (s *failingStore) BumpSignouts(context.Context) error                 { return s.call() }
func (s *failingStore) Signouts(context.Context) (string, error)           { return "", s.call() }
func (s *failingStore) ClaimPin(context.Context, string, time.Time) (bool, error) {
	return true, s.call()
}
func (s *failingStore) UnclaimPin(context.Context, string) error { return s.call() }

func outageSession(name string) *Session {
	now := time.Now()
	return &Session{UserID: 4242, Username: name, Created: now, Checked: now, Expires: now.Add(time.Hour)}
}

func TestStoreOutageKeepsSessionsInMemoryRefusesNewOnesAndIsLoggedOnce(t *testing.T) {
	st := &failingStore{entries: map[string][]byte{}}
	core, logs := observer.New(zap.InfoLevel)
	sc := NewCache(st, zap.New(core), Config{})
	defer sc.Destruct()
	if err := sc.Put(context.Background(), "signed-in", outageSession("kept")); err != nil {
		t.Fatal(err)
	}

	st.down.Store(true)
	const cacheTTL = time.Minute
	for i := range 5 {
		at := time.Now().Add(time.Duration(i+2) * cacheTTL)
		if s, err := sc.Lookup("signed-in", at, cacheTTL); err != nil || s == nil || s.Username != "kept" {
			t.Fatalf("lookup %d past cache_ttl with the store down: %v, %v; want the session from memory", i, s, err)
		}
	}
	if err := sc.Put(context.Background(), "new", outageSession("new")); err == nil {
		t.Fatal("a new session was made while the store is down: other instances and a restart would lose it")
	}
	if s, _ := sc.Lookup("new", time.Now(), cacheTTL); s != nil {
		t.Fatal("the sign-in the store refused is in memory all the same")
	}
	if _, err := sc.Lookup("never-seen", time.Now(), cacheTTL); err == nil {
		t.Fatal("a session memory does not hold was answered as absent while the store could not be asked")
	}

	st.down.Store(false)
	sc.probeStore()
	if s, err := sc.Lookup("signed-in", time.Now().Add(10*cacheTTL), cacheTTL); err != nil || s == nil {
		t.Fatalf("after the store came back: %v, %v", s, err)
	}
	var down, back int
	for _, e := range logs.All() {
		switch {
		case strings.Contains(e.Message, "session store unreachable"):
			down++
		case strings.Contains(e.Message, "session store reachable again"):
			back++
		}
	}
	if down != 1 || back != 1 {
		t.Fatalf("the outage was logged %d times as starting and %d as ending, want once each: %v", down, back, logs.All())
	}
}

func TestLogoutWhoseStoreDeletionFailsIsRetriedUntilItSucceeds(t *testing.T) {
	st := &failingStore{entries: map[string][]byte{}}
	here := NewCache(st, nil, Config{})
	defer here.Destruct()
	there := NewCache(st, nil, Config{}) // another instance on the same store
	defer there.Destruct()
	if err := here.Put(context.Background(), "leaving", outageSession("leaving")); err != nil {
		t.Fatal(err)
	}

	st.down.Store(true)
	here.Remove("leaving")
	if s, _ := here.Lookup("leaving", time.Now().Add(time.Hour), time.Minute); s != nil {
		t.Fatal("the logged-out session still works here while the store is down")
	}
	here.retryRemovals() // the sweeper's retry, still failing
	if !st.has("leaving") {
		t.Fatal("the entry went while the store was down?")
	}

	st.down.Store(false)
	here.retryRemovals()
	if st.has("leaving") {
		t.Fatal("the logout's deletion was not retried once the store answered")
	}
	if s, err := there.Lookup("leaving", time.Now(), time.Minute); s != nil || err != nil {
		t.Fatalf("another instance still finds the logged-out session: %v, %v", s, err)
	}
	here.mu.Lock()
	left := len(here.pendingRemoval)
	here.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d deletions still pending after they succeeded", left)
	}
}
