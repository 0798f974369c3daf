package session

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-plexauth/caddy-plexauth/internal/seal"
)

// The verified-cookie table on its own (verified.go); the root package's
// verified_test.go checks, through the handler, that it never admits what
// opening the cookie would refuse.

func TestDropSessionForgetsEveryValueOfTheSession(t *testing.T) {
	v := NewVerifiedCookies()
	exp := time.Now().Add(time.Hour).Unix()
	v.Put("c", "value-1", "session-a", nil, exp, exp)
	v.Put("c", "value-2", "session-a", nil, exp, exp)
	v.Put("c", "value-3", "session-b", nil, exp, exp)
	v.DropSession("session-a")
	if v.Len() != 1 {
		t.Fatalf("table holds %d values, want 1", v.Len())
	}
	if e, ok := v.Get("c", "value-3", time.Now()); !ok || e.ID != "session-b" {
		t.Fatal("another session's value was dropped")
	}
}

func TestVerifiedTableIsBounded(t *testing.T) {
	v := NewVerifiedCookies()
	exp := time.Now().Add(time.Hour).Unix()
	for i := range 4 * verifiedShards * verifiedPerShard {
		v.Put("c", strconv.Itoa(i), "id", nil, exp, exp)
	}
	if n := v.Len(); n > verifiedShards*verifiedPerShard {
		t.Fatalf("table holds %d values, bound is %d", n, verifiedShards*verifiedPerShard)
	}
}

// cookieName is the root's default session cookie name.
const cookieName = "plex_auth_session"

// BenchmarkVerifiedTableFull reports the heap a full table holds per
// value (heap-B/value), for cookie values the size this module seals.
func BenchmarkVerifiedTableFull(b *testing.B) {
	s, err := seal.New("session", [][]byte{randomBytes(32)})
	if err != nil {
		b.Fatal(err)
	}
	n := verifiedShards * verifiedPerShard
	values := make([]string, 0, 2*n)
	for range 2 * n {
		values = append(values, s.Seal(cookieName, randomBytes(sessionIDLen), time.Now().Add(time.Hour)))
	}
	exp := time.Now().Add(time.Hour).Unix()
	var perValue float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		v := NewVerifiedCookies()
		for _, val := range values {
			v.Put(cookieName, val, string(randomBytes(sessionIDLen)), nil, exp, exp)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perValue = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(v.Len())
		runtime.KeepAlive(v)
	}
	b.ReportMetric(perValue, "heap-B/value")
	b.ReportMetric(float64(n), "values")
}

func TestSessionDeletedOrExpiredInMemoryIsMarked(t *testing.T) {
	sc := NewCache(nil, nil, Config{})
	t.Cleanup(func() { _ = sc.Destruct() })
	deleted := testSession(time.Now(), time.Now().Add(time.Hour))
	sc.PutLocal("deleted", deleted)
	sc.c.Delete("deleted")
	expired := testSession(time.Now(), time.Now().Add(time.Millisecond))
	sc.PutLocal("expired", expired)
	for !time.Now().After(expired.Expires) {
		time.Sleep(time.Millisecond)
	}
	sc.c.DeleteExpired()
	flushed := testSession(time.Now(), time.Now().Add(time.Hour))
	sc.PutLocal("flushed", flushed)
	sc.FlushLocal()
	for name, s := range map[string]*Session{"deleted": deleted, "expired": expired, "flushed": flushed} {
		if !s.evicted.Load() || sc.Trusts(s, time.Now(), time.Hour) {
			t.Errorf("%s: memory dropped the object, yet it is still trusted", name)
		}
	}
}

func TestTableDefersToTheLookupOnceCacheTTLOrASignoutElsewhereSaysReadAgain(t *testing.T) {
	sc := NewCache(&CaddyStore{st: &certmagic.FileStorage{Path: t.TempDir()}}, nil, Config{})
	t.Cleanup(func() { _ = sc.Destruct() })
	s := testSession(time.Now(), time.Now().Add(time.Hour))
	if err := sc.Put(context.Background(), "id", s); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if !sc.Trusts(s, now, time.Minute) {
		t.Fatal("a session just written is not trusted")
	}
	if sc.Trusts(s, now.Add(time.Minute), time.Minute) {
		t.Error("trusted past cache_ttl: the store must be read again")
	}
	sc.staleBefore.Store(time.Now().UnixNano()) // a sign-out elsewhere was seen
	if sc.Trusts(s, now, time.Minute) {
		t.Error("trusted after a sign-out elsewhere: the store must be read again")
	}
}

// verified.go:104: the whole value is compared, not only its hash, so a
// value whose hash collides with a remembered one's is opened as usual.
func TestVerifiedTableComparesTheWholeValueNotItsHash(t *testing.T) {
	v := NewVerifiedCookies()
	s := &Session{Expires: time.Now().Add(time.Hour)}
	exp := time.Now().Add(time.Hour).Unix()
	v.Put("plex_auth_session", "genuine-value", "session-id", s, exp, exp)
	// Stand in a colliding value: the entry of "genuine-value" filed under
	// the hash of "forged-value".
	sh, k := v.shard("forged-value")
	e, ok := v.Get("plex_auth_session", "genuine-value", time.Now())
	if !ok {
		t.Fatal("the genuine value is not remembered")
	}
	sh.mu.Lock()
	m := map[uint64]VerifiedEntry{k: e}
	for ek, oe := range sh.load() {
		m[ek] = oe
	}
	sh.m.Store(&m)
	sh.mu.Unlock()
	if _, ok := v.Get("plex_auth_session", "forged-value", time.Now()); ok {
		t.Fatal("a value was taken for a remembered one on its hash alone")
	}
	if _, ok := v.Get("plex_auth_session", "genuine-value", time.Now()); !ok {
		t.Fatal("the genuine value is no longer remembered")
	}
}

// constantTimeEqual takes eight bytes at a time and the rest one by one: a
// difference in any byte of either part, or in the length, must show.
func TestConstantTimeEqualSeesEveryByte(t *testing.T) {
	for n := 0; n <= 40; n++ {
		a := strings.Repeat("x", n)
		if !constantTimeEqual(a, strings.Clone(a)) {
			t.Fatalf("length %d: equal values compared unequal", n)
		}
		if constantTimeEqual(a, a+"x") || constantTimeEqual(a+"x", a) {
			t.Fatalf("length %d: values of different lengths compared equal", n)
		}
		for i := range n {
			for _, bit := range []byte{0x01, 0x80} {
				b := []byte(a)
				b[i] ^= bit
				if constantTimeEqual(a, string(b)) {
					t.Fatalf("length %d: a difference at byte %d (bit %#x) went unseen", n, i, bit)
				}
			}
		}
	}
}

// verified.go:113: a value whose shard holds nothing yet is a miss, not a
// crash: the first request of a browser asks an empty table.
func TestVerifiedTableMissesOnAnEmptyShard(t *testing.T) {
	v := NewVerifiedCookies()
	if _, ok := v.Get(cookieName, "never-put", time.Now()); ok {
		t.Fatal("an empty table answered a value")
	}
	var none *VerifiedCookies
	if _, ok := none.Get(cookieName, "never-put", time.Now()); ok {
		t.Fatal("a nil table answered a value")
	}
}

// verified.go:117: a value is remembered for the cookie name it was opened
// for (the name is sealed into the value): under another name it is a miss,
// and so is another value of the same shard.
func TestVerifiedTableAnswersOnlyTheNameAndValuePut(t *testing.T) {
	v := NewVerifiedCookies()
	exp := time.Now().Add(time.Hour).Unix()
	v.Put(cookieName, "value", "session-id", nil, exp, exp)
	if _, ok := v.Get("plex_auth_state", "value", time.Now()); ok {
		t.Error("a value opened as the session cookie was answered for another cookie name")
	}
	if e, ok := v.Get(cookieName, "value", time.Now()); !ok || e.ID != "session-id" || e.Sealed != exp {
		t.Errorf("Get = %+v, %v; want the entry put", e, ok)
	}
}

// verified.go:120: an entry counts until the earlier of the sealed expiry
// and the session's, checked on every hit as opening checks the sealed one
// (at the expiry's second it is over, as open says), and an entry found
// over is dropped.
func TestVerifiedEntryEndsAtTheEarlierExpiryAndIsDropped(t *testing.T) {
	now := time.Unix(time.Now().Unix(), 0)
	later := now.Add(time.Hour).Unix()
	for name, c := range map[string]struct{ sealed, expires int64 }{
		"sealed expiry first":  {now.Unix(), later},
		"session expiry first": {later, now.Unix()},
	} {
		t.Run(name, func(t *testing.T) {
			v := NewVerifiedCookies()
			v.Put(cookieName, "value", "session-id", nil, c.sealed, c.expires)
			if _, ok := v.Get(cookieName, "value", now.Add(-time.Second)); !ok {
				t.Fatal("the entry does not count a second before its expiry")
			}
			if _, ok := v.Get(cookieName, "value", now); ok {
				t.Fatal("the entry still counts at its expiry")
			}
			if v.Len() != 0 {
				t.Fatalf("an entry found over is still held (%d values)", v.Len())
			}
		})
	}
}

// verified.go:188: Drop forgets the value asked and no other, under any
// name; a nil table drops nothing and does not crash.
func TestVerifiedDropForgetsThatValueOnly(t *testing.T) {
	v := NewVerifiedCookies()
	exp := time.Now().Add(time.Hour).Unix()
	for i := range 4 * verifiedShards {
		v.Put(cookieName, "value-"+strconv.Itoa(i), "session-id", nil, exp, exp)
	}
	v.Drop("value-0")
	if _, ok := v.Get(cookieName, "value-0", time.Now()); ok {
		t.Fatal("a dropped value is still answered")
	}
	if n := v.Len(); n != 4*verifiedShards-1 {
		t.Fatalf("after one Drop the table holds %d values, want %d", n, 4*verifiedShards-1)
	}
	for i := 1; i < 4*verifiedShards; i++ {
		if _, ok := v.Get(cookieName, "value-"+strconv.Itoa(i), time.Now()); !ok {
			t.Fatalf("Drop of value-0 forgot value-%d", i)
		}
	}
	var none *VerifiedCookies
	none.Drop("value-1")
	none.DropSession("session-id")
	none.Put(cookieName, "value", "id", nil, exp, exp)
}
