package cluster

import (
	"context"
	"errors"
	"sync"
)

// MemoryBroker is a Broker inside one process: the servers of a program
// that share one are the nodes of one cluster. It is the broker of the
// contract's own tests, and a model for a new one: each message is copied
// through its JSON or msgpack form, as a broker on a network would.
type MemoryBroker struct {
	mu     sync.Mutex
	subs   map[string]map[*memorySub]struct{} // by namespace
	closed bool
}

// ErrClosed is returned by a MemoryBroker after Close.
var ErrClosed = errors.New("cluster: broker closed")

// NewMemoryBroker returns an empty broker.
func NewMemoryBroker() *MemoryBroker {
	return &MemoryBroker{subs: map[string]map[*memorySub]struct{}{}}
}

// memorySub is one subscription: its messages wait in queue and are
// handed to h, in order, by one goroutine.
type memorySub struct {
	uid   string
	h     Handler
	mu    sync.Mutex
	queue []*Message
	wake  chan struct{}
	done  chan struct{}
	once  sync.Once
}

func (s *memorySub) stop() { s.once.Do(func() { close(s.done) }) }

func (s *memorySub) run() {
	for {
		select {
		case <-s.done:
			return
		case <-s.wake:
		}
		for {
			s.mu.Lock()
			if len(s.queue) == 0 {
				s.mu.Unlock()
				break
			}
			m := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			s.mu.Unlock()
			select {
			case <-s.done:
				return
			default:
			}
			s.h(m, "")
		}
	}
}

func (s *memorySub) push(m *Message) {
	s.mu.Lock()
	s.queue = append(s.queue, m)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// copyMessage is m as another process would decode it.
func copyMessage(m *Message) (*Message, error) {
	if m.HasBinary() {
		b, err := m.Msgpack()
		if err != nil {
			return nil, err
		}
		return DecodeMsgpack(b)
	}
	b, err := m.JSON()
	if err != nil {
		return nil, err
	}
	return DecodeJSON(b)
}

// Publish implements Broker.
func (b *MemoryBroker) Publish(_ context.Context, m *Message) (string, error) {
	return "", b.send(m, "")
}

// PublishResponse implements Broker: only the adapter with uid to gets it.
func (b *MemoryBroker) PublishResponse(_ context.Context, to string, m *Message) error {
	return b.send(m, to)
}

func (b *MemoryBroker) send(m *Message, to string) error {
	c, err := copyMessage(m)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	for s := range b.subs[m.Nsp] {
		if to == "" || s.uid == to {
			s.push(c)
		}
	}
	return nil
}

// Subscribe implements Broker.
func (b *MemoryBroker) Subscribe(nsp, uid string, h Handler) (func(), error) {
	s := &memorySub{uid: uid, h: h, wake: make(chan struct{}, 1), done: make(chan struct{})}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	if b.subs[nsp] == nil {
		b.subs[nsp] = map[*memorySub]struct{}{}
	}
	b.subs[nsp][s] = struct{}{}
	b.mu.Unlock()
	go s.run()
	return func() {
		b.mu.Lock()
		delete(b.subs[nsp], s)
		b.mu.Unlock()
		s.stop()
	}, nil
}

// Close ends every subscription; publishing fails from then on.
func (b *MemoryBroker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	for _, subs := range b.subs {
		for s := range subs {
			s.stop()
		}
	}
	b.subs = nil
	return nil
}
