package server

import (
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync/atomic"
)

// Handler handles an event of one socket: args are the client's arguments
// (JSON values, and []byte for binary), ack answers the client, nil unless
// it asked for an answer.
type Handler func(args []any, ack Ack)

// SocketHandler handles an event of any socket: the socket, the client's
// arguments, and ack (nil unless the client asked for one). Typed makes one
// from a function of typed arguments.
type SocketHandler func(s *Socket, args []any, ack Ack)

// Ack answers an event; only its first call is sent. It returns nil once
// the answer is handed to the transport, ErrAckSent on a later call, an
// error matching ErrSocketClosed once the socket has disconnected, or the
// error of encoding args.
type Ack func(args ...any) error

// AnyHandler sees every event, with its name.
type AnyHandler func(event string, args []any)

// ErrAckSent is returned by an Ack called again: a client gets one answer.
var ErrAckSent = errors.New("socket.io: acknowledgement already sent")

// HandlerMode says how a handler runs beside the other handlers of its
// socket. Every handler of a socket starts in the order the client sent
// the events; the mode says whether the socket's next events wait for it.
type HandlerMode uint8

const (
	// Serial handlers run one at a time: the handlers of a socket's next
	// event start once this one returned. A serial handler that waits
	// (EmitWithAck, a database) holds up its socket's later events, and
	// only those. The default.
	Serial HandlerMode = iota + 1
	// Concurrent handlers run on a goroutine of their own, started in
	// the order of the events: the socket's next events go on at once,
	// as in Node, where an awaiting handler holds up nothing. Nothing
	// orders the ends of concurrent handlers, between themselves or with
	// later serial ones. Options.MaxPendingEvents bounds how many of a
	// socket's run at once; a client past it is disconnected.
	Concurrent
)

func (m HandlerMode) String() string {
	switch m {
	case Serial:
		return "serial"
	case Concurrent:
		return "concurrent"
	}
	return fmt.Sprintf("HandlerMode(%d)", uint8(m))
}

// HandlerOption configures a handler as it is added, by Socket.On,
// Socket.Once, Socket.OnEvent, Namespace.OnEvent or Server.OnEvent. A
// HandlerMode is one:
//
//	nsp.OnEvent("receipts", waitForReceipts, server.Concurrent)
type HandlerOption interface {
	applyHandler(*handlerConfig)
}

type handlerConfig struct {
	mode HandlerMode // 0: the namespace's
}

func (m HandlerMode) applyHandler(c *handlerConfig) { c.mode = m }

func handlerModeOf(opts []HandlerOption) HandlerMode {
	var c handlerConfig
	for _, o := range opts {
		if o != nil {
			o.applyHandler(&c)
		}
	}
	return c.mode
}

// nspHandler is a handler of every socket of a namespace (OnEvent).
type nspHandler struct {
	h    SocketHandler
	mode HandlerMode
}

// OnEvent adds a handler of event for every socket of the namespace, the
// ones connected already included. It runs as a socket's own handlers do
// (Socket.On), after them. One handler for all sockets costs an idle
// socket nothing, where s.On in OnConnection keeps a closure per socket:
//
//	nsp.OnEvent("message", func(s *server.Socket, args []any, ack server.Ack) {
//		_ = s.Emit("message", args...)
//	})
func (n *Namespace) OnEvent(event string, h SocketHandler, opts ...HandlerOption) {
	n.mu.Lock()
	defer n.mu.Unlock()
	next := map[string][]nspHandler{}
	if old := n.events.Load(); old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	next[event] = append(slices.Clip(next[event]), nspHandler{h: h, mode: handlerModeOf(opts)})
	n.events.Store(&next)
}

// eventHandlers are the namespace's handlers of event (OnEvent).
func (n *Namespace) eventHandlers(event string) []nspHandler {
	if m := n.events.Load(); m != nil {
		return (*m)[event]
	}
	return nil
}

// SetHandlerMode sets the mode of the namespace's handlers that were
// added without one: its sockets' own and its OnEvent ones. The default
// is Options.HandlerMode, itself Serial by default. Connection, OnAny and
// disconnect handlers are not events' handlers: they keep their order.
func (n *Namespace) SetHandlerMode(m HandlerMode) { n.mode.Store(uint32(m)) }

// SetHandlerMode sets the mode of the handlers of every child namespace
// that did not choose its own (Namespace.SetHandlerMode).
func (p *ParentNamespace) SetHandlerMode(m HandlerMode) { p.mode.Store(uint32(m)) }

// handlerMode resolves a handler's mode: its own, else its namespace's,
// else the parent namespace's, else the server's.
func (n *Namespace) handlerMode(own HandlerMode) HandlerMode {
	if own != 0 {
		return own
	}
	if m := HandlerMode(n.mode.Load()); m != 0 {
		return m
	}
	if n.parent != nil {
		if m := HandlerMode(n.parent.mode.Load()); m != 0 {
			return m
		}
	}
	return n.srv.opts.HandlerMode
}

// ackState is the answer owed to one event that asked for one.
type ackState struct {
	s    *Socket
	id   uint64
	sent atomic.Bool
}

func (a *ackState) send(args ...any) error {
	if !a.sent.CompareAndSwap(false, true) {
		return ErrAckSent
	}
	s := a.s
	if !s.Connected() {
		return s.closedErr()
	}
	data := args
	if data == nil {
		data = []any{}
	}
	return s.client.sendPacket(&Packet{Type: PacketAck, Nsp: s.nsp.name, ID: a.id, HasID: true, Data: data}, false, false)
}

func (a *ackState) ack() Ack {
	if a == nil {
		return nil
	}
	return a.send
}

// PanicError is a handler's panic, as the socket's OnError handlers see
// it. The client that waited for an answer to the event receives what
// Options.ErrorAck makes of it, never the panic's value.
type PanicError struct {
	// Event is the event whose handler panicked; empty for a connection
	// handler.
	Event string
	// Value is what the handler panicked with.
	Value any
	// Stack is the goroutine's stack at the panic.
	Stack []byte
}

func (e *PanicError) Error() string {
	if e.Event == "" {
		return fmt.Sprintf("socket.io: connection handler panicked: %v", e.Value)
	}
	return fmt.Sprintf("socket.io: handler of %q panicked: %v", e.Event, e.Value)
}

// Unwrap returns the panic's value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// DefaultErrorAck is the answer a client gets by default when its event's
// handler failed: one argument, {"error": message}. The message is the
// error's, as a middleware's error reaches the client (keep secrets out of
// it); for a panic it is "internal server error", never the panic's value.
func DefaultErrorAck(_ *Socket, err error) []any {
	msg := err.Error()
	var p *PanicError
	if errors.As(err, &p) {
		msg = "internal server error"
	}
	return []any{map[string]any{"error": msg}}
}

// failEvent answers an event whose handler failed with err (arguments that
// do not decode, an error returned, a panic) with what Options.ErrorAck
// makes of it; with no ack the client waits for nothing, and ErrorAck is
// still called, for the application to see the failure.
func (s *Socket) failEvent(ack Ack, err error) {
	answer := s.nsp.srv.opts.ErrorAck(s, err)
	if ack != nil && answer != nil {
		_ = ack(answer...)
	}
}

// call runs one handler of event; a panic is recovered here: logged,
// answered (if the event still waits for an answer) and given to the
// socket's OnError handlers.
func (s *Socket) call(event string, st *ackState, f func()) {
	defer func() {
		if r := recover(); r != nil {
			s.panicked(event, st, r)
		}
	}()
	f()
}

func (s *Socket) panicked(event string, st *ackState, r any) {
	err := &PanicError{Event: event, Value: r, Stack: debug.Stack()}
	s.nsp.srv.log.Error("socket.io handler panicked", "nsp", s.nsp.name, "id", s.id, "event", event, "panic", r, "stack", string(err.Stack))
	if st != nil && !st.sent.Load() {
		s.failEvent(st.ack(), err)
	}
	s.emitError(err)
}

// concurrent reports whether a handler added with mode runs on a
// goroutine of its own.
func (s *Socket) concurrent(mode HandlerMode) bool {
	return mode == Concurrent || mode == 0 && s.nsp.handlerMode(0) == Concurrent
}

// spawn runs a concurrent handler of event on a goroutine of its own.
func (s *Socket) spawn(event string, st *ackState, f func()) {
	if !s.queue.startConcurrent() {
		s.overflow()
		return
	}
	go func() {
		defer s.queue.endConcurrent()
		s.call(event, st, f)
	}()
}

// dispatch runs the handlers of one event: catch-all ones, the socket's,
// then the namespace's. It runs for every event the socket received while
// connected, even when the socket has disconnected since: the client sent
// it before it left.
func (s *Socket) dispatch(data []any, st *ackState) {
	if len(data) == 0 {
		return
	}
	event, _ := data[0].(string)
	if f, ok := data[0].(float64); ok {
		event = fmt.Sprint(f)
	}
	args := data[1:]
	ack := st.ack()
	s.mu.Lock()
	anys := s.anyHandlers
	var small [4]handlerEntry
	entries := small[:0]
	once := false
	for _, e := range s.handlers {
		if e.event == event {
			entries = append(entries, e)
			once = once || e.once
		}
	}
	if once {
		s.handlers = slices.DeleteFunc(s.handlers, func(e handlerEntry) bool { return e.event == event && e.once })
	}
	s.mu.Unlock()
	for _, h := range anys {
		s.call(event, nil, func() { h(event, args) })
	}
	// The serial calls are written out, not passed to spawn's path, so
	// that their closures stay on the stack.
	for _, e := range entries {
		if s.concurrent(e.mode) {
			s.spawn(event, st, func() { e.h(args, ack) })
			continue
		}
		s.call(event, st, func() { e.h(args, ack) })
	}
	for _, e := range s.nsp.eventHandlers(event) {
		if s.concurrent(e.mode) {
			s.spawn(event, st, func() { e.h(s, args, ack) })
			continue
		}
		s.call(event, st, func() { e.h(s, args, ack) })
	}
}
