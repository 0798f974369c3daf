package plexauth

import (
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/patrickmn/go-cache"
)

// sessionPool holds the session caches across config reloads: a reload
// provisions the new handlers (taking a reference) before the old ones are
// cleaned up (dropping theirs), so the cache, and everyone's sign-in,
// survives. When the last plex_auth handler goes away, Destruct stops the
// sweeper so nothing leaks.
var sessionPool = caddy.NewUsagePool()

// sessionPoolKey names the one cache all plex_auth handlers of a process
// share. Sharing is safe because every handler checks a session against its
// own rules on every request (see PlexAuth.admit).
const sessionPoolKey = "plex_auth.sessions"

// sweepInterval is how often expired sessions are dropped from memory.
const sweepInterval = time.Minute

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

	// idUsername etc. are lower-cased copies used by allow_users.
	lowerUsername, lowerEmail, idString string
}

// prepare fills the derived fields once, so the hot path only compares.
func (s *Session) prepare() {
	s.lowerUsername = strings.ToLower(s.Username)
	s.lowerEmail = strings.ToLower(s.Email)
	s.idString = formatInt(s.UserID)
}

// sessionCache is the first level: go-cache in memory, read on every
// signed-in request.
type sessionCache struct {
	c    *cache.Cache
	stop chan struct{}
	once sync.Once
}

func newSessionCache() *sessionCache {
	sc := &sessionCache{
		// No go-cache janitor: its goroutine only stops when the cache is
		// garbage collected. Our own sweeper stops on Destruct.
		c:    cache.New(cache.NoExpiration, 0),
		stop: make(chan struct{}),
	}
	go sc.sweep()
	return sc
}

func (sc *sessionCache) sweep() {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-sc.stop:
			return
		case <-t.C:
			sc.c.DeleteExpired()
		}
	}
}

// Destruct implements caddy.Destructor; the UsagePool calls it when the last
// handler using the cache is cleaned up.
func (sc *sessionCache) Destruct() error {
	sc.once.Do(func() { close(sc.stop) })
	return nil
}

func (sc *sessionCache) get(id string) (*Session, bool) {
	v, ok := sc.c.Get(id)
	if !ok {
		return nil, false
	}
	s := v.(*Session)
	return s, true
}

func (sc *sessionCache) put(id string, s *Session) {
	s.prepare()
	sc.c.Set(id, s, time.Until(s.Expires))
}

func (sc *sessionCache) delete(id string) {
	sc.c.Delete(id)
}

func (sc *sessionCache) count() int {
	return sc.c.ItemCount()
}

var _ caddy.Destructor = (*sessionCache)(nil)
