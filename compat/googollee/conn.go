package socketio

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sync"

	"github.com/siogo/siogo/server"
)

// Conn is a connection in one namespace, as googollee's Conn.
type Conn interface {
	io.Closer
	Namespace

	// ID is the Engine.IO session id: the same in every namespace of one
	// connection, as googollee's (the client's socket.id of protocol 5 is
	// another id).
	ID() string
	URL() url.URL
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
	RemoteHeader() http.Header
}

// Namespace is what a Conn does in its namespace.
type Namespace interface {
	// Context is the value SetContext stored; in the root namespace it
	// starts as what engineio.Options.ConnInitor set.
	Context() interface{}
	SetContext(ctx interface{})

	// Namespace is the namespace's name, "/" for the root one.
	Namespace() string
	// Emit sends an event; a func as last argument is called with the
	// client's acknowledgement, its parameters decoded from the ack's
	// arguments.
	Emit(eventName string, v ...interface{})

	Join(room string)
	Leave(room string)
	LeaveAll()
	Rooms() []string
}

// addr is a net.Addr of a request's address string, as googollee's.
type addr struct{ s string }

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return a.s }

// conn is a Conn: one siogo socket.
type conn struct {
	ns     *namespace
	s      *server.Socket
	sessID string
	local  net.Addr

	mu        sync.Mutex
	ctx       interface{}
	connected bool
	pending   []func() // emits made in OnConnect, sent once connected
	// leftOwn: the session's room was left while it is also siogo's own
	// room of the socket (protocol 4, root namespace), which stays.
	leftOwn bool

	// listening: the conn has the handlers of the events registered so
	// far, and OnEvent adds new ones to it. Guarded by ns.mu.
	listening bool
}

func (c *conn) ID() string { return c.sessID }

func (c *conn) Close() error {
	// The connection closes without a DISCONNECT packet, as googollee's
	// Close: clients see "transport close" and reconnect.
	c.s.Session().Close()
	return nil
}

func (c *conn) URL() url.URL {
	u, err := url.ParseRequestURI(c.s.Session().URL())
	if err != nil {
		return url.URL{}
	}
	return *u
}

func (c *conn) LocalAddr() net.Addr {
	if c.local == nil {
		return addr{}
	}
	return c.local
}

func (c *conn) RemoteAddr() net.Addr      { return addr{c.s.Session().RemoteAddr()} }
func (c *conn) RemoteHeader() http.Header { return c.s.Session().Header() }

func (c *conn) Context() interface{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ctx
}

func (c *conn) SetContext(ctx interface{}) {
	c.mu.Lock()
	c.ctx = ctx
	c.mu.Unlock()
}

func (c *conn) Namespace() string { return c.ns.name }

func (c *conn) Emit(eventName string, v ...interface{}) {
	var cb *funcHandler
	if l := len(v); l > 0 && v[l-1] != nil && reflect.TypeOf(v[l-1]).Kind() == reflect.Func {
		cb = newAckFunc(v[l-1])
		v = v[:l-1]
	}
	send := func() {
		var err error
		if cb == nil {
			err = c.s.Emit(eventName, v...)
		} else {
			err = c.s.EmitFunc(func(args []any, err error) {
				if err != nil {
					return // disconnected first: googollee never called it either
				}
				vals, err := cb.decode(args)
				if err == nil {
					_, err = cb.call(vals)
				}
				if err != nil {
					c.ns.reportError(c, err)
				}
			}, eventName, v...)
		}
		if err != nil && !errors.Is(err, server.ErrSocketClosed) {
			c.ns.reportError(c, err)
		}
	}
	c.mu.Lock()
	if !c.connected {
		c.pending = append(c.pending, send)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	send()
}

func (c *conn) Join(room string) {
	if room == c.s.ID() {
		c.mu.Lock()
		c.leftOwn = false
		c.mu.Unlock()
	}
	c.s.Join(room)
}

// Leave leaves room. siogo's own room of the socket stays (it is how
// siogo reaches the socket), but Rooms no longer lists it.
func (c *conn) Leave(room string) {
	if room == c.s.ID() {
		c.mu.Lock()
		c.leftOwn = true
		c.mu.Unlock()
		return
	}
	c.s.Leave(room)
}

// LeaveAll leaves every room, the session's included, as in googollee.
func (c *conn) LeaveAll() {
	for _, r := range c.s.Rooms() {
		c.Leave(r)
	}
}

// Rooms lists the conn's rooms: its session id's among them, as in
// googollee, and not siogo's own socket id when that is another.
func (c *conn) Rooms() []string {
	c.mu.Lock()
	leftOwn := c.leftOwn
	c.mu.Unlock()
	rooms := c.s.Rooms()
	if c.s.ID() != c.sessID || leftOwn {
		rooms = slices.DeleteFunc(rooms, func(r string) bool { return r == c.s.ID() })
	}
	return rooms
}

// connected sends what OnConnect emitted and makes later emits direct.
func (c *conn) setConnected() {
	c.mu.Lock()
	pending := c.pending
	c.pending = nil
	c.connected = true
	c.mu.Unlock()
	for _, f := range pending {
		f()
	}
}

func (c *conn) isConnected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected
}

// listen adds the handler of event to the socket; each event once, as
// namespace.connected and Server.OnEvent see to.
func (c *conn) listen(event string) {
	c.s.On(event, func(args []any, ack server.Ack) { c.ns.dispatch(c, event, args, ack) })
}
