package plexauth

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
	return errors.Join(c.sweepPrefix(ctx, caddyStorePrefix), c.sweepPrefix(ctx, caddyPinPrefix), c.sweepPrefix(ctx, caddySignoutPrefix))
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

// Markers in Caddy's storage: one entry per account under
// caddySignoutPrefix, holding its expiry (8 bytes, as session entries
// begin, so the sweep drops it) and its number (8 bytes); the counter is
// one entry of random bytes.

const (
	caddySignoutPrefix   = "plex_auth/signouts"
	caddySignoutsCounter = "plex_auth/signouts_counter"
)

func (c *caddyStore) saveSignout(ctx context.Context, key string, mark int64, ttl time.Duration) error {
	b := binary.BigEndian.AppendUint64(nil, uint64(time.Now().Add(ttl).Unix()))
	b = binary.BigEndian.AppendUint64(b, uint64(mark))
	return c.st.Store(ctx, caddySignoutPrefix+"/"+key, b)
}

func (c *caddyStore) loadSignout(ctx context.Context, key string) (int64, error) {
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

func (c *caddyStore) bumpSignouts(ctx context.Context) error {
	return c.st.Store(ctx, caddySignoutsCounter, randomBytes(16))
}

func (c *caddyStore) signouts(ctx context.Context) (string, error) {
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

// Interface guard
var _ sessionStore = (*caddyStore)(nil)
