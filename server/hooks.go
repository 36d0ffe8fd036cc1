package server

import (
	"slices"

	"github.com/siogo/siogo/transports"
)

// Hooks for tools that watch a server they did not configure, such as the
// Admin UI's server side (package admin) or a tracer. Each costs an atomic
// load or less while unused.

// Namespaces returns the server's namespaces, dynamic ones included.
func (s *Server) Namespaces() []*Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Namespace, 0, len(s.nsps))
	for _, n := range s.nsps {
		out = append(out, n)
	}
	return out
}

// Namespace returns the namespace called name, or nil; unlike Of it never
// creates one.
func (s *Server) Namespace(name string) *Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nsps[name]
}

// OnNewNamespace adds a handler called with each namespace created from now
// on, static or dynamic (Node's "new_namespace" event). It runs before any
// socket joins the namespace.
func (s *Server) OnNewNamespace(h func(*Namespace)) {
	s.mu.Lock()
	s.newNsp = append(slices.Clip(s.newNsp), h)
	s.mu.Unlock()
}

// AddEngineObserver adds an observer of the Engine.IO layer beside
// Options.Engine.Observer, for a tool attached after New: it is told of
// the sessions opened, upgraded and closed and of the packets in and out
// from then on. Its methods run on hot paths: they must be quick.
func (s *Server) AddEngineObserver(o transports.Observer) {
	for {
		old := s.engineObservers.Load()
		var next []transports.Observer
		if old != nil {
			next = slices.Clone(*old)
		}
		next = append(next, o)
		if s.engineObservers.CompareAndSwap(old, &next) {
			return
		}
	}
}

// engineFanout is the engine's observer: the user's, then the added ones.
type engineFanout struct {
	user transports.Observer
	srv  *Server
}

func (f engineFanout) each(fn func(transports.Observer)) {
	if f.user != nil {
		fn(f.user)
	}
	if added := f.srv.engineObservers.Load(); added != nil {
		for _, o := range *added {
			fn(o)
		}
	}
}

func (f engineFanout) SessionOpened(transport string, protocol int) {
	f.each(func(o transports.Observer) { o.SessionOpened(transport, protocol) })
}

func (f engineFanout) SessionUpgraded(protocol int) {
	f.each(func(o transports.Observer) { o.SessionUpgraded(protocol) })
}

func (f engineFanout) SessionClosed(transport string, protocol int, reason string) {
	f.each(func(o transports.Observer) { o.SessionClosed(transport, protocol, reason) })
}

func (f engineFanout) HandshakeRefused(code transports.ErrorCode) {
	f.each(func(o transports.Observer) { o.HandshakeRefused(code) })
}

func (f engineFanout) PacketsIn(packets, bytes int) {
	f.each(func(o transports.Observer) { o.PacketsIn(packets, bytes) })
}

func (f engineFanout) PacketsOut(packets, bytes int) {
	f.each(func(o transports.Observer) { o.PacketsOut(packets, bytes) })
}

// roomHooks are a namespace's room and data handlers, replaced whole when
// one is added, so that the adapter and sockets read them without a lock.
type roomHooks struct {
	join, leave []func(room, id string)
	data        []func(s *Socket, data any)
}

// OnRoomJoin adds a handler called when a socket of this node joins a room
// it was not in, its own room included (the "join-room" event of Node's
// adapter). It runs after the room index is updated, outside its locks.
func (n *Namespace) OnRoomJoin(h func(room, id string)) {
	n.addRoomHook(func(r *roomHooks) { r.join = append(r.join, h) })
}

// OnRoomLeave adds a handler called when a socket of this node leaves a
// room it was in, on a disconnection too (Node's "leave-room").
func (n *Namespace) OnRoomLeave(h func(room, id string)) {
	n.addRoomHook(func(r *roomHooks) { r.leave = append(r.leave, h) })
}

func (n *Namespace) addRoomHook(add func(*roomHooks)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	next := &roomHooks{}
	if old := n.roomHooks.Load(); old != nil {
		next.join = slices.Clone(old.join)
		next.leave = slices.Clone(old.leave)
		next.data = slices.Clone(old.data)
	}
	add(next)
	n.roomHooks.Store(next)
}

// OnSocketData adds a handler called after SetData on a socket of this
// namespace, with the new value (Node's admin watches socket.data through
// a Proxy). Changes inside a value already set are not seen.
func (n *Namespace) OnSocketData(h func(s *Socket, data any)) {
	n.addRoomHook(func(r *roomHooks) { r.data = append(r.data, h) })
}

// roomEvents reports the joins (or leaves) of socket id to the hooks.
func (n *Namespace) roomEvents(id string, rooms []string, join bool) {
	h := n.roomHooks.Load()
	if h == nil {
		return
	}
	hs := h.leave
	if join {
		hs = h.join
	}
	for _, r := range rooms {
		for _, f := range hs {
			f(r, id)
		}
	}
}

// What layers built on this package need from a socket beyond Node's API,
// such as compat/googollee, whose connections are Engine.IO sessions and
// whose emits take their acknowledgement callback in line.

// Session is the Engine.IO session that carries the socket: its id, the
// handshake's address, header and URL, and Close for the whole connection.
func (s *Socket) Session() *transports.Session { return s.client.conn }

// EmitFunc sends an event and returns at once; f is called with the
// client's acknowledgement, or with an error matching ErrSocketClosed (a
// *DisconnectError) at once if the socket disconnects first. f runs on the connection's receiving goroutine: it
// must not block.
func (s *Socket) EmitFunc(f func(args []any, err error), event string, args ...any) error {
	id := s.nsp.nextAckID()
	if !s.registerAck(id, f) {
		return s.closedErr()
	}
	err := s.emit(&Packet{Type: PacketEvent, Nsp: s.nsp.name, ID: id, HasID: true, Data: eventData(event, args)}, false, false)
	if err != nil {
		s.takeAck(id)
	}
	return err
}
