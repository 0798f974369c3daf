// Package signin holds the limits on what browsers' sign-ins may ask of
// plex.tv. It decides and counts; it answers no request and writes no log:
// a refusal says which limit refused and how long to wait, and the caller
// answers the browser (429, Retry-After) and writes the log line. It does
// no I/O and imports nothing of this module.
//
// Every sign-in costs calls to plex.tv: one pin creation at {prefix}/start,
// then a check of the pin each time {prefix}/poll or {prefix}/callback is
// asked. plex.tv answers 429 to a client identifier that pushes (Ombi saw
// it for two pins polled once a second, Ombi issue #5233), and then nobody
// signs in. So the calls browsers cause are limited here, before plex.tv:
//
//   - per client (the caller's client address as Client counts it: an
//     IPv6 client by its /64, which one household gets whole), with
//     separate budgets for creations and checks, so one client cannot use
//     up what everyone shares;
//   - for all clients together, per client identifier, as the last bound on
//     what plex.tv sees from this installation; that budget is shared
//     fairly: a client that took from it lately yields to one that has not
//     (fairness, bucket.go), so many addresses hammering cannot starve a
//     newcomer;
//   - per pin: checks of one pin are coalesced, at most one plex.tv call a
//     second whoever asks, and those who ask meanwhile share its answer
//     (Checks);
//   - per client again, at most MaxInProgress sign-ins in progress at once,
//     and a pin known to have ended is answered by the caller without
//     plex.tv or any budget (ledger.go).
//
// A call refused by any of these still costs the client its own token:
// otherwise hammering past the shared budget would cost nothing. RefusalLog
// sums refusals up for the log instead of a line each.
package signin

import (
	"net/netip"
	"strconv"
	"time"
)

var (
	// A person signs in with one pin; ten allow for retries and for a few
	// people behind one address.
	clientCreates = limit{rate: 6.0 / 60, burst: 10}
	// A waiting sign-in is checked about once a second (the popup polls
	// every second, the waiting page reloads every two).
	clientChecks = limit{rate: 2, burst: 30}
	// What all clients together may ask of plex.tv.
	sharedCreates = limit{rate: 5, burst: 50}
	sharedChecks  = limit{rate: 10, burst: 50}

	// How the shared budgets are shared. A client's own budget lets it ask
	// for a creation about every 10 s and a check every 0.5 s once its
	// burst is spent, so the horizons are several of those intervals: a
	// client hammering at its own rate always finds most of the reserve
	// closed to it, while one that has not taken for the horizon (a person
	// starting a sign-in, or polling the pin they just approved) may take
	// the last token. The reserves leave room above them for a client alone
	// to spend its own burst at once from a bucket others have dipped
	// into: fairness must not cost anyone anything while no one competes.
	createFairness = fairness{reserve: 30, horizon: time.Minute}
	checkFairness  = fairness{reserve: 15, horizon: 10 * time.Second}
)

// maxClients bounds each per-client table (tens of bytes an entry).
const maxClients = 1 << 14

// Call is what a sign-in asks of plex.tv. Its value names it in errors and
// log lines.
type Call string

const (
	CreatePin Call = "creating pin" // a new pin, at {prefix}/start
	CheckPin  Call = "checking pin" // a pin's state, at {prefix}/poll or /callback
)

// SharedBound is the most calls of c that all clients together are let
// through over a span d: the shared budget's burst plus its rate × d,
// whatever the clients and however they are spread.
func SharedBound(c Call, d time.Duration) int {
	l := sharedChecks
	if c == CreatePin {
		l = sharedCreates
	}
	return int(l.burst + l.rate*d.Seconds())
}

// Refusal is a sign-in call refused here, before plex.tv: which limit
// refused it and how long until it would be allowed. Its Error names the
// limit and never reads as plex.tv's answer.
type Refusal struct {
	Call       Call          // what was refused
	Shared     bool          // the budget all clients share ran out, not this client's own
	InProgress bool          // the client has MaxInProgress sign-ins in progress
	Wait       time.Duration // until the refused call would be allowed
}

// Error names the limit that refused, as "local sign-in limit: …"; it
// never mentions plex.tv or a status code.
func (e *Refusal) Error() string {
	if e.InProgress {
		return "local sign-in limit: this client has " + strconv.Itoa(MaxInProgress) + " sign-ins in progress"
	}
	scope := "this client's"
	if e.Shared {
		scope = "all clients'"
	}
	return "local sign-in limit: " + scope + " budget for " + string(e.Call) + " is spent"
}

// RetryAfter is Wait in whole seconds, rounded up, at least one: what a
// Retry-After header should say.
func (e *Refusal) RetryAfter() int {
	s := int((e.Wait + time.Second - 1) / time.Second)
	return max(s, 1)
}

// Limits is the state of all the limits for one client identifier at one
// plex.tv: every client's own budgets, the shared ones, and the ledger of
// sign-ins in progress and of pins that have ended. Its methods may be
// called from any goroutine. It holds no timer or goroutine: dropping it
// releases everything.
type Limits struct {
	createClients *clientBuckets
	checkClients  *clientBuckets
	createShared  *sharedBucket
	checkShared   *sharedBucket
	ledger        pinLedger
}

// New is a Limits with every budget full at now. A pin known to have ended
// is remembered for stateTTL, which should be the longest a sign-in's state
// (the cookie naming its pin) can live: no copy of it asks later.
func New(now time.Time, stateTTL time.Duration) *Limits {
	return &Limits{
		createClients: newClientBuckets(clientCreates, maxClients),
		checkClients:  newClientBuckets(clientChecks, maxClients),
		createShared:  newSharedBucket(sharedCreates, createFairness, now),
		checkShared:   newSharedBucket(sharedChecks, checkFairness, now),
		ledger:        newPinLedger(stateTTL),
	}
}

// allow spends one call of client's budget and of the shared one. A
// refusal by the shared budget costs the client its own token all the
// same.
func (l *Limits) allow(c Call, client netip.Addr, now time.Time) *Refusal {
	own, shared := l.createClients, l.createShared
	if c == CheckPin {
		own, shared = l.checkClients, l.checkShared
	}
	if ok, wait := own.take(client, now); !ok {
		return &Refusal{Call: c, Wait: wait}
	}
	if ok, wait := shared.take(now, own.sharedAge(client, now)); !ok {
		return &Refusal{Call: c, Shared: true, Wait: wait}
	}
	own.tookShared(client, now)
	return nil
}

// AllowCheck spends one pin check of client's own budget and of the shared
// one, or says why not (nil: the check may be made). A refusal by the
// shared budget costs the client its own token all the same.
func (l *Limits) AllowCheck(client netip.Addr, now time.Time) *Refusal {
	return l.allow(CheckPin, client, now)
}

// AllowCreate is AllowCheck for a new pin, which client may have only
// while it has fewer than MaxInProgress sign-ins in progress. replaced is
// the pin of the browser's earlier sign-in (the zero PinRef if none),
// which the new one replaces and which so does not count. On nil, the
// caller must call Created once plex.tv has answered, whatever it
// answered. The own budget is spent first, so that refusals for sign-ins
// in progress are not free either; the shared budget last, so that they
// cost plex.tv's budget nothing.
func (l *Limits) AllowCreate(client netip.Addr, replaced PinRef, now time.Time) *Refusal {
	if ok, wait := l.createClients.take(client, now); !ok {
		return &Refusal{Call: CreatePin, Wait: wait}
	}
	if err := l.ledger.begin(client, replaced, now); err != nil {
		return err
	}
	if ok, wait := l.createShared.take(now, l.createClients.sharedAge(client, now)); !ok {
		l.ledger.cancel(client)
		return &Refusal{Call: CreatePin, Shared: true, Wait: wait}
	}
	l.createClients.tookShared(client, now)
	return nil
}

// Created fills the place AllowCreate reserved for client with pin (the
// zero PinRef when plex.tv made none), which will have expired by expires:
// it counts as in progress until then, or until it ends. replaced, if it is
// one of client's sign-ins in progress (code included), ends as Expired.
func (l *Limits) Created(client netip.Addr, pin PinRef, expires time.Time, replaced PinRef, now time.Time) {
	l.ledger.created(client, pin, expires, replaced, now)
}

// End records that pin id has ended: EndedAs answers how from now on,
// until the state TTL given to New has passed. The first ending recorded
// stays.
func (l *Limits) End(id int64, how Ending, now time.Time) {
	l.ledger.end(id, how, now)
}

// EndedAs says whether pin id is known to have ended, and how.
func (l *Limits) EndedAs(id int64, now time.Time) (Ending, bool) {
	return l.ledger.endedAs(id, now)
}
