package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
)

// Middleware runs before a socket joins a namespace; an error refuses it,
// and the client receives connect_error with the error's message (and the
// data of a *ConnectError).
type Middleware func(s *Socket) error

// ConnectError is a refusal with data for the client, like an Error with a
// data property in Node.
type ConnectError struct {
	Message string
	Data    any
	// CloseConnection closes the client's connection once the refusal is
	// sent, every namespace of it included: for a client that should not
	// try again on it (too many failed logins).
	CloseConnection bool
}

func (e *ConnectError) Error() string { return e.Message }

// connectErrorData is a CONNECT_ERROR's payload with its fields in Node's
// order, {"message":...,"data":...}; data is left out when there is none,
// as JSON.stringify leaves out undefined.
type connectErrorData struct {
	Message string `json:"message" msgpack:"message"`
	Data    any    `json:"data,omitempty" msgpack:"data,omitempty"`
}

// Handshake describes how a socket connected, as Node's socket.handshake.
type Handshake struct {
	Headers http.Header
	Time    time.Time
	// Address is the client's IP address.
	Address string
	XDomain bool
	Secure  bool
	URL     string
	// Query is the handshake request's query. A Socket's is parsed from
	// URL at each call of Handshake (an idle socket keeps no map for it).
	Query url.Values
	// Auth is the client's auth payload (protocol 5), or the namespace's
	// query (protocol 4); empty, never nil, when there is none, as Node's
	// socket.handshake.auth is {}.
	Auth map[string]any
}

// Namespace is a set of sockets with its own handlers, middleware, rooms
// and adapter.
type Namespace struct {
	name    string
	srv     *Server
	parent  *ParentNamespace
	adapter Adapter
	ids     atomic.Uint64

	mu           sync.RWMutex
	sockets      map[string]*Socket
	middlewares  []Middleware
	onConnection []func(*Socket)
	serverSide   map[string][]ServerSideHandler
	roomHooks    atomic.Pointer[roomHooks]
	events       atomic.Pointer[map[string][]nspHandler] // replaced whole by OnEvent
	mode         atomic.Uint32                           // a HandlerMode; 0: the parent's or the server's
	// joining counts the clients between lookup and the end of add, which
	// CleanupEmptyChildNamespaces waits for; removed is set once it
	// removes the namespace, gone closed once it is out of the table.
	joining int
	removed atomic.Bool
	gone    chan struct{}
}

// ServerSideHandler receives an event from another node (ServerSideEmit).
// ack is nil unless the sender waits for answers.
type ServerSideHandler func(args []any, ack Ack)

func newNamespace(srv *Server, name string, parent *ParentNamespace) *Namespace {
	n := &Namespace{
		name:       name,
		srv:        srv,
		parent:     parent,
		sockets:    map[string]*Socket{},
		serverSide: map[string][]ServerSideHandler{},
	}
	n.adapter = srv.opts.NewAdapter(n)
	return n
}

// Name is the namespace's name, such as "/" or "/chat".
func (n *Namespace) Name() string { return n.name }

// Server is the server of the namespace.
func (n *Namespace) Server() *Server { return n.srv }

// Adapter is the namespace's adapter.
func (n *Namespace) Adapter() Adapter { return n.adapter }

// Use adds a middleware.
func (n *Namespace) Use(m Middleware) {
	n.mu.Lock()
	n.middlewares = append(n.middlewares, m)
	n.mu.Unlock()
}

// OnConnection adds a handler called for each socket that joins.
func (n *Namespace) OnConnection(h func(*Socket)) {
	n.mu.Lock()
	n.onConnection = append(n.onConnection, h)
	n.mu.Unlock()
}

// OnServerSideEmit adds a handler for events other nodes send with
// ServerSideEmit.
func (n *Namespace) OnServerSideEmit(event string, h ServerSideHandler) {
	n.mu.Lock()
	n.serverSide[event] = append(n.serverSide[event], h)
	n.mu.Unlock()
}

// serverSideHandlers returns the handlers of a server-side event.
func (n *Namespace) serverSideHandlers(event string) []ServerSideHandler {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return append([]ServerSideHandler(nil), n.serverSide[event]...)
}

// Socket returns the local socket with id, or nil.
func (n *Namespace) Socket(id string) *Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.sockets[id]
}

// Sockets returns the local sockets.
func (n *Namespace) Sockets() []*Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]*Socket, 0, len(n.sockets))
	for _, s := range n.sockets {
		out = append(out, s)
	}
	return out
}

// nextAckID returns a fresh acknowledgement id, unique in the namespace.
func (n *Namespace) nextAckID() uint64 { return n.ids.Add(1) - 1 }

func (n *Namespace) remove(s *Socket) {
	n.mu.Lock()
	if n.sockets[s.id] == s {
		delete(n.sockets, s.id)
	}
	n.mu.Unlock()
}

// cleanable reports whether Options.CleanupEmptyChildNamespaces applies.
func (n *Namespace) cleanable() bool {
	return n.parent != nil && n.srv.opts.CleanupEmptyChildNamespaces
}

// reserve counts in a client about to join (Server.lookup): the namespace
// is not removed under it, lest it join one that no longer exists.
func (n *Namespace) reserve() {
	if n.cleanable() {
		n.mu.Lock()
		n.joining++
		n.mu.Unlock()
	}
}

// joined counts out a client that reserve counted in, now in the
// namespace or refused, and removes the namespace if that left it empty.
func (n *Namespace) joined() {
	if !n.cleanable() {
		return
	}
	n.mu.Lock()
	n.joining--
	n.mu.Unlock()
	n.srv.removeIfEmpty(n)
}

// left is told that a socket left, once its disconnection is observed.
func (n *Namespace) left() { n.srv.removeIfEmpty(n) }

// newSocketID returns a socket id: 15 random bytes, base64url, 20
// characters, as Node's base64id.
func newSocketID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// add runs the middleware for a new socket of c and connects it. It
// counts out the reservation of lookup.
func (n *Namespace) add(c *client, auth map[string]any) {
	defer n.joined()
	s := newSocket(n, c, auth)
	if r := n.srv.opts.Recovery; r != nil && c.conn.Protocol() != 3 {
		pid, _ := auth["pid"].(string)
		offset, _ := auth["offset"].(string)
		if pid != "" && offset != "" {
			ps, err := n.adapter.RestoreSession(pid, offset)
			if err != nil {
				n.srv.log.Warn("socket.io session not restored", "nsp", n.name, "err", err)
			}
			if ps != nil {
				s.restore(ps)
				if !r.RunMiddlewares {
					n.connect(c, s)
					return
				}
			}
		}
	}
	var mws []Middleware
	if n.parent != nil {
		mws = append(mws, n.parent.middlewareList()...)
	}
	n.mu.RLock()
	mws = append(mws, n.middlewares...)
	n.mu.RUnlock()
	for _, m := range mws {
		if err := runMiddleware(m, s); err != nil {
			if !c.open() {
				return
			}
			var data any
			if c.conn.Protocol() == 3 {
				data = err.Error()
				var ce *ConnectError
				if errors.As(err, &ce) && ce.Data != nil {
					data = ce.Data
				}
			} else {
				m := connectErrorData{Message: err.Error()}
				var ce *ConnectError
				if errors.As(err, &ce) {
					m.Data = ce.Data
				}
				data = m
			}
			s.abandon(fmt.Errorf("socket.io: connection refused: %w", err))
			_ = c.sendPacket(&Packet{Type: PacketConnectError, Nsp: n.name, Data: data}, false, false)
			if ce := (*ConnectError)(nil); errors.As(err, &ce) && ce.CloseConnection {
				c.close()
			}
			return
		}
	}
	n.connect(c, s)
}

// connect admits a socket whose middleware passed.
func (n *Namespace) connect(c *client, s *Socket) {
	if !c.attached(s) {
		s.abandon(&DisconnectError{Reason: ReasonForcedServerClose})
		return
	}
	n.mu.Lock()
	n.sockets[s.id] = s
	handlers := append([]func(*Socket){}, n.onConnection...)
	n.mu.Unlock()
	if n.parent != nil {
		handlers = append(n.parent.connectionHandlers(), handlers...)
	}
	s.onConnect(handlers)
}

func runMiddleware(m Middleware, s *Socket) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.nsp.srv.log.Error("socket.io middleware panicked", "nsp", s.nsp.name, "panic", r)
			err = errors.New("middleware error")
		}
	}()
	return m(s)
}

func handshakeOf(c *client, at time.Time, auth map[string]any) Handshake {
	sess := c.conn
	h := sess.Header()
	addr := sess.RemoteAddr()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	return Handshake{
		Headers: h,
		Time:    at,
		Address: addr,
		XDomain: sess.XDomain(),
		Secure:  sess.Secure(),
		URL:     sess.URL(),
		Query:   sess.Query(),
		Auth:    auth,
	}
}

// Broadcasts and cluster calls from the namespace.

func (n *Namespace) op() *BroadcastOperator { return &BroadcastOperator{nsp: n} }

// To selects rooms for a broadcast.
func (n *Namespace) To(rooms ...string) *BroadcastOperator { return n.op().To(rooms...) }

// In is To.
func (n *Namespace) In(rooms ...string) *BroadcastOperator { return n.op().In(rooms...) }

// Except excludes rooms from a broadcast.
func (n *Namespace) Except(rooms ...string) *BroadcastOperator { return n.op().Except(rooms...) }

// Local limits a broadcast to this node.
func (n *Namespace) Local() *BroadcastOperator { return n.op().Local() }

// Volatile lets a broadcast drop where a transport cannot take it now.
func (n *Namespace) Volatile() *BroadcastOperator { return n.op().Volatile() }

// Compress sets whether a broadcast may be compressed (default true).
func (n *Namespace) Compress(on bool) *BroadcastOperator { return n.op().Compress(on) }

// Timeout bounds the wait for acknowledgements of a broadcast.
func (n *Namespace) Timeout(d time.Duration) *BroadcastOperator { return n.op().Timeout(d) }

// Emit broadcasts an event to every socket of the namespace.
func (n *Namespace) Emit(event string, args ...any) error { return n.op().Emit(event, args...) }

// FetchSockets returns the sockets of the namespace on every node.
func (n *Namespace) FetchSockets(ctx context.Context) ([]*RemoteSocket, error) {
	return n.op().FetchSockets(ctx)
}

// SocketsJoin makes every socket of the namespace join rooms.
func (n *Namespace) SocketsJoin(rooms ...string) error { return n.op().SocketsJoin(rooms...) }

// SocketsLeave makes every socket of the namespace leave rooms.
func (n *Namespace) SocketsLeave(rooms ...string) error { return n.op().SocketsLeave(rooms...) }

// DisconnectSockets disconnects every socket of the namespace
// (Socket.Disconnect).
func (n *Namespace) DisconnectSockets() error { return n.op().DisconnectSockets() }

// CloseConnections closes the connection of every socket of the namespace
// (Socket.CloseConnection).
func (n *Namespace) CloseConnections() error { return n.op().CloseConnections() }

// ServerSideEmit sends an event to the other nodes' handlers of this
// namespace (OnServerSideEmit); no local handler runs, as in Node. ctx
// bounds the publication.
func (n *Namespace) ServerSideEmit(ctx context.Context, event string, args ...any) error {
	return n.adapter.ServerSideEmit(ctx, append([]any{event}, args...), nil)
}

// ServerSideEmitWithAck sends an event to the other nodes and returns the
// answers of their handlers, one per node. When ctx ends first, it returns
// the answers that came and an error matching ErrAckTimeout at ctx's
// deadline, else context.Canceled.
func (n *Namespace) ServerSideEmitWithAck(ctx context.Context, event string, args ...any) ([]any, error) {
	var (
		mu        sync.Mutex
		responses []any
	)
	err := n.adapter.ServerSideEmit(ctx, append([]any{event}, args...), func(resp []any) {
		mu.Lock()
		responses = append(responses, resp...)
		mu.Unlock()
	})
	if err != nil && ctx.Err() != nil {
		err = waitError(ctx)
	}
	mu.Lock()
	defer mu.Unlock()
	return responses, err
}

// ParentNamespace gathers the dynamic namespaces that one matcher creates:
// its middleware and connection handlers apply to each of them.
type ParentNamespace struct {
	srv   *Server
	match func(name string, auth map[string]any) bool
	re    *regexp.Regexp // OfRegexp's, which Server.Of applies too

	mode atomic.Uint32 // a HandlerMode for the children; 0: the server's

	mu           sync.RWMutex
	middlewares  []Middleware
	onConnection []func(*Socket)
	children     map[string]*Namespace
}

// Use adds a middleware run for every child namespace.
func (p *ParentNamespace) Use(m Middleware) {
	p.mu.Lock()
	p.middlewares = append(p.middlewares, m)
	p.mu.Unlock()
}

// OnConnection adds a handler for sockets joining any child namespace.
func (p *ParentNamespace) OnConnection(h func(*Socket)) {
	p.mu.Lock()
	p.onConnection = append(p.onConnection, h)
	p.mu.Unlock()
}

// Children returns the namespaces created so far.
func (p *ParentNamespace) Children() []*Namespace {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]*Namespace, 0, len(p.children))
	for _, c := range p.children {
		out = append(out, c)
	}
	return out
}

// Emit broadcasts an event in every child namespace.
func (p *ParentNamespace) Emit(event string, args ...any) error {
	for _, c := range p.Children() {
		if err := c.Emit(event, args...); err != nil {
			return err
		}
	}
	return nil
}

func (p *ParentNamespace) addChild(n *Namespace) {
	p.mu.Lock()
	p.children[n.name] = n
	p.mu.Unlock()
}

func (p *ParentNamespace) removeChild(n *Namespace) {
	p.mu.Lock()
	if p.children[n.name] == n {
		delete(p.children, n.name)
	}
	p.mu.Unlock()
}

func (p *ParentNamespace) middlewareList() []Middleware {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return append([]Middleware(nil), p.middlewares...)
}

func (p *ParentNamespace) connectionHandlers() []func(*Socket) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return append([]func(*Socket){}, p.onConnection...)
}
