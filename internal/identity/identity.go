// Package identity is what makes plex_auth instances one service: the
// cookie secret (the key material internal/seal seals with) and the client
// identifier plex.tv sees, kept in Caddy's storage and made on first use,
// so that instances sharing a storage open each other's cookies and are
// one device to Plex; or the `secret` values of the config turned into key
// material instead.
package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
)

// Keys in Caddy's storage. Instances sharing a storage share both, so a
// cookie made by one is opened by the other, and Plex sees one device.
const (
	SecretKey   = "plex_auth/secret"    // the generated cookie secret, base64
	ClientIDKey = "plex_auth/client_id" // the generated client identifier
	lockName    = "plex_auth_identity"
)

// LoadOrCreate returns the cookie secret and the client identifier kept
// in st, creating each on first use (and again when it was deleted: a
// new secret then no longer opens the old cookies). A lock keeps two
// instances starting together from writing different values. The secret
// is 32 random bytes, the client identifier "caddy-plexauth-" and 24 hex
// digits; a stored secret shorter than 32 bytes is an error.
func LoadOrCreate(ctx context.Context, st certmagic.Storage) ([][]byte, string, error) {
	if st == nil {
		return nil, "", errors.New("no storage configured")
	}
	if err := st.Lock(ctx, lockName); err != nil {
		return nil, "", fmt.Errorf("locking storage: %v", err)
	}
	defer func() { _ = st.Unlock(context.WithoutCancel(ctx), lockName) }()

	secretB64, err := loadOrStore(ctx, st, SecretKey, func() string {
		return base64.StdEncoding.EncodeToString(randomBytes(32))
	})
	if err != nil {
		return nil, "", err
	}
	secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(secretB64))
	if err != nil || len(secret) < 32 {
		return nil, "", fmt.Errorf("storage key %s does not hold a valid secret", SecretKey)
	}
	clientID, err := loadOrStore(ctx, st, ClientIDKey, func() string {
		return "caddy-plexauth-" + hex.EncodeToString(randomBytes(12))
	})
	if err != nil {
		return nil, "", err
	}
	return [][]byte{secret}, strings.TrimSpace(clientID), nil
}

func loadOrStore(ctx context.Context, st certmagic.Storage, key string, gen func() string) (string, error) {
	b, err := st.Load(ctx, key)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return string(b), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("loading %s from storage: %v", key, err)
	}
	v := gen()
	if err := st.Store(ctx, key, []byte(v)); err != nil {
		return "", fmt.Errorf("storing %s: %v", key, err)
	}
	return v, nil
}

// Configured turns the `secret` values into key material, expanding
// placeholders such as {env.PLEX_AUTH_SECRET}: one 32-byte key per value,
// in order (the first seals, all open). A value shorter than 16
// characters once expanded is an error.
func Configured(values []string) ([][]byte, error) {
	repl := caddy.NewReplacer()
	var out [][]byte
	for _, v := range values {
		v = repl.ReplaceAll(v, "")
		if len(v) < 16 {
			return nil, errors.New("each secret must be at least 16 characters (an unset {env.…} expands to nothing)")
		}
		sum := sha256.Sum256([]byte("plex_auth secret\x00" + v))
		out = append(out, sum[:])
	}
	return out, nil
}

// randomBytes returns n bytes from crypto/rand.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("plex_auth: no randomness: " + err.Error())
	}
	return b
}
