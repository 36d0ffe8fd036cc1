package adapterwire

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siogo/siogo/server"
)

// Requests is the bookkeeping of a cluster adapter's requests: those
// waiting for other nodes' answers (fetchSockets, serverSideEmit with an
// ack), and the broadcasts waiting for clients' acks. Its zero value is not
// ready: use NewRequests.
type Requests struct {
	mu      sync.Mutex
	pending map[string]*Pending
	acks    map[string]*AckPending
}

// Pending is a request waiting for Expected answers. Sockets and Answers
// are safe to read once Wait returned.
type Pending struct {
	Expected int // answers awaited
	answered int
	Sockets  []*server.RemoteSocket // of a fetchSockets: the local ones first
	Answers  []any                  // of a serverSideEmit: one per node
	done     chan struct{}
	finished bool
}

// AckPending is a broadcast with acks: what to call with each node's count
// of clients and with each client's ack.
type AckPending struct {
	ClientCount func(int)
	Ack         func([]any)
}

// NewRequests is a Requests with nothing pending.
func NewRequests() *Requests {
	return &Requests{pending: map[string]*Pending{}, acks: map[string]*AckPending{}}
}

// AddAck records a broadcast with acks for timeout; answers after that are
// dropped, as in Node.
func (r *Requests) AddAck(id string, clientCount func(int), ack func([]any), timeout time.Duration) {
	r.mu.Lock()
	r.acks[id] = &AckPending{ClientCount: clientCount, Ack: ack}
	r.mu.Unlock()
	time.AfterFunc(timeout, func() {
		r.mu.Lock()
		delete(r.acks, id)
		r.mu.Unlock()
	})
}

// Ack is the broadcast with acks id, nil when unknown or timed out.
func (r *Requests) Ack(id string) *AckPending {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.acks[id]
}

// Wait registers p under id, publishes, and waits for p's answers, the
// timeout or ctx. On the timeout it returns timedOut(answered, expected),
// the error each adapter words as its Node counterpart does.
func (r *Requests) Wait(ctx context.Context, id string, p *Pending, publish func() error, timeout time.Duration, timedOut func(answered, expected int) error) error {
	p.done = make(chan struct{})
	r.mu.Lock()
	r.pending[id] = p
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.pending, id)
		p.finished = true
		r.mu.Unlock()
	}()
	if err := publish(); err != nil {
		return err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
		r.mu.Lock()
		answered, expected := p.answered, p.Expected
		r.mu.Unlock()
		return timedOut(answered, expected)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Answer adds one node's answer to request id: the sockets of a
// fetchSockets (as Sockets writes them), or the reply of a serverSideEmit
// when isReply. Answers to unknown or finished requests are dropped.
func (r *Requests) Answer(local *server.MemoryAdapter, id string, sockets []any, reply any, isReply bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pending[id]
	if p == nil || p.finished {
		return
	}
	for _, item := range sockets {
		if s := RemoteSocketFrom(local, item); s != nil {
			p.Sockets = append(p.Sockets, s)
		}
	}
	if isReply {
		p.Answers = append(p.Answers, reply)
	}
	p.answered++
	if p.answered == p.Expected {
		p.finished = true
		close(p.done)
	}
}

// OnceAck is the ack of a serverSideEmit: its first call answers with its
// first argument, as Node expects one; later calls return server.ErrAckSent.
func OnceAck(answer func(arg any)) server.Ack {
	var done atomic.Bool
	return func(args ...any) error {
		if !done.CompareAndSwap(false, true) {
			return server.ErrAckSent
		}
		answer(FirstArg(args))
		return nil
	}
}

// FirstArg is an ack's first argument, what a broadcast ack carries to the
// node that sent the broadcast; nil when there is none.
func FirstArg(args []any) any {
	if len(args) > 0 {
		return args[0]
	}
	return nil
}
