// Package recheck paces the sessions' re-checks with plex.tv: how many run
// at once, and, while plex.tv fails, one probe at a time after a wait that
// doubles with each failure. It makes no call itself; the caller asks
// before each re-check and reports how it ended.
package recheck

import (
	"math/rand/v2"
	"sync"
	"time"
)

// MaxBackoff caps the wait between re-check attempts while plex.tv fails.
const MaxBackoff = time.Hour

// MaxRunning bounds the re-checks running at once: sessions falling due
// together (after a restart, say) must not fire hundreds of calls at
// plex.tv at once. A due session that finds no room is re-checked on one of
// its next requests.
const MaxRunning = 4

// Backoff is shared by all sessions of a cache: while plex.tv fails, at
// most one re-check at a time probes it, and the next probe waits an
// exponentially growing time (or plex.tv's Retry-After, when longer).
// Signed-in users keep working meanwhile. The zero value is ready (plex.tv
// taken as up); its methods may be called from any goroutine.
type Backoff struct {
	mu      sync.Mutex
	fails   int
	retryAt time.Time
	probing bool
	running int // re-checks started and not finished
}

// AdmitProbe reports whether a re-check may call plex.tv now: not when
// MaxRunning run already, nor during an outage before its wait is over or
// while another probes. When it may, the re-check counts as running until
// Finished is called.
func (b *Backoff) AdmitProbe(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running >= MaxRunning {
		return false
	}
	if b.fails > 0 {
		if b.probing || now.Before(b.retryAt) {
			return false
		}
		b.probing = true
	}
	b.running++
	return true
}

// Finished ends a re-check AdmitProbe let through.
func (b *Backoff) Finished() {
	b.mu.Lock()
	b.running--
	b.mu.Unlock()
}

// Failed records a failure at now and returns how many in a row there
// were. The next probe waits base, doubled per earlier failure up to
// MaxBackoff, plus up to a tenth of jitter, or retryAfter when longer.
func (b *Backoff) Failed(now time.Time, base, retryAfter time.Duration) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fails++
	b.probing = false
	wait := base
	for i := 1; i < b.fails && wait < MaxBackoff; i++ {
		wait *= 2
	}
	wait = min(wait, MaxBackoff)
	// Jitter keeps instances sharing an outage from probing in step.
	wait += time.Duration(rand.Int64N(int64(wait)/10 + 1))
	if retryAfter > wait {
		wait = retryAfter
	}
	b.retryAt = now.Add(wait)
	return b.fails
}

// Succeeded clears the backoff and returns how many failures it ends.
func (b *Backoff) Succeeded() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.fails
	b.fails, b.probing, b.retryAt = 0, false, time.Time{}
	return n
}

// State is what the backoff holds now: failures in a row, re-checks
// running, and when the next probe may go (zero without failures).
func (b *Backoff) State() (fails, running int, retryAt time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fails, b.running, b.retryAt
}
