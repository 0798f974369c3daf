package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"time"
)

// Ending sessions from outside the browser (the root's admin API: EndSession,
// EndAccount).
//
// One session: it is removed from memory and the store, as a logout does.
// Every session of an account: this instance drops its copies at once, and
// the store gets the account's marker, a number each sign-out of the
// account changes. A session records the marker the store held when it was
// made (one store read at sign-in), and every instance reads the marker
// with a session whenever it reads the session from the store: a session
// that recorded another marker than the store holds now was made before
// the latest sign-out, and is ended. Other instances hold sessions they
// read before the marker changed; so that they do not trust those for a
// whole cache_ttl, either kind of ending also bumps a store-wide sign-out
// counter, which each instance reads once a second: when it changed, every
// session in its memory is read from the store again on its next request.
//
// Markers are compared for equality only, never as times: instances that
// share a store need not agree on the time. (Sessions made "at or before
// the marker's time" were ended once; a marker from a clock an hour fast
// then refused every sign-in for that hour, and one from a clock five
// minutes slow spared sessions made in the five minutes before it.) The
// number is the sign-out's time in nanoseconds, which keeps the stored
// format of those markers, and the clock serves only to make it new.
// Entries stored before sessions recorded a marker are still judged by
// their creation time against the marker's, as they were.
//
// The store stays useless without the cookies: a marker is named by a hash
// of the account id and holds only its number, and the counter is random.

// signoutWatchInterval is how often an instance reads the sign-out counter:
// the bound on how long a session ended elsewhere through the admin API
// keeps working here.
const signoutWatchInterval = time.Second

// signoutMarkMargin is how much longer than the longest session a marker
// lasts. It must outlive every session made before it, whose expiry its
// maker's clock set and a reader's clock judges, while the marker's expiry
// is set by the instance that signs out and judged by Redis or by the
// instance that sweeps Caddy's storage: a day absorbs clocks that disagree
// by less. A marker is a few bytes per signed-out account.
const signoutMarkMargin = 24 * time.Hour

// signoutKey names the marker of an account: a hash of its id.
func signoutKey(userID int64) string {
	sum := sha256.Sum256([]byte("plex_auth account sign-out\x00" + strconv.FormatInt(userID, 10)))
	return hex.EncodeToString(sum[:])
}

// NoteSessionTTL records a session_ttl of a handler using this cache: an
// account's marker lasts as long as the longest of them (and at least
// Config.MarkerTTL) and a day more, so that it outlives every session it
// ends.
func (sc *Cache) NoteSessionTTL(d time.Duration) {
	for {
		cur := sc.maxSessionTTL.Load()
		if int64(d) <= cur || sc.maxSessionTTL.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// HeldSession is a session in memory, with its id.
type HeldSession struct {
	ID      string
	Session *Session
}

// Held returns the live sessions in memory (not over, not placeholders),
// in no order. It copies the table: for the admin API, not for requests.
func (sc *Cache) Held() []HeldSession {
	now := time.Now()
	var out []HeldSession
	for id, it := range sc.c.Items() {
		s := it.Object.(*Session)
		if s.gone || !now.Before(s.Expires) {
			continue
		}
		out = append(out, HeldSession{ID: id, Session: s})
	}
	return out
}

// EndSession ends the session id names everywhere: here at once (Remove),
// on other instances sharing the store once they see the sign-out counter
// change (within a second). err is set when the store could not be told.
func (sc *Cache) EndSession(ctx context.Context, id string) error {
	sc.Remove(id)
	return sc.bumpSignouts(ctx)
}

// EndAccount ends every session of the account userID made before it, on
// every instance sharing the store, and returns those this instance held. at is this instance's clock: it makes
// the new marker and judges the sessions that recorded none. err is set
// when the store could not be told: sessions on other instances may then
// last until they end otherwise.
func (sc *Cache) EndAccount(ctx context.Context, userID int64, at time.Time) ([]*Session, error) {
	var errs []error
	mark := newSignoutMark(at, 0)
	if sc.store != nil {
		sctx, cancel := context.WithTimeout(ctx, StoreTimeout)
		cur, err := sc.store.LoadSignout(sctx, signoutKey(userID))
		mark = newSignoutMark(at, cur)
		if err == nil {
			ttl := max(time.Duration(sc.maxSessionTTL.Load()), sc.cfg.MarkerTTL) + signoutMarkMargin
			err = sc.store.SaveSignout(sctx, signoutKey(userID), mark, ttl)
		}
		cancel()
		sc.StoreResult(err)
		errs = append(errs, err)
	}
	var ended []*Session
	for _, h := range sc.Held() {
		if h.Session.UserID == userID && endedByMark(h.Session, mark) {
			sc.Remove(h.ID)
			ended = append(ended, h.Session)
		}
	}
	errs = append(errs, sc.bumpSignouts(ctx))
	return ended, errors.Join(errs...)
}

// newSignoutMark is the account's next marker at at, cur being the one
// the store holds (0: none). It must differ from cur even if this clock
// repeats itself (a coarse clock, a clock set back), and never be 0.
func newSignoutMark(at time.Time, cur int64) int64 {
	mark := at.UnixNano()
	for mark == cur || mark == 0 {
		mark++
	}
	return mark
}

// bumpSignouts tells other instances sharing the store to read their
// sessions again.
func (sc *Cache) bumpSignouts(ctx context.Context) error {
	if sc.store == nil {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, StoreTimeout)
	defer cancel()
	err := sc.store.BumpSignouts(sctx)
	sc.StoreResult(err)
	return err
}

// endedBySignout reports whether the account's marker ends s.
func (sc *Cache) endedBySignout(ctx context.Context, s *Session) (bool, error) {
	if sc.store == nil {
		return false, nil
	}
	mark, err := sc.store.LoadSignout(ctx, signoutKey(s.UserID))
	if err != nil {
		return false, err
	}
	return endedByMark(s, mark), nil
}

// endedByMark reports whether the account's marker mark (0: none) ends s:
// s was made under another marker. A session that recorded none (an entry
// from before sessions did, or a memory-only cache, where one clock made
// both) can only be judged by the times, as all were before.
func endedByMark(s *Session, mark int64) bool {
	switch {
	case mark == 0:
		return false
	case s.SignoutMark == nil:
		return !s.Created.After(time.Unix(0, mark))
	}
	return *s.SignoutMark != mark
}

// recordSignoutMark records in s, a session being made, the account's
// marker as the store holds it now.
func (sc *Cache) recordSignoutMark(ctx context.Context, s *Session) error {
	if sc.store == nil {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, StoreTimeout)
	defer cancel()
	mark, err := sc.store.LoadSignout(sctx, signoutKey(s.UserID))
	sc.StoreResult(err)
	if err != nil {
		return err
	}
	s.SignoutMark = &mark
	return nil
}

func (sc *Cache) watchSignouts() {
	defer sc.done.Done()
	t := time.NewTicker(signoutWatchInterval)
	defer t.Stop()
	for {
		select {
		case <-sc.stop:
			return
		case <-t.C:
			sc.CheckSignouts()
		}
	}
}

// CheckSignouts reads the sign-out counter now, as the cache's watcher does
// every second; when it changed (or could not be read the last time),
// every session in memory is read from the store again on its next
// request. Only for a cache with a store.
func (sc *Cache) CheckSignouts() {
	sc.watchMu.Lock()
	defer sc.watchMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), StoreTimeout)
	gen, err := sc.store.Signouts(ctx)
	cancel()
	if err != nil {
		// Whatever it reads next counts as a change: a sign-out may
		// have happened meanwhile.
		sc.signoutGen = "\x00unknown"
		return
	}
	if gen != sc.signoutGen {
		sc.signoutGen = gen
		// Taken after the read: a session read from the store after this
		// moment was read after the sign-out's marker was written (the
		// marker is written before the counter changes).
		sc.staleBefore.Store(time.Now().UnixNano())
	}
}
