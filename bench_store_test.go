package plexauth

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
)

// The benchmarks' storage is Caddy's file system storage behind a counter
// of the calls that concern sessions, so that a benchmark of the request
// path fails if it read or wrote the session store (expectNoPlexCalls).
// The sign-out counter, which every instance reads once a second in the
// background (internal/session/signout.go), is not counted: it is not on
// any request's path.

func init() { caddy.RegisterModule(countingStorage{}) }

// countingStorage is the caddy.storage module "bench_counting": the
// file_system storage at Root, every session call counted in
// benchStoreCalls.
type countingStorage struct {
	Root string `json:"root,omitempty"`
}

func (countingStorage) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "caddy.storage.bench_counting", New: func() caddy.Module { return new(countingStorage) }}
}

func (s *countingStorage) CertMagicStorage() (certmagic.Storage, error) {
	return countedStorage{&certmagic.FileStorage{Path: s.Root}}, nil
}

// benchStoreCalls counts the session calls to every countingStorage.
var benchStoreCalls atomic.Int64

// countedStorage counts the calls on session keys (and the per-account
// sign-out markers, read when a session is), then does them.
type countedStorage struct{ *certmagic.FileStorage }

func count(key string) {
	if strings.HasPrefix(key, caddyStoreSessionsKey) || strings.HasPrefix(key, "plex_auth/signouts/") || strings.HasPrefix(key, "plex_auth_session_") {
		benchStoreCalls.Add(1)
	}
}

// caddyStoreSessionsKey is where internal/session's CaddyStore keeps the
// sessions.
const caddyStoreSessionsKey = "plex_auth/sessions"

func (s countedStorage) Load(ctx context.Context, key string) ([]byte, error) {
	count(key)
	return s.FileStorage.Load(ctx, key)
}

func (s countedStorage) Store(ctx context.Context, key string, value []byte) error {
	count(key)
	return s.FileStorage.Store(ctx, key, value)
}

func (s countedStorage) Delete(ctx context.Context, key string) error {
	count(key)
	return s.FileStorage.Delete(ctx, key)
}

func (s countedStorage) Exists(ctx context.Context, key string) bool {
	count(key)
	return s.FileStorage.Exists(ctx, key)
}

func (s countedStorage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	count(key)
	return s.FileStorage.Stat(ctx, key)
}

func (s countedStorage) Lock(ctx context.Context, name string) error {
	count(name)
	return s.FileStorage.Lock(ctx, name)
}

func (s countedStorage) Unlock(ctx context.Context, name string) error {
	count(name)
	return s.FileStorage.Unlock(ctx, name)
}

// String names the storage as the file system storage does, so the
// session pool keys it by its folder (storageName).
func (s countedStorage) String() string { return "bench_counting:" + s.FileStorage.String() }

// expectNoStoreCalls fails b if the session store was called since
// benchHandlerWith provisioned the handler.
func expectNoStoreCalls(b *testing.B) {
	b.Helper()
	if n := benchStoreCalls.Load(); n != 0 {
		b.Fatalf("the request path made %d calls to the session store, want none", n)
	}
}
