package plexauth

import (
	"net/http"
	"testing"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

// waitAfter is how long b makes re-checks wait after its last failure at now.
func waitAfter(b *plexBackoff, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.retryAt.Sub(now)
}

func TestRecheckBackoffDoublesWithEachFailureUpToTheCap(t *testing.T) {
	var b plexBackoff
	now := time.Now()
	const base = time.Minute
	for i, want := range []time.Duration{base, 2 * base, 4 * base, 8 * base, 16 * base, 32 * base, maxPlexBackoff, maxPlexBackoff} {
		if n := b.failed(now, base, 0); n != i+1 {
			t.Fatalf("failure %d counted as %d", i+1, n)
		}
		// Up to a tenth more, the jitter that keeps instances apart.
		if got := waitAfter(&b, now); got < want || got > want+want/10 {
			t.Fatalf("after %d failures the next probe waits %v, want %v (+10%%)", i+1, got, want)
		}
	}
	if n := b.succeeded(); n != 8 || !b.admitProbe(now) {
		t.Fatalf("a success ended %d failures and left the backoff on", n)
	}
	// A long outage: the wait stays at the cap (no overflow), with jitter
	// (a zero draw out of six billion would fail this once in that many).
	var long plexBackoff
	for range 200 {
		long.failed(now, base, 0)
	}
	if got := waitAfter(&long, now); got <= maxPlexBackoff || got > maxPlexBackoff+maxPlexBackoff/10 {
		t.Fatalf("after 200 failures the next probe waits %v, want just over %v", got, maxPlexBackoff)
	}
	var one plexBackoff
	one.failed(now, base, 0)
	if waitAfter(&one, now) == base {
		t.Fatal("no jitter: instances sharing an outage would probe in step")
	}
}

func TestRecheckBackoffHonoursRetryAfterWhenLonger(t *testing.T) {
	var b plexBackoff
	now := time.Now()
	b.failed(now, time.Minute, 30*time.Minute)
	if got := waitAfter(&b, now); got != 30*time.Minute {
		t.Fatalf("plex.tv said Retry-After 30m; the next probe waits %v", got)
	}
	// A shorter Retry-After does not cut the backoff short.
	b.failed(now, time.Minute, time.Second)
	if got := waitAfter(&b, now); got < 2*time.Minute {
		t.Fatalf("a Retry-After of 1s cut the backoff to %v", got)
	}

	// Through a re-check: plex.tv's 429 with Retry-After reaches the backoff.
	plex := plextest.NewServer()
	defer plex.Close()
	acct := plex.AddAccount("friend")
	plex.SetStatus(http.StatusTooManyRequests, 3600)
	h := recheckHandler(t, plex.URL)
	s := dueSession(acct.Token)
	h.sessions.PutLocal("id", s)
	before := time.Now()
	h.revalidateSession("id", s, origin{})
	if got := waitAfter(h.rechecks, before); got < time.Hour {
		t.Fatalf("plex.tv answered 429 with Retry-After: 3600 and re-checks wait only %v", got)
	}
}

func TestOnlyOneProbeAtATimeDuringAnOutage(t *testing.T) {
	var b plexBackoff
	now := time.Now()
	if !b.admitProbe(now) || !b.admitProbe(now) {
		t.Fatal("with plex.tv up, re-checks run side by side (up to maxRechecks)")
	}
	b.finished()
	b.finished()
	b.failed(now, time.Minute, 0)
	if b.admitProbe(now) {
		t.Fatal("a re-check probed plex.tv before the backoff ran out")
	}
	due := now.Add(2 * time.Minute)
	if !b.admitProbe(due) {
		t.Fatal("no probe once the backoff ran out")
	}
	for i := range 3 {
		if b.admitProbe(due) {
			t.Fatalf("probe %d started while the first was still asking plex.tv", i+2)
		}
	}
	// The probe fails: the next one waits again; it succeeds: all go.
	b.failed(due, time.Minute, 0)
	b.finished()
	if b.admitProbe(due) {
		t.Fatal("a probe right after a failed one")
	}
	later := due.Add(3 * time.Minute)
	if !b.admitProbe(later) {
		t.Fatal("no probe once the longer backoff ran out")
	}
	b.succeeded()
	b.finished()
	if !b.admitProbe(later) || !b.admitProbe(later) {
		t.Fatal("after a good probe, re-checks should run side by side again")
	}
}
