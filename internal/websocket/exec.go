package websocket

import (
	"fmt"
	"sync"
	"time"

	"github.com/siogo/siogo/internal/workpool"
)

// A connection's messages run one at a time, in order, on a worker of the
// server's pool: a goroutine that outlives the message, so that its stack,
// grown once by the JSON decoder, is not grown again for every message as
// on a fresh goroutine.
//
// The handler may ask, with After, to run a job behind the message on the
// same worker (Socket.IO runs a socket's event handlers so, without a
// goroutine of their own). That job may block, waiting for what the same
// connection sends next (EmitWithAck): if a message comes while it runs,
// the connection's messages go on on another worker and the blocked one
// leaves the connection once its job returns.

// newPool returns the pool a Server runs its connections' jobs on, at
// most maxIdle of its workers idle.
func newPool(maxIdle int) *workpool.Pool[job, *worker] {
	return workpool.New(maxIdle, func(w *worker, j job) { j.c.runJobs(w, j.gen) }, newWorker, func(w *worker) { w.timer.Stop() })
}

// job is a runner of a connection's jobs: Conn.runJobs(gen); a value, so
// that handing one to a worker allocates nothing.
type job struct {
	c   *Conn
	gen uint64
}

// worker is a goroutine of the pool. While it runs a connection's jobs the
// connection is corked (Conn.cork): what the jobs write waits, and leaves
// in one write call when they are done. Its timer ends the cork should a
// job run on for longer than corkDelay after writing (a handler that waits
// for something), so that what was written before the wait is not held
// through it.
type worker struct {
	timer *time.Timer
	mu    sync.Mutex
	c     *Conn // the connection whose jobs run, for the timer
}

// corkDelay bounds how long a frame waits in a cork for the job that wrote
// it to return.
const corkDelay = time.Millisecond

func newWorker() *worker {
	w := &worker{}
	w.timer = time.AfterFunc(time.Hour, w.fire)
	w.timer.Stop()
	return w
}

// fire ends the cork of the connection whose jobs the worker runs.
func (w *worker) fire() {
	w.mu.Lock()
	c := w.c
	w.mu.Unlock()
	if c != nil {
		c.uncork(w)
	}
}

func (w *worker) attach(c *Conn) {
	w.mu.Lock()
	w.c = c
	w.mu.Unlock()
}

// executor is a connection's queue of jobs.
type executor struct {
	mu      sync.Mutex
	jobs    []func()
	running bool
	gen     uint64 // the runner's; a new runner takes the connection over
	// detachable: the runner is in an After job, and a new message may
	// start another runner.
	detachable bool
	after      func() // set by the running message's handler, read by its runner
}

// exec queues f behind the connection's other jobs.
func (c *Conn) exec(f func()) {
	if !c.onLoop {
		// A reading goroutine of its own calls in order.
		c.runJob(f)
		return
	}
	x := &c.x
	x.mu.Lock()
	x.jobs = append(x.jobs, f)
	if x.running && !x.detachable {
		x.mu.Unlock()
		return
	}
	x.running, x.detachable = true, false
	x.gen++
	gen := x.gen
	x.mu.Unlock()
	c.srv.pool.Go(job{c, gen})
}

// runJobs is a runner: it runs jobs on w until none is left or another
// runner took the connection over. The connection is corked while they
// run: the frames of a message's handling (a Socket.IO echo and its ack,
// a CONNECT answer) leave in one write once it returns.
func (c *Conn) runJobs(w *worker, gen uint64) {
	x := &c.x
	w.attach(c)
	defer func() {
		c.uncork(w)
		w.timer.Stop()
		w.attach(nil)
	}()
	for {
		x.mu.Lock()
		if x.gen != gen {
			x.mu.Unlock()
			return
		}
		if len(x.jobs) == 0 {
			x.running = false
			x.jobs = x.jobs[:0]
			x.mu.Unlock()
			return
		}
		f := x.jobs[0]
		x.jobs[0] = nil
		x.jobs = x.jobs[1:]
		x.mu.Unlock()
		c.cork(w)
		c.runJob(f)
		if a := x.after; a != nil {
			x.after = nil
			x.mu.Lock()
			x.detachable = true
			x.mu.Unlock()
			c.runJob(a)
			x.mu.Lock()
			if x.gen == gen {
				x.detachable = false
			}
			x.mu.Unlock()
		}
	}
}

// runJob runs one of the connection's jobs: a panic in it (the layers
// above, the application's handler) closes the connection with 1011, and
// the connection's other jobs (its OnClose) still run.
func (c *Conn) runJob(f func()) {
	defer func() {
		if v := recover(); v != nil {
			c.srv.panicked("handler", v, c)
			c.setCloseErr(fmt.Errorf("%w: %v", ErrPanic, v))
			c.closeWith([]byte{closeInternalError >> 8, closeInternalError & 0xff})
		}
	}()
	f()
}

// After runs f on the connection's worker once the message being handled
// returns, before the connection's next message unless f blocks until it
// comes (the next message then runs elsewhere). It may be called only by
// the Handler's OnMessage, at most once per call; it reports false, not
// running f, for a connection without a worker (served by a goroutine
// that reads it, as a crypto/tls one).
func (c *Conn) After(f func()) bool {
	if !c.onLoop {
		return false
	}
	c.x.after = f
	return true
}

// inHandler reports whether the connection's worker runs: a message of it,
// or an After job (a handler). Another goroutine writing meanwhile writes
// from where it is too, which does not block either.
func (c *Conn) inHandler() bool {
	if !c.onLoop {
		return false
	}
	c.x.mu.Lock()
	in := c.x.running
	c.x.mu.Unlock()
	return in
}
