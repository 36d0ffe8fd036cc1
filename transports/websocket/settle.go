package websocket

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/lesismal/nbio"
)

// Settler keeps an nbio engine's fresh connections from events its pollers
// still hold for an older socket that had the same descriptor number.
//
// A connection closed off its poller (a write that failed in a handler or
// a flusher, a keep-alive deadline's timer, a close from a session's
// goroutine) frees its number at once; the next accept may get it while
// the poller still works through a batch epoll_wait returned with an event
// for the old socket (a hang-up, an error). nbio would apply that event to
// the new connection, found under the same number, and close it
// (docs/reliability.md, "A descriptor reused while nbio still held its
// events"). The WebSocket Server settles its upgrades itself; a Settler
// does it for an engine that accepts its own connections
// (transports.HTTPServer).
//
// Settle is called with each fresh connection before it goes to a poller,
// Closed from the engine's OnClose. A number not seen before is free; one
// whose connection closed before the poller's last barrier began is
// settled already; any other (its close not yet reported, or reported
// after that) waits for a barrier on its poller: two round trips of a
// byte through a probe socket kept there.
type Settler struct {
	probes []*probe
	bmu    []sync.Mutex // by poller: one barrier at a time

	mu      sync.Mutex
	gen     uint64 // ticks at each Check, Closed and barrier's start
	fds     map[int]*settledFD
	settled []uint64 // by poller: gen when its last barrier began

	barriers atomic.Int64
	waited   atomic.Int64 // nanoseconds in barriers
}

type settledFD struct {
	c      *nbio.Conn
	closed uint64 // gen when its close was reported; 0 while it lives
}

// NewSettler puts a probe on each of the engine's n pollers (and so
// returns once each poller's loop runs). Call it as the engine starts,
// under StartEngine.
func NewSettler(g *nbio.Engine, n int) (*Settler, error) {
	probes, err := awaitPollers(g, n)
	if err != nil {
		return nil, err
	}
	return &Settler{probes: probes, bmu: make([]sync.Mutex, len(probes)), fds: map[int]*settledFD{}, settled: make([]uint64, len(probes))}, nil
}

// Settle returns once c's descriptor number can go to its poller with no
// event left there for an older socket of that number.
func (s *Settler) Settle(c *nbio.Conn) {
	if ticket, wait := s.Check(c); wait {
		s.Wait(c, ticket)
	}
}

// Check records c, a fresh connection, and reports whether it must Wait
// (with the ticket) before it goes to its poller.
func (s *Settler) Check(c *nbio.Conn) (ticket uint64, wait bool) {
	if s == nil || len(s.probes) == 0 {
		return 0, false
	}
	fd := c.Hash()
	p := fd % len(s.probes)
	s.mu.Lock()
	defer s.mu.Unlock()
	old, seen := s.fds[fd]
	s.gen++
	s.fds[fd] = &settledFD{c: c}
	return s.gen, seen && (old.closed == 0 || old.closed > s.settled[p])
}

// Wait returns once a barrier that began after Check has ended on c's
// poller. Waits of many connections share barriers.
func (s *Settler) Wait(c *nbio.Conn, ticket uint64) {
	p := c.Hash() % len(s.probes)
	s.bmu[p].Lock()
	defer s.bmu[p].Unlock()
	s.mu.Lock()
	if s.settled[p] > ticket {
		s.mu.Unlock()
		return
	}
	s.gen++
	b := s.gen
	s.mu.Unlock()
	t := time.Now()
	s.probes[p].barrier()
	s.waited.Add(int64(time.Since(t)))
	s.barriers.Add(1)
	s.mu.Lock()
	s.settled[p] = max(s.settled[p], b)
	s.mu.Unlock()
}

// Closed notes that c closed (from the engine's OnClose, on any goroutine,
// however late).
func (s *Settler) Closed(c *nbio.Conn) {
	if s == nil {
		return
	}
	s.mu.Lock()
	if e, ok := s.fds[c.Hash()]; ok && e.c == c && e.closed == 0 {
		s.gen++
		e.closed = s.gen
	}
	s.mu.Unlock()
}

// Barriers is how many barriers Wait ran, and how long they took in all.
func (s *Settler) Barriers() (int64, time.Duration) {
	if s == nil {
		return 0, 0
	}
	return s.barriers.Load(), time.Duration(s.waited.Load())
}
