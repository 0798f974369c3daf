package plexauth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/patrickmn/go-cache"
	"go.uber.org/zap"
)

// sessionPool holds the session caches across config reloads: a reload
// provisions the new handlers (taking a reference) before the old ones are
// cleaned up (dropping theirs), so the cache, and everyone's sign-in,
// survives. When the last plex_auth handler goes away, Destruct stops the
// sweeper so nothing leaks.
var sessionPool = caddy.NewUsagePool()

// sessionPoolKey names the cache all plex_auth handlers using the same
// store share: "plex_auth.sessions|" plus the store. Sharing is safe because
// every handler checks a session against its own rules on every request
// (see PlexAuth.admit).
const sessionPoolKey = "plex_auth.sessions"

// sweepInterval is how often expired sessions are dropped from memory and
// failed store deletions are retried; storeSweepInterval how often expired
// entries are dropped from a store that does not expire them itself.
const (
	sweepInterval      = 10 * time.Second
	storeSweepInterval = 10 * time.Minute
	storeTimeout       = 5 * time.Second
)

// Session is one signed-in browser. It holds what the rules need to decide
// (the account and the servers it can reach) so that requests never call
// plex.tv.
type Session struct {
	UserID   int64  `json:"user_id"`
	UUID     string `json:"uuid"`
	Username string `json:"username"`
	Email    string `json:"email"`
	Title    string `json:"title"`
	// Servers maps the machine identifier of every Plex Media Server the
	// account can reach to its tier there (owner, home or friend).
	Servers map[string]string `json:"servers"`
	// Token is the account's Plex token, kept only to re-check access. It
	// never leaves the process in clear: not in a cookie, a header or a log.
	Token   string    `json:"token"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Checked time.Time `json:"checked"`
	// SignoutMark is the account's sign-out marker the store held when the
	// session was made (0: none; see signout.go). nil in a memory-only
	// cache and in entries stored before sessions recorded it.
	SignoutMark *int64 `json:"signout_mark,omitempty"`
	// Apps are the application sessions app_sign_in made for this
	// session (appsignin.go): sealed and stored with it, so every
	// instance knows which application cookie belongs to it. A copy of
	// the session must carry them (sessionWithApps, revalidate.go).
	Apps []AppSession `json:"apps,omitempty"`

	// Runtime state, not stored: when this copy was read from or written
	// to the store, and whether a re-check with plex.tv is running.
	loadedAt atomic.Int64
	checking atomic.Bool
	// evicted is set once memory no longer holds this object under its id
	// (replaced, deleted or expired): a verified cookie that remembered it
	// must then look the session up again (verified.go).
	evicted atomic.Bool
	// gone marks a memory-only placeholder for a session the store does
	// not have, so a stale cookie does not read the store on every request.
	gone bool

	// foldedUsername and foldedEmail are the copies allow_users compares
	// (access.Facts, access.AllowList.Match); idString is the id as a
	// placeholder value.
	foldedUsername, foldedEmail, idString string
	// anyID etc. are the placeholder values, boxed once.
	anyID, anyUsername, anyEmail, anyUUID, anyTitle any
}

// prepare fills the derived fields once, so the hot path only compares.
func (s *Session) prepare() {
	s.foldedUsername = foldASCII(s.Username)
	s.foldedEmail = foldASCII(s.Email)
	s.idString = formatInt(s.UserID)
	s.anyID, s.anyUsername, s.anyEmail, s.anyUUID, s.anyTitle = s.idString, s.Username, s.Email, s.UUID, s.Title
}

// foldASCII lower-cases ASCII letters and leaves every other byte as it
// is. It is a copy of access.FoldASCII, kept here so that the sessions need
// nothing of the decision; the two must fold alike, or allow_users would
// miss (TestSessionFoldsAsAllowUsersDo).
func foldASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// sessionCache holds sessions in two levels: go-cache in memory, read on
// every signed-in request, and a store behind it that outlives the process.
// The hot path reads only memory, except once per cache_ttl per session,
// when it reads the store again so that a session ended on another
// instance ends here too.
type sessionCache struct {
	c     *cache.Cache
	store sessionStore // nil: memory only
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

	plex plexBackoff

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
func (sc *sessionCache) setGone(id string, ttl time.Duration) {
	g := &Session{gone: true}
	g.loadedAt.Store(time.Now().UnixNano())
	sc.set(id, g, ttl)
}

// set caches s under id in memory, marking the object it replaces as
// evicted. Every write to sc.c goes through here (deletions and expiry
// mark through go-cache's eviction hook), under setMu, so that the mark
// and the write are one step: no object is replaced unmarked.
func (sc *sessionCache) set(id string, s *Session, ttl time.Duration) {
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

// trusts reports whether s, an object memory held for a session, may be
// used at now without asking memory or the store again: memory still holds
// it, and the lookup would trust it as it is (cache_ttl not run out, no
// sign-out elsewhere since it was read).
func (sc *sessionCache) trusts(s *Session, now time.Time, cacheTTL time.Duration) bool {
	if s == nil || s.gone || s.evicted.Load() {
		return false
	}
	return sc.store == nil || sc.freshInMemory(s, now.UnixNano(), cacheTTL)
}

// freshInMemory: s was read from (or written to) the store less than
// cacheTTL before now, and after the last sign-out seen elsewhere.
func (sc *sessionCache) freshInMemory(s *Session, now int64, cacheTTL time.Duration) bool {
	loaded := s.loadedAt.Load()
	return now-loaded < int64(cacheTTL) && loaded > sc.staleBefore.Load()
}

// flushLocal empties memory, marking every object as evicted (tests and
// benchmarks; go-cache's Flush does not run the eviction hook).
func (sc *sessionCache) flushLocal() {
	sc.setMu.Lock()
	defer sc.setMu.Unlock()
	for _, it := range sc.c.Items() {
		it.Object.(*Session).evicted.Store(true)
	}
	sc.c.Flush()
}

func newSessionCache(store sessionStore, log *zap.Logger) *sessionCache {
	if log == nil {
		log = zap.NewNop()
	}
	sc := &sessionCache{
		// No go-cache janitor: its goroutine only stops when the cache is
		// garbage collected. Our own sweeper stops on Destruct.
		c:              cache.New(cache.NoExpiration, 0),
		store:          store,
		log:            log,
		stop:           make(chan struct{}),
		pendingRemoval: make(map[string]struct{}),
		pins:           cache.New(cache.NoExpiration, 0),
	}
	// Deletions and expiry (DeleteExpired) mark what they drop; see set.
	sc.c.OnEvicted(func(_ string, v any) { v.(*Session).evicted.Store(true) })
	sc.done.Add(1)
	go sc.sweep()
	if ss, ok := store.(signoutStore); ok {
		sc.done.Add(1)
		go sc.watchSignouts(ss)
	}
	return sc
}

func (sc *sessionCache) sweep() {
	defer sc.done.Done()
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	lastStoreSweep := time.Now()
	for {
		select {
		case <-sc.stop:
			return
		case <-t.C:
			sc.c.DeleteExpired()
			sc.pins.DeleteExpired()
			if sc.store == nil {
				continue
			}
			if sc.storeDown.Load() {
				sc.probeStore()
			}
			sc.retryRemovals()
			if time.Since(lastStoreSweep) >= storeSweepInterval {
				lastStoreSweep = time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				if err := sc.store.sweep(ctx); err != nil {
					sc.log.Debug("sweeping session store", zap.Error(err))
				}
				cancel()
			}
		}
	}
}

// Destruct implements caddy.Destructor; the UsagePool calls it when the last
// handler using the cache is cleaned up.
func (sc *sessionCache) Destruct() error {
	sc.once.Do(func() {
		close(sc.stop)
		sc.done.Wait()
		if r, ok := sc.store.(*redisStore); ok {
			_ = r.close()
		}
	})
	return nil
}

// storeResult records whether the store answered, logging changes only.
func (sc *sessionCache) storeResult(err error) {
	if err == nil || errors.Is(err, errSessionNotFound) {
		if sc.storeDown.CompareAndSwap(true, false) {
			sc.log.Info("session store reachable again", zap.String("store", sc.store.describe()))
		}
		return
	}
	metrics.storeErrors.Inc()
	if sc.storeDown.CompareAndSwap(false, true) {
		sc.log.Error("session store unreachable; signed-in sessions in memory keep working, new sign-ins fail until it is back",
			zap.String("store", sc.store.describe()), zap.Error(err))
	}
}

// lookup returns the session id names, or nil when there is none. err is
// set only when the store could not be asked and memory did not know the
// session either.
func (sc *sessionCache) lookup(id string, at time.Time, cacheTTL time.Duration) (*Session, error) {
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
	case errors.Is(err, errSessionNotFound):
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

// live is s, or nil for a placeholder of a session that is gone.
func (s *Session) live() *Session {
	if s.gone {
		return nil
	}
	return s
}

// loadFromStore reads the session id names from the store and caches it in
// memory. seen is what memory held for id (nil: nothing) when the lookup
// began, before the read.
func (sc *sessionCache) loadFromStore(id string, seen *Session) (*Session, error) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	// The copy counts as read when the read began (see checkSignouts).
	readAt := time.Now().UnixNano()
	b, err := sc.store.load(ctx, storeKey(id))
	sc.storeResult(err)
	if err != nil {
		return nil, err
	}
	s, err := openEntry(id, b)
	if err != nil {
		if !errors.Is(err, errSessionNotFound) {
			sc.log.Warn("unreadable session entry in store; dropping it", zap.Error(err))
		}
		return nil, errSessionNotFound
	}
	ended, err := sc.endedBySignout(ctx, s)
	sc.storeResult(err)
	if err != nil {
		return nil, err
	}
	if ended {
		// Ended through the admin API (signout.go): the entry goes, so no
		// instance reads it again.
		sc.storeResult(sc.store.remove(ctx, storeKey(id)))
		adminAuditLog().Info("session ended", zap.Int64("plex_user_id", s.UserID), zap.String("username", s.Username), zap.String("reason", endedByAdmin))
		return nil, errSessionNotFound
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

// putLocal caches s in memory only.
func (sc *sessionCache) putLocal(id string, s *Session) {
	sc.putLocalAt(id, s, time.Now().UnixNano())
}

// putLocalAt caches s in memory only, as read from the store at loadedAt.
func (sc *sessionCache) putLocalAt(id string, s *Session, loadedAt int64) {
	s.prepare()
	s.loadedAt.Store(loadedAt)
	sc.set(id, s, time.Until(s.Expires))
}

// put stores a new session in both levels. It fails when the store does,
// so that no sign-in exists that other instances, or a restart, would lose.
func (sc *sessionCache) put(ctx context.Context, id string, s *Session) error {
	if sc.store != nil {
		if err := sc.recordSignoutMark(ctx, s); err != nil {
			return err
		}
		b, err := sealEntry(id, s)
		if err != nil {
			return err
		}
		sctx, cancel := context.WithTimeout(ctx, storeTimeout)
		err = sc.store.save(sctx, storeKey(id), b, s.Expires)
		cancel()
		sc.storeResult(err)
		if err != nil {
			return err
		}
	}
	sc.putLocal(id, s)
	return nil
}

// update replaces old by s after a re-check. When old is no longer the
// cached session (it was logged out, or replaced, while plex.tv was asked),
// or the store no longer has it (another instance ended it), the result is
// dropped: a re-check never brings back a session that ended meanwhile.
// The store is written with replace, which only overwrites an entry that is
// still there, so a logout cannot slip in between a check and the write.
// A store that fails leaves the result in memory only (storeResult logs it).
func (sc *sessionCache) update(id string, old, s *Session) {
	if !sc.holds(id, old) {
		return
	}
	if sc.store != nil {
		b, err := sealEntry(id, s)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		err = sc.store.replace(ctx, storeKey(id), b, s.Expires)
		cancel()
		sc.storeResult(err)
		if errors.Is(err, errSessionNotFound) {
			sc.memMu.Lock()
			if sc.holds(id, old) {
				sc.setGone(id, time.Hour)
			}
			sc.memMu.Unlock()
			return
		}
	}
	// Under memMu, so that a logout here, which ran while the store was
	// written, is not undone in memory.
	sc.memMu.Lock()
	if sc.holds(id, old) {
		sc.putLocal(id, s)
	}
	sc.memMu.Unlock()
}

// holds reports whether s is the session memory has under id.
func (sc *sessionCache) holds(id string, s *Session) bool {
	v, ok := sc.c.Get(id)
	return ok && v.(*Session) == s
}

// remove ends a session in both levels. A deletion the store refuses is
// retried by the sweeper, so a logged-out session does not come back.
func (sc *sessionCache) remove(id string) {
	sc.memMu.Lock()
	sc.c.Delete(id)
	if sc.store != nil {
		sc.setGone(id, time.Hour)
	}
	sc.memMu.Unlock()
	if sc.store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	key := storeKey(id)
	err := sc.store.remove(ctx, key)
	sc.storeResult(err)
	if err != nil {
		sc.mu.Lock()
		sc.pendingRemoval[key] = struct{}{}
		sc.mu.Unlock()
	}
}

// probeStore asks the store for an entry that does not exist, to learn
// whether it is back.
func (sc *sessionCache) probeStore() {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	_, err := sc.store.load(ctx, storeKey("plex_auth store probe"))
	sc.storeResult(err)
}

func (sc *sessionCache) retryRemovals() {
	sc.mu.Lock()
	keys := make([]string, 0, len(sc.pendingRemoval))
	for k := range sc.pendingRemoval {
		keys = append(keys, k)
	}
	sc.mu.Unlock()
	for _, k := range keys {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		err := sc.store.remove(ctx, k)
		cancel()
		sc.storeResult(err)
		if err != nil {
			return
		}
		sc.mu.Lock()
		delete(sc.pendingRemoval, k)
		sc.mu.Unlock()
	}
}

func (sc *sessionCache) count() int {
	return sc.c.ItemCount()
}

// liveCount is how many sessions memory holds that are not over and are
// not placeholders for sessions the store does not have. It copies the
// table, so it is for a scrape now and then, not for requests.
func (sc *sessionCache) liveCount() int {
	now := time.Now()
	n := 0
	for _, it := range sc.c.Items() {
		if s := it.Object.(*Session); !s.gone && now.Before(s.Expires) {
			n++
		}
	}
	return n
}

var _ caddy.Destructor = (*sessionCache)(nil)
