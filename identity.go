package plexauth

import (
	"context"
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
	storageSecretKey   = "plex_auth/secret"
	storageClientIDKey = "plex_auth/client_id"
	storageLockName    = "plex_auth_identity"
)

// loadOrCreateIdentity returns the cookie secret and the client identifier
// kept in storage, creating them on first use. A lock keeps two instances
// starting together from writing different values.
func loadOrCreateIdentity(ctx context.Context, st certmagic.Storage) ([][]byte, string, error) {
	if st == nil {
		return nil, "", errors.New("no storage configured")
	}
	if err := st.Lock(ctx, storageLockName); err != nil {
		return nil, "", fmt.Errorf("locking storage: %v", err)
	}
	defer func() { _ = st.Unlock(context.WithoutCancel(ctx), storageLockName) }()

	secretB64, err := loadOrStore(ctx, st, storageSecretKey, func() string {
		return base64.StdEncoding.EncodeToString(randomBytes(32))
	})
	if err != nil {
		return nil, "", err
	}
	secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(secretB64))
	if err != nil || len(secret) < 32 {
		return nil, "", fmt.Errorf("storage key %s does not hold a valid secret", storageSecretKey)
	}
	clientID, err := loadOrStore(ctx, st, storageClientIDKey, func() string {
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

// configuredSecrets turns the `secret` values into key material, expanding
// placeholders such as {env.PLEX_AUTH_SECRET}. The first seals, all open.
func configuredSecrets(values []string) ([][]byte, error) {
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
