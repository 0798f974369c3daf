package session

import (
	"testing"
	"time"
)

// Tests for the mutations of signout.go that timed out in the mutation run
// (scripts/mutants.sh internal/session/signout.go): a newSignoutMark that
// never returns hangs EndAccount, the admin API's request with it, and
// spins a core. Here it fails within seconds instead of when the test
// binary's time runs out, so the run counts it killed.
func TestNewSignoutMarkReturns(t *testing.T) {
	at := time.Now()
	for _, c := range []struct {
		at  time.Time
		cur int64
	}{
		// The clock repeats the marker the store holds (a coarse clock).
		{at, at.UnixNano()},
		// No marker yet.
		{at, 0},
		// The clock reads 0 and the store holds none.
		{time.Unix(0, 0), 0},
	} {
		done := make(chan int64, 1)
		go func() { done <- newSignoutMark(c.at, c.cur) }()
		select {
		case m := <-done:
			if m == c.cur || m == 0 {
				t.Errorf("newSignoutMark(%d, %d) = %d", c.at.UnixNano(), c.cur, m)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("newSignoutMark(%d, %d) does not return", c.at.UnixNano(), c.cur)
		}
	}
}
