package oidc

import (
	"context"
	"fmt"
	"io/fs"
	"sync"
	"testing"
	"time"
)

// memStorage is a KeyStorage in memory, its lock one mutex per name.
type memStorage struct {
	mu    sync.Mutex
	data  map[string][]byte
	locks sync.Map // name → *sync.Mutex
}

func (m *memStorage) Load(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.data[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	return b, nil
}

func (m *memStorage) Store(_ context.Context, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data[key] = value
	return nil
}

func (m *memStorage) Lock(_ context.Context, name string) error {
	l, _ := m.locks.LoadOrStore(name, new(sync.Mutex))
	l.(*sync.Mutex).Lock()
	return nil
}

func (m *memStorage) Unlock(_ context.Context, name string) error {
	l, _ := m.locks.Load(name)
	l.(*sync.Mutex).Unlock()
	return nil
}

// The first keyring on a storage makes the set; another on the same
// storage (another instance) signs with the same key; a set whose key is
// due is rotated at start and the old key stays published.
func TestKeyringSharesTheStoredSetAndRotatesItWhenDue(t *testing.T) {
	st := &memStorage{data: map[string][]byte{}}
	cfg := KeyringConfig{Storage: st, Key: "keys", Lock: "keys-lock", RotateEvery: 30 * 24 * time.Hour, Keep: time.Hour, Timeout: time.Second}
	ctx := context.Background()
	a, err := NewKeyring(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(ctx, "keys"); err != nil {
		t.Fatalf("the new set was not stored: %v", err)
	}
	b, err := NewKeyring(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := a.Get(ctx).Sign(TypeAccessToken, AccessClaims{Audience: "c", ID: "g", Expires: now.Add(time.Hour).Unix(), Identity: Identity{Subject: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx).VerifyAccessToken(tok, now); err != nil {
		t.Fatalf("a token signed on one instance does not verify on another sharing the storage: %v", err)
	}

	// Due for rotation: the next start rotates, and still verifies tokens
	// of the replaced key.
	cfg.RotateEvery = time.Nanosecond
	c, err := NewKeyring(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Get(ctx).JWKS(now)) <= len(a.Get(ctx).JWKS(now)) {
		t.Fatal("a due key was not rotated next to the old one")
	}
	if _, err := c.Get(ctx).VerifyAccessToken(tok, now); err != nil {
		t.Fatalf("a token of the replaced key no longer verifies: %v", err)
	}
	if _, err := NewKeyring(ctx, KeyringConfig{Key: "keys"}); err == nil {
		t.Fatal("a keyring without storage was made")
	}
}
