package httploop

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// pool runs functions on goroutines kept between them: a handler's stack,
// grown once, is not grown again for every request as on a fresh
// goroutine. It starts one when none is idle, so a handler that waits
// holds up no other; at most maxIdle wait, none longer than workerIdle.
type pool struct {
	work    chan func()
	done    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	stopped bool
	idle    atomic.Int32
	maxIdle int32
}

// workerIdle is how long a worker waits for work before it ends.
const workerIdle = 2 * time.Second

func newPool(maxIdle int) *pool {
	return &pool{work: make(chan func()), done: make(chan struct{}), maxIdle: int32(maxIdle)}
}

// Go runs f on a worker. Once the pool is stopped f runs on the caller's
// goroutine.
func (p *pool) Go(f func()) {
	select {
	case p.work <- f:
		return
	default:
	}
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		f()
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	go p.worker(f)
}

func (p *pool) worker(f func()) {
	defer p.wg.Done()
	// The idle timer is not reset after every function: when it fires the
	// worker goes on if it ran something since, so it ends after one to
	// two workerIdle of idleness.
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		f()
		ran := true
		if p.idle.Add(1) > p.maxIdle {
			p.idle.Add(-1)
			return
		}
	wait:
		for {
			select {
			case f = <-p.work:
				p.idle.Add(-1)
				break wait
			case <-idle.C:
				if !ran {
					p.idle.Add(-1)
					return
				}
				ran = false
				idle.Reset(workerIdle)
			case <-p.done:
				p.idle.Add(-1)
				return
			}
		}
	}
}

// stop ends the idle workers; a busy one ends once its function returns.
func (p *pool) stop() {
	p.mu.Lock()
	if !p.stopped {
		p.stopped = true
		close(p.done)
	}
	p.mu.Unlock()
}

// wait waits for every worker to end, or for ctx.
func (p *pool) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
