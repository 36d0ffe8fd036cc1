package server

import (
	"context"
	"slices"
	"sync"
	"time"
)

// BroadcastFlags modify a broadcast.
type BroadcastFlags struct {
	// Volatile drops the event for clients whose transport cannot take it
	// at once.
	Volatile bool
	// Local keeps the broadcast on this node.
	Local bool
	// NoCompress asks that the event not be compressed.
	NoCompress bool
	// Timeout bounds the wait for acknowledgements.
	Timeout time.Duration
}

// BroadcastOptions select the recipients of a broadcast: the sockets in any
// of Rooms (every socket when empty), but none in a room of Except.
type BroadcastOptions struct {
	Rooms  []string
	Except []string
	Flags  BroadcastFlags
	// SocketEmit marks a socket's own Emit with connection state recovery
	// on (Rooms is the socket's id, Flags.Local is set). Node routes it
	// through the adapter as a broadcast; an adapter whose offsets are
	// cluster-wide (the Redis Streams one) publishes it, as Node's does, so
	// that another node can replay it; the others keep it local.
	SocketEmit bool
}

// Adapter decides who receives a broadcast, on this node or across nodes.
// The in-memory MemoryAdapter serves one node; a cluster adapter (Redis)
// embeds it for local delivery and forwards the rest.
type Adapter interface {
	// The local room index.
	AddAll(id string, rooms ...string)
	Del(id, room string)
	DelAll(id string)
	SocketRooms(id string) []string
	Rooms() []string
	// Sockets returns the ids of local sockets in rooms (all when none).
	Sockets(rooms ...string) []string

	// Broadcast sends p to the sockets opts selects.
	Broadcast(p *Packet, opts BroadcastOptions) error
	// BroadcastWithAck sends p with an acknowledgement id. clientCount is
	// called once per node with the number of sockets reached there; ack
	// once per answer, with the client's arguments.
	BroadcastWithAck(p *Packet, opts BroadcastOptions, clientCount func(n int), ack func(args []any)) error

	// The cluster calls.
	FetchSockets(ctx context.Context, opts BroadcastOptions) ([]*RemoteSocket, error)
	AddSockets(opts BroadcastOptions, rooms []string) error
	DelSockets(opts BroadcastOptions, rooms []string) error
	DisconnectSockets(opts BroadcastOptions, close bool) error
	// ServerSideEmit sends [event, args...] to the other nodes; with ack
	// non-nil it waits for their answers (each node's, as a slice) or ctx.
	ServerSideEmit(ctx context.Context, packet []any, ack func(responses []any)) error
	// ServerCount is the number of nodes, this one included.
	ServerCount(ctx context.Context) (int, error)

	// PersistSession keeps a disconnected socket's state for recovery.
	PersistSession(s *PersistedSession)
	// RestoreSession returns the state kept under pid, with the events
	// broadcast after offset that the socket would have received, or nil
	// when it expired or the offset is unknown.
	RestoreSession(pid, offset string) (*PersistedSession, error)

	Close() error
}

// RemoteSocket is a socket as FetchSockets sees it, on this node or
// another; its methods act on it wherever it is.
type RemoteSocket struct {
	ID        string
	Handshake Handshake
	Rooms     []string
	Data      any

	nsp *Namespace
}

// Emit sends an event to the socket.
func (r *RemoteSocket) Emit(event string, args ...any) error {
	return r.nsp.To(r.ID).Emit(event, args...)
}

// Join makes the socket join rooms.
func (r *RemoteSocket) Join(rooms ...string) error { return r.nsp.In(r.ID).SocketsJoin(rooms...) }

// Leave makes the socket leave rooms.
func (r *RemoteSocket) Leave(rooms ...string) error { return r.nsp.In(r.ID).SocketsLeave(rooms...) }

// Disconnect disconnects the socket from its namespace
// (Socket.Disconnect).
func (r *RemoteSocket) Disconnect() error { return r.nsp.In(r.ID).DisconnectSockets() }

// CloseConnection closes the socket's connection (Socket.CloseConnection).
func (r *RemoteSocket) CloseConnection() error { return r.nsp.In(r.ID).CloseConnections() }

// MemoryAdapter is the in-memory adapter: the room index of one node.
//
// A socket's own room (its id) is not stored in the room table: it always
// holds that one socket, and a map per socket for it would be most of an
// idle socket's memory. It is derived from the socket table instead.
type MemoryAdapter struct {
	nsp *Namespace

	mu    sync.RWMutex
	rooms map[string]map[string]struct{} // room -> socket ids, own rooms left out
	sids  map[string][]string            // socket id -> its rooms, its own included

	recovery recoveryStore
}

// NewMemoryAdapter returns the in-memory adapter of nsp.
func NewMemoryAdapter(nsp *Namespace) *MemoryAdapter {
	return &MemoryAdapter{
		nsp:   nsp,
		rooms: map[string]map[string]struct{}{},
		sids:  map[string][]string{},
	}
}

// Namespace is the adapter's namespace.
func (a *MemoryAdapter) Namespace() *Namespace { return a.nsp }

// AddAll implements Adapter.
func (a *MemoryAdapter) AddAll(id string, rooms ...string) {
	hooked := a.nsp != nil && a.nsp.roomHooks.Load() != nil
	var joined []string
	a.mu.Lock()
	mine, known := a.sids[id]
	for _, r := range rooms {
		if slices.Contains(mine, r) {
			continue
		}
		mine = append(mine, r)
		if hooked {
			joined = append(joined, r)
		}
		if r == id {
			continue
		}
		members := a.rooms[r]
		if members == nil {
			members = map[string]struct{}{}
			a.rooms[r] = members
		}
		members[id] = struct{}{}
	}
	if len(mine) > 0 || known {
		a.sids[id] = slices.Clip(mine)
	}
	a.mu.Unlock()
	if len(joined) > 0 {
		a.nsp.roomEvents(id, joined, true)
	}
}

// Del implements Adapter.
func (a *MemoryAdapter) Del(id, room string) {
	a.mu.Lock()
	left := false
	if mine, ok := a.sids[id]; ok {
		left = slices.Contains(mine, room)
		a.sids[id] = slices.DeleteFunc(mine, func(r string) bool { return r == room })
	}
	a.delMember(room, id)
	a.mu.Unlock()
	if left && a.nsp != nil {
		a.nsp.roomEvents(id, []string{room}, false)
	}
}

func (a *MemoryAdapter) delMember(room, id string) {
	if members, ok := a.rooms[room]; ok {
		delete(members, id)
		if len(members) == 0 {
			delete(a.rooms, room)
		}
	}
}

// DelAll implements Adapter.
func (a *MemoryAdapter) DelAll(id string) {
	a.mu.Lock()
	mine := a.sids[id]
	for _, r := range mine {
		a.delMember(r, id)
	}
	delete(a.sids, id)
	a.mu.Unlock()
	if len(mine) > 0 && a.nsp != nil {
		a.nsp.roomEvents(id, mine, false)
	}
}

// SocketRooms implements Adapter.
func (a *MemoryAdapter) SocketRooms(id string) []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return slices.Clone(a.sids[id])
}

// Rooms implements Adapter: every room with a local socket, the sockets'
// own rooms included.
func (a *MemoryAdapter) Rooms() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]string, 0, len(a.rooms)+len(a.sids))
	for r := range a.rooms {
		out = append(out, r)
	}
	for id, mine := range a.sids {
		if slices.Contains(mine, id) {
			out = append(out, id)
		}
	}
	return out
}

// Sockets implements Adapter.
func (a *MemoryAdapter) Sockets(rooms ...string) []string {
	var out []string
	a.each(BroadcastOptions{Rooms: rooms}, func(s *Socket) { out = append(out, s.id) })
	return out
}

var targetPool = sync.Pool{New: func() any { s := make([]*Socket, 0, 64); return &s }}

// ownRoom reports whether room is the own room of a socket here. a.mu is
// held.
func (a *MemoryAdapter) ownRoom(room string) bool {
	mine, ok := a.sids[room]
	return ok && slices.Contains(mine, room)
}

// each calls fn for every local socket opts selects. The room index is read
// under a short lock; fn runs after it is released, so that no lock is held
// while writing to connections.
func (a *MemoryAdapter) each(opts BroadcastOptions, fn func(*Socket)) {
	tp := targetPool.Get().(*[]*Socket)
	targets := (*tp)[:0]
	a.mu.RLock()
	var except map[string]struct{}
	if len(opts.Except) > 0 {
		except = map[string]struct{}{}
		for _, r := range opts.Except {
			for id := range a.rooms[r] {
				except[id] = struct{}{}
			}
			if a.ownRoom(r) {
				except[r] = struct{}{}
			}
		}
	}
	a.nsp.mu.RLock()
	add := func(id string) {
		if _, skip := except[id]; skip {
			return
		}
		if s := a.nsp.sockets[id]; s != nil {
			targets = append(targets, s)
		}
	}
	members := func(r string, visit func(string)) {
		for id := range a.rooms[r] {
			visit(id)
		}
		if a.ownRoom(r) {
			visit(r)
		}
	}
	switch len(opts.Rooms) {
	case 0:
		for id := range a.sids {
			add(id)
		}
	case 1:
		members(opts.Rooms[0], add)
	default:
		seen := map[string]struct{}{}
		for _, r := range opts.Rooms {
			members(r, func(id string) {
				if _, dup := seen[id]; !dup {
					seen[id] = struct{}{}
					add(id)
				}
			})
		}
	}
	a.nsp.mu.RUnlock()
	a.mu.RUnlock()
	for i, s := range targets {
		fn(s)
		targets[i] = nil
	}
	*tp = targets[:0]
	targetPool.Put(tp)
}

// Broadcast implements Adapter: p is encoded once, and the same bytes go
// to every recipient. With recovery on, an event without ack is numbered
// and kept for the sockets that will come back.
func (a *MemoryAdapter) Broadcast(p *Packet, opts BroadcastOptions) error {
	if r := a.nsp.srv.opts.Recovery; r != nil && p.Type == PacketEvent && !p.HasID && !opts.Flags.Volatile {
		p = a.recovery.record(p, opts, r)
	}
	return a.Deliver(p, opts)
}

// Deliver sends p to the local sockets opts selects, encoded once, and
// keeps nothing for recovery: for adapters that number events themselves.
func (a *MemoryAdapter) Deliver(p *Packet, opts BroadcastOptions) error {
	pkts, err := a.nsp.srv.parser.Encode(p)
	if err != nil {
		return err
	}
	a.each(opts, func(s *Socket) {
		s.notifyOutgoing(p)
		_ = s.client.send(pkts, opts.Flags.Volatile, opts.Flags.NoCompress)
	})
	return nil
}

// BroadcastWithAck implements Adapter.
func (a *MemoryAdapter) BroadcastWithAck(p *Packet, opts BroadcastOptions, clientCount func(int), ack func([]any)) error {
	p.ID, p.HasID = a.nsp.nextAckID(), true
	pkts, err := a.nsp.srv.parser.Encode(p)
	if err != nil {
		return err
	}
	n := 0
	a.each(opts, func(s *Socket) {
		if !s.registerAck(p.ID, func(args []any, err error) {
			if err == nil {
				ack(args)
			}
		}) {
			return
		}
		s.notifyOutgoing(p)
		if s.client.send(pkts, opts.Flags.Volatile, opts.Flags.NoCompress) == nil {
			n++
		} else {
			s.takeAck(p.ID)
		}
	})
	clientCount(n)
	return nil
}

// FetchSockets implements Adapter.
func (a *MemoryAdapter) FetchSockets(_ context.Context, opts BroadcastOptions) ([]*RemoteSocket, error) {
	var out []*RemoteSocket
	a.each(opts, func(s *Socket) {
		out = append(out, a.RemoteSocket(s.id, s.Handshake(), s.Rooms(), s.Data()))
	})
	return out, nil
}

// AddSockets implements Adapter.
func (a *MemoryAdapter) AddSockets(opts BroadcastOptions, rooms []string) error {
	a.each(opts, func(s *Socket) { s.Join(rooms...) })
	return nil
}

// DelSockets implements Adapter.
func (a *MemoryAdapter) DelSockets(opts BroadcastOptions, rooms []string) error {
	a.each(opts, func(s *Socket) {
		for _, r := range rooms {
			s.Leave(r)
		}
	})
	return nil
}

// DisconnectSockets implements Adapter.
func (a *MemoryAdapter) DisconnectSockets(opts BroadcastOptions, close bool) error {
	a.each(opts, func(s *Socket) {
		if close {
			s.CloseConnection()
		} else {
			s.Disconnect()
		}
	})
	return nil
}

// ServerSideEmit implements Adapter: one node has no other to tell.
func (a *MemoryAdapter) ServerSideEmit(_ context.Context, _ []any, ack func([]any)) error {
	if ack != nil {
		ack(nil)
	}
	return nil
}

// ServerCount implements Adapter.
func (a *MemoryAdapter) ServerCount(context.Context) (int, error) { return 1, nil }

// Close implements Adapter.
func (a *MemoryAdapter) Close() error { return nil }

// What adapters built on MemoryAdapter need from the namespace beyond the
// Adapter interface: the seam between the server and a cluster adapter
// (package adapters/cluster), kept on the adapter so that the user's
// Namespace, Socket and Server carry none of it.

// RemoteSocket describes a socket of the adapter's namespace as another
// node answered it; its methods act on it through the cluster.
func (a *MemoryAdapter) RemoteSocket(id string, hs Handshake, rooms []string, data any) *RemoteSocket {
	return &RemoteSocket{ID: id, Handshake: hs, Rooms: rooms, Data: data, nsp: a.nsp}
}

// ServerSideEvent runs the namespace's OnServerSideEmit handlers for an
// event another node sent: packet is [event, args...]; ack is nil unless
// that node waits for an answer.
func (a *MemoryAdapter) ServerSideEvent(packet []any, ack Ack) {
	if len(packet) == 0 {
		return
	}
	event, _ := packet[0].(string)
	for _, h := range a.nsp.serverSideHandlers(event) {
		h(packet[1:], ack)
	}
}

// Session is what connection state recovery would keep now of the local
// socket id, or nil: for adapters that keep sessions while sockets are
// connected, so that they survive the node.
func (a *MemoryAdapter) Session(id string) *PersistedSession {
	s := a.nsp.Socket(id)
	if s == nil {
		return nil
	}
	return &PersistedSession{SID: s.id, PID: s.pid, Rooms: s.Rooms(), Data: s.Data()}
}

// Recovery is the server's connection state recovery options, defaults
// filled in, or nil when recovery is off.
func (a *MemoryAdapter) Recovery() *RecoveryOptions {
	if a.nsp.srv.opts.Recovery == nil {
		return nil
	}
	r := *a.nsp.srv.opts.Recovery
	return &r
}
