package signin

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// A client that keeps asking the shared budget yields to one that has not
// taken from it lately: sixteen addresses asking as fast as their own
// budgets let them do not stop a newcomer's first call.
func TestSharedBudgetServesANewcomerFirst(t *testing.T) {
	for _, c := range []struct {
		during    Call
		addresses int
		every     time.Duration // how often each hammering address asks
	}{
		// The review's two floods: 16 addresses polling every 100 ms, 64
		// posting to start as fast as they can.
		{CheckPin, 16, 100 * time.Millisecond},
		{CreatePin, 64, 10 * time.Millisecond},
	} {
		t.Run(string(c.during), func(t *testing.T) {
			t0 := time.Unix(1000, 0)
			l := New(t0, testStateTTL)
			var hammerers []netip.Addr
			for i := range c.addresses {
				hammerers = append(hammerers, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
			}
			newcomer := 0
			refusedNewcomers := 0
			for now := t0; now.Before(t0.Add(60 * time.Second)); now = now.Add(c.every) {
				for _, a := range hammerers {
					l.allow(c.during, a, now)
				}
				// Once the hammering has drained the bucket, a newcomer
				// every second: each must be served at its first call.
				if now.Sub(t0) > 5*time.Second && now.Sub(t0)%time.Second == 0 {
					newcomer++
					a := netip.AddrFrom4([4]byte{203, 0, 113, byte(newcomer)})
					if err := l.allow(c.during, a, now); err != nil {
						refusedNewcomers++
					}
				}
			}
			if newcomer < 50 || refusedNewcomers > 0 {
				t.Errorf("%d of %d newcomers were refused at their first call", refusedNewcomers, newcomer)
			}
		})
	}
}

// Fairness only ever refuses: whatever the mix of clients, the calls let
// through stay within the shared rate × time + burst.
func TestSharedBudgetsStayWithinRateTimesTimePlusBurst(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		during Call
		shared limit
	}{{CheckPin, sharedChecks}, {CreatePin, sharedCreates}} {
		t0 := time.Unix(1000, 0)
		l := New(t0, testStateTTL)
		allowed := 0
		now := t0
		const span = 120 * time.Second
		for now.Before(t0.Add(span)) {
			now = now.Add(time.Duration(rng.IntN(20)) * time.Millisecond)
			a := netip.AddrFrom4([4]byte{10, 0, byte(rng.IntN(4)), byte(rng.IntN(256))})
			if l.allow(c.during, a, now) == nil {
				allowed++
			}
		}
		bound := int(c.shared.burst + c.shared.rate*now.Sub(t0).Seconds())
		if allowed > bound {
			t.Errorf("%s: %d calls let through in %v, bound %d", c.during, allowed, now.Sub(t0), bound)
		}
		if allowed < bound*9/10 {
			t.Errorf("%s: only %d calls let through in %v of a bound %d: fairness should refuse only under contention", c.during, allowed, now.Sub(t0), bound)
		}
	}
}

// Shared refusals cost the client its own token, for checks as for
// creations: a client cannot hammer past the shared budget for free.
func TestRefusedCheckStillCostsTheClientsOwnToken(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := New(t0, testStateTTL)
	l.checkShared.b.tokens = 0
	a := netip.MustParseAddr("192.0.2.1")
	for i := range int(clientChecks.burst) {
		if err := l.allow(CheckPin, a, t0); err == nil || !err.Shared {
			t.Fatalf("check %d with an empty shared budget: %+v", i, err)
		}
	}
	if err := l.allow(CheckPin, a, t0); err == nil || err.Shared {
		t.Fatalf("after %v refused checks the client's own budget should be spent: %+v", clientChecks.burst, err)
	}
}

// Fairness costs nothing while no one competes: a client alone spends its
// whole own burst at once, even from a shared bucket others have just
// dipped into.
func TestClientAloneSpendsItsWholeBurstDespiteFairness(t *testing.T) {
	for _, c := range []struct {
		during       Call
		own, shared  limit
		othersBefore int
	}{
		{CreatePin, clientCreates, sharedCreates, 5},
		{CheckPin, clientChecks, sharedChecks, 5},
	} {
		t0 := time.Unix(1000, 0)
		l := New(t0, testStateTTL)
		for i := range c.othersBefore {
			if err := l.allow(c.during, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), t0); err != nil {
				t.Fatal(err)
			}
		}
		a := netip.MustParseAddr("192.0.2.1")
		for i := range int(c.own.burst) {
			if err := l.allow(c.during, a, t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
				t.Fatalf("%s: call %d of the client's burst of %v refused: %v", c.during, i+1, c.own.burst, err)
			}
		}
	}
}
