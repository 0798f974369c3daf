package session

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

// hangingStore is a session store that answers saves and, once hang is
// set, holds every load of a session until released (as a store that
// accepts connections and never answers does, until StoreTimeout).
type hangingStore struct {
	entries map[string][]byte
	hang    atomic.Bool
	waiting atomic.Int32 // loads of a session held so far
	release chan struct{}
}

func (s *hangingStore) Load(ctx context.Context, key string) ([]byte, error) {
	if s.hang.Load() {
		if key == storeKey("plex_auth store probe") {
			return nil, context.DeadlineExceeded // the sweeper's probe: still down
		}
		s.waiting.Add(1)
		select {
		case <-s.release:
		case <-ctx.Done():
		}
		return nil, context.DeadlineExceeded
	}
	if b, ok := s.entries[key]; ok {
		return b, nil
	}
	return nil, ErrNotFound
}

func (s *hangingStore) Save(_ context.Context, key string, val []byte, _ time.Time) error {
	s.entries[key] = val
	return nil
}

func (s *hangingStore) Replace(ctx context.Context, key string, val []byte, exp time.Time) error {
	return s.Save(ctx, key, val, exp)
}

func (s *hangingStore) Remove(context.Context, string) error { return nil }

func (s *hangingStore) Sweep(context.Context) error { return nil }

func (s *hangingStore) Describe() string { return "hanging test store" }

// It keeps no sign-out markers and grants every pin claim, without hanging.
func (s *hangingStore) SaveSignout(context.Context, string, int64, time.Duration) error { return nil }

func (s *hangingStore) LoadSignout(context.Context, string) (int64, error) { return 0, nil }

func (s *hangingStore) BumpSignouts(context.Context) error { return nil }

func (s *hangingStore) Signouts(context.Context) (string, error) { return "", nil }

func (s *hangingStore) ClaimPin(context.Context, string, time.Time) (bool, error) { return true, nil }

func (s *hangingStore) UnclaimPin(context.Context, string) error { return nil }

func TestHangingStoreHoldsOneLookupNotEveryOnePastCacheTTL(t *testing.T) {
	st := &hangingStore{entries: map[string][]byte{}, release: make(chan struct{})}
	sc := NewCache(st, nil, Config{})
	defer sc.Destruct()
	defer close(st.release)
	now := time.Now()
	ids := []string{"session-a", "session-b", "session-c"}
	for i, id := range ids {
		s := &Session{UserID: int64(100 + i), Username: id, Created: now, Checked: now, Expires: now.Add(time.Hour)}
		if err := sc.Put(context.Background(), id, s); err != nil {
			t.Fatal(err)
		}
	}
	const cacheTTL = time.Minute
	later := now.Add(2 * cacheTTL)
	st.hang.Store(true)

	// The first lookup past cache_ttl waits on the store, and learns it is
	// down when the wait ends (here: released, as StoreTimeout would).
	first := make(chan *Session)
	go func() {
		s, _ := sc.Lookup(ids[0], later, cacheTTL)
		first <- s
	}()
	waitFor(t, 10*time.Second, "the first lookup to ask the store", func() bool { return st.waiting.Load() == 1 })
	st.release <- struct{}{}
	if s := <-first; s == nil || s.Username != ids[0] {
		t.Fatalf("a session in memory was lost while the store hung: %v", s)
	}
	// Every later lookup past cache_ttl trusts memory at once.
	for _, id := range ids {
		done := make(chan *Session, 1)
		go func() {
			s, _ := sc.Lookup(id, later.Add(cacheTTL), cacheTTL)
			done <- s
		}()
		for {
			select {
			case s := <-done:
				if s == nil || s.Username != id {
					t.Fatalf("%s: got %v from memory while the store is down", id, s)
				}
			default:
				if n := st.waiting.Load(); n > 1 {
					t.Fatalf("%s: the lookup waits on a store known to be down (%d loads held)", id, n)
				}
				time.Sleep(time.Millisecond)
				continue
			}
			break
		}
	}
}

var _ Store = (*hangingStore)(nil)

// TestSessionsGaugeCountsLiveSessionsOnly puts a live session, one past
// its expiry and a placeholder for a session the store lacks in a cache:
// only the live one is a session in memory.
func TestSessionsGaugeCountsLiveSessionsOnly(t *testing.T) {
	sc := NewCache(nil, zap.NewNop(), Config{})
	defer sc.Destruct()
	now := time.Now()
	sc.PutLocal("live", &Session{UserID: 1, Expires: now.Add(time.Hour)})
	sc.PutLocal("over", &Session{UserID: 2, Expires: now.Add(-time.Second)}) // not yet swept
	sc.setGone("gone", time.Hour)
	if n := sc.LiveCount(); n != 1 {
		t.Fatalf("liveCount = %d, want 1 (cache holds %d entries)", n, sc.Count())
	}
}

// Every object a Cache hands out carries the id it holds it under: the
// one put, the copy read back from the store, and the one an Update put
// in place (appsignin.Block.Serve reads it there, also for a session an
// earlier plex_auth handler admitted).
func TestEveryObjectTheCacheHandsOutCarriesItsID(t *testing.T) {
	st := &hangingStore{entries: map[string][]byte{}, release: make(chan struct{})}
	sc := NewCache(st, nil, Config{})
	defer sc.Destruct()
	now := time.Now()
	put := &Session{UserID: 7, Username: "viewer", Created: now, Checked: now, Expires: now.Add(time.Hour)}
	if put.ID() != "" {
		t.Fatalf("a session no cache holds has id %q", put.ID())
	}
	if err := sc.Put(context.Background(), "session-a", put); err != nil {
		t.Fatal(err)
	}
	if got, _ := sc.Lookup("session-a", now, time.Minute); got != put || got.ID() != "session-a" {
		t.Fatalf("from memory: %p with id %q, want %p with id session-a", got, got.ID(), put)
	}
	sc.FlushLocal()
	read, _ := sc.Lookup("session-a", now, time.Minute)
	if read == nil || read == put || read.ID() != "session-a" {
		t.Fatalf("read back from the store: %v with id %q, want a new object with id session-a", read, read.ID())
	}
	fresh := &Session{UserID: 7, Username: "viewer", Created: now, Checked: now, Expires: now.Add(time.Hour)}
	sc.Update("session-a", read, fresh)
	if got, _ := sc.Lookup("session-a", now, time.Minute); got != fresh || got.ID() != "session-a" {
		t.Fatalf("after Update: %p with id %q, want %p with id session-a", got, got.ID(), fresh)
	}
	other := &Session{UserID: 8, Username: "other", Created: now, Checked: now, Expires: now.Add(time.Hour)}
	sc.PutLocal("session-b", other)
	if other.ID() != "session-b" || fresh.ID() != "session-a" {
		t.Fatalf("ids %q and %q, want session-b and session-a", other.ID(), fresh.ID())
	}
}
