package signin

import (
	"net/netip"
	"testing"
	"time"
)

func TestBucketSpendsAndRefills(t *testing.T) {
	l := limit{rate: 0.5, burst: 2} // a token every 2 s
	t0 := time.Unix(1000, 0)
	b := newBucket(l, t0)
	steps := []struct {
		at   time.Duration
		ok   bool
		wait time.Duration
	}{
		{0, true, 0},
		{0, true, 0},
		{0, false, 2 * time.Second},
		{time.Second, false, time.Second},
		{2 * time.Second, true, 0},
		{2 * time.Second, false, 2 * time.Second},
		{time.Hour, true, 0}, // refilled, but never past the burst
		{time.Hour, true, 0},
		{time.Hour, false, 2 * time.Second},
		{time.Hour - time.Minute, false, 2 * time.Second}, // a clock going back refills nothing
	}
	for i, s := range steps {
		ok, wait := b.take(l, t0.Add(s.at))
		if ok != s.ok || (!ok && (wait < s.wait-time.Millisecond || wait > s.wait+time.Millisecond)) {
			t.Fatalf("step %d at +%v: take = %v, wait %v; want %v, %v", i, s.at, ok, wait, s.ok, s.wait)
		}
	}
}

func TestClientTableIsBounded(t *testing.T) {
	const max = 64
	l := limit{rate: 0.1, burst: 3} // a token every 10 s
	t0 := time.Unix(1000, 0)
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) }

	// Many addresses at once, all spending: the table stays within its bound.
	c := newClientBuckets(l, max)
	for i := range 10000 {
		c.take(addr(i), t0)
		if c.len() > max {
			t.Fatalf("table grew to %d entries, bound %d", c.len(), max)
		}
	}

	// A full table of clients that came once and went: new clients push
	// those out, not a client still spending.
	c = newClientBuckets(l, max)
	spender := netip.MustParseAddr("192.0.2.1")
	for range 3 {
		c.take(spender, t0)
	}
	for i := range max - 1 {
		c.take(addr(i), t0)
	}
	t1 := t0.Add(20 * time.Second) // the others refilled; the spender has 2 of 3
	for i := range 10 {
		c.take(addr(100000+i), t1)
	}
	ok1, _ := c.take(spender, t1)
	ok2, _ := c.take(spender, t1)
	ok3, _ := c.take(spender, t1)
	if !ok1 || !ok2 || ok3 {
		t.Errorf("the spender's budget was reset: %v %v %v", ok1, ok2, ok3)
	}
	if c.len() != 11 {
		t.Errorf("%d entries, want 11: the spender and the new clients", c.len())
	}
}

// A table below its bound forgets no one: every client keeps what it
// spent, whatever the order of the map.
func TestClientTableBelowItsBoundForgetsNoOne(t *testing.T) {
	l := limit{rate: 0.1, burst: 3}
	t0 := time.Unix(1000, 0)
	c := newClientBuckets(l, 64)
	for i := range 63 {
		a := netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})
		for range 3 {
			c.take(a, t0)
		}
	}
	for i := range 63 {
		if ok, _ := c.take(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), t0); ok {
			t.Fatalf("client %d was forgotten below the bound: its spent budget came back", i)
		}
	}
}

// A full table of clients all spending forgets one sixteenth of itself to
// make room, not fewer (it would sweep again at once) nor more.
func TestFullTableOfSpendersForgetsOneSixteenth(t *testing.T) {
	const max = 64
	l := limit{rate: 0.1, burst: 3}
	t0 := time.Unix(1000, 0)
	c := newClientBuckets(l, max)
	for i := range max {
		c.take(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), t0)
	}
	c.take(netip.MustParseAddr("192.0.2.1"), t0)
	if want := max - max/16; c.len() != want {
		t.Errorf("%d entries after room was made, want %d", c.len(), want)
	}
}
