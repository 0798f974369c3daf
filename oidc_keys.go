package plexauth

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-plexauth/caddy-plexauth/internal/oidc"
	"github.com/caddy-plexauth/caddy-plexauth/internal/session"
)

// The provider's signing keys live in Caddy's storage next to the cookie
// secret (identity.go), so instances sharing a storage sign with the same
// key and publish the same JWKS. The set is read at start, and again at
// most once a minute when a request needs it, so that a rotation made by
// another instance is published and used here within a minute.

const (
	storageOIDCKeys  = "plex_auth/oidc_keys"
	oidcKeysLock     = "plex_auth_oidc_keys"
	oidcKeysReadEach = time.Minute
)

// oidcKeyring holds the key set read from storage.
type oidcKeyring struct {
	st     certmagic.Storage
	set    atomic.Pointer[oidc.KeySet]
	readAt atomic.Int64 // UnixNano of the last read
	mu     sync.Mutex   // one re-read at a time
}

func newOIDCKeyring(ctx context.Context, st certmagic.Storage) (*oidcKeyring, error) {
	if st == nil {
		return nil, errors.New("oidc: no storage configured for the signing key")
	}
	k := &oidcKeyring{st: st}
	ks, err := syncOIDCKeys(ctx, st, time.Now())
	if err != nil {
		return nil, err
	}
	k.set.Store(ks)
	k.readAt.Store(time.Now().UnixNano())
	return k, nil
}

// get returns the key set, read again from storage when the last read is
// a minute old (rotating the key when it is due). A storage that fails
// leaves the set as it was.
func (k *oidcKeyring) get(ctx context.Context) *oidc.KeySet {
	now := time.Now()
	if now.UnixNano()-k.readAt.Load() < int64(oidcKeysReadEach) || !k.mu.TryLock() {
		return k.set.Load()
	}
	defer k.mu.Unlock()
	k.readAt.Store(now.UnixNano())
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), session.StoreTimeout)
	defer cancel()
	ks, err := loadOIDCKeys(ctx, k.st)
	if err == nil && ks.RotationDue(now, oidcKeyRotateEvery) {
		ks, err = syncOIDCKeys(ctx, k.st, now)
	}
	if err == nil {
		k.set.Store(ks.Prune(now))
	}
	return k.set.Load()
}

func loadOIDCKeys(ctx context.Context, st certmagic.Storage) (*oidc.KeySet, error) {
	b, err := st.Load(ctx, storageOIDCKeys)
	if err != nil {
		return nil, err
	}
	return oidc.ParseKeySet(b)
}

// syncOIDCKeys returns the stored key set, under the storage lock: made
// when there is none, rotated when the current key is due, pruned of keys
// whose tokens have all expired, and stored again when it changed.
func syncOIDCKeys(ctx context.Context, st certmagic.Storage, now time.Time) (*oidc.KeySet, error) {
	if err := st.Lock(ctx, oidcKeysLock); err != nil {
		return nil, fmt.Errorf("oidc: locking storage: %v", err)
	}
	defer func() { _ = st.Unlock(context.WithoutCancel(ctx), oidcKeysLock) }()
	ks, err := loadOIDCKeys(ctx, st)
	changed := false
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if ks, err = oidc.NewKeySet(now); err != nil {
			return nil, err
		}
		changed = true
	case err != nil:
		return nil, fmt.Errorf("oidc: reading %s from storage: %v", storageOIDCKeys, err)
	case ks.RotationDue(now, oidcKeyRotateEvery):
		if ks, err = ks.Rotate(now, oidcTokenTTL+oidcKeyMargin); err != nil {
			return nil, err
		}
		changed = true
	}
	if pruned := ks.Prune(now); pruned != ks {
		ks, changed = pruned, true
	}
	if changed {
		b, err := ks.Marshal()
		if err != nil {
			return nil, err
		}
		if err := st.Store(ctx, storageOIDCKeys, b); err != nil {
			return nil, fmt.Errorf("oidc: storing %s: %v", storageOIDCKeys, err)
		}
	}
	return ks, nil
}
