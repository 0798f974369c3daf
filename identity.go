package plexauth

import (
	"context"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-plexauth/caddy-plexauth/internal/identity"
)

// loadOrCreateIdentity is identity.LoadOrCreate: the cookie secret and the
// client identifier kept in Caddy's storage, for Provision.
func loadOrCreateIdentity(ctx context.Context, st certmagic.Storage) ([][]byte, string, error) {
	return identity.LoadOrCreate(ctx, st)
}

// configuredSecrets is identity.Configured: the `secret` values as key
// material, for Provision.
func configuredSecrets(values []string) ([][]byte, error) { return identity.Configured(values) }
