package session

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore keeps sessions, sign-out markers and pin claims in Redis, for
// several Caddy instances behind one load balancer. Entries carry a TTL, so
// Redis expires them itself.
type RedisStore struct {
	c    *redis.Client
	addr string // for logs: host and port only, never the password
}

const redisKeyPrefix = "plex_auth:session:"

// NewRedisStore returns a store in the Redis rawURL names (redis:// or
// rediss://, as go-redis's ParseURL reads them), each command bounded by
// timeout. It does not connect: the first command does. Its errors never
// show the URL's password, nor any piece of it.
func NewRedisStore(rawURL string, timeout time.Duration) (*RedisStore, error) {
	// A '#' starts a fragment, which go-redis ignores: one in a password
	// (redis://user:1234#rest@host) would make "user:1234" the address,
	// dialled and logged. No Redis URL needs one.
	if strings.Contains(rawURL, "#") {
		return nil, errors.New("store redis: invalid redis URL: it holds a '#' (write a '#' in the password as %23; the URL is not shown: it may hold a password)")
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store redis: %w", redactRedisError(err, rawURL))
	}
	opts.DialTimeout = timeout
	opts.ReadTimeout = timeout
	opts.WriteTimeout = timeout
	opts.MaxRetries = 1
	return &RedisStore{c: redis.NewClient(opts), addr: opts.Addr}, nil
}

// redactRedisError describes a Redis URL that could not be used without
// showing it: a Redis URL carries the password. url.Parse quotes the whole
// URL in its errors, and the bytes around a bad escape, so its errors are
// never passed on. go-redis's own errors (scheme, database, options) quote
// pieces of the URL, and a password holding an unescaped '/' or '?' puts a
// piece of itself there: url.Parse ends the authority at that byte when
// what stands before it reads as a port (redis://user:1234/rest@host, RFC
// 3986 section 3.2), so the rest lands in the path or the query. Such an
// error is therefore passed on as go-redis gives it for the URL without
// what stands between "://" and the last '@' (the user info as written),
// and not even then if it still shows the password as written.
func redactRedisError(err error, rawURL string) error {
	const hidden = " (the URL is not shown: it may hold a password)"
	if uerr := (*url.Error)(nil); errors.As(err, &uerr) {
		if errors.As(uerr.Err, new(url.EscapeError)) {
			return errors.New("invalid redis URL: a malformed %-escape, e.g. a % in the password not written as %25" + hidden)
		}
		return errors.New("invalid redis URL: it does not parse as a URL" + hidden)
	}
	at := strings.LastIndexByte(rawURL, '@')
	if at < 0 {
		// No user info, so no password: the error may say what is wrong.
		return fmt.Errorf("invalid redis URL: %w", err)
	}
	i := strings.Index(rawURL[:at], "://")
	if i < 0 {
		return errors.New("invalid redis URL" + hidden)
	}
	secret := rawURL[i+len("://") : at]
	if _, pw, ok := strings.Cut(secret, ":"); ok {
		secret = pw
	}
	if _, err = redis.ParseURL(rawURL[:i+len("://")] + rawURL[at+1:]); err == nil || strings.Contains(err.Error(), secret) {
		return errors.New("invalid redis URL" + hidden)
	}
	return fmt.Errorf("invalid redis URL: %w", err)
}

// Load implements Store.
func (r *RedisStore) Load(ctx context.Context, key string) ([]byte, error) {
	b, err := r.c.Get(ctx, redisKeyPrefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	return b, err
}

// Save implements Store: the key lives as long as the session (an entry
// already over is not written).
func (r *RedisStore) Save(ctx context.Context, key string, val []byte, expires time.Time) error {
	ttl := time.Until(expires)
	if ttl <= 0 {
		return nil
	}
	return r.c.Set(ctx, redisKeyPrefix+key, val, ttl).Err()
}

// Replace implements Store. It writes with SET … XX, which Redis carries
// out only while the key exists, in one step: a logout between the
// re-check's start and this write wins.
func (r *RedisStore) Replace(ctx context.Context, key string, val []byte, expires time.Time) error {
	ttl := time.Until(expires)
	if ttl <= 0 {
		return ErrNotFound
	}
	ok, err := r.c.SetXX(ctx, redisKeyPrefix+key, val, ttl).Result()
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotFound
	}
	return nil
}

// Remove implements Store.
func (r *RedisStore) Remove(ctx context.Context, key string) error {
	return r.c.Del(ctx, redisKeyPrefix+key).Err()
}

// Sweep implements Store: it does nothing, Redis TTLs expire entries.
func (r *RedisStore) Sweep(context.Context) error { return nil }

// Describe implements Store: "redis" and the host and port, never the
// password.
func (r *RedisStore) Describe() string { return "redis " + r.addr }

// Ping asks Redis whether it answers.
func (r *RedisStore) Ping(ctx context.Context) error { return r.c.Ping(ctx).Err() }

// Close closes the connections to Redis; the store must not be used
// afterwards.
func (r *RedisStore) Close() error { return r.c.Close() }

// Markers in Redis: one key per account with the marker's TTL; the counter
// is INCR'd.

const (
	redisSignoutPrefix   = "plex_auth:signout:"
	redisSignoutsCounter = "plex_auth:signouts"
)

// SaveSignout implements Store: the key lives for ttl.
func (r *RedisStore) SaveSignout(ctx context.Context, key string, mark int64, ttl time.Duration) error {
	return r.c.Set(ctx, redisSignoutPrefix+key, strconv.FormatInt(mark, 10), ttl).Err()
}

// LoadSignout implements Store.
func (r *RedisStore) LoadSignout(ctx context.Context, key string) (int64, error) {
	v, err := r.c.Get(ctx, redisSignoutPrefix+key).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return v, err
}

// BumpSignouts implements Store (INCR).
func (r *RedisStore) BumpSignouts(ctx context.Context) error {
	return r.c.Incr(ctx, redisSignoutsCounter).Err()
}

// Signouts implements Store.
func (r *RedisStore) Signouts(ctx context.Context) (string, error) {
	v, err := r.c.Get(ctx, redisSignoutsCounter).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, err
}

// Claims in Redis: SET NX with the claim's TTL.

const redisPinPrefix = "plex_auth:pin:"

// ClaimPin implements Store (SET NX with the claim's TTL).
func (r *RedisStore) ClaimPin(ctx context.Context, key string, expires time.Time) (bool, error) {
	ttl := time.Until(expires)
	if ttl <= 0 {
		return true, nil
	}
	return r.c.SetNX(ctx, redisPinPrefix+key, "1", ttl).Result()
}

// UnclaimPin implements Store.
func (r *RedisStore) UnclaimPin(ctx context.Context, key string) error {
	return r.c.Del(ctx, redisPinPrefix+key).Err()
}

// Interface guard
var (
	_ Store     = (*RedisStore)(nil)
	_ CodeStore = (*RedisStore)(nil)
)

// One-shot records (OpenID Connect authorization codes, internal/oidc):
// Redis expires them itself, and a swap is one SET … XX GET, which
// replaces the value only if there is one and answers the value it
// replaced, in one step.

const redisCodePrefix = "plex_auth:oidc_code:"

// PutCode implements CodeStore.
func (r *RedisStore) PutCode(ctx context.Context, key string, val []byte, expires time.Time) error {
	ttl := time.Until(expires)
	if ttl <= 0 {
		return nil
	}
	return r.c.Set(ctx, redisCodePrefix+key, val, ttl).Err()
}

// SwapCode implements CodeStore.
func (r *RedisStore) SwapCode(ctx context.Context, key string, val []byte, expires time.Time) ([]byte, error) {
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

// PeekCode implements CodeStore.
func (r *RedisStore) PeekCode(ctx context.Context, key string) ([]byte, error) {
	b, err := r.c.Get(ctx, redisCodePrefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return b, err
}
