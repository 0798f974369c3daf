package ownerlist

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-plexauth/caddy-plexauth/internal/access"
	"github.com/caddy-plexauth/caddy-plexauth/internal/seal"
)

// The last good owner's list is kept in Caddy's storage, so that a restart
// while plex.tv is down decides as before. Like a session entry
// (internal/session/store.go), it is useless without what only the configuration holds: its name is an
// HMAC of the block's servers under the owner token, and its content is
// sealed with AES-GCM under a key derived from the token, the name bound in
// as associated data. A copy of the storage yields no token and no list; a
// new token (possibly another account's) finds no list of the old one.

const ownerStorePrefix = "plex_auth/owner_lists"

type ownerStore struct {
	st   certmagic.Storage
	key  string
	aead cipher.AEAD

	saved []byte // the list as last stored or loaded, without its time, to store only changes
}

func newOwnerStore(st certmagic.Storage, token, plexTV string, servers []string) (*ownerStore, error) {
	if st == nil {
		return nil, errors.New("no storage configured")
	}
	ids := slices.Clone(servers)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	name := hmac.New(sha256.New, []byte(token))
	name.Write([]byte("plex_auth owner list name\x00" + plexTV + "\x00" + strings.Join(ids, "\x00")))
	// AES-256-GCM under HMAC-SHA256(token, "plex_auth owner list key"),
	// as the lists stored before were sealed.
	aead, err := seal.RecordAEAD(token, "plex_auth owner list key")
	if err != nil {
		return nil, err
	}
	return &ownerStore{st: st, key: ownerStorePrefix + "/" + hex.EncodeToString(name.Sum(nil)), aead: aead}, nil
}

// storedList is the stored form of an access.List (its Members).
type storedList struct {
	OwnerID int64     `json:"owner"`
	Home    []int64   `json:"home"`
	Friends []int64   `json:"friends"`
	Pending []int64   `json:"pending"`
	Read    time.Time `json:"read,omitzero"`
}

// save stores l when it differs from what was stored last.
func (s *ownerStore) save(ctx context.Context, l *access.List) error {
	m := l.Members()
	sl := storedList{OwnerID: m.OwnerID, Home: m.Home, Friends: m.Friends, Pending: m.Pending}
	canon, err := json.Marshal(sl)
	if err != nil {
		return err
	}
	if bytes.Equal(canon, s.saved) {
		return nil
	}
	sl.Read = time.Now().UTC()
	plain, err := json.Marshal(sl)
	if err != nil {
		return err
	}
	ns := s.aead.NonceSize()
	out := make([]byte, ns, ns+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		panic("plex_auth: no randomness: " + err.Error())
	}
	out = s.aead.Seal(out, out[:ns], plain, []byte(s.key))
	if err := s.st.Store(ctx, s.key, out); err != nil {
		return err
	}
	s.saved = canon
	return nil
}

// load returns the stored list and when it was read from plex.tv, or a nil
// list when none is stored.
func (s *ownerStore) load(ctx context.Context) (*access.List, time.Time, error) {
	b, err := s.st.Load(ctx, s.key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	ns := s.aead.NonceSize()
	if len(b) < ns+s.aead.Overhead() {
		return nil, time.Time{}, errors.New("stored owner's list is too short")
	}
	plain, err := s.aead.Open(nil, b[:ns], b[ns:], []byte(s.key))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("stored owner's list does not authenticate: %v", err)
	}
	var sl storedList
	if err := json.Unmarshal(plain, &sl); err != nil {
		return nil, time.Time{}, err
	}
	if sl.OwnerID <= 0 {
		return nil, time.Time{}, errors.New("stored owner's list has no owner")
	}
	read := sl.Read
	sl.Read = time.Time{}
	s.saved, _ = json.Marshal(sl)
	return access.NewList(access.Members{OwnerID: sl.OwnerID, Home: sl.Home, Friends: sl.Friends, Pending: sl.Pending}), read, nil
}
