package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
)

// CaddyStore keeps sessions, sign-out markers and pin claims in Caddy's
// configured storage (the `storage` global option; the file system when
// unset), under plex_auth/. Instances sharing the storage share them.
type CaddyStore struct {
	st certmagic.Storage
}

// NewCaddyStore returns a store in st.
func NewCaddyStore(st certmagic.Storage) *CaddyStore { return &CaddyStore{st: st} }

const caddyStorePrefix = "plex_auth/sessions"

func (c *CaddyStore) path(key string) string { return caddyStorePrefix + "/" + key }

// Load implements Store. An entry stays until the sweep, whatever its
// expiry: openEntry judges it.
func (c *CaddyStore) Load(ctx context.Context, key string) ([]byte, error) {
	b, err := c.st.Load(ctx, c.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	return b, err
}

// Save implements Store. expires is not used: the entry carries its
// expiry (sealEntry).
func (c *CaddyStore) Save(ctx context.Context, key string, val []byte, _ time.Time) error {
	return c.st.Store(ctx, c.path(key), val)
}

// lockName is the storage lock replace and remove take for key. Storage
// offers no conditional write, so the lock is what keeps a logout from
// landing between a re-check's read of the entry and its write.
func (c *CaddyStore) lockName(key string) string { return "plex_auth_session_" + key }

// Replace implements Store, under the entry's storage lock (lockName),
// which Caddy's storage modules share between instances.
func (c *CaddyStore) Replace(ctx context.Context, key string, val []byte, _ time.Time) error {
	name := c.lockName(key)
	if err := c.st.Lock(ctx, name); err != nil {
		return fmt.Errorf("locking session entry: %w", err)
	}
	defer func() { _ = c.st.Unlock(context.WithoutCancel(ctx), name) }()
	if _, err := c.Load(ctx, key); err != nil {
		return err
	}
	return c.st.Store(ctx, c.path(key), val)
}

// Remove implements Store, under the entry's storage lock. Without the
// lock it deletes all the same and reports the lock's failure, so that the
// caller deletes again later.
func (c *CaddyStore) Remove(ctx context.Context, key string) error {
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

// Sweep implements Store: it drops the expired session entries, pin
// claims, sign-out markers and one-shot records (codes).
func (c *CaddyStore) Sweep(ctx context.Context) error {
	return errors.Join(c.sweepPrefix(ctx, caddyStorePrefix), c.sweepPrefix(ctx, caddyPinPrefix), c.sweepPrefix(ctx, caddySignoutPrefix), c.sweepPrefix(ctx, caddyCodePrefix))
}

// sweepPrefix drops the expired entries under prefix: sessions, pin claims
// (see pinclaim.go) or sign-out markers (signout.go), all beginning with
// their expiry.
func (c *CaddyStore) sweepPrefix(ctx context.Context, prefix string) error {
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

// Describe implements Store.
func (c *CaddyStore) Describe() string { return "caddy storage" }

// Markers in Caddy's storage: one entry per account under
// caddySignoutPrefix, holding its expiry (8 bytes, as session entries
// begin, so the sweep drops it) and its number (8 bytes); the counter is
// one entry of random bytes.

const (
	caddySignoutPrefix   = "plex_auth/signouts"
	caddySignoutsCounter = "plex_auth/signouts_counter"
)

// SaveSignout implements Store.
func (c *CaddyStore) SaveSignout(ctx context.Context, key string, mark int64, ttl time.Duration) error {
	b := binary.BigEndian.AppendUint64(nil, uint64(time.Now().Add(ttl).Unix()))
	b = binary.BigEndian.AppendUint64(b, uint64(mark))
	return c.st.Store(ctx, caddySignoutPrefix+"/"+key, b)
}

// LoadSignout implements Store. It reads a marker past its lifetime
// until the sweep drops it (harmless: markers outlive every session they
// end by a day, and are compared for equality).
func (c *CaddyStore) LoadSignout(ctx context.Context, key string) (int64, error) {
	b, err := c.st.Load(ctx, caddySignoutPrefix+"/"+key)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(b) != 16 {
		return 0, errors.New("malformed sign-out marker")
	}
	return int64(binary.BigEndian.Uint64(b[8:])), nil
}

// BumpSignouts implements Store: the counter becomes 16 new random
// bytes.
func (c *CaddyStore) BumpSignouts(ctx context.Context) error {
	return c.st.Store(ctx, caddySignoutsCounter, randomBytes(16))
}

// Signouts implements Store.
func (c *CaddyStore) Signouts(ctx context.Context) (string, error) {
	b, err := c.st.Load(ctx, caddySignoutsCounter)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return string(b), err
}

// Claims in Caddy's storage: one entry per pin under caddyPinPrefix, whose
// content is its expiry (8 bytes, as session entries begin), so the sweep
// drops it. Caddy's storage has no create-if-absent, so a claim is made
// under its lock, which Caddy's storage modules share between instances.

const caddyPinPrefix = "plex_auth/pins"

// ClaimPin implements Store, under the claim's storage lock.
func (c *CaddyStore) ClaimPin(ctx context.Context, key string, expires time.Time) (bool, error) {
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

// UnclaimPin implements Store.
func (c *CaddyStore) UnclaimPin(ctx context.Context, key string) error {
	err := c.st.Delete(ctx, caddyPinPrefix+"/"+key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Interface guard
var (
	_ Store     = (*CaddyStore)(nil)
	_ CodeStore = (*CaddyStore)(nil)
)

// One-shot records (OpenID Connect authorization codes, internal/oidc).
// Caddy's storage has no atomic swap, so a swap is done under the storage
// lock, which Caddy's storage modules share between instances (as pin
// claims are).

const caddyCodePrefix = "plex_auth/oidc_codes"

// PutCode implements CodeStore.
func (c *CaddyStore) PutCode(ctx context.Context, key string, val []byte, _ time.Time) error {
	return c.st.Store(ctx, caddyCodePrefix+"/"+key, val)
}

// SwapCode implements CodeStore.
func (c *CaddyStore) SwapCode(ctx context.Context, key string, val []byte, _ time.Time) ([]byte, error) {
	lock := "plex_auth_oidc_code_" + key
	if err := c.st.Lock(ctx, lock); err != nil {
		return nil, err
	}
	defer func() { _ = c.st.Unlock(context.WithoutCancel(ctx), lock) }()
	old, err := c.PeekCode(ctx, key)
	if old == nil || err != nil {
		return nil, err
	}
	return old, c.st.Store(ctx, caddyCodePrefix+"/"+key, val)
}

// PeekCode implements CodeStore.
func (c *CaddyStore) PeekCode(ctx context.Context, key string) ([]byte, error) {
	b, err := c.st.Load(ctx, caddyCodePrefix+"/"+key)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, err
	case !entryExpiry(b).After(time.Now()):
		return nil, nil // not swept yet
	}
	return b, nil
}
