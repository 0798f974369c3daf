package session

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// The pin claims the instances share: on Caddy's storage, creating a claim
// that exists fails, also across two caches (two instances).
func TestPinClaimIsOncePerStoreAndCanBeReleased(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		a, b Store
	}{
		{"memory", nil, nil},
		{"caddy storage", &CaddyStore{st: &certmagic.FileStorage{Path: dir}}, &CaddyStore{st: &certmagic.FileStorage{Path: dir}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := NewCache(c.a, nil, Config{}), NewCache(c.b, nil, Config{})
			defer a.Destruct()
			defer b.Destruct()
			ctx := context.Background()
			key := PinClaimKey("client", 42)
			if ok, err := a.ClaimPin(ctx, key, time.Minute); !ok || err != nil {
				t.Fatalf("first claim: %v %v", ok, err)
			}
			if ok, _ := a.ClaimPin(ctx, key, time.Minute); ok {
				t.Fatal("a second claim on the same instance succeeded")
			}
			if ok, _ := b.ClaimPin(ctx, key, time.Minute); ok != (c.a == nil) {
				t.Fatalf("claim on another instance = %v", ok)
			}
			a.ReleasePin(key)
			if c.a != nil {
				// b remembers its refusal in memory; a fresh instance asks the store.
				fresh := NewCache(&CaddyStore{st: &certmagic.FileStorage{Path: dir}}, nil, Config{})
				defer fresh.Destruct()
				if ok, err := fresh.ClaimPin(ctx, key, time.Minute); !ok || err != nil {
					t.Fatalf("claim after release: %v %v", ok, err)
				}
			}
			other := PinClaimKey("client", 43)
			if ok, err := a.ClaimPin(ctx, other, time.Minute); !ok || err != nil {
				t.Fatalf("another pin: %v %v", ok, err)
			}
		})
	}
}

// On Redis, the claim is SET NX with a TTL: once per key, across clients.
func TestRedisPinClaimIsOnceAndExpires(t *testing.T) {
	addr := startRedis(t)
	a, err := NewRedisStore("redis://"+addr+"/0", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, _ := NewRedisStore("redis://"+addr+"/0", time.Second)
	defer b.Close()
	ctx := context.Background()
	if ok, err := a.ClaimPin(ctx, "k", time.Now().Add(time.Minute)); !ok || err != nil {
		t.Fatal("first claim", ok, err)
	}
	if ok, err := b.ClaimPin(ctx, "k", time.Now().Add(time.Minute)); ok || err != nil {
		t.Fatal("second claim from another client", ok, err)
	}
	if ttl := redisTTL(t, addr, redisPinPrefix+"k"); ttl <= 0 || ttl > 60 {
		t.Fatalf("claim TTL %d s, want about 60", ttl)
	}
	if err := a.UnclaimPin(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.ClaimPin(ctx, "k", time.Now().Add(time.Minute)); !ok || err != nil {
		t.Fatal("claim after release", ok, err)
	}
}

// redisTTL asks Redis for a key's TTL in seconds, speaking RESP directly.
func redisTTL(t *testing.T, addr, key string) int {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "*2\r\n$3\r\nTTL\r\n$%d\r\n%s\r\n", len(key), key)
	var n int
	if _, err := fmt.Fscanf(bufio.NewReader(conn), ":%d\r\n", &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Expired claims go from Caddy's storage with the sweep.
func TestCaddyStoreSweepDropsExpiredPinClaims(t *testing.T) {
	ctx := context.Background()
	fs := &certmagic.FileStorage{Path: t.TempDir()}
	st := &CaddyStore{st: fs}
	if ok, err := st.ClaimPin(ctx, "live", time.Now().Add(time.Hour)); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, err := st.ClaimPin(ctx, "dead", time.Now().Add(-time.Second)); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := st.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if !fs.Exists(ctx, caddyPinPrefix+"/live") || fs.Exists(ctx, caddyPinPrefix+"/dead") {
		t.Fatal("the sweep should drop the expired claim and keep the live one")
	}
	// An expired claim does not refuse a new one.
	if ok, err := st.ClaimPin(ctx, "dead", time.Now().Add(time.Hour)); !ok || err != nil {
		t.Fatal("an expired claim refused a new one", ok, err)
	}
}

// pinclaim.go:42: a claim whose lifetime is over already, 0 included,
// claims nothing (go-cache would keep a claim made with a lifetime of 0
// for ever, and refuse the pin for the process's life).
func TestPinClaimOfNoLifetimeClaimsNothing(t *testing.T) {
	sc := NewCache(nil, nil, Config{})
	defer sc.Destruct()
	ctx := context.Background()
	key := PinClaimKey("client", 42)
	for _, ttl := range []time.Duration{0, -time.Minute} {
		if ok, err := sc.ClaimPin(ctx, key, ttl); !ok || err != nil {
			t.Fatalf("claim of lifetime %v = %v, %v; want granted", ttl, ok, err)
		}
		if sc.PinSettled(key) {
			t.Fatalf("a claim of lifetime %v is kept", ttl)
		}
	}
	if ok, err := sc.ClaimPin(ctx, key, time.Minute); !ok || err != nil {
		t.Fatalf("a claim after claims of no lifetime = %v, %v; want granted", ok, err)
	}
	if !sc.PinSettled(key) {
		t.Fatal("a live claim is not settled here")
	}
}

// pinclaim.go:59: while the store cannot be asked, a claim is refused with
// the store's error, counted as the store's failure, and not kept: once the
// store is back the pin can be finished.
func TestPinClaimTheStoreCouldNotTakeIsNotKept(t *testing.T) {
	st := &failingStore{entries: map[string][]byte{}}
	failed := 0
	sc := NewCache(st, nil, Config{StoreFailed: func() { failed++ }})
	defer sc.Destruct()
	ctx := context.Background()
	key := PinClaimKey("client", 42)
	st.down.Store(true)
	if ok, err := sc.ClaimPin(ctx, key, time.Minute); ok || !errors.Is(err, errStoreDown) {
		t.Fatalf("claim while the store is down = %v, %v; want refused with its error", ok, err)
	}
	if failed != 1 {
		t.Fatalf("the store's failure counted %d times, want once", failed)
	}
	if sc.PinSettled(key) {
		t.Fatal("a claim the store did not take is kept in memory")
	}
	st.down.Store(false)
	if ok, err := sc.ClaimPin(ctx, key, time.Minute); !ok || err != nil {
		t.Fatalf("claim once the store is back = %v, %v; want granted", ok, err)
	}
}
