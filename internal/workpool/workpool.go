// Package workpool runs jobs on goroutines kept between them: a job's
// stack, grown once (by a JSON decoder, a handler), is not grown again
// for every job as on a fresh goroutine. It starts a worker when none is
// idle, so a job that waits holds up no other; at most MaxIdle workers
// wait for work, none for longer than one to two Idle.
package workpool

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Idle is how long a worker waits for work before it ends: the pool
// shrinks back to nothing once the traffic stops.
const Idle = 2 * time.Second

// Pool runs jobs of type J, each worker with its own state W (what a
// worker keeps between jobs, such as a timer); J is a value, so that
// handing one to a worker allocates nothing.
type Pool[J, W any] struct {
	run       func(W, J)
	newWorker func() W
	endWorker func(W)

	work    chan J
	done    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	stopped bool
	idle    atomic.Int32
	maxIdle int32
}

// New returns a pool whose workers run each job with run, on a state made
// by newWorker and ended by endWorker (either may be nil).
func New[J, W any](maxIdle int, run func(W, J), newWorker func() W, endWorker func(W)) *Pool[J, W] {
	return &Pool[J, W]{run: run, newWorker: newWorker, endWorker: endWorker,
		work: make(chan J), done: make(chan struct{}), maxIdle: int32(maxIdle)}
}

// Go runs j on an idle worker, or a new one. Once the pool is stopped j
// runs on the caller's goroutine.
func (p *Pool[J, W]) Go(j J) {
	select {
	case p.work <- j:
		return
	default:
	}
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		w := p.worker()
		p.run(w, j)
		p.end(w)
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	go p.loop(j)
}

func (p *Pool[J, W]) worker() W {
	var w W
	if p.newWorker != nil {
		w = p.newWorker()
	}
	return w
}

func (p *Pool[J, W]) end(w W) {
	if p.endWorker != nil {
		p.endWorker(w)
	}
}

func (p *Pool[J, W]) loop(j J) {
	defer p.wg.Done()
	w := p.worker()
	defer p.end(w)
	// The idle timer is not reset after every job (a timer reset per
	// message): when it fires the worker goes on if it ran a job since,
	// so it ends after one to two Idle of idleness.
	idle := time.NewTimer(Idle)
	defer idle.Stop()
	for {
		p.run(w, j)
		ran := true
		if p.idle.Add(1) > p.maxIdle {
			p.idle.Add(-1)
			return
		}
	wait:
		for {
			select {
			case j = <-p.work:
				p.idle.Add(-1)
				break wait
			case <-idle.C:
				if !ran {
					p.idle.Add(-1)
					return
				}
				ran = false
				idle.Reset(Idle)
			case <-p.done:
				p.idle.Add(-1)
				return
			}
		}
	}
}

// Stop ends the idle workers; a busy one ends once its job returns. It
// does not wait for them (it may be called from a job): Wait does.
func (p *Pool[J, W]) Stop() {
	p.mu.Lock()
	if !p.stopped {
		p.stopped = true
		close(p.done)
	}
	p.mu.Unlock()
}

// Wait waits for every worker to end, or for ctx.
func (p *Pool[J, W]) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
