package signin

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// testStateTTL is how long the tests' state cookies live, as the root's
// maxStateTTL does.
const testStateTTL = 30 * time.Minute

func TestClientHoldsAtMostThreeSignInsInProgress(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := New(t0, testStateTTL)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	nextID := int64(100)
	create := func(client netip.Addr, replaced PinRef, now time.Time, ttl time.Duration) (PinRef, *Refusal) {
		if err := l.AllowCreate(client, replaced, now); err != nil {
			return PinRef{}, err
		}
		nextID++
		pin := PinRef{ID: nextID, Code: fmt.Sprintf("code%d", nextID)}
		l.Created(client, pin, now.Add(ttl), replaced, now)
		return pin, nil
	}
	var ids []PinRef
	for range MaxInProgress {
		id, err := create(a, PinRef{}, t0, 15*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	err := l.AllowCreate(a, PinRef{}, t0)
	if err == nil || !err.InProgress || err.RetryAfter() < 1 || err.RetryAfter() > int(openPinsRetry/time.Second) {
		t.Fatalf("a fourth sign-in in progress: %+v, want refused for sign-ins in progress, Retry-After 1 to 30 s", err)
	}
	bs, err := create(b, PinRef{}, t0, 15*time.Minute)
	if err != nil {
		t.Errorf("another client is refused: %v", err)
	}

	// A state cookie naming a pin by its id but without its code (sealed
	// with a stolen secret around a guessed id) replaces nothing, and nor
	// does another client's pin.
	for _, wrong := range []PinRef{{ids[0].ID, "guessed"}, {ids[0].ID, ""}, bs} {
		if err := l.AllowCreate(a, wrong, t0); err == nil || !err.InProgress {
			t.Fatalf("replacing %+v: %+v, want refused for sign-ins in progress", wrong, err)
		}
	}
	if _, ended := l.EndedAs(ids[0].ID, t0); ended {
		t.Fatal("a state cookie without the pin's code ended it")
	}

	// The browser starting again replaces its own pin, which ends.
	id, err := create(a, ids[0], t0, 15*time.Minute)
	if err != nil {
		t.Fatalf("a browser replacing its own sign-in is refused: %v", err)
	}
	if answer, ended := l.EndedAs(ids[0].ID, t0); !ended || answer != Expired {
		t.Errorf("the replaced pin: %v %v, want ended as expired", answer, ended)
	}
	ids = append(ids[1:], id)

	// A sign-in that ends frees its place; so does one that expires.
	if l.AllowCreate(a, PinRef{}, t0) == nil {
		t.Fatal("four in progress after the replacement")
	}
	l.End(ids[0].ID, Used, t0)
	if _, err := create(a, PinRef{}, t0, time.Minute); err != nil {
		t.Fatalf("a place freed by an ended sign-in: %v", err)
	}
	if l.AllowCreate(a, PinRef{}, t0.Add(30*time.Second)) == nil {
		t.Fatal("four in progress")
	}
	if _, err := create(a, PinRef{}, t0.Add(time.Minute), time.Minute); err != nil {
		t.Fatalf("a place freed by an expired sign-in: %v", err)
	}

	// A creation plex.tv did not make frees its place.
	c := netip.MustParseAddr("192.0.2.3")
	for range MaxInProgress {
		if err := l.AllowCreate(c, PinRef{}, t0); err != nil {
			t.Fatal(err)
		}
		l.Created(c, PinRef{}, t0.Add(time.Hour), PinRef{}, t0)
	}
	if got := l.ledger.inProgress(c, t0); got != 0 {
		t.Errorf("%d in progress after three failed creations", got)
	}
}

// A place refused for sign-ins in progress takes nothing of the shared
// budget; the own budget pays for it, as for any refusal.
func TestRefusalForSignInsInProgressCostsTheSharedBudgetNothing(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := New(t0, testStateTTL)
	a := netip.MustParseAddr("192.0.2.1")
	for i := range MaxInProgress {
		if err := l.AllowCreate(a, PinRef{}, t0); err != nil {
			t.Fatal(err)
		}
		l.Created(a, PinRef{ID: int64(i + 1)}, t0.Add(time.Hour), PinRef{}, t0)
	}
	shared, own := l.createShared.b.tokens, l.createClients.m[a].tokens
	if err := l.AllowCreate(a, PinRef{}, t0); err == nil || !err.InProgress {
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
	l := newPinLedger(testStateTTL)
	l.end(7, Used, t0)
	l.end(7, Expired, t0) // the first answer stays
	if answer, ended := l.endedAs(7, t0.Add(testStateTTL-time.Second)); !ended || answer != Used {
		t.Errorf("pin 7: %v %v, want used", answer, ended)
	}
	if _, ended := l.endedAs(7, t0.Add(testStateTTL)); ended {
		t.Error("pin 7 still remembered once no state cookie of it can be open")
	}
	l.end(8, Expired, t0.Add(testStateTTL+time.Minute)) // sweeps
	if len(l.ended) != 1 {
		t.Errorf("ended table holds %d entries, want 1", len(l.ended))
	}
}

// inProgress is how many sign-ins client has in progress.
func (l *pinLedger) inProgress(client netip.Addr, now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	cp := l.open[client]
	if cp == nil {
		return 0
	}
	n, _ := l.live(cp, PinRef{}, now)
	return n
}

// A pin is named by its id and its code together: the right code under
// another id replaces nothing.
func TestPinRefNeedsTheIDAndTheCode(t *testing.T) {
	p := PinRef{ID: 7, Code: "code7"}
	for _, c := range []struct {
		ref  PinRef
		want bool
	}{
		{PinRef{7, "code7"}, true},
		{PinRef{8, "code7"}, false},
		{PinRef{7, "code8"}, false},
		{PinRef{7, ""}, false},
		{PinRef{}, false},
	} {
		if got := p.is(c.ref); got != c.want {
			t.Errorf("%+v is %+v: %v, want %v", p, c.ref, got, c.want)
		}
	}
}

// A client refused for sign-ins in progress is told to come back when the
// first of them expires, if that is sooner than openPinsRetry; while all
// of them are still being created at plex.tv, after openPinsRetry.
func TestInProgressRefusalWaitsUntilTheFirstExpires(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := New(t0, testStateTTL)
	a := netip.MustParseAddr("192.0.2.1")
	for i, ttl := range []time.Duration{40 * time.Second, 10 * time.Second, 20 * time.Second} {
		if err := l.AllowCreate(a, PinRef{}, t0); err != nil {
			t.Fatal(err)
		}
		l.Created(a, PinRef{ID: int64(i + 1), Code: "c"}, t0.Add(ttl), PinRef{}, t0)
	}
	if err := l.AllowCreate(a, PinRef{}, t0); err == nil || !err.InProgress || err.Wait != 10*time.Second {
		t.Errorf("three in progress, the first expiring in 10 s: %+v, want refused, wait 10 s", err)
	}

	b := netip.MustParseAddr("192.0.2.2")
	for range MaxInProgress {
		if err := l.AllowCreate(b, PinRef{}, t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.AllowCreate(b, PinRef{}, t0); err == nil || !err.InProgress || err.Wait != openPinsRetry {
		t.Errorf("three creations at plex.tv: %+v, want refused, wait %v", err, openPinsRetry)
	}
}

// A creation counts as in progress from AllowCreate on, while plex.tv has
// not answered yet: three at once from one client, and a fourth is
// refused. A place the shared budget refused is given back.
func TestCreationsAtPlexCountAsInProgress(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := New(t0, testStateTTL)
	c := netip.MustParseAddr("192.0.2.3")
	for range MaxInProgress {
		if err := l.AllowCreate(c, PinRef{}, t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.AllowCreate(c, PinRef{}, t0); err == nil || !err.InProgress {
		t.Fatalf("a fourth creation while three are at plex.tv: %+v, want refused", err)
	}
	for range MaxInProgress {
		l.Created(c, PinRef{}, t0.Add(time.Hour), PinRef{}, t0)
	}
	if err := l.AllowCreate(c, PinRef{}, t0); err != nil {
		t.Errorf("three creations plex.tv made nothing of still hold their places: %v", err)
	}

	d := netip.MustParseAddr("192.0.2.4")
	l.createShared.b.tokens = 0
	for range MaxInProgress {
		if err := l.AllowCreate(d, PinRef{}, t0); err == nil || !err.Shared || err.InProgress {
			t.Fatalf("with the shared budget empty: %+v, want refused by it", err)
		}
	}
	l.createShared.b.tokens = sharedCreates.burst
	if err := l.AllowCreate(d, PinRef{}, t0); err != nil {
		t.Errorf("places refused by the shared budget were not given back: %v", err)
	}
}

// Places are never given back twice: a Created or a cancel without a
// place reserved leaves the client its MaxInProgress, not more.
func TestPlacesAreNeverGivenBackTwice(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := New(t0, testStateTTL)
	e := netip.MustParseAddr("192.0.2.5")
	l.Created(e, PinRef{}, t0.Add(time.Hour), PinRef{}, t0)
	l.Created(e, PinRef{}, t0.Add(time.Hour), PinRef{}, t0)
	l.ledger.cancel(e)
	for range MaxInProgress {
		if err := l.AllowCreate(e, PinRef{}, t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.AllowCreate(e, PinRef{}, t0); err == nil || !err.InProgress {
		t.Errorf("a fourth creation at plex.tv after places given back too often: %+v, want refused", err)
	}
}

// A client forgotten by the table (shrink) between AllowCreate and
// Created still gets its pin counted; a cancel for it finds nothing to
// give back.
func TestClientForgottenMidCreationStillCountsItsPin(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newPinLedger(testStateTTL)
	f := netip.MustParseAddr("192.0.2.6")
	if err := l.begin(f, PinRef{}, t0); err != nil {
		t.Fatal(err)
	}
	delete(l.open, f)
	l.created(f, PinRef{ID: 1, Code: "c"}, t0.Add(time.Hour), PinRef{}, t0)
	if n := l.inProgress(f, t0); n != 1 {
		t.Errorf("%d in progress, want the pin created", n)
	}
	g := netip.MustParseAddr("192.0.2.7")
	if err := l.begin(g, PinRef{}, t0); err != nil {
		t.Fatal(err)
	}
	delete(l.open, g)
	l.cancel(g)
	if n := l.inProgress(g, t0); n != 0 {
		t.Errorf("%d in progress after a cancel, want 0", n)
	}
}

// A client's list holds its sign-ins in progress only: one that starts
// again a hundred times holds one entry, not a hundred, and the slots
// it dropped keep no pin's code alive.
func TestClientListHoldsOnlySignInsInProgress(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newPinLedger(testStateTTL)
	h := netip.MustParseAddr("192.0.2.8")
	var prev PinRef
	for i := range 100 {
		if err := l.begin(h, prev, t0); err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		pin := PinRef{ID: int64(i + 1), Code: fmt.Sprintf("code%d", i+1)}
		l.created(h, pin, t0.Add(time.Hour), prev, t0)
		prev = pin
	}
	l.inProgress(h, t0) // drops the last one replaced
	pins := l.open[h].pins
	if len(pins) > 1 {
		t.Errorf("the client's list holds %d entries after 100 replaced sign-ins", len(pins))
	}
	for _, p := range pins[len(pins):cap(pins)] {
		if p != (openPin{}) {
			t.Errorf("a dropped slot still holds %+v", p)
		}
	}
}

// The table of clients stays within maxClients: when full, clients with
// nothing in progress go first (and only they, while they make room);
// when every client has a sign-in in progress, one sixteenth goes.
func TestLedgerTableIsBounded(t *testing.T) {
	t0 := time.Unix(1000, 0)
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) }
	fill := func(l *pinLedger, ttl func(i int) time.Duration) {
		for i := range maxClients {
			if err := l.begin(addr(i), PinRef{}, t0); err != nil {
				t.Fatal(err)
			}
			l.created(addr(i), PinRef{ID: int64(i + 1), Code: "c"}, t0.Add(ttl(i)), PinRef{}, t0)
		}
	}

	l := newPinLedger(testStateTTL)
	keeper := 77
	fill(&l, func(i int) time.Duration {
		if i == keeper {
			return time.Hour
		}
		return time.Minute
	})
	if err := l.begin(netip.MustParseAddr("192.0.2.9"), PinRef{}, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if len(l.open) != 2 || l.inProgress(addr(keeper), t0.Add(2*time.Minute)) != 1 {
		t.Errorf("%d clients after room was made, want the one in progress and the newcomer", len(l.open))
	}

	l = newPinLedger(testStateTTL)
	fill(&l, func(int) time.Duration { return time.Hour })
	if len(l.open) != maxClients {
		t.Fatalf("%d clients below the bound of %d: the table forgot some before it was full", len(l.open), maxClients)
	}
	if err := l.begin(netip.MustParseAddr("192.0.2.9"), PinRef{}, t0); err != nil {
		t.Fatal(err)
	}
	if want := maxClients - maxClients/16; len(l.open) != want {
		t.Errorf("%d clients after room was made among clients all in progress, want %d", len(l.open), want)
	}
}
