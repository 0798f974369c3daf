package plexauth

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io/fs"
	"strconv"
	"time"
)

// A pin approved at Plex yields at most one session. Clearing the state
// cookie in the browser that finished the sign-in is not enough: a copy of
// that cookie (saved from the browser, or sent twice at once) would finish
// it again, from anywhere, and mint a session each time. So the request
// that finishes a pin first claims it, in memory and in the session store,
// which every instance shares and a restart keeps; a claim that exists
// refuses the pin. Claims last as long as a state cookie can (maxStateTTL).

// pinClaimKey names the claim on a pin: a hash of the client identifier
// (pin ids belong to it at plex.tv) and the pin id.
func pinClaimKey(clientID string, pinID int64) string {
	sum := sha256.Sum256([]byte("plex_auth pin claim\x00" + clientID + "\x00" + strconv.FormatInt(pinID, 10)))
	return hex.EncodeToString(sum[:])
}

// pinClaimer is a session store that remembers claimed pins.
type pinClaimer interface {
	// claimPin records the claim key until expires, atomically: it
	// returns false when a live claim exists already.
	claimPin(ctx context.Context, key string, expires time.Time) (bool, error)
	// unclaimPin drops a claim, so the pin can be finished again.
	unclaimPin(ctx context.Context, key string) error
}

// pinSettled reports whether this instance has seen the pin claimed, so a
// replay is refused without asking plex.tv or the store.
func (sc *sessionCache) pinSettled(key string) bool {
	_, ok := sc.pins.Get(key)
	return ok
}

// claimPin claims the pin key for ttl. It returns false when the pin was
// claimed already, here or, through the store, by another instance. err is
// set when the store could not be asked; the pin is then not claimed.
func (sc *sessionCache) claimPin(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		// Over already: nothing to claim (go-cache would keep a claim
		// made with such a lifetime for ever), as Redis does.
		return true, nil
	}
	// go-cache's Add is atomic: of concurrent finishes here, one wins.
	if sc.pins.Add(key, struct{}{}, ttl) != nil {
		return false, nil
	}
	pc, ok := sc.store.(pinClaimer)
	if !ok {
		return true, nil // memory only
	}
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	claimed, err := pc.claimPin(sctx, key, time.Now().Add(ttl))
	sc.storeResult(err)
	if err != nil {
		sc.pins.Delete(key)
		return false, err
	}
	// Not claimed: another instance has it. The mark stays, so replays
	// here are refused from memory.
	return claimed, nil
}

// releasePin drops a claim whose sign-in failed for a reason that may pass
// (plex.tv or the store not answering), so the browser can ask again.
func (sc *sessionCache) releasePin(key string) {
	sc.pins.Delete(key)
	if pc, ok := sc.store.(pinClaimer); ok {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		sc.storeResult(pc.unclaimPin(ctx, key))
	}
}

// Claims in Caddy's storage: one entry per pin under caddyPinPrefix, whose
// content is its expiry (8 bytes, as session entries begin), so the sweep
// drops it. Caddy's storage has no create-if-absent, so a claim is made
// under its lock, which Caddy's storage modules share between instances.

const caddyPinPrefix = "plex_auth/pins"

func (c *caddyStore) claimPin(ctx context.Context, key string, expires time.Time) (bool, error) {
	lock := "plex_auth_pin_" + key
	if err := c.st.Lock(ctx, lock); err != nil {
		return false, err
	}
	defer func() { _ = c.st.Unlock(context.WithoutCancel(ctx), lock) }()
	name := caddyPinPrefix + "/" + key
	b, err := c.st.Load(ctx, name)
	switch {
	case err == nil && entryExpiry(b).After(time.Now()):
		return false, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return false, err
	}
	return true, c.st.Store(ctx, name, binary.BigEndian.AppendUint64(nil, uint64(expires.Unix())))
}

func (c *caddyStore) unclaimPin(ctx context.Context, key string) error {
	err := c.st.Delete(ctx, caddyPinPrefix+"/"+key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Claims in Redis: SET NX with the claim's TTL.

const redisPinPrefix = "plex_auth:pin:"

func (r *redisStore) claimPin(ctx context.Context, key string, expires time.Time) (bool, error) {
	ttl := time.Until(expires)
	if ttl <= 0 {
		return true, nil
	}
	return r.c.SetNX(ctx, redisPinPrefix+key, "1", ttl).Result()
}

func (r *redisStore) unclaimPin(ctx context.Context, key string) error {
	return r.c.Del(ctx, redisPinPrefix+key).Err()
}

// Interface guards
var (
	_ pinClaimer = (*caddyStore)(nil)
	_ pinClaimer = (*redisStore)(nil)
)
