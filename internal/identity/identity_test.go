package identity

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-plexauth/caddy-plexauth/internal/seal"
)

func TestConfiguredSecretsExpandPlaceholdersAndRefuseShortOnes(t *testing.T) {
	t.Setenv("PLEX_AUTH_TEST_SECRET", "0123456789abcdef-from-env")
	keys, err := Configured([]string{"{env.PLEX_AUTH_TEST_SECRET}", "an-older-secret-value"})
	if err != nil || len(keys) != 2 || bytes.Equal(keys[0], keys[1]) {
		t.Fatalf("Configured = %d keys, %v", len(keys), err)
	}
	if _, err := Configured([]string{"{env.PLEX_AUTH_UNSET_VARIABLE}"}); err == nil {
		t.Fatal("an unset variable expanded to an empty secret and was accepted")
	}
}

// "Instances sharing a Caddy storage share the generated secret and the
// client id"; deleting plex_auth/secret makes a new one at start, under
// which the old cookies no longer open.
func TestGeneratedSecretAndClientIDAreSharedThroughStorageAndRemadeWhenDeleted(t *testing.T) {
	ctx := context.Background()
	st := &certmagic.FileStorage{Path: t.TempDir()}
	s1, id1, err := LoadOrCreate(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	s2, id2, err := LoadOrCreate(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if string(s1[0]) != string(s2[0]) || id1 != id2 || id1 == "" {
		t.Fatalf("two instances on one storage got different identities (client ids %q, %q)", id1, id2)
	}
	old, err := seal.New("session", s1)
	if err != nil {
		t.Fatal(err)
	}
	cookie := old.Seal("plex_session", []byte("session-id"), time.Now().Add(time.Hour))
	if err := st.Delete(ctx, SecretKey); err != nil {
		t.Fatal(err)
	}
	s3, id3, err := LoadOrCreate(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if string(s3[0]) == string(s1[0]) {
		t.Fatal("deleting plex_auth/secret did not make a new secret")
	}
	if id3 != id1 {
		t.Fatal("deleting the secret changed the client id")
	}
	fresh, _ := seal.New("session", s3)
	if _, err := fresh.Open("plex_session", cookie, time.Now(), nil); err == nil {
		t.Fatal("a cookie made under the deleted secret still opens")
	}
}

// A secret in storage that is not 32 bytes of base64 is refused at start,
// by its key, rather than used or silently replaced; without a storage
// there is nothing to start from.
func TestStoredSecretThatIsNotOneIsRefused(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []string{"not base64!", "c2hvcnQ="} {
		st := &certmagic.FileStorage{Path: t.TempDir()}
		if err := st.Store(ctx, SecretKey, []byte(bad)); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadOrCreate(ctx, st)
		if err == nil || err.Error() != "storage key plex_auth/secret does not hold a valid secret" {
			t.Errorf("stored secret %q: %v, want it refused by its key", bad, err)
		}
		if b, _ := st.Load(ctx, SecretKey); string(b) != bad {
			t.Errorf("stored secret %q was replaced by %q", bad, b)
		}
	}
	if _, _, err := LoadOrCreate(ctx, nil); err == nil || err.Error() != "no storage configured" {
		t.Errorf("no storage: %v", err)
	}
}
