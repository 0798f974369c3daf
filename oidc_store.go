package plexauth

import (
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-plexauth/caddy-plexauth/internal/oidc"
)

// Authorization codes live where the sessions do, so that with Redis (or a
// storage several instances share) any instance redeems a code another
// issued. Each value begins with its expiry, as session entries do, so
// the store's sweep drops it (store.go). The keys are hashes of the codes
// and the values are sealed under keys derived from the codes
// (internal/oidc): a copy of the store opens no grant.

// memoryCodes holds codes for blocks with `store memory`: this process
// only, and across reloads.
var memoryCodes = new(oidc.MemoryCodes)

// codeStoreFor is the code store beside the session store st (nil: memory).
func codeStoreFor(st sessionStore) oidc.CodeStore {
	switch s := st.(type) {
	case *caddyStore:
		return caddyCodes{s.st}
	case *redisStore:
		return redisCodes{s.c}
	}
	return memoryCodes
}

const (
	caddyCodePrefix = "plex_auth/oidc_codes"
	redisCodePrefix = "plex_auth:oidc_code:"
)

// caddyCodes keeps codes in Caddy's storage. It has no atomic swap, so a
// swap is done under the storage lock, which Caddy's storage modules share
// between instances (as pin claims are, pinclaim.go).
type caddyCodes struct{ st certmagic.Storage }

func (c caddyCodes) PutCode(ctx context.Context, key string, val []byte, _ time.Time) error {
	return c.st.Store(ctx, caddyCodePrefix+"/"+key, val)
}

func (c caddyCodes) SwapCode(ctx context.Context, key string, val []byte, _ time.Time) ([]byte, error) {
	lock := "plex_auth_oidc_code_" + key
	if err := c.st.Lock(ctx, lock); err != nil {
		return nil, err
	}
	defer func() { _ = c.st.Unlock(context.WithoutCancel(ctx), lock) }()
	old, err := c.PeekCode(ctx, key)
	if old == nil || err != nil {
		return nil, err
	}
	return old, c.st.Store(ctx, caddyCodePrefix+"/"+key, val)
}

func (c caddyCodes) PeekCode(ctx context.Context, key string) ([]byte, error) {
	b, err := c.st.Load(ctx, caddyCodePrefix+"/"+key)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, err
	case !entryExpiry(b).After(time.Now()):
		return nil, nil // not swept yet
	}
	return b, nil
}

// redisCodes keeps codes in Redis, which expires them itself. The swap is
// one SET … XX GET: Redis replaces the value only if there is one, and
// answers the value it replaced, in one step.
type redisCodes struct{ c *redis.Client }

func (r redisCodes) PutCode(ctx context.Context, key string, val []byte, expires time.Time) error {
	ttl := time.Until(expires)
	if ttl <= 0 {
		return nil
	}
	return r.c.Set(ctx, redisCodePrefix+key, val, ttl).Err()
}

func (r redisCodes) SwapCode(ctx context.Context, key string, val []byte, expires time.Time) ([]byte, error) {
	ttl := time.Until(expires)
	if ttl <= 0 {
		ttl = time.Second
	}
	old, err := r.c.SetArgs(ctx, redisCodePrefix+key, val, redis.SetArgs{Mode: "XX", Get: true, TTL: ttl}).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return old, err
}

func (r redisCodes) PeekCode(ctx context.Context, key string) ([]byte, error) {
	b, err := r.c.Get(ctx, redisCodePrefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return b, err
}

// Interface guards
var (
	_ oidc.CodeStore = caddyCodes{}
	_ oidc.CodeStore = redisCodes{}
)
