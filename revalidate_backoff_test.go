package plexauth

import (
	"net/http"
	"testing"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/internal/recheck"
	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

// waitAfter is how long b makes re-checks wait after its last failure at now.
func waitAfter(b *recheck.Backoff, now time.Time) time.Duration {
	_, _, at := b.State()
	return at.Sub(now)
}

func TestRecheckBackoffHonoursRetryAfterWhenLonger(t *testing.T) {
	var b recheck.Backoff
	now := time.Now()
	b.Failed(now, time.Minute, 30*time.Minute)
	if got := waitAfter(&b, now); got != 30*time.Minute {
		t.Fatalf("plex.tv said Retry-After 30m; the next probe waits %v", got)
	}
	// A shorter Retry-After does not cut the backoff short.
	b.Failed(now, time.Minute, time.Second)
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
