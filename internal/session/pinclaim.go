package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// A pin approved at Plex yields at most one session. Clearing the state
// cookie in the browser that finished the sign-in is not enough: a copy of
// that cookie (saved from the browser, or sent twice at once) would finish
// it again, from anywhere, and mint a session each time. So the request
// that finishes a pin first claims it, in memory and in the session store,
// which every instance shares and a restart keeps; a claim that exists
// refuses the pin. Claims last as long as a state cookie can (the caller
// gives that lifetime).

// PinClaimKey names the claim on a pin: a hash of the client identifier
// (pin ids belong to it at plex.tv) and the pin id. Equal inputs give
// equal keys on every instance; the key shows neither.
func PinClaimKey(clientID string, pinID int64) string {
	sum := sha256.Sum256([]byte("plex_auth pin claim\x00" + clientID + "\x00" + strconv.FormatInt(pinID, 10)))
	return hex.EncodeToString(sum[:])
}

// PinSettled reports whether this instance has seen the pin key claimed
// (here or, refused by the store, elsewhere) and not released, so a replay
// is refused without asking plex.tv or the store. False says nothing:
// ClaimPin decides.
func (sc *Cache) PinSettled(key string) bool {
	_, ok := sc.pins.Get(key)
	return ok
}

// ClaimPin claims the pin key for ttl. It returns false when the pin was
// claimed already, here or, through the store, by another instance: of
// concurrent claims on every instance sharing the store, one gets true.
// err is set when the store could not be asked; the pin is then not
// claimed. A ttl already over claims nothing and returns true.
func (sc *Cache) ClaimPin(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		// Over already: nothing to claim (go-cache would keep a claim
		// made with such a lifetime for ever), as Redis does.
		return true, nil
	}
	// go-cache's Add is atomic: of concurrent finishes here, one wins.
	if sc.pins.Add(key, struct{}{}, ttl) != nil {
		return false, nil
	}
	if sc.store == nil {
		return true, nil // memory only
	}
	sctx, cancel := context.WithTimeout(ctx, StoreTimeout)
	defer cancel()
	claimed, err := sc.store.ClaimPin(sctx, key, time.Now().Add(ttl))
	sc.StoreResult(err)
	if err != nil {
		sc.pins.Delete(key)
		return false, err
	}
	// Not claimed: another instance has it. The mark stays, so replays
	// here are refused from memory.
	return claimed, nil
}

// ReleasePin drops a claim whose sign-in failed for a reason that may pass
// (plex.tv or the store not answering), here and in the store, so the
// browser can ask again.
func (sc *Cache) ReleasePin(key string) {
	sc.pins.Delete(key)
	if sc.store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), StoreTimeout)
		defer cancel()
		sc.StoreResult(sc.store.UnclaimPin(ctx, key))
	}
}
