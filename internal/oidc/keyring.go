package oidc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"
)

// The provider's signing keys live in a storage the instances share (the
// root passes Caddy's, next to the cookie secret), so instances sharing it
// sign with the same key and publish the same JWKS. The set is read at
// start, and again at most once a minute when a request needs it, so that
// a rotation made by another instance is published and used here within a
// minute.

// keysReadEach is how often the key set is read again from storage.
const keysReadEach = time.Minute

// KeyStorage is where a Keyring keeps the key set; Caddy's storage
// (certmagic.Storage) is one. Load answers an error wrapping
// fs.ErrNotExist when nothing is stored under key; Lock excludes every
// other holder of name, on every instance sharing the storage, until
// Unlock.
type KeyStorage interface {
	Load(ctx context.Context, key string) ([]byte, error)
	Store(ctx context.Context, key string, value []byte) error
	Lock(ctx context.Context, name string) error
	Unlock(ctx context.Context, name string) error
}

// KeyringConfig is where and how a Keyring keeps its keys.
type KeyringConfig struct {
	Storage KeyStorage
	Key     string // the storage key of the set
	Lock    string // the lock name that makes a rotation one instance's
	// RotateEvery is the age at which the signing key is replaced; Keep is
	// how long a replaced key stays published (the tokens' lifetime and a
	// margin); Timeout bounds a re-read.
	RotateEvery, Keep, Timeout time.Duration
}

// Keyring holds the key set read from storage. Its methods may be called
// from any number of goroutines.
type Keyring struct {
	cfg    KeyringConfig
	st     KeyStorage
	set    atomic.Pointer[KeySet]
	readAt atomic.Int64 // UnixNano of the last read
	mu     sync.Mutex   // one re-read at a time
}

// NewKeyring reads the key set from storage, under its lock: made when
// there is none, rotated when the current key is due, pruned of keys whose
// tokens have all expired. It fails when there is no storage or it fails.
func NewKeyring(ctx context.Context, c KeyringConfig) (*Keyring, error) {
	st := c.Storage
	if st == nil {
		return nil, errors.New("oidc: no storage configured for the signing key")
	}
	k := &Keyring{cfg: c, st: st}
	ks, err := k.sync(ctx, time.Now())
	if err != nil {
		return nil, err
	}
	k.set.Store(ks)
	k.readAt.Store(time.Now().UnixNano())
	return k, nil
}

// Get returns the key set, read again from storage when the last read is
// a minute old (rotating the key when it is due). A storage that fails
// leaves the set as it was: never nil.
func (k *Keyring) Get(ctx context.Context) *KeySet {
	now := time.Now()
	if now.UnixNano()-k.readAt.Load() < int64(keysReadEach) || !k.mu.TryLock() {
		return k.set.Load()
	}
	defer k.mu.Unlock()
	k.readAt.Store(now.UnixNano())
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), k.cfg.Timeout)
	defer cancel()
	ks, err := k.load(ctx)
	if err == nil && ks.RotationDue(now, k.cfg.RotateEvery) {
		ks, err = k.sync(ctx, now)
	}
	if err == nil {
		k.set.Store(ks.Prune(now))
	}
	return k.set.Load()
}

func (k *Keyring) load(ctx context.Context) (*KeySet, error) {
	b, err := k.st.Load(ctx, k.cfg.Key)
	if err != nil {
		return nil, err
	}
	return ParseKeySet(b)
}

// sync returns the stored key set, under the storage lock: made when there
// is none, rotated when the current key is due, pruned of keys whose
// tokens have all expired, and stored again when it changed.
func (k *Keyring) sync(ctx context.Context, now time.Time) (*KeySet, error) {
	st := k.st
	if err := st.Lock(ctx, k.cfg.Lock); err != nil {
		return nil, fmt.Errorf("oidc: locking storage: %v", err)
	}
	defer func() { _ = st.Unlock(context.WithoutCancel(ctx), k.cfg.Lock) }()
	ks, err := k.load(ctx)
	changed := false
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if ks, err = NewKeySet(now); err != nil {
			return nil, err
		}
		changed = true
	case err != nil:
		return nil, fmt.Errorf("oidc: reading %s from storage: %v", k.cfg.Key, err)
	case ks.RotationDue(now, k.cfg.RotateEvery):
		if ks, err = ks.Rotate(now, k.cfg.Keep); err != nil {
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
		if err := st.Store(ctx, k.cfg.Key, b); err != nil {
			return nil, fmt.Errorf("oidc: storing %s: %v", k.cfg.Key, err)
		}
	}
	return ks, nil
}
