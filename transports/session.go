package transports

import (
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siogo/siogo/internal/websocket"
)

type sessionState uint8

const (
	stateOpen sessionState = iota
	// stateClosing: closed for the layer above, but a polling client has
	// yet to fetch its close packet.
	stateClosing
	stateClosed
)

// Session is one Engine.IO connection, whatever transport carries it. The
// layer above sends packets with Send and receives messages through the
// handler set with OnMessage; it never needs to know the transport.
//
// The session keeps the id, the heartbeat, the packets waiting for the
// client and the close; it sees its transport (polling.go, websocket.go)
// through the transport interface, and the upgrade (upgrade.go) swaps one
// for the other.
type Session struct {
	srv        *Server
	id         string
	protocol   int
	header     http.Header
	remoteAddr string
	limitAddr  netip.Addr // the client's address, as the per-address bounds count it
	host       string
	url        string

	// recvMu orders the delivery of messages to the handler.
	recvMu    sync.Mutex
	onMessage func(data []byte, binary bool)
	via       transport // the transport of the message being delivered; recvMu
	onClose   func(reason string)

	// inLimit is LimitInbound's bound; 0: MaxHTTPBufferSize alone.
	inLimit atomic.Int64

	// writeMu orders writes to the client, across the upgrade.
	writeMu sync.Mutex

	mu    sync.Mutex
	state sessionState
	t     transport // the current transport
	up    *upgrade  // an upgrade under way, or nil
	queue []Packet  // packets waiting for a poll
	// The heartbeat, then the close timeout, on the server's heartbeats:
	// hbWhen and hbIndex are theirs (under their lock); timerSet tells
	// that the timer was set once, as a non-nil time.Timer would.
	hbWhen       time.Duration
	hbIndex      int
	timerSet     bool
	awaitingPong bool
	finalized    bool
	// Read from the handshake before KeepHeaders trims its header.
	xdomain, secure bool
}

func newSession(srv *Server, r *http.Request, q url.Values, protocol int, ws bool) *Session {
	id := ""
	if f := srv.opts.NewSessionID; f != nil {
		id = f(r)
	}
	if id == "" {
		id = newID()
	}
	s := &Session{
		srv:        srv,
		id:         id,
		protocol:   protocol,
		header:     srv.keptHeader(r.Header),
		remoteAddr: r.RemoteAddr,
		host:       r.Host,
		url:        r.URL.RequestURI(),
		xdomain:    r.Header.Get("Origin") != "",
		secure:     r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https",
	}
	if ws {
		s.t = newWSTransport(s, q)
	} else {
		s.t = newPollingTransport(s, q)
	}
	return s
}

// ID is the session id (sid).
func (s *Session) ID() string { return s.id }

// Protocol is the Engine.IO protocol revision: 3 or 4.
func (s *Session) Protocol() int { return s.protocol }

// Header is the handshake request's header.
func (s *Session) Header() http.Header { return s.header }

// XDomain reports whether the handshake was cross-origin (it carried an
// Origin header), whatever Options.KeepHeaders kept.
func (s *Session) XDomain() bool { return s.xdomain }

// Secure reports whether the handshake came over TLS, to this server or,
// by X-Forwarded-Proto, to a proxy in front; whatever KeepHeaders kept.
func (s *Session) Secure() bool { return s.secure }

// Query is the handshake request's query, parsed anew at each call.
func (s *Session) Query() url.Values {
	// From the kept URL, parsed when asked: a map per idle session is
	// dear, and a second string for the query too.
	_, rawQuery, _ := strings.Cut(s.url, "?")
	q, _ := url.ParseQuery(rawQuery)
	return q
}

// trimHeader drops the WebSocket handshake's own fields from the kept
// header: they mean nothing after the upgrade, and a smaller copy is what
// an idle connection then holds (a Go map never shrinks in place).
func trimHeader(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, v := range h {
		switch k {
		case "Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions":
			continue
		}
		out[k] = v
	}
	return out
}

// Host is the handshake request's Host header, which net/http keeps
// apart from Header (Node's request.headers.host).
func (s *Session) Host() string { return s.host }

// keptHeader is what a session keeps of its handshake's header under
// Options.KeepHeaders: copies, so that the request's own map and the block
// of values net/http parsed it into are not held by an idle connection.
func (s *Server) keptHeader(h http.Header) http.Header {
	if s.keepHeaders == nil {
		return h
	}
	var out http.Header
	for k := range s.keepHeaders {
		if v, ok := h[k]; ok {
			if out == nil {
				out = make(http.Header, len(s.keepHeaders))
			}
			out[k] = slices.Clone(v)
		}
	}
	return out
}

// URL is the handshake request's URL (path and query).
func (s *Session) URL() string { return s.url }

// RemoteAddr is the handshake request's remote address.
func (s *Session) RemoteAddr() string { return s.remoteAddr }

// ClientAddr is the client's IP address as the per-address bounds count
// it: the peer's, or, from a trusted proxy (Options.TrustedProxies), the
// address its X-Forwarded-For names.
func (s *Session) ClientAddr() netip.Addr { return s.limitAddr }

// LimitInbound lowers, from now on, the bound on what the client may send
// to max bytes (0 restores MaxHTTPBufferSize alone): each message and POST
// body, and, on a WebSocket, the messages read while the OnMessage handler
// is busy that wait for it, together. Past it the session closes with
// ReasonTransportError, as past MaxHTTPBufferSize. For a client that has
// yet to prove who it is: a costly check (a password's) should not make
// the server hold whatever it sends meanwhile.
func (s *Session) LimitInbound(max int) {
	if max < 0 {
		max = 0
	}
	s.inLimit.Store(int64(max))
	s.mu.Lock()
	t := s.t
	s.mu.Unlock()
	t.limitInbound(max)
}

// Transport is the name of the current transport.
func (s *Session) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t.name()
}

// OnMessage sets the message handler. data is valid only during the call.
// Set it in Options.OnSession; calls never overlap.
func (s *Session) OnMessage(f func(data []byte, binary bool)) { s.onMessage = f }

// OnClose sets the handler called once when the session closes, with one of
// the Reason constants.
func (s *Session) OnClose(f func(reason string)) {
	s.mu.Lock()
	s.onClose = f
	s.mu.Unlock()
}

// Run runs f on the session's serial queue, off the event loop, once the
// message being delivered to the OnMessage handler has been handled. Where
// the transport's worker delivered it (a WebSocket on the event loop), f
// runs there, before the next message unless f waits for it: the next
// messages are then delivered on another worker, so f may wait for what
// the client sends next. Elsewhere (a POST, whose goroutine must answer
// it) f runs on a goroutine of its own. Jobs of different messages are not
// ordered between themselves: the layer above orders its own (the Socket.IO
// server runs a socket's handlers so). What the session sends while a
// message and its job are handled leaves together, in one write call where
// the transport can, when the job returns, or at once at Flush. Call it
// only from the OnMessage handler. A panic in f closes the session with
// ReasonTransportError.
func (s *Session) Run(f func()) {
	if v := s.via; v != nil {
		s.via = nil // one job per message on the worker; more get goroutines
		if v.after(f) {
			return
		}
	}
	// Delivered by a goroutine that must go on reading (a POST, a
	// WebSocket read without the loop): f gets one of its own.
	go s.runJob(f)
}

// runJob runs a job of the session's queue off its transport's worker.
func (s *Session) runJob(f func()) {
	defer func() {
		if v := recover(); v != nil {
			s.srv.opts.Logger.Error("engine.io: panic in a session's job; session closed",
				slog.String("sid", s.id), slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			if h := s.srv.opts.OnPanic; h != nil {
				h("handler")
			}
			s.closeWith(ReasonTransportError, false)
		}
	}()
	f()
}

// Flush sends at once what the session holds back (engine.io's
// Socket.flush): the packets sent while a message is handled, and the job
// Run queued after it runs, leave together when it returns; a job about to
// wait for its client flushes first, so that the client has what it
// answers.
func (s *Session) Flush() {
	s.mu.Lock()
	t := s.t
	s.mu.Unlock()
	t.flush()
}

// Close closes the session with ReasonForcedClose. A polling client still
// receives its close packet.
func (s *Session) Close() { s.closeWith(ReasonForcedClose, true) }

// Send queues packets for the client, in order. Over WebSocket they are
// written at once, in one write call; over polling they wait for the next
// poll. Data must not change after the call: a broadcast may share it
// between sessions.
func (s *Session) Send(pkts ...Packet) error {
	_, err := s.send(pkts, false)
	return err
}

// SendVolatile sends pkts only if the transport can take them at once: a
// WebSocket whose peer reads what it was sent (no bytes wait for its
// socket), or a poll waiting with nothing queued before them. Otherwise
// they are dropped, and it reports false (Socket.IO's volatile flag).
func (s *Session) SendVolatile(pkts ...Packet) bool {
	sent, err := s.send(pkts, true)
	return sent && err == nil
}

func (s *Session) send(pkts []Packet, volatile bool) (bool, error) {
	if o := s.srv.opts.Observer; o != nil {
		n := 0
		for _, p := range pkts {
			n += 1 + len(p.Data)
		}
		o.PacketsOut(len(pkts), n)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return false, ErrSessionClosed
	}
	// Under writeMu the transport cannot change: the upgrade holds it.
	return s.t.send(pkts, volatile)
}

// startHeartbeat arms the heartbeat: v4 servers ping, v3 clients do.
func (s *Session) startHeartbeat() {
	o := s.srv.opts
	d := o.PingInterval
	if s.protocol == 3 {
		d = o.PingInterval + o.PingTimeout
	}
	s.mu.Lock()
	if s.state == stateOpen && !s.timerSet {
		s.resetTimer(d)
	}
	s.mu.Unlock()
}

// resetTimer sets the session's timer to call onTimer d from now. s.mu
// is held.
func (s *Session) resetTimer(d time.Duration) {
	s.timerSet = true
	s.srv.heartbeats.arm(s, d)
}

func (s *Session) onTimer() {
	s.mu.Lock()
	switch s.state {
	case stateClosed:
		s.mu.Unlock()
		return
	case stateClosing:
		s.mu.Unlock()
		s.finalize()
		return
	}
	if s.protocol == 3 || s.awaitingPong {
		s.mu.Unlock()
		s.closeWith(ReasonPingTimeout, false)
		return
	}
	s.awaitingPong = true
	s.resetTimer(s.srv.opts.PingTimeout)
	s.mu.Unlock()
	_ = s.Send(Packet{Type: PacketPing})
}

// onPacket handles a packet from the client's current transport.
func (s *Session) onPacket(p Packet) { s.onPacketVia(p, nil) }

// onPacketVia takes a packet that came on via: a transport whose worker
// runs the session's queue, or nil (polling).
func (s *Session) onPacketVia(p Packet, via transport) {
	if o := s.srv.opts.Observer; o != nil {
		o.PacketsIn(1, 1+len(p.Data))
	}
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	switch p.Type {
	case PacketMessage:
		s.mu.Lock()
		open := s.state == stateOpen
		s.mu.Unlock()
		if open && s.onMessage != nil {
			s.via = via
			s.onMessage(p.Data, p.Binary)
			s.via = nil
		}
	case PacketPing:
		if s.protocol != 3 {
			// Protocol 4 clients answer pings; they never send them.
			s.closeWith(ReasonTransportError, false)
			return
		}
		s.mu.Lock()
		if s.state == stateOpen && s.timerSet {
			s.resetTimer(s.srv.opts.PingInterval + s.srv.opts.PingTimeout)
		}
		s.mu.Unlock()
		_ = s.Send(Packet{Type: PacketPong, Data: p.Data})
	case PacketPong:
		if s.protocol == 3 {
			s.closeWith(ReasonTransportError, false)
			return
		}
		s.mu.Lock()
		if s.state == stateOpen && s.awaitingPong {
			s.awaitingPong = false
			s.resetTimer(s.srv.opts.PingInterval)
		}
		s.mu.Unlock()
	case PacketClose:
		s.close(ReasonTransportClose, closeByClient)
	}
	// open, upgrade and noop from the client carry nothing to act on.
}

// closeMode is what a polling client is told when its session closes.
type closeMode uint8

const (
	// closeAtOnce: a pending poll gets the close packet, as in Node when a
	// session fails (an error, a ping timeout).
	closeAtOnce closeMode = iota
	// closeNotify: the close packet goes in the pending poll or, if none
	// is, in the next one (the server closes the session).
	closeNotify
	// closeByClient: the client sent the close packet. A pending poll is
	// released with what is queued, a noop if nothing is, and no close
	// packet (Node's Polling.onClose); the session is unknown at once.
	closeByClient
)

// closeWith closes the session for reason. When notify is set and the
// session is polling, the close packet waits for the client's next poll.
func (s *Session) closeWith(reason string, notify bool) {
	mode := closeAtOnce
	if notify {
		mode = closeNotify
	}
	s.close(reason, mode)
}

func (s *Session) close(reason string, mode closeMode) {
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return
	}
	s.state = stateClosing
	// Counted out before any poll is woken: a client that has its close
	// packet must find the server's count already lower.
	s.srv.countOut(s)
	handler := s.onClose
	var probe *websocket.Conn // the WebSocket of an upgrade under way
	if up := s.up; up != nil {
		up.stop()
		probe = up.t.conn
		s.up = nil
	}
	t := s.t
	finalNow := t.closing(mode)
	s.mu.Unlock()

	if probe != nil {
		_ = probe.Close(websocket.CloseNoStatus)
	}
	t.close()
	switch {
	case finalNow:
		s.finalize()
	case mode == closeByClient:
		// The released poll finalizes the session; until it runs, a new
		// request must already find the session gone, as in Node.
		s.srv.remove(s)
	}
	s.srv.opts.Logger.Debug("engine.io session closed", "sid", s.id, "reason", reason)
	if o := s.srv.opts.Observer; o != nil {
		o.SessionClosed(t.name(), s.protocol, reason)
	}
	if handler != nil {
		handler(reason)
	}
}

// clockStart is the origin of the monotonic times a session keeps as
// durations, 8 bytes where a time.Time takes 24.
var clockStart = time.Now()

// finalize forgets the session. It is idempotent.
func (s *Session) finalize() {
	s.mu.Lock()
	if s.finalized {
		s.mu.Unlock()
		return
	}
	s.finalized = true
	if s.state == stateOpen {
		s.srv.countOut(s)
	}
	s.state = stateClosed
	if s.timerSet {
		s.srv.heartbeats.stop(s)
	}
	s.queue = nil
	s.mu.Unlock()
	s.srv.remove(s)
}
