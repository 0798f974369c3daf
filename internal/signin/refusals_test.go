package signin

import (
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// reports records what a RefusalLog reports, in order: a first refusal
// (first set) or a summary.
type reports struct {
	mu  sync.Mutex
	all []report
}

type report struct {
	first  *Refusal
	client netip.Addr
	sum    Summary
}

func (r *reports) Refused(e *Refusal, client netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, report{first: e, client: client})
}

func (r *reports) Summary(s Summary) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, report{sum: s})
}

func (r *reports) got() []report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]report(nil), r.all...)
}

// The log's lines themselves are the root's (TestRefusalLogLinesSayALocalLimit).
func TestRefusalsAreSummedUpInTheLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rep := &reports{}
		var l RefusalLog
		client, other := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
		create := &Refusal{Call: CreatePin, Wait: 5 * time.Second}
		check := &Refusal{Call: CheckPin, Shared: true, Wait: time.Second}
		busy := &Refusal{Call: CreatePin, InProgress: true, Wait: time.Second}

		for range 100 {
			l.Note(rep, create, client)
		}
		for range 20 {
			l.Note(rep, check, client)
		}
		l.Note(rep, busy, other)
		if got := rep.got(); len(got) != 1 || got[0].first != create || got[0].client != client {
			t.Fatalf("121 refusals reported %+v at once, want the first alone", got)
		}
		time.Sleep(SummaryEvery)
		synctest.Wait()
		got := rep.got()
		if len(got) != 2 {
			t.Fatalf("after 10 s: %d reports, want 2", len(got))
		}
		if want := (Summary{Creates: 100, Checks: 20, Shared: 20, InProgress: 1, Last: other}); got[1].first != nil || got[1].sum != want {
			t.Errorf("summary = %+v, want %+v", got[1], want)
		}
		// Quiet: nothing more, and the next refusal is reported at once.
		time.Sleep(3 * SummaryEvery)
		synctest.Wait()
		if got := rep.got(); len(got) != 2 {
			t.Fatalf("quiet 30 s reported %d more", len(got)-2)
		}
		l.Note(rep, check, client)
		if got := rep.got(); len(got) != 3 || got[2].first != check {
			t.Fatalf("a refusal after a quiet spell was not reported at once: %+v", got)
		}
		// What is left is reported at Stop, through the latest reporter.
		later := &reports{}
		for range 5 {
			l.Note(later, create, client)
		}
		l.Stop()
		if got := later.got(); len(got) != 1 || got[0].sum != (Summary{Creates: 5, Last: client}) {
			t.Fatalf("stop reported %+v to the latest reporter, want the 5 left", got)
		}
		time.Sleep(2 * SummaryEvery)
		synctest.Wait()
		if n, m := len(rep.got()), len(later.got()); n != 3 || m != 1 {
			t.Errorf("reports after stop: %d and %d", n-3, m-1)
		}
		l.Stop() // stopping twice reports nothing more
		if len(later.got()) != 1 {
			t.Error("a second Stop reported again")
		}
	})
}

// After Stop, a spell with nothing to sum up reports nothing more, and the
// next refusal starts a new spell: it is reported at once.
func TestRefusalAfterStopStartsANewSpell(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rep := &reports{}
		var l RefusalLog
		client := netip.MustParseAddr("192.0.2.1")
		create := &Refusal{Call: CreatePin, Wait: time.Second}
		l.Note(rep, create, client)
		l.Stop()
		if got := rep.got(); len(got) != 1 {
			t.Fatalf("a spell of one refusal stopped: %+v, want only the refusal", got)
		}
		l.Note(rep, create, client)
		if got := rep.got(); len(got) != 2 || got[1].first != create {
			t.Fatalf("a refusal after Stop: %+v, want it reported at once", got)
		}
		l.Stop()
	})
}
