package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

type handlerEntry struct {
	event string
	h     Handler
	once  bool
	mode  HandlerMode
	id    uint64
}

// Socket is a client's presence in one namespace.
//
// The handlers of a socket's events start in the order the client sent the
// events, off the event loop (over WebSocket on the worker that read the
// event, otherwise on a goroutine that exists while there is work). A
// Serial handler (the default) runs alone: the socket's next events wait
// for it; a Concurrent one runs on a goroutine of its own and holds up
// nothing (see HandlerMode). Acknowledgements and the disconnection are
// received apart, so EmitWithAck may wait inside any handler: a client
// that disconnects ends the wait at once with ErrSocketClosed.
type Socket struct {
	id  string
	pid string // the private id of connection state recovery
	// restored is the persisted session a recovered socket takes its
	// rooms and missed events from at its CONNECT; nil after.
	restored *PersistedSession
	nsp      *Namespace
	client   *client
	// The handshake's time and auth; the rest of Handshake is the
	// session's, read when asked.
	connectedAt time.Time
	auth        map[string]any
	queue       serialQueue

	mu        sync.Mutex
	recovered bool
	connected bool
	ready     bool // the connection handlers have run
	closing   bool // the disconnection began
	// end is made at the first call of Context or at the disconnection:
	// an idle socket's memory decides how many a machine holds.
	end  *socketEnd
	data any
	// handlers is a slice, not a map: a socket has a handful, and an idle
	// connection's memory is what decides how many a machine holds.
	handlers    []handlerEntry
	handlerSeq  uint64
	anyHandlers []AnyHandler
	// anyOutgoing is read on every broadcast delivery: a pointer loaded
	// without the socket's lock (nil, the common case, costs one load),
	// replaced whole under s.mu when a handler is added.
	anyOutgoing     atomic.Pointer[[]AnyHandler]
	onDisconnecting []func(reason string)
	onDisconnect    []func(reason string)
	onError         []func(err error)
	acks            map[uint64]func(args []any, err error)
}

func newSocket(n *Namespace, c *client, auth map[string]any) *Socket {
	id := newSocketID()
	if c.conn.Protocol() == 3 {
		// socket.io-client 2 derives its socket id from the Engine.IO id,
		// and so does Node for these clients.
		id = c.conn.ID()
		if n.name != "/" {
			id = n.name + "#" + id
		}
	}
	s := &Socket{
		id:          id,
		nsp:         n,
		client:      c,
		connectedAt: time.Now(),
		auth:        auth,
	}
	if n.srv.opts.Recovery != nil {
		s.pid = newSocketID()
	}
	s.queue.owner = s
	return s
}

// overflow cuts a client whose handlers cannot keep up with its events.
func (s *Socket) overflow() {
	s.nsp.srv.log.Warn("socket.io socket too slow for its events, disconnecting", "id", s.id)
	go s.client.close()
}

// ID is the socket's id, its own and not the Engine.IO session's.
func (s *Socket) ID() string { return s.id }

// Recovered reports whether the socket is a previous one restored by
// connection state recovery: same id, rooms and data, missed events sent.
func (s *Socket) Recovered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recovered
}

// restore takes the identity and state of a persisted session.
func (s *Socket) restore(ps *PersistedSession) {
	s.id, s.pid = ps.SID, ps.PID
	s.data = ps.Data
	s.recovered = true
	s.restored = ps
}

// Namespace is the socket's namespace.
func (s *Socket) Namespace() *Namespace { return s.nsp }

// Handshake describes the connection. It is made from the Engine.IO
// session at each call (its Query parsed anew): an idle socket keeps only
// the time and the auth.
func (s *Socket) Handshake() Handshake { return handshakeOf(s.client, s.connectedAt, s.auth) }

// Transport is the name of the current transport: polling or websocket.
func (s *Socket) Transport() string { return s.client.conn.Transport() }

// Protocol is the Engine.IO protocol revision of the client, 3 or 4.
func (s *Socket) Protocol() int { return s.client.conn.Protocol() }

// Connected reports whether the socket is still connected.
func (s *Socket) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected
}

// Data returns the value set with SetData (Node's socket.data).
func (s *Socket) Data() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// SetData attaches a value to the socket, visible to FetchSockets.
func (s *Socket) SetData(v any) {
	s.mu.Lock()
	s.data = v
	s.mu.Unlock()
	if h := s.nsp.roomHooks.Load(); h != nil {
		for _, f := range h.data {
			f(s, v)
		}
	}
}

// Join adds the socket to rooms. Once the socket has left its rooms at its
// disconnection it joins none, as in Node.
func (s *Socket) Join(rooms ...string) {
	s.nsp.adapter.AddAll(s.id, rooms...)
	// A handler still running may join after the disconnection took the
	// socket out of its rooms (finishClose marks it disconnected, then
	// leaves them all): take it out again.
	s.mu.Lock()
	gone := s.closing && !s.connected
	s.mu.Unlock()
	if gone {
		s.nsp.adapter.DelAll(s.id)
	}
}

// Leave removes the socket from a room.
func (s *Socket) Leave(room string) { s.nsp.adapter.Del(s.id, room) }

// Rooms lists the socket's rooms, its own id included.
func (s *Socket) Rooms() []string { return s.nsp.adapter.SocketRooms(s.id) }

// On adds a handler for an event; opts may give its HandlerMode. It
// returns a function that removes it.
func (s *Socket) On(event string, h Handler, opts ...HandlerOption) (off func()) {
	return s.on(event, h, false, opts)
}

// Once adds a handler removed after its first call.
func (s *Socket) Once(event string, h Handler, opts ...HandlerOption) (off func()) {
	return s.on(event, h, true, opts)
}

// OnEvent adds a SocketHandler for an event of this socket alone, such as
// one made by Typed; Namespace.OnEvent adds one for every socket.
func (s *Socket) OnEvent(event string, h SocketHandler, opts ...HandlerOption) (off func()) {
	return s.on(event, func(args []any, ack Ack) { h(s, args, ack) }, false, opts)
}

func (s *Socket) on(event string, h Handler, once bool, opts []HandlerOption) func() {
	mode := handlerModeOf(opts)
	s.mu.Lock()
	s.handlerSeq++
	id := s.handlerSeq
	s.handlers = append(s.handlers, handlerEntry{event: event, h: h, once: once, mode: mode, id: id})
	s.mu.Unlock()
	return func() { s.removeHandler(event, id) }
}

func (s *Socket) removeHandler(event string, id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers = slices.DeleteFunc(s.handlers, func(e handlerEntry) bool { return e.id == id })
}

// Off removes every handler of an event.
func (s *Socket) Off(event string) {
	s.mu.Lock()
	s.handlers = slices.DeleteFunc(s.handlers, func(e handlerEntry) bool { return e.event == event })
	s.mu.Unlock()
}

// OnAny adds a handler that sees every incoming event, before its own
// handlers.
func (s *Socket) OnAny(h AnyHandler) {
	s.mu.Lock()
	s.anyHandlers = append(s.anyHandlers, h)
	s.mu.Unlock()
}

// OffAny removes every catch-all handler.
func (s *Socket) OffAny() {
	s.mu.Lock()
	s.anyHandlers = nil
	s.mu.Unlock()
}

// OnAnyOutgoing adds a handler that sees every event emitted to this
// socket alone.
func (s *Socket) OnAnyOutgoing(h AnyHandler) {
	s.mu.Lock()
	var hs []AnyHandler
	if old := s.anyOutgoing.Load(); old != nil {
		hs = append(hs, *old...)
	}
	hs = append(hs, h)
	s.anyOutgoing.Store(&hs)
	s.mu.Unlock()
}

// OnDisconnecting adds a handler called when the socket is about to
// disconnect; its rooms are still set.
func (s *Socket) OnDisconnecting(h func(reason string)) {
	s.mu.Lock()
	s.onDisconnecting = append(s.onDisconnecting, h)
	s.mu.Unlock()
}

// OnDisconnect adds a handler called once the socket disconnected, with
// the reason (the Reason constants here and in package transports).
func (s *Socket) OnDisconnect(h func(reason string)) {
	s.mu.Lock()
	s.onDisconnect = append(s.onDisconnect, h)
	s.mu.Unlock()
}

// OnError adds a handler for errors of the socket: an invalid packet from
// its client (the connection then closes, as in Node), or a panic of one
// of its handlers (a *PanicError; the socket stays).
func (s *Socket) OnError(h func(err error)) {
	s.mu.Lock()
	s.onError = append(s.onError, h)
	s.mu.Unlock()
}

// Emit sends an event to this socket's client. Arguments are any JSON
// values; []byte anywhere in []any, map[string]any or at the top level
// travels as binary.
func (s *Socket) Emit(event string, args ...any) error {
	p := &Packet{Type: PacketEvent, Nsp: s.nsp.name, Data: eventData(event, args)}
	if s.nsp.srv.opts.Recovery != nil {
		// Through the adapter, so that the event is numbered and kept for
		// a reconnection, as Node does; Local, since the socket is here.
		if !s.Connected() {
			return ErrSocketClosed
		}
		return s.nsp.adapter.Broadcast(p, BroadcastOptions{Rooms: []string{s.id}, Flags: BroadcastFlags{Local: true}, SocketEmit: true})
	}
	return s.emit(p, false, false)
}

func eventData(event string, args []any) []any {
	data := make([]any, 0, 1+len(args))
	data = append(data, event)
	return append(data, args...)
}

func (s *Socket) emit(p *Packet, volatile, noCompress bool) error {
	if !s.Connected() {
		return ErrSocketClosed
	}
	s.notifyOutgoing(p)
	return s.client.sendPacket(p, volatile, noCompress)
}

// EmitWithAck sends an event and waits for the client's acknowledgement,
// returning its arguments. When ctx ends first the error matches
// ErrAckTimeout at its deadline, else context.Canceled and ctx's cause;
// when the socket disconnects first (the client left, or the server cut
// it), at once, it matches ErrSocketClosed and is a *DisconnectError.
//
//	ctx, cancel := context.WithTimeout(s.Context(), 5*time.Second)
//	defer cancel()
//	answer, err := s.EmitWithAck(ctx, "confirm", order)
//
// AckAs decodes the answer into a Go type.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) ([]any, error) {
	id := s.nsp.nextAckID()
	ch := make(chan ackResult, 1)
	if !s.registerAck(id, func(args []any, err error) { ch <- ackResult{args, err} }) {
		return nil, s.closedErr()
	}
	err := s.emit(&Packet{Type: PacketEvent, Nsp: s.nsp.name, ID: id, HasID: true, Data: eventData(event, args)}, false, false)
	if err != nil {
		s.takeAck(id)
		return nil, err
	}
	// From a handler, the event would wait for the handler's end to leave
	// with what else it writes: it must go now, since the handler waits.
	s.client.conn.Flush()
	select {
	case r := <-ch:
		return r.args, r.err
	case <-ctx.Done():
		s.takeAck(id)
		return nil, waitError(ctx)
	}
}

// waitError is the error of a wait that ctx ended: ErrAckTimeout at its
// deadline, otherwise its error with its cause.
func waitError(ctx context.Context) error {
	err, cause := ctx.Err(), context.Cause(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		if cause != nil && cause != err {
			return fmt.Errorf("%w: %w: %w", ErrAckTimeout, err, cause)
		}
		return fmt.Errorf("%w: %w", ErrAckTimeout, err)
	}
	if cause != nil && cause != err {
		return fmt.Errorf("%w: %w", err, cause)
	}
	return err
}

// Context is the socket's context: it is cancelled when the socket
// disconnects, with a *DisconnectError (the reason) as its cause, so that
// what a handler started for the socket stops with it. In a middleware
// that refuses the socket, it is cancelled with the refusal as cause.
//
//	go func() {
//		<-s.Context().Done()
//		log.Println(context.Cause(s.Context()))
//	}()
func (s *Socket) Context() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.end == nil {
		s.end = &socketEnd{}
	}
	e := s.end
	if e.ctx == nil {
		e.ctx, e.cancel = context.WithCancelCause(context.Background())
		if e.cause != nil {
			e.cancel(e.cause)
		}
	}
	return e.ctx
}

// socketEnd is a socket's context, and why it ended.
type socketEnd struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	cause  error // a *DisconnectError, or a refusal
}

// ending records why the socket ends and returns the function that
// cancels its context, nil if none was made. s.mu is held.
func (s *Socket) ending(cause error) context.CancelCauseFunc {
	if s.end == nil {
		s.end = &socketEnd{}
	}
	s.closing, s.end.cause = true, cause
	return s.end.cancel
}

// DisconnectError is why a socket's wait ended: its disconnection, with
// the reason (a Reason constant here or in package transports). It
// matches ErrSocketClosed.
type DisconnectError struct {
	Reason string
}

func (e *DisconnectError) Error() string { return "socket.io: socket disconnected: " + e.Reason }

// Is reports whether target is ErrSocketClosed.
func (e *DisconnectError) Is(target error) bool { return target == ErrSocketClosed }

// closedErr is the error of an operation on a socket that is gone.
func (s *Socket) closedErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d *DisconnectError
	if s.end != nil && errors.As(s.end.cause, &d) {
		return d
	}
	return ErrSocketClosed
}

type ackResult struct {
	args []any
	err  error
}

// registerAck records the wait for the acknowledgement id; it reports
// false once the socket is disconnecting, when none can come.
func (s *Socket) registerAck(id uint64, f func(args []any, err error)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	if s.acks == nil {
		s.acks = map[uint64]func([]any, error){}
	}
	s.acks[id] = f
	return true
}

func (s *Socket) takeAck(id uint64) func([]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.acks[id]
	delete(s.acks, id)
	return f
}

// Broadcasts from a socket leave the socket itself out.

// To selects rooms for a broadcast that leaves this socket out.
func (s *Socket) To(rooms ...string) *BroadcastOperator {
	return s.nsp.op().Except(s.id).To(rooms...)
}

// In is To.
func (s *Socket) In(rooms ...string) *BroadcastOperator { return s.To(rooms...) }

// Except excludes rooms, and this socket, from a broadcast.
func (s *Socket) Except(rooms ...string) *BroadcastOperator {
	return s.nsp.op().Except(s.id).Except(rooms...)
}

// Broadcast selects every socket of the namespace but this one.
func (s *Socket) Broadcast() *BroadcastOperator { return s.nsp.op().Except(s.id) }

// Disconnect takes the socket out of its namespace: the client gets a
// DISCONNECT packet, and the socket the reason "server namespace
// disconnect". The client's connection stays, with its other namespaces
// (Node's socket.disconnect()).
func (s *Socket) Disconnect() {
	if !s.Connected() {
		return
	}
	_ = s.client.sendPacket(&Packet{Type: PacketDisconnect, Nsp: s.nsp.name}, false, false)
	s.onClose(ReasonServerNamespaceDisconnect)
}

// CloseConnection disconnects every socket of the client's connection,
// this one included, each with a DISCONNECT packet, then closes the
// connection (Node's socket.disconnect(true)).
func (s *Socket) CloseConnection() {
	if !s.Connected() {
		return
	}
	s.client.disconnectAll()
}

// onConnect finishes the connection: own room, CONNECT packet, handlers.
func (s *Socket) onConnect(handlers []func(*Socket)) {
	s.mu.Lock()
	s.connected = true
	s.mu.Unlock()
	if o := s.nsp.srv.opts.Observer; o != nil {
		o.SocketConnected(s.nsp.name)
	}
	// A recovered socket's missed events go first, as in Node; the client
	// holds them until its CONNECT.
	sendMissed := func(missed [][]any) {
		for _, data := range missed {
			_ = s.client.sendPacket(&Packet{Type: PacketEvent, Nsp: s.nsp.name, Data: data}, false, false)
		}
	}
	ps := s.restored
	s.restored = nil
	if r, ok := s.nsp.adapter.(SessionResumer); ok && ps != nil {
		r.ResumeSession(ps, func(missed [][]any) {
			s.Join(s.id)
			s.Join(ps.Rooms...)
			sendMissed(missed)
		})
	} else {
		s.Join(s.id)
		if ps != nil {
			if len(ps.Rooms) > 0 {
				s.Join(ps.Rooms...)
			}
			sendMissed(ps.MissedPackets)
		}
	}
	p := &Packet{Type: PacketConnect, Nsp: s.nsp.name}
	if s.client.conn.Protocol() != 3 {
		data := map[string]any{"sid": s.id}
		if s.pid != "" {
			data["pid"] = s.pid
		}
		p.Data = data
	}
	_ = s.client.sendPacket(p, false, false)
	s.queue.push(func() {
		for _, h := range handlers {
			s.call("connect", nil, func() { h(s) })
		}
		s.mu.Lock()
		s.ready = true
		s.mu.Unlock()
	})
}

func (s *Socket) onPacket(p *Packet) {
	switch p.Type {
	case PacketEvent, PacketBinaryEvent:
		var st *ackState
		if p.HasID {
			st = &ackState{s: s, id: p.ID}
		}
		args, _ := p.Data.([]any)
		s.queue.pushMsg(func() { s.dispatch(args, st) })
	case PacketAck, PacketBinaryAck:
		if f := s.takeAck(p.ID); f != nil {
			args, _ := p.Data.([]any)
			f(args, nil)
		}
	case PacketDisconnect:
		// At once, as Node's onclose: the waits for acknowledgements end,
		// the context is cancelled, the socket leaves its rooms, and the
		// namespace is free for a new CONNECT, whatever a handler is
		// doing. The events queued before still reach their handlers.
		s.client.detach(s)
		s.onClose(ReasonClientNamespaceDisconnect)
	}
}

// reportError gives err to the OnError handlers; before the connection
// handlers ran (they run on the queue), after them, so that the handlers
// they add see it, as in Node where they run first.
func (s *Socket) reportError(err error) {
	s.mu.Lock()
	ready := s.ready
	s.mu.Unlock()
	if !ready {
		s.queue.pushAlways(func() { s.emitError(err) })
		return
	}
	s.emitError(err)
}

func (s *Socket) emitError(err error) {
	s.mu.Lock()
	hs := s.onError
	s.mu.Unlock()
	for _, h := range hs {
		h(err)
	}
}

// onClose disconnects the socket for reason. At once, whatever its
// handlers do: the waits for its acknowledgements fail and its context is
// cancelled; then (after the connection handlers, if they still run) the
// disconnecting handlers (rooms still set), leaving rooms and namespace,
// and the disconnect handlers.
func (s *Socket) onClose(reason string) {
	s.mu.Lock()
	if !s.connected || s.closing {
		s.mu.Unlock()
		return
	}
	cause := &DisconnectError{Reason: reason}
	cancel := s.ending(cause)
	acks, ready := s.acks, s.ready
	s.acks = nil
	s.mu.Unlock()
	if cancel != nil {
		cancel(cause)
	}
	for _, f := range acks {
		f(nil, cause)
	}
	if !ready {
		// The connection handlers have not run yet (they run on the queue,
		// after the CONNECT packet): the rest follows them, so that they
		// see it, as in Node where both happen in order. A handler there
		// waiting for an acknowledgement was just released.
		s.queue.pushAlways(func() { s.finishClose(reason) })
		return
	}
	s.finishClose(reason)
}

// abandon ends the context of a socket that never connected: a middleware
// refused it (cause), or its connection closed first.
func (s *Socket) abandon(cause error) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	cancel := s.ending(cause)
	s.mu.Unlock()
	if cancel != nil {
		cancel(cause)
	}
}

func (s *Socket) finishClose(reason string) {
	s.mu.Lock()
	disconnecting := s.onDisconnecting
	s.mu.Unlock()
	// As in Node, the socket is still connected while these run.
	for _, h := range disconnecting {
		s.call("disconnecting", nil, func() { h(reason) })
	}
	if s.nsp.srv.opts.Recovery != nil && slices.Contains(recoverableReasons, reason) {
		s.nsp.adapter.PersistSession(&PersistedSession{SID: s.id, PID: s.pid, Rooms: s.Rooms(), Data: s.Data()})
	}
	s.mu.Lock()
	s.connected = false
	disconnect := s.onDisconnect
	s.mu.Unlock()
	s.nsp.adapter.DelAll(s.id)
	s.nsp.remove(s)
	s.client.detach(s)
	if o := s.nsp.srv.opts.Observer; o != nil {
		o.SocketDisconnected(s.nsp.name, reason)
	}
	s.nsp.left()
	for _, h := range disconnect {
		s.call("disconnect", nil, func() { h(reason) })
	}
}

// notifyOutgoing shows a broadcast event to the socket's OnAnyOutgoing
// handlers.
func (s *Socket) notifyOutgoing(p *Packet) {
	hs := s.anyOutgoing.Load()
	if hs == nil || p.Type != PacketEvent {
		return
	}
	outgoing := *hs
	data, _ := p.Data.([]any)
	if len(data) == 0 {
		return
	}
	name, _ := data[0].(string)
	for _, h := range outgoing {
		h(name, data[1:])
	}
}
