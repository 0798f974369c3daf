package recheck

import (
	"testing"
	"time"
)

// Tests for the survivors of the mutation run over backoff.go
// (scripts/mutants.sh internal/recheck/backoff.go).

// "MaxRunning bounds the re-checks running at once": with plex.tv up,
// MaxRunning are let through, the next is not, and a finished one makes
// room for one more.
func TestAtMostMaxRunningRechecksRunAtOnce(t *testing.T) {
	var b Backoff
	now := time.Now()
	for i := range MaxRunning {
		if !b.AdmitProbe(now) {
			t.Fatalf("re-check %d of %d refused", i+1, MaxRunning)
		}
	}
	if _, running, _ := b.State(); running != MaxRunning {
		t.Fatalf("%d re-checks counted as running, want %d", running, MaxRunning)
	}
	if b.AdmitProbe(now) {
		t.Fatalf("re-check %d let through: more than MaxRunning at once", MaxRunning+1)
	}
	b.Finished()
	if !b.AdmitProbe(now) {
		t.Fatal("no room after a re-check finished")
	}
	if b.AdmitProbe(now) {
		t.Fatal("two let through for the one that finished")
	}
}

// plex.tv's Retry-After, when longer than the backoff, is the wait.
func TestRetryAfterLongerThanTheBackoffIsTheWait(t *testing.T) {
	var b Backoff
	now := time.Now()
	b.Failed(now, time.Second, time.Hour)
	if got := waitAfter(&b, now); got != time.Hour {
		t.Fatalf("with Retry-After one hour, the next probe waits %v", got)
	}
	if b.AdmitProbe(now.Add(time.Hour - time.Second)) {
		t.Fatal("a probe before plex.tv's Retry-After ran out")
	}
	if !b.AdmitProbe(now.Add(time.Hour)) {
		t.Fatal("no probe once plex.tv's Retry-After ran out")
	}
}
