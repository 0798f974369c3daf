package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Tests for the survivors of the mutation run over store_redis.go
// (scripts/mutants.sh internal/session/store_redis.go).

// A password holding a '/' or a '?' that is not percent-escaped ends
// url.Parse's authority in the middle of the password when what stands
// before it reads as a port (redis://user:1234/rest@host): the URL parses,
// the rest of the password lands in the path or the query, and go-redis's
// error quotes it. The error must show no piece of it all the same.
func TestRedisURLErrorsNeverShowAPasswordCutByAnUnescapedSlash(t *testing.T) {
	for _, c := range []struct {
		url     string
		secrets []string
	}{
		// The rest of the password lands in the path (two segments).
		{"redis://user:1234/secretpart@host:6379/0", []string{"secretpart", "1234/secretpart"}},
		// ... in the path, read as the database number.
		{"redis://:1234/secretpart@host", []string{"secretpart"}},
		// ... in the query, read as an option.
		{"redis://user:1234?secretpart@host/0", []string{"secretpart"}},
	} {
		_, err := NewRedisStore(c.url, time.Second)
		if err == nil {
			t.Errorf("%q: parsed, want an error", c.url)
			continue
		}
		for _, s := range c.secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%q: error %q shows %q", c.url, err, s)
			}
		}
		if !strings.Contains(err.Error(), "invalid redis URL") {
			t.Errorf("%q: error %q does not say the URL is invalid", c.url, err)
		}
	}
}

// Where go-redis's error quotes the URL, the operator is told what is wrong
// with the parts that hold no password, and told that the URL is not shown
// when it cannot be said without it.
func TestRedisURLErrorsSayWhatIsWrongWhereThatShowsNoPassword(t *testing.T) {
	for _, c := range []struct {
		url, want string
		secret    string // must not appear ("" for none)
	}{
		// url.Parse fails: which way, without the URL.
		{"redis://:p%zzss@host:6379/0", "a malformed %-escape", "zzss"},
		{"redis://user:secret@[bad", "it does not parse as a URL", "secret"},
		// go-redis refuses the database of a URL with a password: said,
		// the password not.
		{"redis://:s3cr3t-pw@host:6379/notanumber", `invalid database number: "notanumber"`, "s3cr3t-pw"},
		{"redis://alice:s3cr3t-pw@host:6379/0?nonsense=1", "unexpected option: nonsense", "s3cr3t-pw"},
		// A password that is also what go-redis quotes: not said.
		{"redis://:notanumber@host:6379/notanumber", "the URL is not shown", "notanumber"},
		// An '@' with no "://" before it: what stands before it is no
		// user info go-redis reads, but may be meant as one.
		{"redis:1234?secretpart@host", "the URL is not shown", "secretpart"},
	} {
		_, err := NewRedisStore(c.url, time.Second)
		if err == nil {
			t.Errorf("%q: parsed, want an error", c.url)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %q does not say %q", c.url, err, c.want)
		}
		if strings.Contains(err.Error(), c.secret) {
			t.Errorf("%q: error %q shows %q", c.url, err, c.secret)
		}
	}
}

// "Each command bounded by timeout" (NewRedisStore): the dial, every read
// and every write, and a failed command is tried once more, not three
// times (go-redis's default), so a Redis that stops answering costs a
// request about two timeouts, not eight.
func TestRedisStoreBoundsEveryCommandByItsTimeout(t *testing.T) {
	const timeout = 1234 * time.Millisecond
	r, err := NewRedisStore("redis://127.0.0.1:1/0", timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	o := r.c.Options()
	if o.DialTimeout != timeout || o.ReadTimeout != timeout || o.WriteTimeout != timeout {
		t.Errorf("dial, read, write timeouts = %v, %v, %v; want %v each", o.DialTimeout, o.ReadTimeout, o.WriteTimeout, timeout)
	}
	if o.MaxRetries != 1 {
		t.Errorf("MaxRetries = %d, want 1", o.MaxRetries)
	}
}

// A Redis that does not answer is a failure, never an answer: Replace
// must not say ErrNotFound, which the cache takes for
// "ended on another instance" and so signs the user out (Update), where a
// failing store must leave the re-checked session in memory.
func TestRedisStoreThatDoesNotAnswerFailsAndAnswersNothing(t *testing.T) {
	r, err := NewRedisStore(fmt.Sprintf("redis://127.0.0.1:%d/0", freePort(t)), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	if err := r.Replace(ctx, "k", []byte("v"), later); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Replace = %v, want the store's failure", err)
	}
	if _, err := r.Load(ctx, "k"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Load = %v, want the store's failure", err)
	}
}

// "Redis expires them itself": no key this store writes is left without a
// TTL, whatever lifetime it is given, and a lifetime already over writes
// nothing (Replace then answers the entry not found, an answer and no
// failure: a failure would be logged as an outage, StoreResult).
func TestRedisStoreWritesNoKeyWithoutALifetime(t *testing.T) {
	r := redisStoreForTest(t)
	ctx := context.Background()
	over := time.Now().Add(-time.Minute)
	later := time.Now().Add(time.Hour)
	// Every key there has a TTL (-1: none; -2: no such key).
	allExpire := func(what string) {
		t.Helper()
		keys, err := r.c.Keys(ctx, "plex_auth:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if ttl, err := r.c.TTL(ctx, k).Result(); err != nil || ttl < 0 {
				t.Errorf("%s: key %s has TTL %v, %v; want one", what, k, ttl, err)
			}
		}
	}

	if err := r.Save(ctx, "over", []byte("v"), over); err != nil {
		t.Fatalf("Save of an entry over = %v", err)
	}
	if err := r.PutCode(ctx, "over", []byte("v"), over); err != nil {
		t.Fatalf("PutCode of a record over = %v", err)
	}
	if n, err := r.c.Exists(ctx, redisKeyPrefix+"over", redisCodePrefix+"over").Result(); err != nil || n != 0 {
		t.Errorf("an entry and a code saved already over: %d keys written, %v; want none", n, err)
	}

	if err := r.Save(ctx, "s", []byte("v1"), later); err != nil {
		t.Fatal(err)
	}
	if err := r.Replace(ctx, "s", []byte("v2"), over); !errors.Is(err, ErrNotFound) {
		t.Errorf("Replace with a lifetime over = %v, want ErrNotFound", err)
	}
	allExpire("after Replace with a lifetime over")

	// A swap keeps the record as long as it is told (the code's mark must
	// outlive the tokens issued from it, internal/oidc Redeem) ...
	if err := r.PutCode(ctx, "c", []byte("grant"), later); err != nil {
		t.Fatal(err)
	}
	if old, err := r.SwapCode(ctx, "c", []byte("used"), later); err != nil || string(old) != "grant" {
		t.Fatalf("SwapCode = %q, %v", old, err)
	}
	if ttl, err := r.c.TTL(ctx, redisCodePrefix+"c").Result(); err != nil || ttl < 59*time.Minute {
		t.Errorf("after a swap for an hour, the record's TTL = %v, %v; want about an hour", ttl, err)
	}
	// ... and one told a lifetime already over still writes its mark (a
	// replay must see it), for a moment, never for ever.
	if old, err := r.SwapCode(ctx, "c", []byte("again"), over); err != nil || string(old) != "used" {
		t.Fatalf("SwapCode with a lifetime over = %q, %v", old, err)
	}
	if got, err := r.PeekCode(ctx, "c"); err != nil || string(got) != "again" {
		t.Errorf("after a swap with a lifetime over, PeekCode = %q, %v; want the mark written", got, err)
	}
	allExpire("after SwapCode with a lifetime over")
}
