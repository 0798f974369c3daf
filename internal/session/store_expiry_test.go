package session

import (
	"context"
	"testing"
	"time"
)

// Entries expire with the session in Redis (README, "Sessions that hold"):
// a save and a re-check's replace both give the key the session's time
// left, and a session already over is not written.
func TestRedisEntriesExpireWithTheSession(t *testing.T) {
	r, err := NewRedisStore("redis://"+startRedis(t)+"/0", StoreTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	ttl := func(key string) time.Duration {
		d, err := r.c.TTL(ctx, redisKeyPrefix+key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if err := r.Save(ctx, "k", []byte("v"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if d := ttl("k"); d <= 59*time.Minute || d > time.Hour {
		t.Fatalf("saved with %v to live, want the session's hour", d)
	}
	if err := r.Replace(ctx, "k", []byte("v2"), time.Now().Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if d := ttl("k"); d <= 9*time.Minute || d > 10*time.Minute {
		t.Fatalf("replaced with %v to live, want the session's 10 minutes", d)
	}
	if err := r.Save(ctx, "over", []byte("v"), time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Load(ctx, "over"); err != ErrNotFound {
		t.Fatalf("a session already over was stored: %v", err)
	}
}
