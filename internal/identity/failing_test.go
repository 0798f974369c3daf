package identity

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/caddyserver/certmagic"
)

// flakyStorage is a file storage that fails where a test says: Lock, the
// Load or the Store of one key; a failed Load may still hand back bytes
// (a read cut short).
type flakyStorage struct {
	*certmagic.FileStorage
	failLock   bool
	failLoad   string
	loadPart   []byte
	failStore  string
	storedKeys []string
}

var errFlaky = errors.New("storage unavailable")

func (s *flakyStorage) Lock(ctx context.Context, name string) error {
	if s.failLock {
		return errFlaky
	}
	return s.FileStorage.Lock(ctx, name)
}

func (s *flakyStorage) Load(ctx context.Context, key string) ([]byte, error) {
	if key == s.failLoad {
		return s.loadPart, errFlaky
	}
	return s.FileStorage.Load(ctx, key)
}

func (s *flakyStorage) Store(ctx context.Context, key string, v []byte) error {
	if key == s.failStore {
		return errFlaky
	}
	s.storedKeys = append(s.storedKeys, key)
	return s.FileStorage.Store(ctx, key, v)
}

// TestStorageFailingIsAnErrorAndOverwritesNothing: when the lock, a read
// or a write of the storage fails, LoadOrCreate fails, naming what failed,
// and never makes a secret or client id of its own in place of one it
// could not read: that would sign out every instance sharing the storage
// (or make instances that do not share it) on a passing storage error.
func TestStorageFailingIsAnErrorAndOverwritesNothing(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		st      flakyStorage
		wantErr string
	}{
		{"lock fails", flakyStorage{failLock: true}, "locking storage: storage unavailable"},
		{"reading the secret fails", flakyStorage{failLoad: SecretKey}, "loading plex_auth/secret from storage: storage unavailable"},
		{"reading the secret fails part way", flakyStorage{failLoad: SecretKey, loadPart: []byte(base64.StdEncoding.EncodeToString(make([]byte, 32)))}, "loading plex_auth/secret from storage: storage unavailable"},
		{"reading the client id fails", flakyStorage{failLoad: ClientIDKey}, "loading plex_auth/client_id from storage: storage unavailable"},
		{"writing the secret fails", flakyStorage{failStore: SecretKey}, "storing plex_auth/secret: storage unavailable"},
		{"writing the client id fails", flakyStorage{failStore: ClientIDKey}, "storing plex_auth/client_id: storage unavailable"},
	} {
		st := c.st
		st.FileStorage = &certmagic.FileStorage{Path: t.TempDir()}
		secrets, id, err := LoadOrCreate(ctx, &st)
		if err == nil || err.Error() != c.wantErr || secrets != nil || id != "" {
			t.Errorf("%s: %d secrets, client id %q, %v; want the error %q", c.name, len(secrets), id, err, c.wantErr)
		}
		for _, k := range st.storedKeys {
			if k == st.failLoad {
				t.Errorf("%s: %s was written though it could not be read", c.name, k)
			}
		}
		if c.st.failLock && len(st.storedKeys) > 0 {
			t.Errorf("%s: wrote %v without the lock", c.name, st.storedKeys)
		}
	}
}

// TestBlankStoredValuesAreMadeAgain: a secret or client id in storage that
// is only white space counts as none and is made again.
func TestBlankStoredValuesAreMadeAgain(t *testing.T) {
	ctx := context.Background()
	st := &certmagic.FileStorage{Path: t.TempDir()}
	for _, k := range []string{SecretKey, ClientIDKey} {
		if err := st.Store(ctx, k, []byte(" \n")); err != nil {
			t.Fatal(err)
		}
	}
	secrets, id, err := LoadOrCreate(ctx, st)
	if err != nil || len(secrets) != 1 || len(secrets[0]) != 32 || !strings.HasPrefix(id, "caddy-plexauth-") || len(id) != len("caddy-plexauth-")+24 {
		t.Fatalf("over blank values: %d secrets, client id %q, %v", len(secrets), id, err)
	}
	if b, _ := st.Load(ctx, ClientIDKey); string(b) != id {
		t.Fatalf("the client id stored is %q, LoadOrCreate said %q", b, id)
	}
}

// TestStoredSecretWithGarbageAfterIsRefused: base64 that decodes to 32
// bytes and more before a character that is not base64 is refused, not
// taken for the bytes decoded so far.
func TestStoredSecretWithGarbageAfterIsRefused(t *testing.T) {
	ctx := context.Background()
	st := &certmagic.FileStorage{Path: t.TempDir()}
	bad := base64.StdEncoding.EncodeToString(make([]byte, 48)) + "!!!!"
	if err := st.Store(ctx, SecretKey, []byte(bad)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreate(ctx, st); err == nil || err.Error() != "storage key plex_auth/secret does not hold a valid secret" {
		t.Fatalf("secret %q: %v", bad, err)
	}
}

// TestConfiguredSecretOfSixteenCharactersIsEnough: 16 characters is the
// least a secret may have; 15 is refused.
func TestConfiguredSecretOfSixteenCharactersIsEnough(t *testing.T) {
	if keys, err := Configured([]string{"0123456789abcdef"}); err != nil || len(keys) != 1 || len(keys[0]) != 32 {
		t.Fatalf("16 characters: %d keys, %v", len(keys), err)
	}
	if _, err := Configured([]string{"0123456789abcde"}); err == nil {
		t.Fatal("15 characters were accepted")
	}
}
