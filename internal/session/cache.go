package session

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patrickmn/go-cache"
	"go.uber.org/zap"
)

// sweepInterval is how often expired sessions are dropped from memory and
// failed store deletions are retried; storeSweepInterval how often expired
// entries are dropped from a store that does not expire them itself.
const (
	sweepInterval      = 10 * time.Second
	storeSweepInterval = 10 * time.Minute
)

// StoreTimeout bounds each operation the cache asks of its store: a store
// that does not answer holds a request at most this long.
const StoreTimeout = 5 * time.Second

// Cache holds sessions in two levels: go-cache in memory, read on every
// signed-in request, and a store behind it that outlives the process (none:
// memory only). The hot path reads only memory, except once per cache_ttl
// per session, when it reads the store again so that a session ended on
// another instance ends here too. A Cache is safe for concurrent use and is
// meant to be shared by every handler using the same store; it decides
// nothing about access: callers judge the sessions it returns.
type Cache struct {
	c     *cache.Cache
	store Store // nil: memory only
	log   *zap.Logger

	stop chan struct{}
	once sync.Once
	done sync.WaitGroup

	// storeDown is set while the store fails, so the failure is logged once
	// when it starts and once when it ends, not on every request.
	storeDown atomic.Bool

	// memMu orders a re-check's write to memory after a logout that ran
	// meanwhile (update, remove); the hot path does not take it.
	memMu sync.Mutex
	// setMu makes replacing a session in memory and marking the object it
	// replaces one step (set).
	setMu sync.Mutex

	mu             sync.Mutex
	pendingRemoval map[string]struct{} // deletions the store refused, retried by the sweeper

	pins *cache.Cache // pins claimed here (see pinclaim.go)

	cfg Config

	// staleBefore: memory copies read from the store at or before this
	// time (UnixNano) are read again, as if cache_ttl had passed (see
	// signout.go). maxSessionTTL is the longest session_ttl of the
	// handlers using this cache; watchMu and signoutGen belong to
	// checkSignouts.
	staleBefore   atomic.Int64
	maxSessionTTL atomic.Int64
	watchMu       sync.Mutex
	signoutGen    string
}

// setGone caches a placeholder for a session the store does not have.
func (sc *Cache) setGone(id string, ttl time.Duration) {
	g := &Session{gone: true}
	g.loadedAt.Store(time.Now().UnixNano())
	sc.set(id, g, ttl)
}

// set caches s under id in memory, marking the object it replaces as
// evicted. Every write to sc.c goes through here (deletions and expiry
// mark through go-cache's eviction hook), under setMu, so that the mark
// and the write are one step: no object is replaced unmarked.
func (sc *Cache) set(id string, s *Session, ttl time.Duration) {
	sc.setMu.Lock()
	defer sc.setMu.Unlock()
	if old, ok := sc.c.Get(id); ok && old.(*Session) != s {
		old.(*Session).evicted.Store(true)
	}
	if ttl <= 0 {
		// go-cache keeps an entry written with a lifetime of 0 or less for
		// ever: a session already over (a re-check finishing after its
		// expiry) would stay in memory, token and all, for the process's
		// life. It is over: memory holds nothing for it.
		sc.c.Delete(id)
		return
	}
	sc.c.Set(id, s, ttl)
}

// Trusts reports whether s, an object memory held for a session (one
// Lookup returned), may be used at now without asking memory or the store
// again: memory still holds that very object, and Lookup would trust it as
// it is (cacheTTL not run out, no sign-out elsewhere since it was read). It
// writes nothing and takes no lock: it is the hot path's whole check.
func (sc *Cache) Trusts(s *Session, now time.Time, cacheTTL time.Duration) bool {
	if s == nil || s.gone || s.evicted.Load() {
		return false
	}
	return sc.store == nil || sc.freshInMemory(s, now.UnixNano(), cacheTTL)
}

// freshInMemory: s was read from (or written to) the store less than
// cacheTTL before now, and after the last sign-out seen elsewhere.
func (sc *Cache) freshInMemory(s *Session, now int64, cacheTTL time.Duration) bool {
	loaded := s.loadedAt.Load()
	return now-loaded < int64(cacheTTL) && loaded > sc.staleBefore.Load()
}

// FlushLocal empties memory, leaving the store as it is; every object it
// held stops being trusted (Trusts). For tests and benchmarks: go-cache's
// Flush does not run the eviction hook, so this marks each object itself.
func (sc *Cache) FlushLocal() {
	sc.setMu.Lock()
	defer sc.setMu.Unlock()
	for _, it := range sc.c.Items() {
		it.Object.(*Session).evicted.Store(true)
	}
	sc.c.Flush()
}

// Config is what a cache needs from the handlers using it. The zero Config
// is valid: no callbacks, markers outlive only the noted session_ttls.
type Config struct {
	// MarkerTTL is the shortest session lifetime an account's sign-out
	// marker outlives (by a day more), however short the session_ttl of
	// every handler using the cache (NoteSessionTTL).
	MarkerTTL time.Duration
	// StoreFailed, if set, is called once for each store operation that
	// failed (a session not found is no failure).
	StoreFailed func()
	// EndedBySignout, if set, is called with each session a read from the
	// store found ended by its account's sign-out marker, once its entry
	// is removed.
	EndedBySignout func(*Session)
}

// NewCache returns a cache in front of store (nil: memory only), logging to
// log (nil: nowhere). It starts a sweeper and, with a store, a watcher of
// the sign-out counter; Destruct stops them.
func NewCache(store Store, log *zap.Logger, cfg Config) *Cache {
	if log == nil {
		log = zap.NewNop()
	}
	sc := &Cache{
		// No go-cache janitor: its goroutine only stops when the cache is
		// garbage collected. Our own sweeper stops on Destruct.
		c:              cache.New(cache.NoExpiration, 0),
		store:          store,
		log:            log,
		stop:           make(chan struct{}),
		pendingRemoval: make(map[string]struct{}),
		pins:           cache.New(cache.NoExpiration, 0),
		cfg:            cfg,
	}
	// Deletions and expiry (DeleteExpired) mark what they drop; see set.
	sc.c.OnEvicted(func(_ string, v any) { v.(*Session).evicted.Store(true) })
	sc.done.Add(1)
	go sc.sweep()
	if store != nil {
		sc.done.Add(1)
		go sc.watchSignouts()
	}
	return sc
}

func (sc *Cache) sweep() {
	defer sc.done.Done()
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	lastStoreSweep := time.Now()
	for {
		select {
		case <-sc.stop:
			return
		case now := <-t.C:
			lastStoreSweep = sc.sweepOnce(now, lastStoreSweep)
		}
	}
}

// sweepOnce is one round of the sweeper at now: expired sessions and pin
// claims leave memory; with a store, a store known to be down is probed,
// failed deletions are retried, and the store is swept when
// storeSweepInterval has passed since lastStoreSweep. It returns when the
// store was last swept.
func (sc *Cache) sweepOnce(now, lastStoreSweep time.Time) time.Time {
	sc.c.DeleteExpired()
	sc.pins.DeleteExpired()
	if sc.store == nil {
		return lastStoreSweep
	}
	if sc.storeDown.Load() {
		sc.probeStore()
	}
	sc.retryRemovals()
	if now.Sub(lastStoreSweep) < storeSweepInterval {
		return lastStoreSweep
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := sc.store.Sweep(ctx); err != nil {
		sc.log.Debug("sweeping session store", zap.Error(err))
	}
	return now
}

// Destruct stops the cache's goroutines, waiting for them, and closes a
// Redis store's connections; later calls do nothing. The cache must not be
// used afterwards. (The root's session pool calls it when the last handler
// using the cache is cleaned up.)
func (sc *Cache) Destruct() error {
	sc.once.Do(func() {
		close(sc.stop)
		sc.done.Wait()
		if r, ok := sc.store.(*RedisStore); ok {
			_ = r.Close()
		}
	})
	return nil
}

// StoreResult records whether the store answered a call (err nil or
// ErrNotFound: it did), for a caller that used the store itself (Store):
// the change is logged once each way and counted, as for the cache's own
// calls.
func (sc *Cache) StoreResult(err error) {
	if err == nil || errors.Is(err, ErrNotFound) {
		if sc.storeDown.CompareAndSwap(true, false) {
			sc.log.Info("session store reachable again", zap.String("store", sc.store.Describe()))
		}
		return
	}
	if sc.cfg.StoreFailed != nil {
		sc.cfg.StoreFailed()
	}
	if sc.storeDown.CompareAndSwap(false, true) {
		sc.log.Error("session store unreachable; signed-in sessions in memory keep working, new sign-ins fail until it is back",
			zap.String("store", sc.store.Describe()), zap.Error(err))
	}
}

// Lookup returns the session id names at at, or nil when there is none. A
// copy in memory is trusted for cacheTTL after it was read from the store
// (and until a sign-out elsewhere is seen); then the store is read again,
// so a session ended on another instance ends here within cacheTTL. While
// the store fails, memory is trusted. err is set only when the store could
// not be asked and memory did not know the session either. The session
// returned may be over or refused by a handler's rules: callers judge it.
func (sc *Cache) Lookup(id string, at time.Time, cacheTTL time.Duration) (*Session, error) {
	now := at.UnixNano()
	v, cached := sc.c.Get(id)
	var s *Session
	if cached {
		s = v.(*Session)
		if sc.store == nil {
			return s.live(), nil
		}
		if sc.freshInMemory(s, now, cacheTTL) {
			return s.live(), nil
		}
		if sc.storeDown.Load() {
			// The store is down: trust memory without waiting on it; the
			// sweeper notices when it is back.
			s.loadedAt.Store(now)
			return s.live(), nil
		}
	} else if sc.store == nil {
		return nil, nil
	}
	fresh, err := sc.loadFromStore(id, s)
	switch {
	case err == nil:
		return fresh, nil
	case errors.Is(err, ErrNotFound):
		// Under memMu, so that it cannot land between loadFromStore's
		// check and write on another request.
		sc.memMu.Lock()
		sc.setGone(id, cacheTTL)
		sc.memMu.Unlock()
		return nil, nil
	case cached:
		// Store unreachable: keep trusting memory, ask again later.
		s.loadedAt.Store(now)
		return s.live(), nil
	default:
		return nil, err
	}
}

// loadFromStore reads the session id names from the store and caches it in
// memory. seen is what memory held for id (nil: nothing) when the lookup
// began, before the read.
func (sc *Cache) loadFromStore(id string, seen *Session) (*Session, error) {
	ctx, cancel := context.WithTimeout(context.Background(), StoreTimeout)
	defer cancel()
	// The copy counts as read when the read began (see checkSignouts).
	readAt := time.Now().UnixNano()
	b, err := sc.store.Load(ctx, storeKey(id))
	sc.StoreResult(err)
	if err != nil {
		return nil, err
	}
	s, err := openEntry(id, b)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			sc.log.Warn("unreadable session entry in store; dropping it", zap.Error(err))
		}
		return nil, ErrNotFound
	}
	ended, err := sc.endedBySignout(ctx, s)
	sc.StoreResult(err)
	if err != nil {
		return nil, err
	}
	if ended {
		// Ended through the admin API (signout.go): the entry goes, so no
		// instance reads it again.
		sc.StoreResult(sc.store.Remove(ctx, storeKey(id)))
		if sc.cfg.EndedBySignout != nil {
			sc.cfg.EndedBySignout(s)
		}
		return nil, ErrNotFound
	}
	// What was read enters memory only if memory still holds what it held
	// before the read: a logout that ran meanwhile left a placeholder
	// there, which must stay; another request's newer copy is as good.
	// Under memMu, as update's write is, so no remove lands in between.
	sc.memMu.Lock()
	defer sc.memMu.Unlock()
	var cur *Session
	if v, ok := sc.c.Get(id); ok {
		cur = v.(*Session)
	}
	if cur != seen {
		if cur == nil {
			// Dropped meanwhile (expired or flushed): leave memory empty;
			// the next request reads the store again.
			return nil, nil
		}
		return cur.live(), nil
	}
	sc.putLocalAt(id, s, readAt)
	return s, nil
}

// PutLocal caches s under id in memory only, until s.Expires (Prepare is
// called on it): no store is written, so another instance or a restart
// does not know it. For tests and benchmarks, and for what the cache
// itself read from its store.
func (sc *Cache) PutLocal(id string, s *Session) {
	sc.putLocalAt(id, s, time.Now().UnixNano())
}

// putLocalAt caches s in memory only, as read from the store at loadedAt.
func (sc *Cache) putLocalAt(id string, s *Session, loadedAt int64) {
	s.Prepare()
	s.id = id
	s.loadedAt.Store(loadedAt)
	sc.set(id, s, time.Until(s.Expires))
}

// Put stores a new session under id in both levels, until s.Expires, and
// records in it the account's sign-out marker as the store holds it. It
// fails when the store does, and then memory holds nothing either: no
// sign-in exists that other instances, or a restart, would lose. s must not
// be changed afterwards; Update replaces it.
func (sc *Cache) Put(ctx context.Context, id string, s *Session) error {
	if sc.store != nil {
		if err := sc.recordSignoutMark(ctx, s); err != nil {
			return err
		}
		b, err := sealEntry(id, s)
		if err != nil {
			return err
		}
		sctx, cancel := context.WithTimeout(ctx, StoreTimeout)
		err = sc.store.Save(sctx, storeKey(id), b, s.Expires)
		cancel()
		sc.StoreResult(err)
		if err != nil {
			return err
		}
	}
	sc.PutLocal(id, s)
	return nil
}

// Update replaces old by s after a re-check. When old is no longer the
// cached session (it was logged out, or replaced, while plex.tv was asked),
// or the store no longer has it (another instance ended it), the result is
// dropped: a re-check never brings back a session that ended meanwhile.
// The store is written with replace, which only overwrites an entry that is
// still there, so a logout cannot slip in between a check and the write.
// A store that fails leaves the result in memory only (StoreResult logs it).
func (sc *Cache) Update(id string, old, s *Session) {
	if !sc.Holds(id, old) {
		return
	}
	if sc.store != nil {
		b, err := sealEntry(id, s)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), StoreTimeout)
		err = sc.store.Replace(ctx, storeKey(id), b, s.Expires)
		cancel()
		sc.StoreResult(err)
		if errors.Is(err, ErrNotFound) {
			sc.memMu.Lock()
			if sc.Holds(id, old) {
				sc.setGone(id, time.Hour)
			}
			sc.memMu.Unlock()
			return
		}
	}
	// Under memMu, so that a logout here, which ran while the store was
	// written, is not undone in memory.
	sc.memMu.Lock()
	if sc.Holds(id, old) {
		sc.PutLocal(id, s)
	}
	sc.memMu.Unlock()
}

// Holds reports whether s (this very object) is the session memory has
// under id: false once it was replaced (Update, a re-check), removed or
// expired.
func (sc *Cache) Holds(id string, s *Session) bool {
	v, ok := sc.c.Get(id)
	return ok && v.(*Session) == s
}

// Remove ends the session id names in both levels: memory answers nil for
// it at once. A deletion the store refuses is retried by the sweeper, so a
// logged-out session does not come back.
func (sc *Cache) Remove(id string) {
	sc.memMu.Lock()
	sc.c.Delete(id)
	if sc.store != nil {
		sc.setGone(id, time.Hour)
	}
	sc.memMu.Unlock()
	if sc.store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), StoreTimeout)
	defer cancel()
	key := storeKey(id)
	err := sc.store.Remove(ctx, key)
	sc.StoreResult(err)
	if err != nil {
		sc.mu.Lock()
		sc.pendingRemoval[key] = struct{}{}
		sc.mu.Unlock()
	}
}

// probeStore asks the store for an entry that does not exist, to learn
// whether it is back.
func (sc *Cache) probeStore() {
	ctx, cancel := context.WithTimeout(context.Background(), StoreTimeout)
	defer cancel()
	_, err := sc.store.Load(ctx, storeKey("plex_auth store probe"))
	sc.StoreResult(err)
}

func (sc *Cache) retryRemovals() {
	sc.mu.Lock()
	keys := make([]string, 0, len(sc.pendingRemoval))
	for k := range sc.pendingRemoval {
		keys = append(keys, k)
	}
	sc.mu.Unlock()
	for _, k := range keys {
		ctx, cancel := context.WithTimeout(context.Background(), StoreTimeout)
		err := sc.store.Remove(ctx, k)
		cancel()
		sc.StoreResult(err)
		if err != nil {
			return
		}
		sc.mu.Lock()
		delete(sc.pendingRemoval, k)
		sc.mu.Unlock()
	}
}

// Store is the store behind memory, nil for a memory-only cache.
func (sc *Cache) Store() Store { return sc.store }

// Count is how many entries memory holds: sessions, over or not, and
// placeholders for sessions the store does not have.
func (sc *Cache) Count() int {
	return sc.c.ItemCount()
}

// LiveCount is how many sessions memory holds that are not over and are
// not placeholders for sessions the store does not have. It copies the
// table, so it is for a scrape now and then, not for requests.
func (sc *Cache) LiveCount() int {
	now := time.Now()
	n := 0
	for _, it := range sc.c.Items() {
		if s := it.Object.(*Session); !s.gone && now.Before(s.Expires) {
			n++
		}
	}
	return n
}
