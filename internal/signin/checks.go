package signin

import (
	"context"
	"errors"
	"sync"
	"time"
)

// CheckEvery is how often Checks makes a call about one pin at most.
const CheckEvery = time.Second

// Checks coalesces the checks of each pin: whoever asks about a pin within
// CheckEvery of a call, or while it is in flight, shares that call's
// answer. T is what a call answers (the pin as plex.tv knows it). The zero
// value is ready to use; a Checks must not be copied after first use.
type Checks[T any] struct {
	mu    sync.Mutex
	calls map[int64]*pinCall[T]
	swept time.Time
}

// pinCall is one call about a pin; done closes when answer and err are set.
type pinCall[T any] struct {
	started  time.Time
	finished bool
	done     chan struct{}
	answer   T
	err      error
}

// Check answers what call says of pin id, making the call at most once per
// CheckEvery: an asker finding a call in flight waits for it (or for ctx to
// end: it then gets ctx's error alone), one finding a call finished less
// than CheckEvery after it started gets its answer and error. allow is
// asked only when a call is to be made, and a non-nil error from it is
// this asker's answer alone: no call is made and nothing is kept. The call
// runs detached from the asker's context (call bounds it with its own
// timeout), so an asker going away does not fail the others. A call that
// panics still ends: its waiters get an error, and the panic goes on up
// the asker's stack.
func (p *Checks[T]) Check(ctx context.Context, id int64, allow func(now time.Time) error, call func(context.Context) (T, error)) (T, error) {
	var zero T
	now := time.Now()
	p.mu.Lock()
	c := p.calls[id]
	if c != nil && c.finished && now.Sub(c.started) < CheckEvery {
		p.mu.Unlock()
		return c.answer, c.err
	}
	if c != nil && !c.finished {
		p.mu.Unlock()
		select {
		case <-c.done:
			return c.answer, c.err
		case <-ctx.Done():
			return zero, ctx.Err()
		}
	}
	if err := allow(now); err != nil {
		p.mu.Unlock()
		return zero, err
	}
	p.sweep(now)
	c = &pinCall[T]{started: now, done: make(chan struct{})}
	if p.calls == nil {
		p.calls = make(map[int64]*pinCall[T])
	}
	p.calls[id] = c
	p.mu.Unlock()

	// Finished even if call panics, so no one waits on it for ever.
	var answer T
	err := errors.New("pin check did not finish")
	defer func() {
		p.mu.Lock()
		c.answer, c.err, c.finished = answer, err, true
		p.mu.Unlock()
		close(c.done)
	}()
	answer, err = call(context.WithoutCancel(ctx))
	return answer, err
}

// sweep drops answers too old to share, at most once per CheckEvery. The
// table holds only pins asked about in the last second or so, and each new
// entry passed allow (the shared check budget).
func (p *Checks[T]) sweep(now time.Time) {
	if now.Sub(p.swept) < CheckEvery {
		return
	}
	p.swept = now
	for id, c := range p.calls {
		if c.finished && now.Sub(c.started) >= CheckEvery {
			delete(p.calls, id)
		}
	}
}
