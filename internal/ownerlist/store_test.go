package ownerlist

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
)

func TestOwnerListIsSealedUnderAKeyOnlyTheTokenGives(t *testing.T) {
	st := &certmagic.FileStorage{Path: t.TempDir()}
	ctx := context.Background()
	const plexTV = "https://plex.tv"
	mine, err := newOwnerStore(st, "owner-token-A", plexTV, []string{"srv"})
	if err != nil {
		t.Fatal(err)
	}
	list := access.NewList(access.Members{OwnerID: 1, Home: []int64{2}, Friends: []int64{3}})
	if err := mine.save(ctx, list); err != nil {
		t.Fatal(err)
	}
	if got, _, err := mine.load(ctx); err != nil || got == nil || got.Members().OwnerID != 1 {
		t.Fatalf("the token that sealed the list cannot open it: %v, %v", got, err)
	}
	// Someone who knows everything but the token (plex_tv_url, the servers,
	// the entry's name) must not open it.
	other, err := newOwnerStore(st, "owner-token-B", plexTV, []string{"srv"})
	if err != nil {
		t.Fatal(err)
	}
	if other.key == mine.key {
		t.Fatal("two tokens name their lists the same")
	}
	other.key = mine.key
	if got, _, err := other.load(ctx); err == nil || got != nil {
		t.Fatalf("the list opened under another token's key: %v, %v", got, err)
	}
}

// store.go (newOwnerStore's sort, save's nonce, load's length check): the list's name does not depend on how
// the servers are listed; every save has a fresh nonce; a truncated entry
// is refused, not read out of bounds.
func TestOwnerStoreNamesNoncesAndShortEntries(t *testing.T) {
	st := &certmagic.FileStorage{Path: t.TempDir()}
	ctx := context.Background()
	a, err := newOwnerStore(st, "token", "https://plex.tv", []string{"srv2", "srv1", "srv2"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newOwnerStore(st, "token", "https://plex.tv", []string{"srv1", "srv2"})
	if a.key != b.key {
		t.Fatal("the same servers listed in another order, or twice, name another list: a reordered config would lose it")
	}

	var nonces [][]byte
	for i := range 2 {
		l := access.NewList(access.Members{OwnerID: 1, Friends: []int64{int64(10 + i)}})
		if err := a.save(ctx, l); err != nil {
			t.Fatal(err)
		}
		raw, err := st.Load(ctx, a.key)
		if err != nil {
			t.Fatal(err)
		}
		nonces = append(nonces, raw[:a.aead.NonceSize()])
	}
	if bytes.Equal(nonces[0], nonces[1]) || bytes.Equal(nonces[0], make([]byte, len(nonces[0]))) {
		t.Fatalf("two saves under one key used the nonces %x and %x: AES-GCM needs a fresh one each time", nonces[0], nonces[1])
	}

	for _, short := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte{1}, a.aead.NonceSize()+a.aead.Overhead()-1)} {
		if err := st.Store(ctx, a.key, short); err != nil {
			t.Fatal(err)
		}
		fresh, _ := newOwnerStore(st, "token", "https://plex.tv", []string{"srv1", "srv2"})
		if l, _, err := fresh.load(ctx); err == nil || l != nil {
			t.Fatalf("a %d-byte entry loaded: %v, %v", len(short), l, err)
		}
	}
}

var errStoreDown = errors.New("dial tcp 127.0.0.1:1: connection refused")

// failOnceStorage is Caddy's file storage refusing its next Store.
type failOnceStorage struct {
	*certmagic.FileStorage
	fail bool
}

func (s *failOnceStorage) Store(ctx context.Context, key string, value []byte) error {
	if s.fail {
		s.fail = false
		return errStoreDown
	}
	return s.FileStorage.Store(ctx, key, value)
}

// store.go (save, after its Store): a list whose write failed is written again at
// the next save, though it has not changed.
func TestOwnerListWriteThatFailedIsRetried(t *testing.T) {
	st := &failOnceStorage{FileStorage: &certmagic.FileStorage{Path: t.TempDir()}, fail: true}
	ctx := context.Background()
	s, err := newOwnerStore(st, "token", "https://plex.tv", []string{"srv"})
	if err != nil {
		t.Fatal(err)
	}
	l := access.NewList(access.Members{OwnerID: 1, Friends: []int64{5}})
	if err := s.save(ctx, l); err == nil {
		t.Fatal("a failed write was not reported")
	}
	if err := s.save(ctx, l); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.load(ctx); err != nil || got == nil {
		t.Fatalf("the list is not stored after the write that failed: %v, %v", got, err)
	}
}
