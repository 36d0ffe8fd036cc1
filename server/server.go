package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siogo/siogo/transports"
)

// Options configure a Server. The zero value gives the Node server's
// defaults.
type Options struct {
	// Engine configures the Engine.IO layer; its OnSession is the server's.
	Engine transports.Options
	// ConnectTimeout is how long a protocol-5 client may take to join a
	// namespace before it is cut. Default 45s.
	ConnectTimeout time.Duration
	// Parser encodes and decodes packets. Default JSONParser{}.
	Parser Parser
	// NewAdapter makes each namespace's adapter. Default NewMemoryAdapter.
	NewAdapter func(nsp *Namespace) Adapter
	// MaxPendingEvents bounds the events waiting for a socket's serial
	// handlers, and apart its concurrent handlers running at once; a
	// client past either is disconnected. Default 1024.
	MaxPendingEvents int
	// HandlerMode is the mode of the handlers that choose none, in
	// namespaces that set none (Namespace.SetHandlerMode). Default Serial.
	HandlerMode HandlerMode
	// ErrorAck makes the answer of a client whose event's handler failed:
	// its arguments did not decode into a Typed handler's type (an
	// *ArgumentError), the handler returned an error, or it panicked (a
	// *PanicError). It is called even when the client waits for no
	// answer, and then its result is dropped; a nil result sends none.
	// Default DefaultErrorAck.
	ErrorAck func(s *Socket, err error) []any
	// ClientFiles holds the client bundles that the server serves, as
	// Node's serveClient does, at <path>/socket.io.js, .min.js,
	// .msgpack.min.js, .esm.min.js and their .map files: the dist
	// directory of the npm package socket.io-client, such as
	// os.DirFS("node_modules/socket.io-client/dist") or an embed.FS. Nil
	// answers those paths 404, with a body that says so.
	ClientFiles fs.FS
	// DisableServeClient leaves the bundles' paths to the Engine.IO
	// server, as Node's serveClient: false.
	DisableServeClient bool
	// Observer, when set, is told of broadcasts and disconnects, for
	// metrics; Engine.Observer sees the sessions and packets.
	Observer Observer
	// Recovery, when set, turns on connection state recovery (Node 4.6+):
	// a client that comes back within MaxDisconnectionDuration keeps its
	// id, rooms and data, and receives the events it missed.
	Recovery *RecoveryOptions
	// CleanupEmptyChildNamespaces removes a dynamic namespace (OfRegexp,
	// OfFunc) once it is empty: when its last socket leaves, or when the
	// only client joining it is refused. Its adapter is closed, and an
	// Observer that is a NamespaceObserver drops what it kept for it; a
	// client that comes later gets a new one, without what the old one held
	// (handlers added to it alone, sessions kept for recovery). Without it,
	// as in Node (cleanupEmptyChildNamespaces, off by default), every name
	// a client tries that a matcher accepts is a namespace kept for good.
	CleanupEmptyChildNamespaces bool
	// Logger receives the server's logs. Default slog.Default().
	Logger *slog.Logger
}

// Observer is told of the Socket.IO layer's events, for metrics. Its
// methods must be quick and safe for concurrent use.
type Observer interface {
	SocketConnected(nsp string)
	SocketDisconnected(nsp, reason string)
	Broadcast(nsp string)
}

// NamespaceObserver is an Observer told of the namespaces removed by
// Options.CleanupEmptyChildNamespaces, so that it drops what it keeps for
// each, such as its metric series. NamespaceRemoved is called with the
// server's table of namespaces locked, so that it comes before anything
// about a new namespace of the same name: it must not call the server.
type NamespaceObserver interface {
	Observer
	NamespaceRemoved(nsp string)
}

// RecoveryOptions configure connection state recovery.
type RecoveryOptions struct {
	// MaxDisconnectionDuration is how long a session and the events after
	// it are kept. Default 2 minutes, as Node.
	MaxDisconnectionDuration time.Duration
	// RunMiddlewares runs the middleware again for a recovered socket;
	// Node skips it by default (skipMiddlewares), and so does siogo.
	RunMiddlewares bool
	// MaxPackets bounds the events kept for recovery per namespace, beside
	// their age. Default 10000.
	MaxPackets int
}

// Errors of the Socket.IO layer.
var (
	// ErrOptions reports Options that New cannot honour.
	ErrOptions = errors.New("socket.io: invalid options")
	// ErrSocketClosed is returned when emitting on a disconnected socket,
	// and by waits for acknowledgements that the disconnect ended.
	ErrSocketClosed = errors.New("socket.io: socket disconnected")
	// ErrAckTimeout is returned when an acknowledgement did not come in time.
	ErrAckTimeout = errors.New("socket.io: operation has timed out")
)

// Disconnect reasons, the Node server's strings, besides the Engine.IO ones
// (transports.Reason*) that pass through.
const (
	ReasonClientNamespaceDisconnect = "client namespace disconnect"
	ReasonServerNamespaceDisconnect = "server namespace disconnect"
	ReasonForcedServerClose         = "forced server close"
	ReasonServerShutdown            = "server shutting down"
)

// Server is a Socket.IO server. It is an http.Handler; mount it at the path
// clients use, /socket.io/ by default.
type Server struct {
	clientFiles *clientFiles
	opts        Options
	engine      *transports.Server
	parser      Parser
	log         *slog.Logger

	mu      sync.RWMutex
	nsps    map[string]*Namespace
	parents []*ParentNamespace
	clients map[*client]struct{}
	closed  bool
	newNsp  []func(*Namespace)

	engineObservers atomic.Pointer[[]transports.Observer]
}

// New returns a server; the root namespace "/" exists from the start. It
// refuses (ErrOptions) what it cannot honour: Engine.OnSession, which is
// the server's own, a negative bound or duration, an unknown HandlerMode,
// ClientFiles with DisableServeClient.
func New(opts Options) (*Server, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 45 * time.Second
	}
	if opts.Parser == nil {
		opts.Parser = JSONParser{}
	}
	if opts.NewAdapter == nil {
		opts.NewAdapter = func(nsp *Namespace) Adapter { return NewMemoryAdapter(nsp) }
	}
	if opts.MaxPendingEvents <= 0 {
		opts.MaxPendingEvents = 1024
	}
	if opts.HandlerMode == 0 {
		opts.HandlerMode = Serial
	}
	if opts.ErrorAck == nil {
		opts.ErrorAck = DefaultErrorAck
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if r := opts.Recovery; r != nil {
		rc := *r
		if rc.MaxDisconnectionDuration <= 0 {
			rc.MaxDisconnectionDuration = 2 * time.Minute
		}
		if rc.MaxPackets <= 0 {
			rc.MaxPackets = 10000
		}
		opts.Recovery = &rc
	}
	s := &Server{
		clientFiles: newClientFiles(opts.ClientFiles),
		opts:        opts,
		parser:      opts.Parser,
		log:         opts.Logger,
		nsps:        map[string]*Namespace{},
		clients:     map[*client]struct{}{},
	}
	eopts := opts.Engine
	if eopts.Logger == nil {
		eopts.Logger = opts.Logger
	}
	eopts.OnSession = s.onSession
	eopts.Observer = engineFanout{user: eopts.Observer, srv: s}
	engine, err := transports.NewServer(eopts)
	if err != nil {
		return nil, err
	}
	s.engine = engine
	s.Of("/")
	return s, nil
}

// ServeHTTP serves the Engine.IO requests of Socket.IO clients, and the
// client bundles (Options.ClientFiles).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.opts.DisableServeClient && s.clientFiles.serve(w, r) {
		return
	}
	s.engine.ServeHTTP(w, r)
}

// check refuses the options New cannot honour.
func (o *Options) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrOptions}, args...)...)
	}
	switch {
	case o.Engine.OnSession != nil:
		return bad("Engine.OnSession is the Socket.IO server's own: use OnConnection, and Socket.Session for its Engine.IO session")
	case o.ConnectTimeout < 0:
		return bad("negative ConnectTimeout %v", o.ConnectTimeout)
	case o.MaxPendingEvents < 0:
		return bad("negative MaxPendingEvents %d", o.MaxPendingEvents)
	case o.HandlerMode > Concurrent:
		return bad("unknown HandlerMode %d", o.HandlerMode)
	case o.ClientFiles != nil && o.DisableServeClient:
		return bad("ClientFiles set while DisableServeClient is")
	}
	if r := o.Recovery; r != nil && (r.MaxDisconnectionDuration < 0 || r.MaxPackets < 0) {
		return bad("negative Recovery bound")
	}
	return nil
}

// Engine is the Engine.IO server underneath.
func (s *Server) Engine() *transports.Server { return s.engine }

// Of returns the namespace called name, creating it if needed. A name
// without a leading slash gets one. A new name that the expression of an
// OfRegexp matches is a child of that parent, its middleware and handlers
// included, as in Node (a matcher of OfFunc is not asked: it may want the
// client's auth).
func (s *Server) Of(name string) *Namespace {
	if name == "" || name[0] != '/' {
		name = "/" + name
	}
	for {
		s.mu.Lock()
		var parent *ParentNamespace
		if s.nsps[name] == nil {
			for _, p := range s.parents {
				if p.re != nil && p.re.MatchString(name) {
					parent = p
					break
				}
			}
		}
		nsp, created, wait := s.ofLocked(name, parent)
		hooks := s.newNsp
		s.mu.Unlock()
		if wait != nil {
			<-wait
			continue
		}
		if created {
			for _, h := range hooks {
				h(nsp)
			}
		}
		return nsp
	}
}

// ofLocked returns the namespace called name, creating it, a child of
// parent if not nil, when there is none; and whether it did. A namespace
// being removed is not returned: wait is closed once it is gone, its
// adapter closed. s.mu is held.
func (s *Server) ofLocked(name string, parent *ParentNamespace) (nsp *Namespace, created bool, wait <-chan struct{}) {
	if nsp := s.nsps[name]; nsp != nil {
		if nsp.removed.Load() {
			return nil, false, nsp.gone
		}
		return nsp, false, nil
	}
	nsp = newNamespace(s, name, parent)
	s.nsps[name] = nsp
	if parent != nil {
		parent.addChild(nsp)
	}
	return nsp, true, nil
}

// OfFunc declares dynamic namespaces: a client joining a namespace that
// does not exist creates it when match accepts the name and auth. The
// middleware and connection handlers of the returned parent apply to each.
func (s *Server) OfFunc(match func(name string, auth map[string]any) bool) *ParentNamespace {
	p := &ParentNamespace{srv: s, match: match, children: map[string]*Namespace{}}
	s.mu.Lock()
	s.parents = append(s.parents, p)
	s.mu.Unlock()
	return p
}

// OfRegexp declares the dynamic namespaces whose names match re.
func (s *Server) OfRegexp(re *regexp.Regexp) *ParentNamespace {
	p := s.OfFunc(func(name string, _ map[string]any) bool { return re.MatchString(name) })
	p.re = re
	return p
}

// lookup finds the namespace a client asks for, creating a dynamic one.
// A child namespace that CleanupEmptyChildNamespaces may remove is
// reserved for the client until Namespace.add is done with it; one being
// removed is waited for, and made anew.
func (s *Server) lookup(name string, auth map[string]any) *Namespace {
	var parents []*ParentNamespace
	for {
		s.mu.RLock()
		nsp := s.nsps[name]
		var wait <-chan struct{}
		if nsp != nil && nsp.removed.Load() {
			nsp, wait = nil, nsp.gone
		} else if nsp != nil {
			nsp.reserve()
		}
		parents = s.parents
		s.mu.RUnlock()
		if wait != nil {
			<-wait
			continue
		}
		if nsp != nil {
			return nsp
		}
		break
	}
	for _, p := range parents {
		if !p.match(name, auth) {
			continue
		}
		for {
			s.mu.Lock()
			child, created, wait := s.ofLocked(name, p)
			if child != nil {
				child.reserve()
			}
			hooks := s.newNsp
			s.mu.Unlock()
			if wait != nil {
				<-wait
				continue
			}
			if created {
				for _, h := range hooks {
					h(child)
				}
			}
			return child
		}
	}
	return nil
}

// The root namespace's conveniences.

// OnConnection adds a handler for sockets joining the root namespace.
func (s *Server) OnConnection(h func(*Socket)) { s.Of("/").OnConnection(h) }

// OnEvent adds a handler of event for every socket of the root namespace
// (Namespace.OnEvent).
func (s *Server) OnEvent(event string, h SocketHandler, opts ...HandlerOption) {
	s.Of("/").OnEvent(event, h, opts...)
}

// Use adds a middleware to the root namespace.
func (s *Server) Use(m Middleware) { s.Of("/").Use(m) }

// To selects rooms of the root namespace for a broadcast.
func (s *Server) To(rooms ...string) *BroadcastOperator { return s.Of("/").To(rooms...) }

// In is To.
func (s *Server) In(rooms ...string) *BroadcastOperator { return s.Of("/").In(rooms...) }

// Except excludes rooms of the root namespace from a broadcast.
func (s *Server) Except(rooms ...string) *BroadcastOperator { return s.Of("/").Except(rooms...) }

// Emit broadcasts an event to every socket of the root namespace.
func (s *Server) Emit(event string, args ...any) error { return s.Of("/").Emit(event, args...) }

// Local limits a broadcast of the root namespace to this node.
func (s *Server) Local() *BroadcastOperator { return s.Of("/").Local() }

// Volatile lets a broadcast of the root namespace drop where a transport
// cannot take it now.
func (s *Server) Volatile() *BroadcastOperator { return s.Of("/").Volatile() }

// Compress sets whether a broadcast of the root namespace may be compressed.
func (s *Server) Compress(on bool) *BroadcastOperator { return s.Of("/").Compress(on) }

// Timeout bounds the wait for acknowledgements of a root broadcast.
func (s *Server) Timeout(d time.Duration) *BroadcastOperator { return s.Of("/").Timeout(d) }

// FetchSockets returns the root namespace's sockets on every node.
func (s *Server) FetchSockets(ctx context.Context) ([]*RemoteSocket, error) {
	return s.Of("/").FetchSockets(ctx)
}

// onSession wraps each new Engine.IO session in a client.
func (s *Server) onSession(sess *transports.Session) {
	c := newClient(s, sess)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		sess.Close()
		return
	}
	s.clients[c] = struct{}{}
	s.mu.Unlock()
	c.setup()
}

// removeIfEmpty removes a child namespace that no socket is in or joining
// (CleanupEmptyChildNamespaces), as Node's ParentNamespace does when a
// socket leaves one. Its adapter is closed before its name is free again:
// the adapter of a namespace of the same name made meanwhile would share
// its channels, which the close would undo.
func (s *Server) removeIfEmpty(n *Namespace) {
	if !n.cleanable() {
		return
	}
	s.mu.Lock()
	n.mu.Lock()
	gone := !s.closed && !n.removed.Load() && len(n.sockets) == 0 && n.joining == 0 && s.nsps[n.name] == n
	if gone {
		n.removed.Store(true)
		n.gone = make(chan struct{})
	}
	n.mu.Unlock()
	s.mu.Unlock()
	if !gone {
		return
	}
	if err := n.adapter.Close(); err != nil {
		s.log.Warn("socket.io closing the adapter of a removed namespace", "nsp", n.name, "err", err)
	}
	s.mu.Lock()
	delete(s.nsps, n.name)
	n.parent.removeChild(n)
	if o, ok := s.opts.Observer.(NamespaceObserver); ok {
		o.NamespaceRemoved(n.name)
	}
	close(n.gone)
	s.mu.Unlock()
}

func (s *Server) removeClient(c *client) {
	s.mu.Lock()
	delete(s.clients, c)
	s.mu.Unlock()
}

// Shutdown disconnects every socket with ReasonServerShutdown, without a
// DISCONNECT packet so that clients reconnect (to another node), then shuts
// the Engine.IO server down within ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return transports.ErrServerClosed
	}
	s.closed = true
	clients := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		clients = append(clients, c)
	}
	nsps := make([]*Namespace, 0, len(s.nsps))
	for _, n := range s.nsps {
		if !n.removed.Load() { // a removal closes its adapter
			nsps = append(nsps, n)
		}
	}
	s.mu.Unlock()
	for _, c := range clients {
		c.closeSockets(ReasonServerShutdown)
	}
	err := s.engine.Shutdown(ctx)
	for _, n := range nsps {
		if cerr := n.adapter.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("socket.io: closing the adapter of %s: %w", n.name, cerr)
		}
	}
	return err
}

// Close shuts the server down as Shutdown does, waiting at most a second
// for polling clients to take their close packets; when some did not, it
// returns an error matching context.DeadlineExceeded (their sessions are
// closed all the same).
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("socket.io: close: polling clients did not take their close packets within a second: %w", err)
	}
	return err
}
