package session

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/internal/seal"
)

// The second level of the session cache: a store that outlives the process
// (Caddy's storage by default, or Redis) so sessions survive restarts and
// are shared by every instance using the same store.
//
// What is stored is useless without the cookie: the entry's name is a hash
// of the session id, and its content is sealed with AES-GCM under a key
// derived from the session id, which only the browser's cookie carries
// (sealed under the secret). A copy of the store yields no Plex token and no
// cookie value.

// ErrNotFound is what a store answers for a session entry it does not
// have (Load, Replace); the cache treats it as an answer, not a failure.
var ErrNotFound = errors.New("session not found")

// Store is a second-level session store, and lists every operation one
// offers: CaddyStore (store_caddy.go) and RedisStore (store_redis.go); a
// cache with no store keeps memory only. The conformance suite
// (TestEveryStoreConforms) holds every store to what is said here. Keys are
// hashes the cache makes (storeKey, signoutKey, PinClaimKey), never a
// session id or an account id; values are sealed entries (sealEntry). A
// store is safe for concurrent use, by several instances at once.
type Store interface {
	// Sessions.

	// Load returns the sealed entry for key, or ErrNotFound when
	// there is none. It may return an entry whose session is over (Caddy
	// storage keeps entries until the sweep): openEntry judges the expiry
	// the entry carries.
	Load(ctx context.Context, key string) ([]byte, error)
	// Save stores the sealed entry for key until expires, overwriting one
	// that is there. An entry saved already over is never loaded as a
	// session.
	Save(ctx context.Context, key string, val []byte, expires time.Time) error
	// Replace overwrites the entry for key only if it is there, in one
	// step with respect to Remove, and answers ErrNotFound when it
	// is not: a re-check must not bring back a session that ended while
	// plex.tv was being asked.
	Replace(ctx context.Context, key string, val []byte, expires time.Time) error
	// Remove deletes key; a missing key is not an error. An error means
	// the entry may still be there: the caller deletes again later.
	Remove(ctx context.Context, key string) error
	// Sweep drops expired entries (sessions, sign-out markers, pin claims)
	// where the store cannot expire them itself.
	Sweep(ctx context.Context) error
	// Describe names the store for logs, never with a password.
	Describe() string

	// Account sign-out markers and the sign-out counter (signout.go).

	// SaveSignout sets the account's marker to mark (never 0) for ttl,
	// replacing the one there.
	SaveSignout(ctx context.Context, key string, mark int64, ttl time.Duration) error
	// LoadSignout returns the account's marker, or 0 when there is none.
	LoadSignout(ctx context.Context, key string) (int64, error)
	// BumpSignouts changes the sign-out counter: every later Signouts
	// answers something it did not answer before.
	BumpSignouts(ctx context.Context) error
	// Signouts returns the sign-out counter ("" before the first bump).
	// Only equality means anything.
	Signouts(ctx context.Context) (string, error)

	// Pin claims (pinclaim.go).

	// ClaimPin records the claim key until expires, atomically across
	// every instance sharing the store: it returns false when a live
	// claim exists already. A claim already over is granted and kept by
	// no one.
	ClaimPin(ctx context.Context, key string, expires time.Time) (bool, error)
	// UnclaimPin drops a claim, so the pin can be finished again; a
	// missing claim is not an error.
	UnclaimPin(ctx context.Context, key string) error
}

// CodeStore is what the Caddy storage and Redis stores also keep:
// short-lived one-shot records (OpenID Connect authorization codes), so
// that with a shared store any instance redeems a code another issued.
// Each value begins with its expiry, as session entries do, so the Caddy
// store's Sweep drops it. It is internal/oidc's CodeStore; a memory-only
// block keeps its codes in memory instead.
type CodeStore interface {
	// PutCode stores val under key until expires, replacing what is there.
	PutCode(ctx context.Context, key string, val []byte, expires time.Time) error
	// SwapCode replaces the value under key by val (until expires) and
	// returns the value it replaced, in one step as seen by every other
	// caller, on every instance; when key holds nothing (or only an expired
	// value) it writes nothing and returns nil.
	SwapCode(ctx context.Context, key string, val []byte, expires time.Time) ([]byte, error)
	// PeekCode returns the live value under key, or nil.
	PeekCode(ctx context.Context, key string) ([]byte, error)
}

// storeKey is the entry name of a session: a hash of its id, so the name
// does not give the id away.
func storeKey(id string) string {
	sum := sha256.Sum256([]byte("plex_auth session name\x00" + id))
	return hex.EncodeToString(sum[:])
}

// entryLabel derives an entry's key from its session id (seal.RecordAEAD).
const entryLabel = "plex_auth session entry key"

func entryAEAD(id string) (cipher.AEAD, error) { return seal.RecordAEAD(id, entryLabel) }

// sealEntry encodes s for the store as a sealed record (seal.SealRecord):
// 8 bytes of expiry (clear, so a sweep can drop it without the key), then
// nonce and ciphertext, the entry's name authenticated.
func sealEntry(id string, s *Session) ([]byte, error) {
	aead, err := entryAEAD(id)
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return seal.SealRecord(aead, s.Expires.Unix(), plain, []byte(storeKey(id))), nil
}

// openEntry decodes what sealEntry made.
func openEntry(id string, b []byte) (*Session, error) {
	aead, err := entryAEAD(id)
	if err != nil {
		return nil, err
	}
	if len(b) < 8+aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("session entry too short")
	}
	if exp, _ := seal.RecordExpiry(b); time.Now().Unix() >= exp {
		return nil, ErrNotFound
	}
	plain, err := seal.OpenRecord(aead, b, []byte(storeKey(id)))
	if err != nil {
		return nil, fmt.Errorf("session entry does not authenticate: %v", err)
	}
	s := new(Session)
	if err := json.Unmarshal(plain, s); err != nil {
		return nil, err
	}
	return s, nil
}

func entryExpiry(b []byte) time.Time {
	exp, ok := seal.RecordExpiry(b)
	if !ok {
		return time.Time{}
	}
	return time.Unix(exp, 0)
}

// randomBytes returns n bytes from crypto/rand.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("plex_auth: no randomness: " + err.Error())
	}
	return b
}
