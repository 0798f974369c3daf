package session

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

func TestStoredEntryIsUselessWithoutTheSessionID(t *testing.T) {
	s := &Session{UserID: 42, Username: "alice", Email: "alice@example.com", Token: "plex-token-secret-value", Expires: time.Now().Add(time.Hour)}
	b, err := sealEntry("session-id-1", s)
	if err != nil {
		t.Fatal(err)
	}
	for _, clear := range []string{"plex-token-secret-value", "alice", "session-id-1"} {
		if bytes.Contains(b, []byte(clear)) {
			t.Fatalf("sealed entry shows %q", clear)
		}
	}
	if _, err := openEntry("session-id-2", b); err == nil {
		t.Fatal("an entry opened under another session id")
	}
	got, err := openEntry("session-id-1", b)
	if err != nil || got.Token != s.Token || got.Username != "alice" {
		t.Fatalf("openEntry = %+v, %v", got, err)
	}
	if storeKey("session-id-1") == storeKey("session-id-2") || bytes.Contains([]byte(storeKey("session-id-1")), []byte("session-id-1")) {
		t.Fatal("store key must be a hash of the id")
	}
}

func TestCaddyStoreSweepDropsOnlyExpiredEntries(t *testing.T) {
	ctx := context.Background()
	st := &CaddyStore{st: &certmagic.FileStorage{Path: t.TempDir()}}
	live := &Session{Username: "live", Expires: time.Now().Add(time.Hour)}
	dead := &Session{Username: "dead", Expires: time.Now().Add(-time.Minute)}
	for id, s := range map[string]*Session{"live": live, "dead": dead} {
		b, err := sealEntry(id, s)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Save(ctx, storeKey(id), b, s.Expires); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(ctx, storeKey("dead")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired entry survived the sweep: %v", err)
	}
	if _, err := st.Load(ctx, storeKey("live")); err != nil {
		t.Fatalf("live entry swept: %v", err)
	}
}

func TestRecheckNeverResurrectsASessionEndedOnAnotherInstance(t *testing.T) {
	st := &certmagic.FileStorage{Path: t.TempDir()}
	a := NewCache(&CaddyStore{st: st}, nil, Config{})
	b := NewCache(&CaddyStore{st: st}, nil, Config{})
	defer a.Destruct()
	defer b.Destruct()
	now := time.Now()
	old := &Session{Username: "friend", Created: now, Checked: now, Expires: now.Add(time.Hour)}
	if err := a.Put(context.Background(), "id", old); err != nil {
		t.Fatal(err)
	}
	b.Remove("id") // logout on the other instance while A re-checks
	fresh := &Session{Username: "friend", Created: now, Checked: time.Now(), Expires: now.Add(time.Hour)}
	a.Update("id", old, fresh)
	if s, _ := a.Lookup("id", time.Now(), time.Hour); s != nil {
		t.Fatal("the re-check brought the session back in memory")
	}
	if _, err := a.store.Load(context.Background(), storeKey("id")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the re-check wrote the ended session back to the store: %v", err)
	}
}

// hookStorage is a Caddy storage that runs onLoad, once, right after the
// next Load of path. It reports every Lock name on locks before the lock is
// asked for, and knows which locks it holds.
type hookStorage struct {
	certmagic.Storage
	mu     sync.Mutex
	path   string
	onLoad func()
	locks  chan string
	held   map[string]bool
}

func (h *hookStorage) Load(ctx context.Context, key string) ([]byte, error) {
	b, err := h.Storage.Load(ctx, key)
	h.mu.Lock()
	f := h.onLoad
	if key == h.path {
		h.onLoad = nil
	}
	h.mu.Unlock()
	if f != nil && key == h.path {
		f()
	}
	return b, err
}

func (h *hookStorage) Lock(ctx context.Context, name string) error {
	select {
	case h.locks <- name:
	default:
	}
	err := h.Storage.Lock(ctx, name)
	if err == nil {
		h.mu.Lock()
		h.held[name] = true
		h.mu.Unlock()
	}
	return err
}

func (h *hookStorage) Unlock(ctx context.Context, name string) error {
	h.mu.Lock()
	delete(h.held, name)
	h.mu.Unlock()
	return h.Storage.Unlock(ctx, name)
}

func (h *hookStorage) holdsAny() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.held) > 0
}

func TestRecheckWriteNeverResurrectsALogoutBetweenItsReadAndWrite(t *testing.T) {
	fs := &certmagic.FileStorage{Path: t.TempDir()}
	as := &hookStorage{Storage: fs, locks: make(chan string, 16), held: map[string]bool{}}
	bs := &hookStorage{Storage: fs, locks: make(chan string, 16), held: map[string]bool{}}
	a := NewCache(&CaddyStore{st: as}, nil, Config{})
	b := NewCache(&CaddyStore{st: bs}, nil, Config{})
	defer a.Destruct()
	defer b.Destruct()
	now := time.Now()
	old := &Session{Username: "friend", Created: now, Checked: now, Expires: now.Add(time.Hour)}
	if err := a.Put(context.Background(), "id", old); err != nil {
		t.Fatal(err)
	}

	// Instance B logs the session out after A's re-check read the store,
	// before A writes. Unless A holds a lock that makes the logout wait,
	// the logout lands right there.
	loggedOut := make(chan struct{})
	as.mu.Lock()
	as.path = (&CaddyStore{}).path(storeKey("id"))
	as.onLoad = func() {
		go func() { b.Remove("id"); close(loggedOut) }()
		if as.holdsAny() {
			<-bs.locks // the logout asks for the lock and waits
			return
		}
		<-loggedOut
	}
	as.mu.Unlock()

	a.Update("id", old, &Session{Username: "friend", Created: now, Checked: time.Now(), Expires: now.Add(time.Hour)})
	<-loggedOut
	if as.onLoad != nil {
		t.Fatal("the re-check never read the session from the store; the test injected nothing")
	}
	if _, err := fs.Load(context.Background(), as.path); err == nil {
		t.Fatal("the re-check wrote back a session logged out on another instance")
	}
	if s, _ := a.Lookup("id", time.Now(), 0); s != nil {
		t.Fatal("the instance that re-checked still admits the logged-out session")
	}
}

// hookStore runs before, once, when a re-check next reads (load) or
// conditionally writes (replace) the store.
type hookStore struct {
	Store
	mu     sync.Mutex
	before func()
}

func (h *hookStore) fire() {
	h.mu.Lock()
	f := h.before
	h.before = nil
	h.mu.Unlock()
	if f != nil {
		f()
	}
}

func (h *hookStore) Load(ctx context.Context, key string) ([]byte, error) {
	b, err := h.Store.Load(ctx, key)
	h.fire()
	return b, err
}

func (h *hookStore) Replace(ctx context.Context, key string, val []byte, expires time.Time) error {
	h.fire()
	return h.Store.Replace(ctx, key, val, expires)
}

func TestRecheckNeverResurrectsALogoutThatLandsJustBeforeItsWrite(t *testing.T) {
	for _, c := range []struct {
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
			return r
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := c.store(t)
			hs := &hookStore{Store: st}
			a := NewCache(hs, nil, Config{})
			b := NewCache(st, nil, Config{})
			defer a.Destruct()
			defer b.Destruct()
			now := time.Now()
			old := &Session{Username: "friend", Created: now, Checked: now, Expires: now.Add(time.Hour)}
			if err := a.Put(context.Background(), "id", old); err != nil {
				t.Fatal(err)
			}
			fired := false
			hs.mu.Lock()
			hs.before = func() { fired = true; b.Remove("id") }
			hs.mu.Unlock()
			a.Update("id", old, &Session{Username: "friend", Created: now, Checked: time.Now(), Expires: now.Add(time.Hour)})
			if !fired {
				t.Fatal("the re-check neither read nor wrote the store; the test injected nothing")
			}
			if _, err := st.Load(context.Background(), storeKey("id")); !errors.Is(err, ErrNotFound) {
				t.Fatalf("the re-check wrote back a session logged out meanwhile: %v", err)
			}
			if s, _ := a.Lookup("id", time.Now(), 0); s != nil {
				t.Fatal("the instance that re-checked still admits the logged-out session")
			}
		})
	}
}

// A request that reads the store (its memory copy is past cache_ttl, or
// memory never had the session) while the session is logged out on this
// instance must not put the session back in memory: the logout lands
// after the read, before the result is written to memory.
func TestStoreReadNeverResurrectsALogoutBetweenItsReadAndMemoryWrite(t *testing.T) {
	for _, c := range []struct {
		name string
		// memory prepares what memory holds before the read.
		memory func(a *Cache)
	}{
		{"memory copy past cache_ttl", func(*Cache) {}},
		{"not in memory", func(a *Cache) { a.FlushLocal() }},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := &CaddyStore{st: &certmagic.FileStorage{Path: t.TempDir()}}
			hs := &hookStore{Store: st}
			a := NewCache(hs, nil, Config{})
			defer a.Destruct()
			now := time.Now()
			if err := a.Put(context.Background(), "id", &Session{Username: "friend", Created: now, Checked: now, Expires: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			c.memory(a)
			fired := false
			hs.mu.Lock()
			hs.before = func() { fired = true; a.Remove("id") }
			hs.mu.Unlock()
			// cache_ttl 0: memory is not trusted, the store is read.
			_, _ = a.Lookup("id", time.Now(), 0)
			if !fired {
				t.Fatal("the lookup never read the store; the test injected nothing")
			}
			if _, err := st.Load(context.Background(), storeKey("id")); !errors.Is(err, ErrNotFound) {
				t.Fatalf("the logout did not remove the session from the store: %v", err)
			}
			// With a long cache_ttl the next lookups trust memory: it must
			// say the session is gone.
			for _, later := range []time.Duration{0, time.Second, 30 * time.Second} {
				if s, _ := a.Lookup("id", time.Now().Add(later), time.Hour); s != nil {
					t.Fatalf("%v after the logout, memory still admits the session: the store read put it back", later)
				}
			}
		})
	}
}

// store.go:139: each write of an entry is sealed under a fresh nonce. The
// key is the session id's, the same for every write of the session (its
// sign-in, each re-check), and AES-GCM under one key and one nonce twice
// gives away the XOR of the two plaintexts and lets the entry be forged.
func TestEachWriteOfAnEntryHasAFreshNonce(t *testing.T) {
	s := &Session{UserID: 42, Username: "alice", Token: "plex-token", Expires: time.Now().Add(time.Hour)}
	aead, err := entryAEAD("session-id")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 3 {
		b, err := sealEntry("session-id", s)
		if err != nil {
			t.Fatal(err)
		}
		nonce := string(b[8 : 8+aead.NonceSize()])
		if seen[nonce] || nonce == string(make([]byte, aead.NonceSize())) {
			t.Fatalf("a nonce was used again (or is all zeros): %x", nonce)
		}
		seen[nonce] = true
	}
}

// store.go:153: an entry is over from its expiry's second on, as the
// session is (a session whose Expires is at or before now has ended):
// openEntry answers ErrNotFound, never the session.
func TestEntryAtItsExpiryIsNotFound(t *testing.T) {
	at := time.Unix(time.Now().Unix(), 0) // this second, not after now
	b, err := sealEntry("session-id", &Session{Username: "alice", Expires: at})
	if err != nil {
		t.Fatal(err)
	}
	if s, err := openEntry("session-id", b); !errors.Is(err, ErrNotFound) {
		t.Fatalf("openEntry at the entry's expiry = %+v, %v; want ErrNotFound", s, err)
	}
}

// store.go:150: an entry too short to hold nonce and tag (a truncated
// write, another program's key) is refused, not read past its end.
func TestShortEntryIsRefused(t *testing.T) {
	b, err := sealEntry("session-id", &Session{Username: "alice", Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 7, 8, 8 + 12, 8 + 12 + 15, len(b) - 1} {
		if s, err := openEntry("session-id", b[:n]); err == nil || errors.Is(err, ErrNotFound) && n >= 8 {
			t.Errorf("openEntry of the first %d bytes = %+v, %v; want a refusal", n, s, err)
		}
	}
	if !entryExpiry(b[:7]).IsZero() || entryExpiry(b[:8]).Unix() != entryExpiry(b).Unix() || entryExpiry(b).IsZero() {
		t.Error("entryExpiry does not read the first 8 bytes, or reads fewer")
	}
}
