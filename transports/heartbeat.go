package transports

import (
	"sync"
	"time"
)

// heartbeats is the heartbeat and close timers of a server's sessions:
// one runtime timer for all of them, set for the earliest deadline of a
// heap of sessions, instead of a time.Timer per session (about 150 bytes
// each, held by every idle connection). Deadlines are as exact as a
// time.Timer's, and each session's timer still runs on a goroutine of its
// own when it fires, as time.AfterFunc's does, so that a slow OnClose
// handler holds up no other session.
type heartbeats struct {
	mu    sync.Mutex
	heap  []*Session // ordered by hbWhen; a session's hbIndex is its place + 1
	timer *time.Timer
	next  time.Duration // when timer fires, since clockStart; 0 when not set
}

// arm sets s's timer to fire d from now, whether it was set or not (the
// Reset of a time.Timer).
func (h *heartbeats) arm(s *Session, d time.Duration) {
	when := time.Since(clockStart) + d
	h.mu.Lock()
	s.hbWhen = when
	if s.hbIndex == 0 {
		h.heap = append(h.heap, s)
		s.hbIndex = len(h.heap)
		h.up(s.hbIndex - 1)
	} else {
		i := s.hbIndex - 1
		h.up(i)
		h.down(s.hbIndex - 1)
	}
	h.schedule()
	h.mu.Unlock()
}

// stop unsets s's timer (the Stop of a time.Timer).
func (h *heartbeats) stop(s *Session) {
	h.mu.Lock()
	if s.hbIndex != 0 {
		h.remove(s.hbIndex - 1)
	}
	h.mu.Unlock()
}

// fire runs the timers that are due, each on a goroutine of its own.
func (h *heartbeats) fire() {
	now := time.Since(clockStart)
	var due []*Session
	h.mu.Lock()
	h.next = 0
	for len(h.heap) > 0 && h.heap[0].hbWhen <= now {
		due = append(due, h.heap[0])
		h.remove(0)
	}
	h.schedule()
	h.mu.Unlock()
	for _, s := range due {
		if onFire != nil {
			onFire(s)
			continue
		}
		go s.onTimer()
	}
}

// onFire replaces onTimer in tests of the heap alone.
var onFire func(*Session)

// schedule sets the runtime timer for the earliest deadline. h.mu is held.
func (h *heartbeats) schedule() {
	if len(h.heap) == 0 {
		return
	}
	when := h.heap[0].hbWhen
	if h.next != 0 && h.next <= when {
		return // set already, early enough: fire reschedules
	}
	h.next = when
	d := when - time.Since(clockStart)
	if h.timer == nil {
		h.timer = time.AfterFunc(d, h.fire)
		return
	}
	h.timer.Reset(d)
}

// remove takes the session at place i out of the heap. h.mu is held.
func (h *heartbeats) remove(i int) {
	s := h.heap[i]
	last := len(h.heap) - 1
	if i != last {
		h.swap(i, last)
	}
	h.heap[last] = nil
	h.heap = h.heap[:last]
	s.hbIndex = 0
	if i != last {
		h.up(i)
		h.down(h.heap[i].hbIndex - 1)
	}
	if len(h.heap) == 0 && cap(h.heap) > 1024 {
		h.heap = nil // a burst of sessions gone: give its array back
	}
}

func (h *heartbeats) swap(i, j int) {
	h.heap[i], h.heap[j] = h.heap[j], h.heap[i]
	h.heap[i].hbIndex = i + 1
	h.heap[j].hbIndex = j + 1
}

func (h *heartbeats) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h.heap[p].hbWhen <= h.heap[i].hbWhen {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *heartbeats) down(i int) {
	n := len(h.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.heap[r].hbWhen < h.heap[l].hbWhen {
			m = r
		}
		if h.heap[i].hbWhen <= h.heap[m].hbWhen {
			return
		}
		h.swap(i, m)
		i = m
	}
}
