package plexauth

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

func TestStoredEntryIsUselessWithoutTheSessionID(t *testing.T) {
	s := &Session{UserID: 42, Username: "alice", Email: "alice@example.com", Token: "plex-token-secret-value", Expires: time.Now().Add(time.Hour)}
	b, err := sealEntry("session-id-1", s)
	if err != nil {
		t.Fatal(err)
	}
	for _, clear := range []string{"plex-token-secret-value", "alice", "session-id-1"} {
		if bytes.Contains(b, []byte(clear)) {
			t.Fatalf("sealed entry shows %q", clear)
		}
	}
	if _, err := openEntry("session-id-2", b); err == nil {
		t.Fatal("an entry opened under another session id")
	}
	got, err := openEntry("session-id-1", b)
	if err != nil || got.Token != s.Token || got.Username != "alice" {
		t.Fatalf("openEntry = %+v, %v", got, err)
	}
	if storeKey("session-id-1") == storeKey("session-id-2") || bytes.Contains([]byte(storeKey("session-id-1")), []byte("session-id-1")) {
		t.Fatal("store key must be a hash of the id")
	}
}

func TestCaddyStoreSweepDropsOnlyExpiredEntries(t *testing.T) {
	ctx := context.Background()
	st := &caddyStore{st: &certmagic.FileStorage{Path: t.TempDir()}}
	live := &Session{Username: "live", Expires: time.Now().Add(time.Hour)}
	dead := &Session{Username: "dead", Expires: time.Now().Add(-time.Minute)}
	for id, s := range map[string]*Session{"live": live, "dead": dead} {
		b, err := sealEntry(id, s)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.save(ctx, storeKey(id), b, s.Expires); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.load(ctx, storeKey("dead")); !errors.Is(err, errSessionNotFound) {
		t.Fatalf("expired entry survived the sweep: %v", err)
	}
	if _, err := st.load(ctx, storeKey("live")); err != nil {
		t.Fatalf("live entry swept: %v", err)
	}
}

func TestConfiguredSecretsExpandPlaceholdersAndRefuseShortOnes(t *testing.T) {
	t.Setenv("PLEX_AUTH_TEST_SECRET", "0123456789abcdef-from-env")
	keys, err := configuredSecrets([]string{"{env.PLEX_AUTH_TEST_SECRET}", "an-older-secret-value"})
	if err != nil || len(keys) != 2 || bytes.Equal(keys[0], keys[1]) {
		t.Fatalf("configuredSecrets = %d keys, %v", len(keys), err)
	}
	if _, err := configuredSecrets([]string{"{env.PLEX_AUTH_UNSET_VARIABLE}"}); err == nil {
		t.Fatal("an unset variable expanded to an empty secret and was accepted")
	}
}

func TestRecheckNeverResurrectsASessionEndedOnAnotherInstance(t *testing.T) {
	st := &certmagic.FileStorage{Path: t.TempDir()}
	a := newSessionCache(&caddyStore{st: st}, nil)
	b := newSessionCache(&caddyStore{st: st}, nil)
	defer a.Destruct()
	defer b.Destruct()
	now := time.Now()
	old := &Session{Username: "friend", Created: now, Checked: now, Expires: now.Add(time.Hour)}
	if err := a.put(context.Background(), "id", old); err != nil {
		t.Fatal(err)
	}
	b.remove("id") // logout on the other instance while A re-checks
	fresh := &Session{Username: "friend", Created: now, Checked: time.Now(), Expires: now.Add(time.Hour)}
	a.update("id", old, fresh)
	if s, _ := a.lookup("id", time.Now(), time.Hour); s != nil {
		t.Fatal("the re-check brought the session back in memory")
	}
	if _, err := a.store.load(context.Background(), storeKey("id")); !errors.Is(err, errSessionNotFound) {
		t.Fatalf("the re-check wrote the ended session back to the store: %v", err)
	}
}
