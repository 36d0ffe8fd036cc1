package server

import (
	"context"
	"slices"
	"sync"
	"time"
)

// BroadcastOperator is a broadcast being described: rooms, exceptions and
// flags, then an action. Each method returns a new operator; an operator
// can be kept and reused.
//
//	srv.To("room1").Except("room2").Emit("news", item)
type BroadcastOperator struct {
	nsp    *Namespace
	rooms  []string
	except []string
	flags  BroadcastFlags
}

func (b *BroadcastOperator) clone() *BroadcastOperator {
	c := *b
	c.rooms = slices.Clone(b.rooms)
	c.except = slices.Clone(b.except)
	return &c
}

// To adds rooms to the recipients.
func (b *BroadcastOperator) To(rooms ...string) *BroadcastOperator {
	c := b.clone()
	c.rooms = append(c.rooms, rooms...)
	return c
}

// In is To.
func (b *BroadcastOperator) In(rooms ...string) *BroadcastOperator { return b.To(rooms...) }

// Except excludes the sockets of rooms.
func (b *BroadcastOperator) Except(rooms ...string) *BroadcastOperator {
	c := b.clone()
	c.except = append(c.except, rooms...)
	return c
}

// Local keeps the broadcast on this node.
func (b *BroadcastOperator) Local() *BroadcastOperator {
	c := b.clone()
	c.flags.Local = true
	return c
}

// Volatile drops the event for clients that cannot take it at once.
func (b *BroadcastOperator) Volatile() *BroadcastOperator {
	c := b.clone()
	c.flags.Volatile = true
	return c
}

// Compress sets whether the event may be compressed (default true).
func (b *BroadcastOperator) Compress(on bool) *BroadcastOperator {
	c := b.clone()
	c.flags.NoCompress = !on
	return c
}

// Timeout bounds EmitWithAck's wait for acknowledgements.
func (b *BroadcastOperator) Timeout(d time.Duration) *BroadcastOperator {
	c := b.clone()
	c.flags.Timeout = d
	return c
}

func (b *BroadcastOperator) observe() {
	// A removed namespace's series stay removed (a disconnect handler may
	// broadcast in it after).
	if o := b.nsp.srv.opts.Observer; o != nil && !b.nsp.removed.Load() {
		o.Broadcast(b.nsp.name)
	}
}

func (b *BroadcastOperator) opts() BroadcastOptions {
	return BroadcastOptions{Rooms: b.rooms, Except: b.except, Flags: b.flags}
}

// Emit sends an event to every selected socket.
func (b *BroadcastOperator) Emit(event string, args ...any) error {
	b.observe()
	p := &Packet{Type: PacketEvent, Nsp: b.nsp.name, Data: eventData(event, args)}
	return b.nsp.adapter.Broadcast(p, b.opts())
}

// EmitWithAck sends an event to every selected socket and waits for all
// their acknowledgements, until the operator's Timeout or ctx ends. It
// returns the first argument of each answer (AcksAs decodes them); when
// the wait ends first, the answers that came, and an error matching
// ErrAckTimeout at a deadline (the Timeout's or ctx's), else
// context.Canceled with ctx's cause.
func (b *BroadcastOperator) EmitWithAck(ctx context.Context, event string, args ...any) ([]any, error) {
	if b.flags.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.flags.Timeout)
		defer cancel()
	}
	b.observe()
	servers, err := b.nsp.adapter.ServerCount(ctx)
	if err != nil {
		return nil, err
	}
	var (
		mu        sync.Mutex
		expected  int
		reported  int
		responses []any
		done      = make(chan struct{})
		closed    bool
	)
	check := func() {
		if !closed && reported >= servers && len(responses) >= expected {
			closed = true
			close(done)
		}
	}
	p := &Packet{Type: PacketEvent, Nsp: b.nsp.name, Data: eventData(event, args)}
	err = b.nsp.adapter.BroadcastWithAck(p, b.opts(), func(n int) {
		mu.Lock()
		expected += n
		reported++
		check()
		mu.Unlock()
	}, func(a []any) {
		mu.Lock()
		var first any
		if len(a) > 0 {
			first = a[0]
		}
		responses = append(responses, first)
		check()
		mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	select {
	case <-done:
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(responses), nil
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		closed = true
		return slices.Clone(responses), waitError(ctx)
	}
}

// FetchSockets returns the selected sockets, on every node.
func (b *BroadcastOperator) FetchSockets(ctx context.Context) ([]*RemoteSocket, error) {
	out, err := b.nsp.adapter.FetchSockets(ctx, b.opts())
	if err != nil && ctx.Err() != nil {
		err = waitError(ctx)
	}
	return out, err
}

// SocketsJoin makes the selected sockets join rooms.
func (b *BroadcastOperator) SocketsJoin(rooms ...string) error {
	return b.nsp.adapter.AddSockets(b.opts(), rooms)
}

// SocketsLeave makes the selected sockets leave rooms.
func (b *BroadcastOperator) SocketsLeave(rooms ...string) error {
	return b.nsp.adapter.DelSockets(b.opts(), rooms)
}

// DisconnectSockets disconnects the selected sockets from their namespace
// (Socket.Disconnect), on every node.
func (b *BroadcastOperator) DisconnectSockets() error {
	return b.nsp.adapter.DisconnectSockets(b.opts(), false)
}

// CloseConnections closes the connections of the selected sockets
// (Socket.CloseConnection), on every node.
func (b *BroadcastOperator) CloseConnections() error {
	return b.nsp.adapter.DisconnectSockets(b.opts(), true)
}
