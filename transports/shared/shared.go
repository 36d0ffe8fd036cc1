// Package shared lets every node of a cluster serve every request of every
// Engine.IO session, so that no sticky load balancer is needed: a poll, a
// POST, a JSONP request or a WebSocket upgrade that reaches a node other
// than the session's owner is relayed to the owner over the cluster's
// broker (adapters/cluster's Broker: Redis, Redis Streams, Redis Cluster,
// PostgreSQL), served there by its Engine.IO server, and the answer comes
// back the same way.
//
//	sh, _ := shared.New(broker, shared.Options{})
//	opts.Engine.NewSessionID = sh.NewSessionID // ids name their owner
//	srv, _ := server.New(opts)
//	mux.Handle("/socket.io/", sh.Handler(srv))
//
// A session's id starts with its owner's node id, so a request goes
// straight to its owner: one message there and one back, no broadcast per
// request. The owner serves it as its own (its session's order, limits and
// errors apply); a WebSocket that lands on another node stays there, and
// its bytes are relayed to the owner, which serves the upgrade on a
// loopback connection of its own. Waits are bounded: an owner that does
// not answer within Options.AckTimeout, or whose answer does not come
// within pingInterval+pingTimeout, is taken for gone, and the client gets
// what a single node says of a session it does not know (400,
// {"code":1,"message":"Session ID unknown"}): it reconnects, to any node.
package shared

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siogo/siogo/adapters/cluster"
)

// Options configure shared sessions. The zero value means the defaults.
type Options struct {
	// NodeID names this node in session ids; 8 URL-safe characters
	// without '.', random by default.
	NodeID string
	// MaxHTTPBufferSize is the Engine.IO server's (transports.Options):
	// a relayed request body carries at most one byte more, so that the
	// owner answers a larger one as it would its own (413). Default 1e6.
	MaxHTTPBufferSize int64
	// PingInterval and PingTimeout are the Engine.IO server's; a relayed
	// request waits at most their sum and WaitMargin for its answer, and
	// a relayed WebSocket closes when nothing crossed it for as long.
	// Defaults 25 s and 20 s.
	PingInterval, PingTimeout time.Duration
	// WaitMargin is added to the wait above. Default 5 s.
	WaitMargin time.Duration
	// AckTimeout bounds how long a relayed request or WebSocket waits for
	// the owner's first word before the owner is taken for gone.
	// Default 5 s.
	AckTimeout time.Duration
	// ProbeInterval is how often this node asks a node it waits on (the
	// owner of a relayed request or WebSocket, the edge of one it serves)
	// whether it is there, when nothing came from it meanwhile; a node
	// silent for ProbeTimeout is taken for gone: its relayed requests fail
	// at once (unknown sid: the client reconnects) and its relayed
	// WebSockets close. Defaults 1 s and 3 s.
	ProbeInterval, ProbeTimeout time.Duration
	// MaxRelayQueue bounds the messages (of at most 16 KiB each) queued
	// for one relayed WebSocket that its connection has not taken yet;
	// past it the WebSocket closes, as a client too slow to keep up.
	// Default 256 (4 MiB, the program's WebSocket write buffer).
	MaxRelayQueue int
	// Observer, when set, is told of each relayed request.
	Observer Observer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Observer is told what relaying costs, for metrics.
type Observer interface {
	// Forwarded is called when a request relayed to its owner ends:
	// kind is poll, post, websocket or other; outcome ok, timeout (the
	// owner did not answer in time), error (the broker failed) or
	// canceled (the client went away first); d is how long it took (a
	// WebSocket's: until its 101 or failure).
	Forwarded(kind, outcome string, d time.Duration)
	// Relaying reports a change of the number of WebSockets relayed
	// through this node (+1, -1), at either end.
	Relaying(delta int)
}

func (o Options) withDefaults() Options {
	if o.MaxHTTPBufferSize <= 0 {
		o.MaxHTTPBufferSize = 1e6
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 25 * time.Second
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = 20 * time.Second
	}
	if o.WaitMargin <= 0 {
		o.WaitMargin = 5 * time.Second
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 5 * time.Second
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = time.Second
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = 3 * time.Second
	}
	if o.ProbeTimeout < o.ProbeInterval {
		o.ProbeTimeout = 2 * o.ProbeInterval
	}
	if o.MaxRelayQueue <= 0 {
		o.MaxRelayQueue = 256
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// nodeIDLen is the length of a node id, the prefix of its session ids.
const nodeIDLen = 8

// Sessions relays the requests of sessions owned by other nodes, and
// serves those other nodes relay here.
type Sessions struct {
	opts   Options
	id     string
	broker cluster.Broker
	unsub  func()
	wait   time.Duration // the bound of a relayed request's answer

	engine atomic.Pointer[http.Handler]

	mu      sync.Mutex
	waiters map[string]*waiter // this edge's requests awaiting their owner
	served  map[string]*served // requests served here for other edges
	tunnels map[string]*tunnel
	peers   map[string]*peer // the nodes this one waits on, by id
	closed  bool
	stop    chan struct{}
	ready   atomic.Bool // a ping to itself came back: the relay channel is subscribed

	loopOnce sync.Once
	loopAddr string // the loopback server relayed upgrades are served on
	loopErr  error
	loop     *http.Server
	loopLn   net.Listener
}

// ErrBadNodeID is returned by New for a NodeID that cannot prefix session ids.
var ErrBadNodeID = errors.New("shared: NodeID must be 8 URL-safe characters without '.'")

// New subscribes to the broker's relay channel for this node. Close ends
// the subscription.
func New(b cluster.Broker, opts Options) (*Sessions, error) {
	opts = opts.withDefaults()
	id := opts.NodeID
	if id == "" {
		id = randomID(6)
	}
	if !validNodeID(id) {
		return nil, ErrBadNodeID
	}
	s := &Sessions{
		opts:    opts,
		id:      id,
		broker:  b,
		wait:    opts.PingInterval + opts.PingTimeout + opts.WaitMargin,
		waiters: map[string]*waiter{},
		served:  map[string]*served{},
		tunnels: map[string]*tunnel{},
		peers:   map[string]*peer{},
		stop:    make(chan struct{}),
	}
	unsub, err := b.Subscribe(Namespace, id, s.receive)
	if err != nil {
		return nil, fmt.Errorf("shared: subscribing: %w", err)
	}
	s.unsub = unsub
	go s.probe()
	go s.selfCheck()
	return s, nil
}

// ErrNotReady is Ready's answer until this node's relay channel works.
var ErrNotReady = errors.New("shared: the relay channel is not subscribed yet")

// Ready reports whether messages for this node reach it (for a readiness
// probe): a broker may subscribe after Subscribe returns, and a request
// relayed here before that would be lost.
func (s *Sessions) Ready() error {
	if s.ready.Load() {
		return nil
	}
	return ErrNotReady
}

// selfCheck pings this node through the broker until the ping comes back.
func (s *Sessions) selfCheck() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for !s.ready.Load() {
		_ = s.send(&msg{kind: kindPing, to: s.id, id: "self"})
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// waiter is a relayed request awaiting its owner's answers.
type waiter struct {
	ch    chan *msg
	owner string
}

// served is a request served here for an edge.
type served struct {
	cancel context.CancelFunc
	edge   string
}

// peer is what this node knows of a node it waits on.
type peer struct {
	uses  int       // waiters, served requests and tunnels with it
	heard time.Time // when a message last came from it
	asked time.Time // when it was last pinged
}

// use counts one more (delta 1) or one less (-1) wait on node id; s.mu
// is held.
func (s *Sessions) use(id string, delta int) {
	p := s.peers[id]
	if p == nil {
		if delta < 0 {
			return
		}
		p = &peer{heard: time.Now()}
		s.peers[id] = p
	}
	p.uses += delta
	if p.uses <= 0 {
		delete(s.peers, id)
	}
}

// probe pings the nodes this one waits on when they have been silent,
// and gives up on those silent for ProbeTimeout.
func (s *Sessions) probe() {
	t := time.NewTicker(s.opts.ProbeInterval / 2)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		now := time.Now()
		var ask, gone []string
		s.mu.Lock()
		for id, p := range s.peers {
			switch {
			case now.Sub(p.heard) >= s.opts.ProbeTimeout:
				gone = append(gone, id)
				delete(s.peers, id)
			case now.Sub(p.heard) >= s.opts.ProbeInterval && now.Sub(p.asked) >= s.opts.ProbeInterval:
				p.asked = now
				ask = append(ask, id)
			}
		}
		s.mu.Unlock()
		for _, id := range ask {
			go func() { _ = s.send(&msg{kind: kindPing, to: id, id: "ping"}) }()
		}
		for _, id := range gone {
			s.opts.Logger.Info("shared sessions: a node stopped answering; its relayed requests fail", "node", id)
			s.peerGone(id)
		}
	}
}

// peerGone fails what waits on node id: its relayed requests answer
// unknown sid, its relayed WebSockets close, the requests it relayed
// here are canceled.
func (s *Sessions) peerGone(id string) {
	var tunnels []*tunnel
	s.mu.Lock()
	for _, w := range s.waiters {
		if w.owner == id {
			select {
			case w.ch <- &msg{kind: kindGone}:
			default:
			}
		}
	}
	for _, sv := range s.served {
		if sv.edge == id {
			sv.cancel()
		}
	}
	for _, t := range s.tunnels {
		if t.peer == id {
			tunnels = append(tunnels, t)
		}
	}
	s.mu.Unlock()
	for _, t := range tunnels {
		t.end(false)
	}
}

// Serving is the number of requests other nodes relayed here that are
// being served now (polls waiting for packets, mostly).
func (s *Sessions) Serving() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.served)
}

// NodeID is this node's id, the prefix of the session ids it makes.
func (s *Sessions) NodeID() string { return s.id }

// NewSessionID is the transports.Options.NewSessionID of a node that
// shares sessions: this node's id, '.', and 15 random bytes (the default
// id's).
func (s *Sessions) NewSessionID(*http.Request) string { return s.id + "." + randomID(15) }

// Owner is the node id a session id names, "" when it names none. A
// client chooses the sid it sends: only the characters of a node id are
// taken, so what names a broker channel stays within them.
func Owner(sid string) string {
	if len(sid) > nodeIDLen && sid[nodeIDLen] == '.' && validNodeID(sid[:nodeIDLen]) {
		return sid[:nodeIDLen]
	}
	return ""
}

func validNodeID(id string) bool {
	if len(id) != nodeIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Handler returns engine (the Engine.IO or Socket.IO server's handler,
// mounted at its path) behind the relay: requests of sessions owned here,
// and handshakes, go to engine; the others to their owners. Requests
// relayed here from other nodes are served by engine too.
func (s *Sessions) Handler(engine http.Handler) http.Handler {
	s.engine.Store(&engine)
	return http.HandlerFunc(s.serveHTTP)
}

func (s *Sessions) local() http.Handler {
	if h := s.engine.Load(); h != nil {
		return *h
	}
	return nil
}

// Drain ends the WebSockets relayed through this node, at either end, for
// a graceful shutdown: their clients reconnect, to other nodes, as the
// server's own are told to. Relayed requests go on until answered.
func (s *Sessions) Drain() {
	s.mu.Lock()
	tunnels := make([]*tunnel, 0, len(s.tunnels))
	for _, t := range s.tunnels {
		tunnels = append(tunnels, t)
	}
	s.mu.Unlock()
	for _, t := range tunnels {
		t.end(true)
	}
}

// Close ends the subscription and the relayed WebSockets, and fails the
// requests waiting for other nodes.
func (s *Sessions) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	tunnels := make([]*tunnel, 0, len(s.tunnels))
	for _, t := range s.tunnels {
		tunnels = append(tunnels, t)
	}
	for _, sv := range s.served {
		sv.cancel()
	}
	for _, w := range s.waiters {
		select {
		case w.ch <- &msg{kind: kindGone}:
		default:
		}
	}
	loop := s.loop
	s.mu.Unlock()
	s.unsub()
	for _, t := range tunnels {
		t.end(false)
	}
	if loop != nil {
		_ = loop.Close()
	}
	return nil
}

func (s *Sessions) serveHTTP(w http.ResponseWriter, r *http.Request) {
	engine := s.local()
	owner := Owner(r.URL.Query().Get("sid"))
	if owner == "" || owner == s.id || r.Method == http.MethodOptions {
		// A handshake, a session of this node, or a CORS preflight (any
		// node answers it alike).
		engine.ServeHTTP(w, r)
		return
	}
	if isUpgrade(r) {
		s.relayUpgrade(w, r, owner)
		return
	}
	s.forward(w, r, owner)
}

func isUpgrade(r *http.Request) bool {
	return headerHas(r.Header, "Upgrade", "websocket") && headerHas(r.Header, "Connection", "upgrade")
}

func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// unknownSID is a single node's answer to a request naming a session it
// does not hold, which is what the client of a gone owner gets.
func unknownSID(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = io.WriteString(w, `{"code":1,"message":"Session ID unknown"}`)
}

func requestKind(r *http.Request) string {
	switch r.Method {
	case http.MethodGet:
		return "poll"
	case http.MethodPost:
		return "post"
	}
	return "other"
}

func (s *Sessions) observe(kind, outcome string, start time.Time) {
	if o := s.opts.Observer; o != nil {
		o.Forwarded(kind, outcome, time.Since(start))
	}
}

// send publishes m to its node.
func (s *Sessions) send(m *msg) error {
	m.from = s.id
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.AckTimeout)
	defer cancel()
	return s.broker.PublishResponse(ctx, m.to, m.message())
}

// await registers a waiter for owner's answers to id.
func (s *Sessions) await(id, owner string) (chan *msg, bool) {
	ch := make(chan *msg, 3)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false
	}
	s.waiters[id] = &waiter{ch: ch, owner: owner}
	s.use(owner, 1)
	return ch, true
}

func (s *Sessions) forget(id string) {
	s.mu.Lock()
	if w := s.waiters[id]; w != nil {
		delete(s.waiters, id)
		s.use(w.owner, -1)
	}
	s.mu.Unlock()
}

// forward relays a polling request to the session's owner and writes its
// answer.
func (s *Sessions) forward(w http.ResponseWriter, r *http.Request, owner string) {
	start := time.Now()
	kind := requestKind(r)
	var body []byte
	if r.Body != nil && r.Method != http.MethodGet {
		// One byte past the bound: the owner refuses it as its own.
		b, err := io.ReadAll(io.LimitReader(r.Body, s.opts.MaxHTTPBufferSize+1))
		if err != nil {
			// The client's body broke off: as the owner's server would, drop it.
			s.observe(kind, "canceled", start)
			return
		}
		body = b
	}
	id := randomID(12)
	answers, ok := s.await(id, owner)
	if !ok {
		unknownSID(w)
		return
	}
	defer s.forget(id)
	h := r.Header.Clone()
	h.Del("Content-Length")
	if h.Get("Host") == "" {
		h.Set("Host", r.Host)
	}
	m := &msg{kind: kindRequest, to: owner, id: id, method: r.Method, uri: r.URL.RequestURI(), remote: r.RemoteAddr, header: h, body: body}
	if err := s.send(m); err != nil {
		s.opts.Logger.Debug("shared sessions: relaying a request failed", "err", err)
		s.observe(kind, "error", start)
		unknownSID(w)
		return
	}
	ack := time.NewTimer(s.opts.AckTimeout)
	defer ack.Stop()
	deadline := time.NewTimer(s.wait)
	defer deadline.Stop()
	for {
		select {
		case a := <-answers:
			if a.kind == kindAccepted {
				ack.Stop()
				continue
			}
			if a.kind == kindGone {
				s.observe(kind, "timeout", start)
				unknownSID(w)
				return
			}
			for k, vs := range a.header {
				if k != "Content-Length" {
					w.Header()[k] = vs
				}
			}
			status := a.status
			if status == 0 {
				status = http.StatusOK
			}
			w.WriteHeader(status)
			_, _ = w.Write(a.body)
			s.observe(kind, "ok", start)
			return
		case <-ack.C:
			s.observe(kind, "timeout", start)
			unknownSID(w)
			return
		case <-deadline.C:
			_ = s.send(&msg{kind: kindCancel, to: owner, id: id})
			s.observe(kind, "timeout", start)
			unknownSID(w)
			return
		case <-r.Context().Done():
			// The client went away: the owner ends the request as if its
			// own client had (a poll's session closes, as on one node).
			_ = s.send(&msg{kind: kindCancel, to: owner, id: id})
			s.observe(kind, "canceled", start)
			return
		}
	}
}

// receive handles the relay messages for this node, in the broker's
// order, on its goroutine: nothing here blocks.
func (s *Sessions) receive(cm *cluster.Message, _ string) {
	m, err := decode(cm)
	if err != nil || m.to != s.id {
		return
	}
	s.mu.Lock()
	if p := s.peers[m.from]; p != nil {
		p.heard = time.Now()
	}
	s.mu.Unlock()
	switch m.kind {
	case kindPing:
		if m.from == s.id {
			s.ready.Store(true)
			return
		}
		go func() { _ = s.send(&msg{kind: kindPong, to: m.from, id: "pong"}) }()
	case kindAccepted, kindResponse:
		s.mu.Lock()
		w := s.waiters[m.id]
		s.mu.Unlock()
		if w != nil {
			select {
			case w.ch <- m:
			default:
			}
		}
	case kindRequest:
		s.serveRelayed(m)
	case kindCancel:
		s.mu.Lock()
		sv := s.served[m.id]
		s.mu.Unlock()
		if sv != nil {
			sv.cancel()
		}
	case kindOpen:
		s.openTunnel(m)
	case kindData, kindClose:
		s.mu.Lock()
		t := s.tunnels[m.id]
		s.mu.Unlock()
		if t != nil {
			t.deliver(m)
		}
	}
}

// serveRelayed serves a request another node relayed here, on a goroutine
// of its own, and sends the answer back.
func (s *Sessions) serveRelayed(m *msg) {
	engine := s.local()
	ctx, cancel := context.WithTimeout(context.Background(), s.wait)
	s.mu.Lock()
	if s.closed || engine == nil {
		s.mu.Unlock()
		cancel()
		return
	}
	s.served[m.id] = &served{cancel: cancel, edge: m.from}
	s.use(m.from, 1)
	s.mu.Unlock()
	if m.method == http.MethodGet {
		// A poll may wait for packets: the edge then knows this node lives.
		go func() { _ = s.send(&msg{kind: kindAccepted, to: m.from, id: m.id}) }()
	}
	go func() {
		defer func() {
			s.mu.Lock()
			delete(s.served, m.id)
			s.use(m.from, -1)
			s.mu.Unlock()
			cancel()
		}()
		req, err := http.NewRequestWithContext(ctx, m.method, m.uri, bytes.NewReader(m.body))
		if err != nil {
			_ = s.send(&msg{kind: kindResponse, to: m.from, id: m.id, status: http.StatusBadRequest})
			return
		}
		req.RequestURI = m.uri
		req.Header = m.header
		if req.Header == nil {
			req.Header = http.Header{}
		}
		req.Host = req.Header.Get("Host")
		req.Header.Del("Host")
		req.RemoteAddr = m.remote
		req.ContentLength = int64(len(m.body))
		rec := &recorder{header: http.Header{}}
		engine.ServeHTTP(rec, req)
		if ctx.Err() != nil {
			// Canceled by the edge (its client left) or past the bound:
			// nobody waits for the answer.
			return
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		if err := s.send(&msg{kind: kindResponse, to: m.from, id: m.id, status: rec.status, header: rec.header, body: rec.body.Bytes()}); err != nil {
			s.opts.Logger.Debug("shared sessions: answering a relayed request failed", "err", err)
		}
	}()
}

// recorder is the ResponseWriter a relayed request is served with.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
