package recheck

import (
	"testing"
	"time"
)

// waitAfter is how long b makes re-checks wait after its last failure at now.
func waitAfter(b *Backoff, now time.Time) time.Duration {
	_, _, at := b.State()
	return at.Sub(now)
}

func TestRecheckBackoffDoublesWithEachFailureUpToTheCap(t *testing.T) {
	var b Backoff
	now := time.Now()
	const base = time.Minute
	for i, want := range []time.Duration{base, 2 * base, 4 * base, 8 * base, 16 * base, 32 * base, MaxBackoff, MaxBackoff} {
		if n := b.Failed(now, base, 0); n != i+1 {
			t.Fatalf("failure %d counted as %d", i+1, n)
		}
		// Up to a tenth more, the jitter that keeps instances apart.
		if got := waitAfter(&b, now); got < want || got > want+want/10 {
			t.Fatalf("after %d failures the next probe waits %v, want %v (+10%%)", i+1, got, want)
		}
	}
	if n := b.Succeeded(); n != 8 || !b.AdmitProbe(now) {
		t.Fatalf("a success ended %d failures and left the backoff on", n)
	}
	// A long outage: the wait stays at the cap (no overflow), with jitter
	// (a zero draw out of six billion would fail this once in that many).
	var long Backoff
	for range 200 {
		long.Failed(now, base, 0)
	}
	if got := waitAfter(&long, now); got <= MaxBackoff || got > MaxBackoff+MaxBackoff/10 {
		t.Fatalf("after 200 failures the next probe waits %v, want just over %v", got, MaxBackoff)
	}
	var one Backoff
	one.Failed(now, base, 0)
	if waitAfter(&one, now) == base {
		t.Fatal("no jitter: instances sharing an outage would probe in step")
	}
}

func TestOnlyOneProbeAtATimeDuringAnOutage(t *testing.T) {
	var b Backoff
	now := time.Now()
	if !b.AdmitProbe(now) || !b.AdmitProbe(now) {
		t.Fatal("with plex.tv up, re-checks run side by side (up to MaxRunning)")
	}
	b.Finished()
	b.Finished()
	b.Failed(now, time.Minute, 0)
	if b.AdmitProbe(now) {
		t.Fatal("a re-check probed plex.tv before the backoff ran out")
	}
	due := now.Add(2 * time.Minute)
	if !b.AdmitProbe(due) {
		t.Fatal("no probe once the backoff ran out")
	}
	for i := range 3 {
		if b.AdmitProbe(due) {
			t.Fatalf("probe %d started while the first was still asking plex.tv", i+2)
		}
	}
	// The probe fails: the next one waits again; it succeeds: all go.
	b.Failed(due, time.Minute, 0)
	b.Finished()
	if b.AdmitProbe(due) {
		t.Fatal("a probe right after a failed one")
	}
	later := due.Add(3 * time.Minute)
	if !b.AdmitProbe(later) {
		t.Fatal("no probe once the longer backoff ran out")
	}
	b.Succeeded()
	b.Finished()
	if !b.AdmitProbe(later) || !b.AdmitProbe(later) {
		t.Fatal("after a good probe, re-checks should run side by side again")
	}
}
