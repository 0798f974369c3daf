package signin

import (
	"crypto/subtle"
	"net/netip"
	"sync"
	"time"
)

// The pin ledger knows two things the budgets cannot: which sign-ins each
// client has in progress, and which pins have ended.
//
//   - A client (an address, an IPv6 /64) holds at most MaxInProgress pins
//     that have not ended. A browser starting again replaces its own
//     earlier pin (the one its state cookie names, when it is one this
//     client made here and the cookie has its code), which then ends, so a
//     person who closes the Plex window and tries again is never stopped by
//     this; a client asking for more is refused until one of its sign-ins
//     ends or expires. Without it, a few addresses could each keep dozens of pins
//     alive and poll them all.
//   - A pin that has ended (approved, refused, unknown or expired at
//     plex.tv, replaced) is answered from here when a copy of its state
//     cookie asks again: nothing is asked of plex.tv and nothing is
//     taken from any budget. The state cookie itself expires with its pin,
//     so an ended pin need be remembered no longer than the state cookie
//     can live (the stateTTL given to New).

// MaxInProgress is how many sign-ins one client may have in progress.
const MaxInProgress = 3

// openPinsRetry is the longest Retry-After given to a client with
// MaxInProgress sign-ins in progress: one of them may end at any moment.
const openPinsRetry = 30 * time.Second

// PinRef names a pin as a sign-in's state cookie does: its id and its code.
// The zero PinRef names no pin.
type PinRef struct {
	ID   int64
	Code string
}

// is tells whether p is the pin ref names, code included: a state cookie
// sealed around a guessed id (with a stolen secret) must not end someone
// else's sign-in.
func (p PinRef) is(ref PinRef) bool {
	return ref.ID > 0 && p.ID == ref.ID && subtle.ConstantTimeCompare([]byte(p.Code), []byte(ref.Code)) == 1
}

// Ending is how a pin ended, which says how a copy of its state cookie is
// to be answered. The zero Ending is none of them.
type Ending uint8

const (
	// Expired: plex.tv no longer has the pin (unknown, expired, or its
	// token refused), or the browser started again and replaced it.
	Expired Ending = iota + 1
	// Used: the sign-in finished, the account admitted or refused.
	Used
)

// openPin is a sign-in in progress.
type openPin struct {
	PinRef
	expires time.Time
}

// clientPins are a client's sign-ins in progress, and how many of its
// creations are at plex.tv right now.
type clientPins struct {
	pins    []openPin
	pending int
}

// endedPin is a pin known to have ended: what to answer a copy of its
// state cookie, until when.
type endedPin struct {
	answer Ending
	until  time.Time
}

type pinLedger struct {
	mu       sync.Mutex
	open     map[netip.Addr]*clientPins
	ended    map[int64]endedPin
	swept    time.Time
	stateTTL time.Duration // how long an ended pin is remembered
}

func newPinLedger(stateTTL time.Duration) pinLedger {
	return pinLedger{open: make(map[netip.Addr]*clientPins), ended: make(map[int64]endedPin), stateTTL: stateTTL}
}

// live drops the pins of cp that have ended or expired and says how many
// are left besides the one being replaced (creations under way included),
// and when the first of those expires.
func (l *pinLedger) live(cp *clientPins, replaced PinRef, now time.Time) (n int, first time.Time) {
	kept := cp.pins[:0]
	for _, p := range cp.pins {
		if _, ended := l.ended[p.ID]; ended || !now.Before(p.expires) {
			continue
		}
		kept = append(kept, p)
		if p.is(replaced) {
			continue
		}
		n++
		if first.IsZero() || p.expires.Before(first) {
			first = p.expires
		}
	}
	clear(cp.pins[len(kept):])
	cp.pins = kept
	return n + cp.pending, first
}

// begin reserves a place for a new pin of client, or refuses when the
// client has MaxInProgress in progress besides replaced.
func (l *pinLedger) begin(client netip.Addr, replaced PinRef, now time.Time) *Refusal {
	l.mu.Lock()
	defer l.mu.Unlock()
	cp := l.open[client]
	if cp == nil {
		if len(l.open) >= maxClients {
			l.shrink(now)
		}
		cp = &clientPins{}
		l.open[client] = cp
	}
	if n, first := l.live(cp, replaced, now); n >= MaxInProgress {
		wait := openPinsRetry
		if !first.IsZero() {
			wait = min(wait, first.Sub(now))
		}
		return &Refusal{Call: CreatePin, InProgress: true, Wait: wait}
	}
	cp.pending++
	return nil
}

// cancel gives back a place begin reserved, when no pin was asked for.
func (l *pinLedger) cancel(client netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cp := l.open[client]; cp != nil && cp.pending > 0 {
		cp.pending--
	}
}

// created fills the place begin reserved with pin (the zero PinRef when
// plex.tv made none), which will have expired by expires, and ends replaced
// if it is one of client's.
func (l *pinLedger) created(client netip.Addr, pin PinRef, expires time.Time, replaced PinRef, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cp := l.open[client]
	if cp == nil {
		cp = &clientPins{pending: 1} // forgotten by shrink meanwhile
		l.open[client] = cp
	}
	if cp.pending > 0 {
		cp.pending--
	}
	if pin.ID == 0 {
		return
	}
	for _, p := range cp.pins {
		if p.is(replaced) {
			l.endLocked(replaced.ID, Expired, now)
			break
		}
	}
	cp.pins = append(cp.pins, openPin{PinRef: pin, expires: expires})
}

// end records that pin id has ended: a copy of its state cookie gets
// answer from now on.
func (l *pinLedger) end(id int64, answer Ending, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.endLocked(id, answer, now)
}

func (l *pinLedger) endLocked(id int64, answer Ending, now time.Time) {
	if now.Sub(l.swept) >= time.Minute {
		l.swept = now
		for k, e := range l.ended {
			if !now.Before(e.until) {
				delete(l.ended, k)
			}
		}
	}
	// The first answer stays: a pin approved here and then replayed is
	// "used", whatever a later check says.
	if _, ok := l.ended[id]; !ok {
		l.ended[id] = endedPin{answer: answer, until: now.Add(l.stateTTL)}
	}
}

// endedAs says whether pin id has ended, and what to answer.
func (l *pinLedger) endedAs(id int64, now time.Time) (Ending, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.ended[id]
	if !ok || !now.Before(e.until) {
		return 0, false
	}
	return e.answer, true
}

// shrink makes room in a full table of clients: first by forgetting those
// with nothing in progress, then any sixteenth of the table (a client
// forgotten so starts afresh, as it could from another address).
func (l *pinLedger) shrink(now time.Time) {
	for k, cp := range l.open {
		if n, _ := l.live(cp, PinRef{}, now); n == 0 {
			delete(l.open, k)
		}
	}
	for k := range l.open {
		if len(l.open) <= maxClients-maxClients/16-1 {
			break
		}
		delete(l.open, k)
	}
}
