package redis

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/siogo/siogo/server"
)

// requests is the bookkeeping both modes share: the requests waiting for
// other nodes' answers, and the broadcasts waiting for clients' acks.
type requests struct {
	mu      sync.Mutex
	pending map[string]*pending
	acks    map[string]*ackPending
}

// pending is a request waiting for answers.
type pending struct {
	expected int // answers awaited
	answered int
	sockets  []*server.RemoteSocket
	answers  []any
	done     chan struct{}
	finished bool
}

type ackPending struct {
	clientCount func(int)
	ack         func([]any)
}

func newRequests() requests {
	return requests{pending: map[string]*pending{}, acks: map[string]*ackPending{}}
}

// addAck records a broadcast with acks for timeout; answers after that are
// dropped, as in Node.
func (r *requests) addAck(id string, clientCount func(int), ack func([]any), timeout time.Duration) {
	r.mu.Lock()
	r.acks[id] = &ackPending{clientCount: clientCount, ack: ack}
	r.mu.Unlock()
	time.AfterFunc(timeout, func() {
		r.mu.Lock()
		delete(r.acks, id)
		r.mu.Unlock()
	})
}

func (r *requests) ack(id string) *ackPending {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.acks[id]
}

// wait registers p under id, publishes, and waits for p's answers, the
// timeout or ctx.
func (r *requests) wait(ctx context.Context, id string, p *pending, publish func() error, timeout time.Duration, what string) error {
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
		return fmt.Errorf("redis adapter: timeout reached while waiting for %s response", what)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// answer adds one node's answer to request id: sockets of a fetch, or the
// reply of a server-side emit.
func (r *requests) answer(nsp *server.Namespace, id string, sockets []any, reply any, isReply bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pending[id]
	if p == nil || p.finished {
		return
	}
	for _, item := range sockets {
		if s := remoteSocketFromWire(nsp, item); s != nil {
			p.sockets = append(p.sockets, s)
		}
	}
	if isReply {
		p.answers = append(p.answers, reply)
	}
	p.answered++
	if p.answered == p.expected {
		p.finished = true
		close(p.done)
	}
}

// socketsWire describes local sockets as Node's fetchSockets answers them.
func socketsWire(local []*server.RemoteSocket) []any {
	out := make([]any, 0, len(local))
	for _, s := range local {
		data := s.Data
		if data == nil {
			// Node's socket.data is never null, and Node's readers count
			// on it (the admin UI's server side spreads it).
			data = map[string]any{}
		}
		out = append(out, map[string]any{
			"id": s.ID, "handshake": handshakeWire(s.Handshake), "rooms": nonNil(s.Rooms), "data": data,
		})
	}
	return out
}

// onceAck is the ack of a server-side emit: its first call answers with
// its first argument, as Node expects one.
func onceAck(answer func(arg any)) server.Ack {
	var once sync.Once
	return func(args ...any) {
		once.Do(func() {
			var arg any
			if len(args) > 0 {
				arg = args[0]
			}
			answer(arg)
		})
	}
}

// firstArg is an ack's first argument, what a broadcast ack carries.
func firstArg(args []any) any {
	if len(args) > 0 {
		return args[0]
	}
	return nil
}
