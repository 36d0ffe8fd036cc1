package netpoll

import (
	"errors"
	"sync"
	"sync/atomic"
)

// The per-connection timeouts live in a hashed timer wheel, one per loop:
// no time.Timer and no goroutine per connection. A read only stores the
// time it happened (an atomic store); the wheel finds out lazily, when the
// slot a connection was filed under comes round, whether its time has
// really come, and files it again further on if not.

// timers is the part of a Conn the wheel owns (under wheel.mu, except
// lastRead, which the loop stores on every read).
type timers struct {
	tnext, tprev *Conn
	tat          int64 // the tick the conn is filed under; 0: not filed
	rdTimeout    int64 // ns; 0: none
	deadline     int64 // ns since the loop started; 0: none
	bound        int64 // the loop's own bound (close, handshake); 0: none
	tgone        bool  // closed: never filed again
	lastRead     atomic.Int64
}

// errBound is the kind of a fired internal bound; the loop knows which
// (a graceful close or a TLS handshake) from the conn's state.
var errBound = errors.New("netpoll: bound reached")

type wheel struct {
	mu    sync.Mutex
	tick  int64 // ns
	slots []*Conn
	cur   int64 // the last tick processed
	armed int   // conns filed
}

type fired struct {
	c    *Conn
	kind error // ErrReadTimeout, ErrDeadline or errBound
}

const wheelSlots = 512

func newWheel(tick int64) *wheel {
	return &wheel{tick: tick, slots: make([]*Conn, wheelSlots)}
}

func expiry(t *timers) int64 {
	var e int64
	min := func(v int64) {
		if v != 0 && (e == 0 || v < e) {
			e = v
		}
	}
	if t.rdTimeout > 0 {
		min(t.lastRead.Load() + t.rdTimeout)
	}
	min(t.deadline)
	min(t.bound)
	return e
}

func (w *wheel) insert(c *Conn, at int64) {
	s := &w.slots[at%int64(len(w.slots))]
	c.tat = at
	c.tprev = nil
	c.tnext = *s
	if *s != nil {
		(*s).tprev = c
	}
	*s = c
	w.armed++
}

func (w *wheel) remove(c *Conn) {
	if c.tat == 0 {
		return
	}
	if c.tprev != nil {
		c.tprev.tnext = c.tnext
	} else {
		w.slots[c.tat%int64(len(w.slots))] = c.tnext
	}
	if c.tnext != nil {
		c.tnext.tprev = c.tprev
	}
	c.tnext, c.tprev, c.tat = nil, nil, 0
	w.armed--
}

// schedule files c for its earliest timeout, or takes it out when none is
// set. w.mu is held.
func (w *wheel) schedule(c *Conn) {
	if c.tgone {
		return
	}
	e := expiry(&c.timers)
	if e == 0 {
		w.remove(c)
		return
	}
	at := (e + w.tick - 1) / w.tick
	if at <= w.cur {
		at = w.cur + 1
	}
	if c.tat != 0 {
		if c.tat <= at {
			return // filed earlier: it is looked at again then
		}
		w.remove(c)
	}
	w.insert(c, at)
}

// setRead arms (d > 0) or disarms c's read timeout, counted from now.
func (w *wheel) setRead(c *Conn, d, now int64) {
	w.mu.Lock()
	if !c.tgone {
		c.rdTimeout = d
		if d > 0 {
			c.lastRead.Store(now)
		}
		w.schedule(c)
	}
	w.mu.Unlock()
}

// setDeadline arms (at > 0) or disarms c's deadline.
func (w *wheel) setDeadline(c *Conn, at int64) {
	w.mu.Lock()
	if !c.tgone {
		c.deadline = at
		w.schedule(c)
	}
	w.mu.Unlock()
}

// setBound arms (at > 0) or disarms the loop's own bound on c.
func (w *wheel) setBound(c *Conn, at int64) {
	w.mu.Lock()
	if !c.tgone {
		c.bound = at
		w.schedule(c)
	}
	w.mu.Unlock()
}

// closing replaces c's timeouts with the bound of its graceful close.
func (w *wheel) closing(c *Conn, at int64) {
	w.mu.Lock()
	if !c.tgone {
		c.rdTimeout, c.deadline, c.bound = 0, 0, at
		w.schedule(c)
	}
	w.mu.Unlock()
}

// drop takes c out for good (it is closed).
func (w *wheel) drop(c *Conn) {
	w.mu.Lock()
	w.remove(c)
	c.tgone = true
	w.mu.Unlock()
}

// advance processes the ticks up to now and appends to out the conns
// whose timeout fired, each disarmed of it.
func (w *wheel) advance(now int64, out []fired) []fired {
	w.mu.Lock()
	defer w.mu.Unlock()
	nowT := now / w.tick
	if nowT <= w.cur {
		return out
	}
	from := w.cur + 1
	if n := int64(len(w.slots)); nowT-from >= n {
		from = nowT - n + 1
	}
	for t := from; t <= nowT; t++ {
		for c := w.slots[t%int64(len(w.slots))]; c != nil; {
			next := c.tnext
			if c.tat <= nowT {
				w.remove(c)
				if kind := disarm(&c.timers, now); kind != nil {
					out = append(out, fired{c, kind})
				}
				w.cur = nowT // files what is left after this tick
				w.schedule(c)
			}
			c = next
		}
	}
	w.cur = nowT
	return out
}

// disarm clears the timeout of t that has passed at now, if any, and says
// which.
func disarm(t *timers, now int64) error {
	switch {
	case t.bound != 0 && t.bound <= now:
		t.bound = 0
		return errBound
	case t.deadline != 0 && t.deadline <= now:
		t.deadline = 0
		return ErrDeadline
	case t.rdTimeout > 0 && t.lastRead.Load()+t.rdTimeout <= now:
		t.rdTimeout = 0
		return ErrReadTimeout
	}
	return nil
}

// wait is how long a loop may sleep before the next tick matters, in
// milliseconds for epoll_wait: -1 when nothing is filed.
func (w *wheel) wait(now int64) int {
	w.mu.Lock()
	armed := w.armed
	w.mu.Unlock()
	if armed == 0 {
		return -1
	}
	next := (now/w.tick + 1) * w.tick
	ms := int((next - now + 999_999) / 1_000_000)
	return max(ms, 1)
}
