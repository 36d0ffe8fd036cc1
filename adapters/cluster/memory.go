package cluster

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/siogo/siogo/server"
)

// MemoryBroker is a Broker inside one process: the servers of a program
// that share one are the nodes of one cluster. It is the broker of the
// contract's own tests, and a model for a new one: each message is copied
// through its JSON or msgpack form, as a broker on a network would. It is
// a Log and a SessionStore too: it logs the last MemoryLogSize broadcasts
// and room changes, every node (the sender included) gets them in the
// log's order, and connection state recovery crosses its nodes.
type MemoryBroker struct {
	mu       sync.Mutex
	subs     map[string]map[*memorySub]struct{} // by namespace
	log      []Logged                           // the last logged messages, oldest first
	seq      uint64
	sessions map[string]memorySession // by pid
	closed   bool
}

// MemoryLogSize is how many messages a MemoryBroker keeps in its log.
const MemoryLogSize = 10000

type memorySession struct {
	s       server.PersistedSession
	expires time.Time
}

// ErrClosed is returned by a MemoryBroker after Close.
var ErrClosed = errors.New("cluster: broker closed")

// NewMemoryBroker returns an empty broker.
func NewMemoryBroker() *MemoryBroker {
	return &MemoryBroker{subs: map[string]map[*memorySub]struct{}{}, sessions: map[string]memorySession{}}
}

// memorySub is one subscription: its messages wait in queue and are
// handed to h, in order, by one goroutine.
type memorySub struct {
	uid   string
	h     Handler
	mu    sync.Mutex
	queue []Logged
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
			l := s.queue[0]
			s.queue[0] = Logged{}
			s.queue = s.queue[1:]
			s.mu.Unlock()
			select {
			case <-s.done:
				return
			default:
			}
			s.h(l.Message, l.Offset)
		}
	}
}

func (s *memorySub) push(m *Message, offset string) {
	s.mu.Lock()
	s.queue = append(s.queue, Logged{Message: m, Offset: offset})
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

// Publish implements Broker; a broadcast (without acknowledgements) or a
// room change is logged, and its offset returned.
func (b *MemoryBroker) Publish(_ context.Context, m *Message) (string, error) {
	return b.send(m, "")
}

// PublishResponse implements Broker: only the adapter with uid to gets it.
func (b *MemoryBroker) PublishResponse(_ context.Context, to string, m *Message) error {
	_, err := b.send(m, to)
	return err
}

func (b *MemoryBroker) send(m *Message, to string) (string, error) {
	// Each receiver gets a copy of its own, as from a network.
	if _, err := copyMessage(m); err != nil {
		return "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return "", ErrClosed
	}
	offset := ""
	if to == "" && logs(m) {
		b.seq++
		offset = strconv.FormatUint(b.seq, 10)
		c, _ := copyMessage(m)
		b.log = append(b.log, Logged{Message: c, Offset: offset})
		if len(b.log) > MemoryLogSize {
			b.log[0] = Logged{}
			b.log = b.log[1:]
		}
	}
	for s := range b.subs[m.Nsp] {
		if to == "" || s.uid == to {
			c, _ := copyMessage(m)
			s.push(c, offset)
		}
	}
	return offset, nil
}

// logs reports whether a MemoryBroker logs m, as Node's Redis Streams
// adapter puts m in its stream.
func logs(m *Message) bool {
	switch m.Type {
	case Broadcast:
		return m.Data["requestId"] == nil
	case SocketsJoin, SocketsLeave, DisconnectSockets:
		return true
	}
	return false
}

// Subscribers is the number of subscriptions to nsp: the nodes of the
// namespace, as PUBSUB NUMSUB counts a Redis channel's. For a broker that
// counts its nodes (NodeCounter) in tests.
func (b *MemoryBroker) Subscribers(nsp string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs[nsp])
}

// SaveSession implements SessionStore.
func (b *MemoryBroker) SaveSession(_ context.Context, _ string, s *server.PersistedSession, ttl time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	for pid, ms := range b.sessions {
		if now.After(ms.expires) {
			delete(b.sessions, pid)
		}
	}
	b.sessions[s.PID] = memorySession{s: *s, expires: now.Add(ttl)}
	return nil
}

// RestoreSession implements SessionStore.
func (b *MemoryBroker) RestoreSession(_ context.Context, _, pid, offset string) (*server.PersistedSession, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ms, ok := b.sessions[pid]
	delete(b.sessions, pid)
	if !ok || time.Now().After(ms.expires) || b.find(offset) < 0 {
		return nil, nil
	}
	s := ms.s
	return &s, nil
}

// find is the index of offset in the log, or -1; b.mu is held.
func (b *MemoryBroker) find(offset string) int {
	return slices.IndexFunc(b.log, func(l Logged) bool { return l.Offset == offset })
}

// ReadLog implements Log.
func (b *MemoryBroker) ReadLog(_ context.Context, nsp, after string, limit int) ([]Logged, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.find(after)
	if i < 0 {
		// Trimmed: the log goes on from its oldest message.
		for i = -1; i+1 < len(b.log) && b.Before(b.log[i+1].Offset, after); i++ {
		}
	}
	var out []Logged
	for _, l := range b.log[i+1:] {
		if len(out) == limit {
			break
		}
		if l.Message.Nsp == nsp {
			c, _ := copyMessage(l.Message)
			out = append(out, Logged{Message: c, Offset: l.Offset})
		}
	}
	return out, nil
}

// Before implements Log: offsets are decimal sequence numbers.
func (b *MemoryBroker) Before(x, y string) bool {
	nx, _ := strconv.ParseUint(x, 10, 64)
	ny, _ := strconv.ParseUint(y, 10, 64)
	return nx < ny
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
