package signin

import (
	"net/netip"
	"sync"
	"time"
)

// SummaryEvery is how often a RefusalLog sums up the refusals that follow
// the first of a spell.
const SummaryEvery = 10 * time.Second

// Reporter writes what a RefusalLog has to say (a log, for the caller). A
// RefusalLog calls its methods one at a time, holding its lock: they must
// not call back into it.
type Reporter interface {
	// Refused reports r, refused to client: the first refusal after a
	// quiet spell, at once.
	Refused(r *Refusal, client netip.Addr)
	// Summary reports the refusals noted since: one call per SummaryEvery
	// while there were any, and one at Stop for what is left.
	Summary(s Summary)
}

// Summary counts the refusals a RefusalLog noted over SummaryEvery (the
// first of a spell, reported by Reporter.Refused, not included). Creates +
// Checks is every refusal; Shared and InProgress count those among them
// refused for that reason.
type Summary struct {
	Creates    int        // pin creations refused
	Checks     int        // pin checks refused
	Shared     int        // refused by the budget all clients share
	InProgress int        // refused for sign-ins in progress
	Last       netip.Addr // the client of the latest refusal noted
}

// RefusalLog sums refusals up: the first of a quiet spell is reported at
// once, the ones after it in one summary per SummaryEvery while they last,
// so that a flood of refusals is not a flood of log lines. The zero value
// is ready to use; a RefusalLog must not be copied after first use.
type RefusalLog struct {
	mu    sync.Mutex
	timer *time.Timer
	rep   Reporter
	sum   Summary
}

// Note counts r, refused to client. rep reports it, or the summaries from
// now on: the latest rep given is the one that writes them.
func (l *RefusalLog) Note(rep Reporter, r *Refusal, client netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rep = rep
	if l.timer == nil {
		rep.Refused(r, client)
		l.timer = time.AfterFunc(SummaryEvery, l.flush)
		return
	}
	if r.Call == CreatePin {
		l.sum.Creates++
	} else {
		l.sum.Checks++
	}
	if r.Shared {
		l.sum.Shared++
	}
	if r.InProgress {
		l.sum.InProgress++
	}
	l.sum.Last = client
}

// flush reports the summary of the last SummaryEvery, if anything was
// refused in it, and then waits for the next.
func (l *RefusalLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.timer == nil:
		return // stopped
	case l.sum.Creates+l.sum.Checks == 0:
		l.timer = nil // quiet: the next refusal is reported at once
		return
	}
	l.summary()
	l.timer.Reset(SummaryEvery)
}

func (l *RefusalLog) summary() {
	l.rep.Summary(l.sum)
	l.sum.Creates, l.sum.Checks, l.sum.Shared, l.sum.InProgress = 0, 0, 0, 0
}

// Stop reports what is left to sum up and stops the timer; nothing is
// reported after it until the next Note, which starts a spell afresh.
func (l *RefusalLog) Stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer == nil {
		return
	}
	l.timer.Stop()
	l.timer = nil
	if l.sum.Creates+l.sum.Checks > 0 {
		l.summary()
	}
}
