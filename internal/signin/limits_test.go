package signin

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The error says which limit refused, for the log line that carries it.
func TestLimitErrorSaysWhichLimitRefused(t *testing.T) {
	for _, c := range []struct {
		e    *Refusal
		want string
	}{
		{&Refusal{Call: CreatePin}, "local sign-in limit: this client's budget for creating pin is spent"},
		{&Refusal{Call: CheckPin, Shared: true}, "local sign-in limit: all clients' budget for checking pin is spent"},
		{&Refusal{Call: CreatePin, InProgress: true}, "local sign-in limit: this client has 3 sign-ins in progress"},
	} {
		if got := c.e.Error(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.e, got, c.want)
		}
	}
}

// Retry-After is whole seconds, rounded up, never 0 (the message for
// people, which says the same, is the root's: TestLimitedMessageSaysWholeSeconds).
func TestLimitErrorSaysWholeSeconds(t *testing.T) {
	for _, c := range []struct {
		wait time.Duration
		secs int
	}{
		{0, 1},
		{time.Millisecond, 1},
		{time.Second, 1},
		{time.Second + time.Millisecond, 2},
		{9500 * time.Millisecond, 10},
	} {
		e := &Refusal{Call: CreatePin, Wait: c.wait}
		if e.RetryAfter() != c.secs {
			t.Errorf("wait %v: %d; want %d", c.wait, e.RetryAfter(), c.secs)
		}
		if strings.Contains(e.Error(), "429") || strings.Contains(e.Error(), "plex.tv") {
			t.Errorf("the error reads as plex.tv's: %q", e.Error())
		}
	}
}

func TestLimitsKeepBudgetsApart(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := New(t0, testStateTTL)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for i := range int(clientCreates.burst) {
		if err := l.allow(CreatePin, a, t0); err != nil {
			t.Fatalf("creation %d refused: %v", i, err)
		}
	}
	err := l.allow(CreatePin, a, t0)
	if err == nil || err.Shared || err.RetryAfter() != 10 {
		t.Fatalf("creation past the client's burst: %+v, want refused, own budget, 10 s", err)
	}
	if err := l.allow(CheckPin, a, t0); err != nil {
		t.Errorf("a client out of creations cannot check its pins: %v", err)
	}
	if err := l.allow(CreatePin, b, t0); err != nil {
		t.Errorf("another client is refused: %v", err)
	}
	if err := l.allow(CreatePin, a, t0.Add(10*time.Second)); err != nil {
		t.Errorf("no creation after the refill time: %v", err)
	}

	// All clients together: the shared budget, and a refusal by it costs
	// the client its own token all the same (hammering is not free).
	l = New(t0, testStateTTL)
	n := 0
	for i := 0; n < int(sharedCreates.burst); i++ {
		c := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
		for range int(clientCreates.burst) {
			if n < int(sharedCreates.burst) && l.allow(CreatePin, c, t0) == nil {
				n++
			}
		}
	}
	err = l.allow(CreatePin, a, t0)
	if err == nil || !err.Shared {
		t.Fatalf("past the shared burst: %+v, want refused by the shared budget", err)
	}
	if got := l.createClients.m[a].tokens; got != clientCreates.burst-1 {
		t.Errorf("after one call refused by the shared budget the client has %v tokens of its own, want %v", got, clientCreates.burst-1)
	}
}

// SharedBound is the shared budget's burst plus its rate × time, for
// creations and checks each.
func TestSharedBoundIsBurstPlusRateTimesTime(t *testing.T) {
	for _, c := range []struct {
		call Call
		d    time.Duration
		want int
	}{
		{CreatePin, 0, 50},
		{CreatePin, 10 * time.Second, 100},
		{CheckPin, 0, 50},
		{CheckPin, 10*time.Second + 500*time.Millisecond, 155},
	} {
		if got := SharedBound(c.call, c.d); got != c.want {
			t.Errorf("SharedBound(%s, %v) = %d, want %d", c.call, c.d, got, c.want)
		}
	}
}

// AllowCreate spends the client's own budget first: past its burst the
// client is refused by its own budget, whatever the ledger and the shared
// budget would say.
func TestAllowCreateSpendsTheClientsOwnBudgetFirst(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := New(t0, testStateTTL)
	a := netip.MustParseAddr("192.0.2.1")
	for i := range int(clientCreates.burst) {
		if err := l.AllowCreate(a, PinRef{}, t0); err != nil {
			t.Fatalf("creation %d refused: %v", i, err)
		}
		l.Created(a, PinRef{}, t0.Add(time.Hour), PinRef{}, t0)
	}
	err := l.AllowCreate(a, PinRef{}, t0)
	if err == nil || err.Shared || err.InProgress || err.RetryAfter() != 10 {
		t.Errorf("creation past the client's burst: %+v, want refused by its own budget, 10 s", err)
	}
}

// AllowCreate's shared budget is the one all clients share, and shared
// fairly: a client that just took from it yields the last tokens to one
// that has not.
func TestAllowCreateTakesFromTheSharedBudgetFairly(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := New(t0, testStateTTL)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	l.createShared.b.tokens = 0
	if err := l.AllowCreate(a, PinRef{}, t0); err == nil || !err.Shared || err.InProgress {
		t.Fatalf("with the shared budget empty: %+v, want refused by it", err)
	}
	l.createShared.b.tokens = sharedCreates.burst
	if err := l.AllowCreate(a, PinRef{}, t0); err != nil {
		t.Fatal(err)
	}
	l.Created(a, PinRef{}, t0.Add(time.Hour), PinRef{}, t0)
	l.createShared.b.tokens = 2
	if err := l.AllowCreate(a, PinRef{}, t0); err == nil || !err.Shared {
		t.Errorf("a client that just took, with 2 shared tokens left: %+v, want refused by the shared budget", err)
	}
	if err := l.AllowCreate(b, PinRef{}, t0); err != nil {
		t.Errorf("a newcomer with 2 shared tokens left: %v", err)
	}
}
