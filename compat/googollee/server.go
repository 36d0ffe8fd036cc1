// Package socketio is googollee/go-socket.io v1.7.0's API on siogo: a
// program written for it changes the import prefix
// github.com/googollee/go-socket.io to
// github.com/siogo/siogo/compat/googollee and builds unchanged, and then
// serves socket.io-client 2, 3 and 4 over WebSocket, long-polling (with
// the upgrade) and JSONP, binary included.
//
//	server := socketio.NewServer(nil)
//	server.OnConnect("/", func(s socketio.Conn) error { return nil })
//	server.OnEvent("/", "notice", func(s socketio.Conn, msg string) string {
//		return "have " + msg // the acknowledgement
//	})
//	go server.Serve()
//	defer server.Close()
//	http.Handle("/socket.io/", server)
//
// Where siogo differs from googollee in what a client or a program sees,
// README.md ("Migrating from googollee/go-socket.io") says how.
package socketio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	redigo "github.com/gomodule/redigo/redis"

	"github.com/siogo/siogo/adapters/redis"
	"github.com/siogo/siogo/compat/googollee/engineio"
	"github.com/siogo/siogo/compat/googollee/engineio/session"
	"github.com/siogo/siogo/compat/googollee/engineio/transport/polling"
	"github.com/siogo/siogo/compat/googollee/engineio/transport/websocket"
	"github.com/siogo/siogo/server"
	"github.com/siogo/siogo/transports"
)

// clusterTimeout bounds RoomLen and Rooms across a Redis cluster.
const clusterTimeout = 5 * time.Second

// Server is a Socket.IO server with googollee's API. It is an
// http.Handler for any path (mount it at /socket.io/).
type Server struct {
	opts       engineio.Options
	transports []string
	upgrades   bool
	pollT      *polling.Transport
	wsT        *websocket.Transport
	log        *slog.Logger

	once sync.Once
	srv  *server.Server
	err  error

	createMu sync.Mutex // one namespace created at a time
	mu       sync.Mutex
	nsps     map[string]*namespace
	redis    *redis.Client

	sessions sessions

	closed    chan struct{}
	closeOnce sync.Once
}

// NewServer returns a server with googollee's options; nil means the
// defaults. The server starts serving at its first request or handler:
// call Adapter before registering handlers, as with googollee.
func NewServer(opts *engineio.Options) *Server {
	s := &Server{
		nsps:   map[string]*namespace{},
		closed: make(chan struct{}),
		log:    slog.Default(),
	}
	if opts != nil {
		s.opts = *opts
	}
	seen := map[string]bool{}
	for _, t := range s.opts.Transports {
		if t == nil {
			continue
		}
		name := t.Name()
		switch name {
		case transports.TransportPolling, transports.TransportWebSocket:
		default:
			s.log.Warn("socketio: transport not served by siogo, ignored", "name", name)
			continue
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		s.transports = append(s.transports, name)
		switch tt := t.(type) {
		case *polling.Transport:
			s.pollT = tt
		case *websocket.Transport:
			s.wsT = tt
		}
	}
	if len(s.transports) == 0 {
		s.transports = []string{transports.TransportPolling, transports.TransportWebSocket}
		s.pollT, s.wsT = polling.Default, websocket.Default
	}
	// googollee upgrades a transport to those listed after it.
	s.upgrades = len(s.transports) == 2 && s.transports[0] == transports.TransportPolling
	return s
}

// pollOrigin is the polling transport's CheckOrigin, else
// polling.Default's, as googollee's polling falls back to it.
func (s *Server) pollOrigin(r *http.Request) bool {
	f := polling.Default.CheckOrigin
	if s.pollT != nil && s.pollT.CheckOrigin != nil {
		f = s.pollT.CheckOrigin
	}
	return f != nil && f(r)
}

// wsOrigin is the WebSocket transport's CheckOrigin, else gorilla's
// same-origin rule.
func (s *Server) wsOrigin(r *http.Request) bool {
	if s.wsT != nil && s.wsT.CheckOrigin != nil {
		return s.wsT.CheckOrigin(r)
	}
	return sameOrigin(r)
}

// ensure starts the siogo server once, with the adapter set by then.
func (s *Server) ensure() (*server.Server, error) {
	s.once.Do(func() {
		pingInterval, pingTimeout := s.opts.PingInterval, s.opts.PingTimeout
		if pingInterval <= 0 {
			pingInterval = 20 * time.Second
		}
		if pingTimeout <= 0 {
			pingTimeout = time.Minute
		}
		s.srv, s.err = server.New(server.Options{
			Engine: transports.Options{
				PingInterval:    pingInterval,
				PingTimeout:     pingTimeout,
				Transports:      s.transports,
				DisableUpgrades: !s.upgrades,
				NewSessionID:    s.newSessionID,
			},
			Parser: rawParser{},
			NewAdapter: func(nsp *server.Namespace) server.Adapter {
				s.mu.Lock()
				rc := s.redis
				s.mu.Unlock()
				if rc != nil {
					return rc.NewAdapter(nsp)
				}
				return server.NewMemoryAdapter(nsp)
			},
		})
		if s.err != nil {
			s.log.Error("socketio: starting the server", "err", s.err)
		}
	})
	return s.srv, s.err
}

// Adapter turns on the Redis adapter for the namespaces registered after
// it: siogo's adapters/redis, in the protocol of Node's
// @socket.io/redis-adapter, so Node.js servers and emitters can share the
// cluster. googollee's own Redis protocol is another: nodes of one
// cluster must all run siogo (or Node), not old googollee builds. It
// checks that Redis answers, as googollee did.
func (s *Server) Adapter(opts *RedisAdapterOptions) (bool, error) {
	u, err := opts.redisURL()
	if err != nil {
		return false, err
	}
	c, err := redigo.DialURL(u, redigo.DialConnectTimeout(5*time.Second))
	if err != nil {
		return false, err
	}
	_ = c.Close()
	rc, err := redis.NewClient(redis.Options{URL: u, Prefix: opts.prefix()})
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	old := s.redis
	s.redis = rc
	s.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return true, nil
}

// Close disconnects every client (without a DISCONNECT packet, so they
// reconnect, to another node if there is one), stops the Redis adapter,
// and makes Serve return nil.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		if s.srv != nil {
			err = s.srv.Close()
		}
		s.mu.Lock()
		rc := s.redis
		s.mu.Unlock()
		if rc != nil {
			if cerr := rc.Close(); err == nil {
				err = cerr
			}
		}
	})
	return err
}

// Serve waits until Close and returns nil. The server serves without it;
// it exists for the programs that call it.
func (s *Server) Serve() error {
	if _, err := s.ensure(); err != nil {
		return err
	}
	<-s.closed
	return nil
}

// ServeHTTP answers the Engine.IO requests of Socket.IO clients, after
// RequestChecker and the transports' CheckOrigin.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	srv, err := s.ensure()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	q := r.URL.Query()
	switch q.Get("transport") {
	case transports.TransportPolling, transports.TransportWebSocket:
		if s.opts.RequestChecker != nil {
			header, err := s.opts.RequestChecker(r)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			for k, v := range header {
				w.Header()[k] = v
			}
		}
	}
	switch {
	case q.Get("transport") == transports.TransportPolling:
		jsonp := q.Get("j") != ""
		if !jsonp && s.pollOrigin(r) {
			if origin := r.Header.Get("Origin"); origin == "" {
				w.Header().Set("Access-Control-Allow-Origin", "*")
			} else {
				w.Header().Set("Access-Control-Allow-Origin", origin)
				w.Header().Set("Access-Control-Allow-Credentials", "true")
			}
		}
		if r.Method == http.MethodOptions {
			if !jsonp {
				w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
				w.WriteHeader(http.StatusOK)
			}
			return
		}
	case q.Get("transport") == transports.TransportWebSocket && strings.EqualFold(r.Header.Get("Upgrade"), "websocket"):
		if !s.wsOrigin(r) {
			w.Header().Set("Sec-Websocket-Version", "13")
			http.Error(w, http.StatusText(http.StatusForbidden), http.StatusForbidden)
			return
		}
	}
	srv.ServeHTTP(w, r)
}

// sameOrigin is gorilla/websocket's default origin check.
func sameOrigin(r *http.Request) bool {
	origin := r.Header["Origin"]
	if len(origin) == 0 {
		return true
	}
	u, err := url.Parse(origin[0])
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// OnConnect sets the handler of connections to namespace; an error it
// returns refuses the connection (the client gets connect_error with the
// error's text) and goes to OnError.
func (s *Server) OnConnect(namespace string, f func(Conn) error) {
	ns := s.namespace(namespace, true)
	ns.mu.Lock()
	ns.onConnect = f
	ns.mu.Unlock()
}

// OnDisconnect sets the handler of disconnections from namespace; reason
// is the Node server's (transport close, ping timeout, client namespace
// disconnect, ...).
func (s *Server) OnDisconnect(namespace string, f func(Conn, string)) {
	ns := s.namespace(namespace, true)
	ns.mu.Lock()
	ns.onDisconnect = f
	ns.mu.Unlock()
}

// OnError sets the handler of the namespace's errors: arguments that do
// not decode, panics of handlers, refusals by OnConnect, bad packets.
func (s *Server) OnError(namespace string, f func(Conn, error)) {
	ns := s.namespace(namespace, true)
	ns.mu.Lock()
	ns.onError = f
	ns.mu.Unlock()
}

// OnEvent sets the handler of an event: a func whose first parameter is
// a Conn and whose others are decoded from the event's JSON arguments;
// what it returns is the acknowledgement. It panics on another kind of
// value, as googollee does.
func (s *Server) OnEvent(namespace, event string, f interface{}) {
	h := newEventFunc(f)
	ns := s.namespace(namespace, true)
	ns.mu.Lock()
	_, existed := ns.events[event]
	ns.events[event] = h
	var conns []*conn
	if !existed {
		// Sockets that connected before: googollee looks handlers up
		// per event, so a late OnEvent reaches them too.
		for _, c := range ns.conns {
			if c.listening {
				conns = append(conns, c)
			}
		}
	}
	ns.mu.Unlock()
	for _, c := range conns {
		c.listen(event)
	}
}

// JoinRoom makes connection join room in namespace; false when the
// namespace has no handler.
func (s *Server) JoinRoom(namespace string, room string, connection Conn) bool {
	ns := s.namespace(namespace, false)
	if ns == nil {
		return false
	}
	if c := ns.own(connection); c != nil {
		c.Join(room)
	}
	return true
}

// LeaveRoom makes connection leave room in namespace.
func (s *Server) LeaveRoom(namespace string, room string, connection Conn) bool {
	ns := s.namespace(namespace, false)
	if ns == nil {
		return false
	}
	if c := ns.own(connection); c != nil {
		c.Leave(room)
	}
	return true
}

// LeaveAllRooms makes connection leave every room of namespace.
func (s *Server) LeaveAllRooms(namespace string, connection Conn) bool {
	ns := s.namespace(namespace, false)
	if ns == nil {
		return false
	}
	if c := ns.own(connection); c != nil {
		c.LeaveAll()
	}
	return true
}

// ClearRoom empties room, on every node of a cluster.
func (s *Server) ClearRoom(namespace string, room string) bool {
	ns := s.namespace(namespace, false)
	if ns == nil {
		return false
	}
	if err := ns.nsp.In(room).SocketsLeave(room); err != nil {
		s.log.Warn("socketio: ClearRoom", "namespace", ns.name, "room", room, "err", err)
	}
	return true
}

// BroadcastToRoom sends an event to the connections in room, on every
// node of a cluster. With a func as last argument, each connection of
// this node is sent the event with its own acknowledgement, as googollee
// did; a callback cannot cross nodes.
func (s *Server) BroadcastToRoom(namespace string, room, event string, args ...interface{}) bool {
	ns := s.namespace(namespace, false)
	if ns == nil {
		return false
	}
	if hasCallback(args) {
		for _, c := range ns.inRoom(room) {
			c.Emit(event, args...)
		}
		return true
	}
	if err := ns.nsp.To(room).Emit(event, args...); err != nil {
		s.log.Warn("socketio: BroadcastToRoom", "namespace", ns.name, "room", room, "err", err)
	}
	return true
}

// BroadcastToNamespace sends an event to every connection of namespace,
// on every node of a cluster (with a callback, of this node).
func (s *Server) BroadcastToNamespace(namespace string, event string, args ...interface{}) bool {
	ns := s.namespace(namespace, false)
	if ns == nil {
		return false
	}
	if hasCallback(args) {
		for _, c := range ns.list() {
			c.Emit(event, args...)
		}
		return true
	}
	if err := ns.nsp.Emit(event, args...); err != nil {
		s.log.Warn("socketio: BroadcastToNamespace", "namespace", ns.name, "err", err)
	}
	return true
}

// RoomLen is the number of connections in room, on every node of a
// cluster; -1 when the namespace has no handler.
func (s *Server) RoomLen(namespace string, room string) int {
	ns := s.namespace(namespace, false)
	if ns == nil {
		return -1
	}
	if ns.clustered {
		ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
		defer cancel()
		socks, err := ns.nsp.In(room).FetchSockets(ctx)
		if err == nil {
			return len(socks)
		}
		s.log.Warn("socketio: RoomLen across the cluster", "err", err)
	}
	if room == "" {
		return 0
	}
	return len(ns.nsp.Adapter().Sockets(room))
}

// Rooms lists the rooms of namespace, on every node of a cluster.
func (s *Server) Rooms(namespace string) []string {
	ns := s.namespace(namespace, false)
	if ns == nil {
		return nil
	}
	hidden := map[string]bool{}
	for _, c := range ns.list() {
		if c.s.ID() != c.sessID {
			hidden[c.s.ID()] = true
		}
	}
	set := map[string]bool{}
	for _, r := range ns.nsp.Adapter().Rooms() {
		set[r] = true
	}
	if ns.clustered {
		ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
		defer cancel()
		socks, err := ns.nsp.FetchSockets(ctx)
		if err != nil {
			s.log.Warn("socketio: Rooms across the cluster", "err", err)
		}
		for _, rs := range socks {
			for _, r := range rs.Rooms {
				set[r] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for r := range set {
		if !hidden[r] {
			out = append(out, r)
		}
	}
	return out
}

// Count is the number of open Engine.IO sessions.
func (s *Server) Count() int {
	srv, err := s.ensure()
	if err != nil {
		return 0
	}
	return srv.Engine().Count()
}

// Remove closes the session sid (googollee forgot it, which its client
// then found out).
func (s *Server) Remove(sid string) {
	if srv, err := s.ensure(); err == nil {
		if sess := srv.Engine().Session(sid); sess != nil {
			sess.Close()
		}
	}
}

// ForEach calls f for each connection of this node in room.
func (s *Server) ForEach(namespace string, room string, f EachFunc) bool {
	ns := s.namespace(namespace, false)
	if ns == nil {
		return false
	}
	for _, c := range ns.inRoom(room) {
		f(c)
	}
	return true
}

func hasCallback(args []interface{}) bool {
	l := len(args)
	return l > 0 && args[l-1] != nil && reflect.TypeOf(args[l-1]).Kind() == reflect.Func
}

// normalize maps googollee's names to siogo's: "" and "/" are the root.
func normalize(name string) string {
	if name == "" || name[0] != '/' {
		return "/" + name
	}
	return name
}

// namespace returns the namespace called name, registering it if create
// is set, else nil for one without handlers.
func (s *Server) namespace(name string, create bool) *namespace {
	name = normalize(name)
	s.mu.Lock()
	ns := s.nsps[name]
	s.mu.Unlock()
	if ns != nil || !create {
		return ns
	}
	s.createMu.Lock()
	defer s.createMu.Unlock()
	s.mu.Lock()
	ns, clustered := s.nsps[name], s.redis != nil
	s.mu.Unlock()
	if ns != nil {
		return ns
	}
	srv, err := s.ensure()
	if err != nil {
		// The handlers are kept, on a namespace that serves nobody.
		srv, _ = server.New(server.Options{Engine: transports.Options{Transports: []string{transports.TransportPolling}}})
	}
	ns = &namespace{
		name:      name,
		srv:       s,
		events:    map[string]*funcHandler{},
		conns:     map[string]*conn{},
		clustered: clustered,
	}
	// Not under s.mu: creating the namespace makes its adapter, which
	// reads s.redis.
	ns.nsp = srv.Of(name)
	ns.nsp.Use(ns.admit)
	ns.nsp.OnConnection(ns.connected)
	s.mu.Lock()
	s.nsps[name] = ns
	s.mu.Unlock()
	return ns
}

// sessions holds, from the handshake until the session's end, what
// ConnInitor set and the request's local address.
type sessions struct {
	mu    sync.Mutex
	state map[string]*sessState
	order []string // oldest first, swept a little at each handshake
}

type sessState struct {
	created time.Time
	local   net.Addr
	url     url.URL
	remote  string
	header  http.Header

	mu       sync.Mutex
	ctx      interface{}
	closeReq bool
	// admitted are the session's conns that OnConnect let in; one whose
	// socket never connected (the client left meanwhile) is dropped with
	// the session's state.
	admitted []*conn
}

func (s *Server) newSessionID(r *http.Request) string {
	var id string
	if g := s.opts.SessionIDGenerator; g != nil {
		id = g.NewID()
	} else {
		var b [15]byte
		_, _ = rand.Read(b[:])
		id = base64.RawURLEncoding.EncodeToString(b[:])
	}
	st := &sessState{created: time.Now(), url: *r.URL, remote: r.RemoteAddr, header: r.Header}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		st.local = a
	}
	s.sessions.add(s, id, st)
	if s.opts.ConnInitor != nil {
		s.opts.ConnInitor(r, &engineConn{id: id, st: st, srv: s})
	}
	return id
}

func (t *sessions) add(s *Server, id string, st *sessState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == nil {
		t.state = map[string]*sessState{}
	}
	// Sweep two of the oldest: forget those whose session is gone.
	for range 2 {
		if len(t.order) == 0 {
			break
		}
		old := t.order[0]
		t.order = t.order[1:]
		ost := t.state[old]
		if ost == nil {
			continue
		}
		if time.Since(ost.created) > 10*time.Second && s.srv != nil && s.srv.Engine().Session(old) == nil {
			delete(t.state, old)
			ost.mu.Lock()
			admitted := ost.admitted
			ost.mu.Unlock()
			for _, c := range admitted {
				c.ns.forget(c)
			}
			continue
		}
		t.order = append(t.order, old)
	}
	t.state[id] = st
	t.order = append(t.order, id)
}

// settle takes c off its session's admitted conns: it connected, or was
// refused.
func (t *sessions) settle(c *conn) {
	st := t.get(c.sessID)
	if st == nil {
		return
	}
	st.mu.Lock()
	st.admitted = slices.DeleteFunc(st.admitted, func(x *conn) bool { return x == c })
	st.mu.Unlock()
}

func (t *sessions) get(id string) *sessState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state[id]
}

// engineConn is the engineio.Conn ConnInitor receives.
type engineConn struct {
	id  string
	st  *sessState
	srv *Server
}

var _ engineio.Conn = (*engineConn)(nil)

func (e *engineConn) ID() string { return e.id }
func (e *engineConn) NextReader() (session.FrameType, io.ReadCloser, error) {
	return 0, nil, engineio.ErrNotSupported
}
func (e *engineConn) NextWriter(session.FrameType) (io.WriteCloser, error) {
	return nil, engineio.ErrNotSupported
}

// Close closes the session; when called from ConnInitor, the session is
// closed as soon as it exists.
func (e *engineConn) Close() error {
	if e.srv.srv != nil {
		if sess := e.srv.srv.Engine().Session(e.id); sess != nil {
			sess.Close()
			return nil
		}
	}
	e.st.mu.Lock()
	e.st.closeReq = true
	e.st.mu.Unlock()
	return nil
}

func (e *engineConn) URL() url.URL { return e.st.url }
func (e *engineConn) LocalAddr() net.Addr {
	if e.st.local == nil {
		return addr{}
	}
	return e.st.local
}
func (e *engineConn) RemoteAddr() net.Addr      { return addr{e.st.remote} }
func (e *engineConn) RemoteHeader() http.Header { return e.st.header }
func (e *engineConn) SetContext(v interface{}) {
	e.st.mu.Lock()
	e.st.ctx = v
	e.st.mu.Unlock()
}
func (e *engineConn) Context() interface{} {
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	return e.st.ctx
}

// String helps logs.
func (e *engineConn) String() string { return fmt.Sprintf("engineio.Conn(%s)", e.id) }
