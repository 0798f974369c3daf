package plexauth

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/internal/plextv"
)

// A client that keeps asking the shared budget yields to one that has not
// taken from it lately: sixteen addresses asking as fast as their own
// budgets let them do not stop a newcomer's first call.
func TestSharedBudgetServesANewcomerFirst(t *testing.T) {
	for _, c := range []struct {
		during    string
		addresses int
		every     time.Duration // how often each hammering address asks
	}{
		// The review's two floods: 16 addresses polling every 100 ms, 64
		// posting to start as fast as they can.
		{duringCheck, 16, 100 * time.Millisecond},
		{duringCreate, 64, 10 * time.Millisecond},
	} {
		t.Run(c.during, func(t *testing.T) {
			t0 := time.Unix(1000, 0)
			l := newSigninLimits(t0)
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
		during string
		shared limit
	}{{duringCheck, sharedChecks}, {duringCreate, sharedCreates}} {
		t0 := time.Unix(1000, 0)
		l := newSigninLimits(t0)
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
	l := newSigninLimits(t0)
	l.checkShared.b.tokens = 0
	a := netip.MustParseAddr("192.0.2.1")
	for i := range int(clientChecks.burst) {
		if err := l.allow(duringCheck, a, t0); err == nil || !err.shared {
			t.Fatalf("check %d with an empty shared budget: %+v", i, err)
		}
	}
	if err := l.allow(duringCheck, a, t0); err == nil || err.shared {
		t.Fatalf("after %v refused checks the client's own budget should be spent: %+v", clientChecks.burst, err)
	}
}

func TestClientHoldsAtMostThreeSignInsInProgress(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newSigninLimits(t0)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	nextID := int64(100)
	create := func(client netip.Addr, replaced pinRef, now time.Time, ttl time.Duration) (pinRef, *limitError) {
		if err := l.allowCreate(client, replaced, now); err != nil {
			return pinRef{}, err
		}
		nextID++
		pin := &plextv.Pin{ID: nextID, Code: fmt.Sprintf("code%d", nextID)}
		l.ledger.created(client, pin, now.Add(ttl), replaced, now)
		return pinRef{pin.ID, pin.Code}, nil
	}
	var ids []pinRef
	for range maxOpenPins {
		id, err := create(a, pinRef{}, t0, 15*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	err := l.allowCreate(a, pinRef{}, t0)
	if err == nil || !err.inProgress || err.retryAfter() < 1 || err.retryAfter() > int(openPinsRetry/time.Second) {
		t.Fatalf("a fourth sign-in in progress: %+v, want refused for sign-ins in progress, Retry-After 1 to 30 s", err)
	}
	bs, err := create(b, pinRef{}, t0, 15*time.Minute)
	if err != nil {
		t.Errorf("another client is refused: %v", err)
	}

	// A state cookie naming a pin by its id but without its code (sealed
	// with a stolen secret around a guessed id) replaces nothing, and nor
	// does another client's pin.
	for _, wrong := range []pinRef{{ids[0].id, "guessed"}, {ids[0].id, ""}, bs} {
		if err := l.allowCreate(a, wrong, t0); err == nil || !err.inProgress {
			t.Fatalf("replacing %+v: %+v, want refused for sign-ins in progress", wrong, err)
		}
	}
	if _, ended := l.ledger.endedAs(ids[0].id, t0); ended {
		t.Fatal("a state cookie without the pin's code ended it")
	}

	// The browser starting again replaces its own pin, which ends.
	id, err := create(a, ids[0], t0, 15*time.Minute)
	if err != nil {
		t.Fatalf("a browser replacing its own sign-in is refused: %v", err)
	}
	if answer, ended := l.ledger.endedAs(ids[0].id, t0); !ended || answer != pinExpired {
		t.Errorf("the replaced pin: %v %v, want ended as expired", answer, ended)
	}
	ids = append(ids[1:], id)

	// A sign-in that ends frees its place; so does one that expires.
	if l.allowCreate(a, pinRef{}, t0) == nil {
		t.Fatal("four in progress after the replacement")
	}
	l.ledger.end(ids[0].id, pinUsed, t0)
	if _, err := create(a, pinRef{}, t0, time.Minute); err != nil {
		t.Fatalf("a place freed by an ended sign-in: %v", err)
	}
	if l.allowCreate(a, pinRef{}, t0.Add(30*time.Second)) == nil {
		t.Fatal("four in progress")
	}
	if _, err := create(a, pinRef{}, t0.Add(time.Minute), time.Minute); err != nil {
		t.Fatalf("a place freed by an expired sign-in: %v", err)
	}

	// A creation plex.tv did not make frees its place.
	c := netip.MustParseAddr("192.0.2.3")
	for range maxOpenPins {
		if err := l.allowCreate(c, pinRef{}, t0); err != nil {
			t.Fatal(err)
		}
		l.ledger.created(c, nil, time.Time{}, pinRef{}, t0)
	}
	if got := l.ledger.inProgress(c, t0); got != 0 {
		t.Errorf("%d in progress after three failed creations", got)
	}
}

// A place refused for sign-ins in progress takes nothing of the shared
// budget; the own budget pays for it, as for any refusal.
func TestRefusalForSignInsInProgressCostsTheSharedBudgetNothing(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newSigninLimits(t0)
	a := netip.MustParseAddr("192.0.2.1")
	for i := range maxOpenPins {
		if err := l.allowCreate(a, pinRef{}, t0); err != nil {
			t.Fatal(err)
		}
		l.ledger.created(a, &plextv.Pin{ID: int64(i + 1)}, t0.Add(time.Hour), pinRef{}, t0)
	}
	shared, own := l.createShared.b.tokens, l.createClients.m[a].tokens
	if err := l.allowCreate(a, pinRef{}, t0); err == nil || !err.inProgress {
		t.Fatalf("%+v", err)
	}
	if l.createShared.b.tokens != shared {
		t.Errorf("the refusal took from the shared budget: %v, then %v", shared, l.createShared.b.tokens)
	}
	if l.createClients.m[a].tokens != own-1 {
		t.Errorf("the refusal cost the client's own budget nothing: %v, then %v", own, l.createClients.m[a].tokens)
	}
}

func TestEndedPinsAreForgottenAfterTheStateCookieHasExpired(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newPinLedger()
	l.end(7, pinUsed, t0)
	l.end(7, pinExpired, t0) // the first answer stays
	if answer, ended := l.endedAs(7, t0.Add(maxStateTTL-time.Second)); !ended || answer != pinUsed {
		t.Errorf("pin 7: %v %v, want used", answer, ended)
	}
	if _, ended := l.endedAs(7, t0.Add(maxStateTTL)); ended {
		t.Error("pin 7 still remembered once no state cookie of it can be open")
	}
	l.end(8, pinExpired, t0.Add(maxStateTTL+time.Minute)) // sweeps
	if len(l.ended) != 1 {
		t.Errorf("ended table holds %d entries, want 1", len(l.ended))
	}
}

// Fairness costs nothing while no one competes: a client alone spends its
// whole own burst at once, even from a shared bucket others have just
// dipped into.
func TestClientAloneSpendsItsWholeBurstDespiteFairness(t *testing.T) {
	for _, c := range []struct {
		during       string
		own, shared  limit
		othersBefore int
	}{
		{duringCreate, clientCreates, sharedCreates, 5},
		{duringCheck, clientChecks, sharedChecks, 5},
	} {
		t0 := time.Unix(1000, 0)
		l := newSigninLimits(t0)
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

// The error says which limit refused, for the log line that carries it.
func TestLimitErrorSaysWhichLimitRefused(t *testing.T) {
	for _, c := range []struct {
		e    *limitError
		want string
	}{
		{&limitError{during: duringCreate}, "local sign-in limit: this client's budget for creating pin is spent"},
		{&limitError{during: duringCheck, shared: true}, "local sign-in limit: all clients' budget for checking pin is spent"},
		{&limitError{during: duringCreate, inProgress: true}, "local sign-in limit: this client has 3 sign-ins in progress"},
	} {
		if got := c.e.Error(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.e, got, c.want)
		}
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
