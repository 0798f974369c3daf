package plexauth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
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

var errSessionNotFound = errors.New("session not found")

// sessionStore is a second-level session store.
type sessionStore interface {
	// load returns the sealed entry for key, or errSessionNotFound.
	load(ctx context.Context, key string) ([]byte, error)
	// save stores the sealed entry for key until it expires.
	save(ctx context.Context, key string, val []byte, expires time.Time) error
	// replace overwrites the entry for key only if it is there, in one
	// step with respect to remove, and answers errSessionNotFound when it
	// is not: a re-check must not bring back a session that ended while
	// plex.tv was being asked.
	replace(ctx context.Context, key string, val []byte, expires time.Time) error
	// remove deletes key; a missing key is not an error.
	remove(ctx context.Context, key string) error
	// sweep drops expired entries where the store cannot expire them itself.
	sweep(ctx context.Context) error
	// describe names the store for logs.
	describe() string
}

// storeKey is the entry name of a session: a hash of its id, so the name
// does not give the id away.
func storeKey(id string) string {
	sum := sha256.Sum256([]byte("plex_auth session name\x00" + id))
	return hex.EncodeToString(sum[:])
}

func entryAEAD(id string) (cipher.AEAD, error) {
	mac := hmac.New(sha256.New, []byte(id))
	mac.Write([]byte("plex_auth session entry key"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealEntry encodes s for the store: 8 bytes of expiry (clear, so a sweep
// can drop it without the key), then nonce and ciphertext.
func sealEntry(id string, s *Session) ([]byte, error) {
	aead, err := entryAEAD(id)
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 8+aead.NonceSize(), 8+aead.NonceSize()+len(plain)+aead.Overhead())
	binary.BigEndian.PutUint64(out, uint64(s.Expires.Unix()))
	copy(out[8:], randomBytes(aead.NonceSize()))
	nonce := out[8 : 8+aead.NonceSize()]
	return aead.Seal(out, nonce, plain, []byte(storeKey(id))), nil
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
	if exp := int64(binary.BigEndian.Uint64(b)); time.Now().Unix() >= exp {
		return nil, errSessionNotFound
	}
	ns := aead.NonceSize()
	plain, err := aead.Open(nil, b[8:8+ns], b[8+ns:], []byte(storeKey(id)))
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
	if len(b) < 8 {
		return time.Time{}
	}
	return time.Unix(int64(binary.BigEndian.Uint64(b)), 0)
}

// caddyStore keeps sessions in Caddy's configured storage (the `storage`
// global option; the file system when unset).
type caddyStore struct {
	st certmagic.Storage
}

const caddyStorePrefix = "plex_auth/sessions"

func (c *caddyStore) path(key string) string { return caddyStorePrefix + "/" + key }

func (c *caddyStore) load(ctx context.Context, key string) ([]byte, error) {
	b, err := c.st.Load(ctx, c.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errSessionNotFound
	}
	return b, err
}

func (c *caddyStore) save(ctx context.Context, key string, val []byte, _ time.Time) error {
	return c.st.Store(ctx, c.path(key), val)
}

// lockName is the storage lock replace and remove take for key. Storage
// offers no conditional write, so the lock is what keeps a logout from
// landing between a re-check's read of the entry and its write.
func (c *caddyStore) lockName(key string) string { return "plex_auth_session_" + key }

func (c *caddyStore) replace(ctx context.Context, key string, val []byte, _ time.Time) error {
	name := c.lockName(key)
	if err := c.st.Lock(ctx, name); err != nil {
		return fmt.Errorf("locking session entry: %w", err)
	}
	defer func() { _ = c.st.Unlock(context.WithoutCancel(ctx), name) }()
	if _, err := c.load(ctx, key); err != nil {
		return err
	}
	return c.st.Store(ctx, c.path(key), val)
}

func (c *caddyStore) remove(ctx context.Context, key string) error {
	name := c.lockName(key)
	lockErr := c.st.Lock(ctx, name)
	if lockErr == nil {
		defer func() { _ = c.st.Unlock(context.WithoutCancel(ctx), name) }()
	}
	// Deleting is never wrong, so it happens even without the lock; but
	// then a re-check writing at that moment could bring the entry back,
	// so the failure is reported and the caller deletes again later.
	err := c.st.Delete(ctx, c.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err == nil && lockErr != nil {
		return fmt.Errorf("locking session entry: %w", lockErr)
	}
	return err
}

func (c *caddyStore) sweep(ctx context.Context) error {
	return errors.Join(c.sweepPrefix(ctx, caddyStorePrefix), c.sweepPrefix(ctx, caddyPinPrefix), c.sweepPrefix(ctx, caddySignoutPrefix), c.sweepPrefix(ctx, caddyCodePrefix))
}

// sweepPrefix drops the expired entries under prefix: sessions, pin claims
// (see pinclaim.go) or sign-out markers (signout.go), all beginning with
// their expiry.
func (c *caddyStore) sweepPrefix(ctx context.Context, prefix string) error {
	keys, err := c.st.List(ctx, prefix, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	now := time.Now()
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix+"/") {
			k = prefix + "/" + k
		}
		b, err := c.st.Load(ctx, k)
		if err != nil {
			continue
		}
		if !entryExpiry(b).After(now) {
			_ = c.st.Delete(ctx, k)
		}
	}
	return nil
}

func (c *caddyStore) describe() string { return "caddy storage" }
