package server

import (
	"runtime/debug"
	"sync"
)

// serialQueue runs a socket's jobs one at a time, in order: the order of
// its handlers, on the session's serial queue (transports.Session.Run).
// A job that comes with a client's message runs, when the queue is idle,
// right after that message on the session's queue: over a WebSocket on
// the event loop on the worker that delivered it (no goroutine starts),
// the session moving the connection's next messages to another worker if
// the job still runs when they come, so a handler may wait for them. Jobs
// that come otherwise (a connection's or disconnection's handlers) run on
// a goroutine that exists only while there is work: an idle socket holds
// none.
type serialQueue struct {
	mu         sync.Mutex
	jobs       []func()
	running    bool
	concurrent int32   // the socket's Concurrent handlers running, bounded apart
	owner      *Socket // told when the queue overflows; its server bounds it
}

// startConcurrent counts a Concurrent handler about to start; it reports
// false past the bound.
func (q *serialQueue) startConcurrent() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if int(q.concurrent) >= q.owner.nsp.srv.opts.MaxPendingEvents {
		return false
	}
	q.concurrent++
	return true
}

func (q *serialQueue) endConcurrent() {
	q.mu.Lock()
	q.concurrent--
	q.mu.Unlock()
}

func (q *serialQueue) push(f func()) {
	q.mu.Lock()
	if len(q.jobs) >= q.owner.nsp.srv.opts.MaxPendingEvents {
		q.mu.Unlock()
		q.owner.overflow()
		return
	}
	q.add(f)
}

// pushMsg is push from the client's message path (the OnMessage callback
// of its session).
func (q *serialQueue) pushMsg(f func()) {
	q.mu.Lock()
	if len(q.jobs) >= q.owner.nsp.srv.opts.MaxPendingEvents {
		q.mu.Unlock()
		q.owner.overflow()
		return
	}
	q.jobs = append(q.jobs, f)
	if q.running {
		q.mu.Unlock()
		return
	}
	q.running = true
	q.mu.Unlock()
	q.owner.client.conn.Run(q.run)
}

// pushAlways queues f past the bound: for the disconnect, which must run.
func (q *serialQueue) pushAlways(f func()) {
	q.mu.Lock()
	q.add(f)
}

// add appends f and starts the runner if none; q.mu is held and released.
func (q *serialQueue) add(f func()) {
	q.jobs = append(q.jobs, f)
	if q.running {
		q.mu.Unlock()
		return
	}
	q.running = true
	q.mu.Unlock()
	go q.run()
}

func (q *serialQueue) run() {
	for {
		q.mu.Lock()
		if len(q.jobs) == 0 {
			q.running = false
			q.jobs = nil
			q.mu.Unlock()
			return
		}
		f := q.jobs[0]
		q.jobs[0] = nil
		q.jobs = q.jobs[1:]
		q.mu.Unlock()
		q.call(f)
	}
}

// call runs a handler; a panic is logged, not fatal to the server.
func (q *serialQueue) call(f func()) {
	defer func() {
		if r := recover(); r != nil {
			q.owner.nsp.srv.log.Error("socket.io handler panicked", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	f()
}
