package signin

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// testPin stands for what a check answers (the root's *plextv.Pin).
type testPin struct{ id int64 }

func TestPinChecksAreCoalesced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p Checks[*testPin]
		var calls atomic.Int32
		release := make(chan struct{})
		call := func(ctx context.Context) (*testPin, error) {
			calls.Add(1)
			<-release
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return &testPin{id: 7}, nil
		}
		var allowed atomic.Int32
		allow := func(time.Time) error { allowed.Add(1); return nil }

		// The first asker goes away before plex.tv answers: the call goes
		// on for the others.
		firstCtx, cancelFirst := context.WithCancel(context.Background())
		answers := make(chan *testPin, 20)
		go func() {
			pin, _ := p.Check(firstCtx, 7, allow, call)
			answers <- pin
		}()
		synctest.Wait()
		leaverCtx, leave := context.WithCancel(context.Background())
		left := make(chan error, 1)
		go func() {
			_, err := p.Check(leaverCtx, 7, allow, call)
			left <- err
		}()
		for range 10 {
			go func() {
				pin, _ := p.Check(context.Background(), 7, allow, call)
				answers <- pin
			}()
		}
		synctest.Wait() // all waiting on the one call
		cancelFirst()
		leave()
		if err := <-left; err == nil {
			t.Error("an asker whose request ended kept waiting")
		}
		close(release)
		var first *testPin
		for range 11 {
			pin := <-answers
			if pin == nil || (first != nil && pin != first) {
				t.Fatalf("askers did not share one answer: %v", pin)
			}
			first = pin
		}
		if calls.Load() != 1 || allowed.Load() != 1 {
			t.Fatalf("%d calls, %d budget checks for 12 askers; want 1 and 1", calls.Load(), allowed.Load())
		}

		// Within the second, the answer is shared too; after it, a new call.
		time.Sleep(CheckEvery - time.Millisecond)
		if pin, _ := p.Check(context.Background(), 7, allow, call); pin != first || calls.Load() != 1 {
			t.Errorf("asked again within a second: %d calls", calls.Load())
		}
		time.Sleep(time.Millisecond)
		if pin, _ := p.Check(context.Background(), 7, allow, call); pin == first || calls.Load() != 2 {
			t.Errorf("a second later: %d calls, want 2", calls.Load())
		}
		// Another pin is its own.
		p.Check(context.Background(), 8, allow, call)
		if calls.Load() != 3 {
			t.Errorf("another pin shared a call: %d calls", calls.Load())
		}

		// A refused asker is refused alone; the next one asks.
		time.Sleep(CheckEvery)
		refusal := &Refusal{Call: CheckPin, Wait: time.Second}
		refuse := func(time.Time) error { return refusal }
		if _, err := p.Check(context.Background(), 7, refuse, call); err != refusal {
			t.Errorf("refused asker got %v", err)
		}
		if pin, err := p.Check(context.Background(), 7, allow, call); err != nil || pin == nil || calls.Load() != 4 {
			t.Errorf("after a refusal: %v, %v, %d calls", pin, err, calls.Load())
		}

		// Answers older than a second are swept.
		time.Sleep(2 * CheckEvery)
		p.Check(context.Background(), 9, allow, call)
		p.mu.Lock()
		n := len(p.calls)
		p.mu.Unlock()
		if n != 1 {
			t.Errorf("%d answers kept, want only the fresh one", n)
		}
	})
}

// The sweep that drops old answers keeps a call still in flight, however
// long it has run, and an answer still fresh enough to share.
func TestSweepKeepsCallsInFlightAndFreshAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p Checks[*testPin]
		calls := map[int64]int{}
		var mu sync.Mutex
		slow := make(chan struct{})
		call := func(id int64) func(context.Context) (*testPin, error) {
			return func(context.Context) (*testPin, error) {
				mu.Lock()
				calls[id]++
				mu.Unlock()
				if id == 5 {
					<-slow
				}
				return &testPin{id: id}, nil
			}
		}
		count := func(id int64) int {
			mu.Lock()
			defer mu.Unlock()
			return calls[id]
		}
		allow := func(time.Time) error { return nil }
		bg := context.Background()

		p.Check(bg, 9, allow, call(9)) // sweeps at 0
		time.Sleep(CheckEvery / 2)
		fresh, _ := p.Check(bg, 7, allow, call(7))
		time.Sleep(CheckEvery / 2)
		p.Check(bg, 8, allow, call(8)) // sweeps at 1 s: pin 7's answer is 0.5 s old
		time.Sleep(CheckEvery / 5)
		if got, _ := p.Check(bg, 7, allow, call(7)); got != fresh || count(7) != 1 {
			t.Errorf("an answer 0.7 s old was not shared after a sweep: %d calls", count(7))
		}

		time.Sleep(CheckEvery)
		answers := make(chan *testPin, 2)
		go func() { pin, _ := p.Check(bg, 5, allow, call(5)); answers <- pin }()
		synctest.Wait()
		time.Sleep(3 * CheckEvery / 2)
		p.Check(bg, 6, allow, call(6)) // sweeps while pin 5's call has run 1.5 s
		go func() { pin, _ := p.Check(bg, 5, allow, call(5)); answers <- pin }()
		synctest.Wait()
		close(slow)
		if a, b := <-answers, <-answers; a == nil || a != b || count(5) != 1 {
			t.Errorf("a call in flight for 1.5 s was not shared after a sweep: %d calls, answers %v %v", count(5), a, b)
		}
	})
}
