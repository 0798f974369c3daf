package signin

import (
	"net/netip"
	"sync"
	"time"
)

// limit is a token bucket's shape: burst calls at once, refilled at rate a
// second.
type limit struct {
	rate  float64
	burst float64
}

// fairness shares a bucket among clients: a client that last took from it
// age ago may take only while more than 1 + reserve×(1 − age/horizon)
// tokens are left, so under contention the refill goes to whoever has gone
// longest without, and a client new to the bucket (or back after the
// horizon) is served next. It only ever refuses: what the bucket lets
// through stays within its rate × time + burst.
type fairness struct {
	reserve float64
	horizon time.Duration
}

// floor is what a client that took age ago must leave in the bucket.
func (f fairness) floor(age time.Duration) float64 {
	if age >= f.horizon || f.horizon <= 0 {
		return 0
	}
	return f.reserve * (1 - float64(age)/float64(f.horizon))
}

// never is the age of a client that has not taken from a bucket.
const never = time.Duration(1<<63 - 1)

// bucket is a token bucket. The zero value is empty; newBucket is full.
type bucket struct {
	tokens float64
	last   time.Time
}

func newBucket(l limit, now time.Time) bucket { return bucket{tokens: l.burst, last: now} }

func (b *bucket) refill(l limit, now time.Time) {
	if now.After(b.last) {
		b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
		b.last = now
	}
}

// take spends a token, or says how long until there is one.
func (b *bucket) take(l limit, now time.Time) (bool, time.Duration) {
	b.refill(l, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// full tells whether the bucket has refilled: it then says nothing a new
// bucket would not.
func (b *bucket) full(l limit, now time.Time) bool {
	return b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst
}

// sharedBucket is one bucket for everyone, shared by f.
type sharedBucket struct {
	l  limit
	f  fairness
	mu sync.Mutex
	b  bucket
}

func newSharedBucket(l limit, f fairness, now time.Time) *sharedBucket {
	return &sharedBucket{l: l, f: f, b: newBucket(l, now)}
}

// take spends a token for a client that last took one age ago (never if
// it has not), or says how long until it could.
func (s *sharedBucket) take(now time.Time, age time.Duration) (bool, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.refill(s.l, now)
	need := 1 + s.f.floor(age)
	if s.b.tokens >= need {
		s.b.tokens--
		return true, 0
	}
	return false, time.Duration((need - s.b.tokens) / s.l.rate * float64(time.Second))
}

// clientEntry is a client's own bucket and when it last took from the
// shared one.
type clientEntry struct {
	bucket
	shared time.Time // zero: never
}

// clientBuckets is a bucket per client, at most max of them.
type clientBuckets struct {
	l   limit
	max int
	mu  sync.Mutex
	m   map[netip.Addr]clientEntry
}

func newClientBuckets(l limit, max int) *clientBuckets {
	return &clientBuckets{l: l, max: max, m: make(map[netip.Addr]clientEntry)}
}

// take spends a token of client's own budget.
func (c *clientBuckets) take(client netip.Addr, now time.Time) (bool, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[client]
	if !ok {
		if len(c.m) >= c.max {
			c.shrink(now)
		}
		e = clientEntry{bucket: newBucket(c.l, now)}
	}
	allowed, wait := e.take(c.l, now)
	c.m[client] = e
	return allowed, wait
}

// sharedAge is how long ago client last took from the shared budget, or
// never.
func (c *clientBuckets) sharedAge(client netip.Addr, now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[client]; ok && !e.shared.IsZero() {
		return max(now.Sub(e.shared), 0)
	}
	return never
}

// tookShared notes that client took from the shared budget at now.
func (c *clientBuckets) tookShared(client netip.Addr, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[client]; ok {
		e.shared = now
		c.m[client] = e
	}
}

// shrink makes room in a full table: first by forgetting clients whose
// bucket has refilled, which loses nothing; then, when the table is full of
// clients that are spending (only many addresses at once do that), by
// forgetting any of them, one sixteenth of the table at a time so the sweep
// stays rare. A client forgotten that way starts afresh, as it could from a
// new address anyway; the shared budget still bounds them all.
func (c *clientBuckets) shrink(now time.Time) {
	for k, e := range c.m {
		if e.full(c.l, now) {
			delete(c.m, k)
		}
	}
	for k := range c.m {
		if len(c.m) <= c.max-c.max/16-1 {
			break
		}
		delete(c.m, k)
	}
}

func (c *clientBuckets) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
