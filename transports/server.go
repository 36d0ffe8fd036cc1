package transports

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siogo/siogo/internal/websocket"
)

// Server is an Engine.IO server: an http.Handler that accepts sessions over
// long-polling (XHR and JSONP) and WebSocket, for protocols 3 and 4. Mount it
// on any mux at the path clients use (engine.io-client: /engine.io/).
//
//	srv, _ := transports.NewServer(transports.Options{OnSession: onSession})
//	http.Handle("/engine.io/", srv)
type Server struct {
	opts      Options
	limits    *limiter
	ws        *websocket.Server
	polling   bool
	websocket bool
	// openTail is the open packet's JSON after the sid, one per transport
	// (polling offers the upgrade, websocket offers none).
	openTailPolling, openTailWS []byte
	// keepHeaders is Options.KeepHeaders, canonical; nil keeps all.
	keepHeaders map[string]struct{}

	mu        sync.RWMutex
	sessions  map[string]*Session
	open      atomic.Int64 // sessions not yet closed
	admitted  atomic.Int64 // connections Admit counts in
	closed    atomic.Bool
	drained   chan struct{} // closed when the last session is gone after Shutdown
	drainOnce sync.Once

	heartbeats heartbeats // every session's heartbeat and close timer
}

// NewServer returns a server with opts, its zero fields set to defaults.
func NewServer(opts Options) (*Server, error) {
	opts = opts.withDefaults()
	s := &Server{
		opts:     opts,
		limits:   newLimiter(opts),
		sessions: make(map[string]*Session),
		drained:  make(chan struct{}),
	}
	for _, t := range opts.Transports {
		switch t {
		case TransportPolling:
			s.polling = true
		case TransportWebSocket:
			s.websocket = true
		default:
			return nil, fmt.Errorf("engine.io: unknown transport %q", t)
		}
	}
	if s.websocket {
		ws, err := websocket.NewServer(websocket.Config{
			MaxMessageSize:    int(opts.MaxHTTPBufferSize),
			Compression:       !opts.DisablePerMessageDeflate,
			CompressThreshold: opts.PerMessageDeflateThreshold,
			MaxWriteBuffer:    opts.MaxWriteBuffer,
			Logger:            opts.Logger,
			OnPanic:           opts.OnPanic,
		})
		if err != nil {
			return nil, fmt.Errorf("engine.io: starting the websocket loop: %w", err)
		}
		s.ws = ws
	}
	if opts.KeepHeaders != nil {
		s.keepHeaders = make(map[string]struct{}, len(opts.KeepHeaders))
		for _, k := range opts.KeepHeaders {
			s.keepHeaders[textproto.CanonicalMIMEHeaderKey(k)] = struct{}{}
		}
	}
	upgrades := []string{}
	if s.websocket && !opts.DisableUpgrades {
		upgrades = []string{TransportWebSocket}
	}
	s.openTailPolling = openTail(upgrades, opts)
	s.openTailWS = openTail([]string{}, opts)
	return s, nil
}

func openTail(upgrades []string, o Options) []byte {
	b, _ := json.Marshal(struct {
		Upgrades     []string `json:"upgrades"`
		PingInterval int64    `json:"pingInterval"`
		PingTimeout  int64    `json:"pingTimeout"`
		MaxPayload   int64    `json:"maxPayload"`
	}{upgrades, o.PingInterval.Milliseconds(), o.PingTimeout.Milliseconds(), o.MaxHTTPBufferSize})
	// {"upgrades":... -> ,"upgrades":...
	b[0] = ','
	return b
}

// openPacket is the data of the open packet of session sid.
func (s *Server) openPacket(sid string, tail []byte) []byte {
	b := make([]byte, 0, 8+len(sid)+len(tail))
	b = append(b, `{"sid":"`...)
	b = append(b, sid...)
	b = append(b, '"')
	return append(b, tail...)
}

// Count is the number of open sessions.
func (s *Server) Count() int { return int(s.open.Load()) }

// Session returns the open session with id sid, or nil.
func (s *Server) Session(sid string) *Session {
	s.mu.RLock()
	sess := s.sessions[sid]
	s.mu.RUnlock()
	return sess
}

// idBytes holds bytes from crypto/rand for session ids, each used once:
// read 64 ids at a time, as Node's base64id reads a pool of random bytes,
// rather than one getrandom call per handshake (5% of a new connection's
// CPU).
var idBytes struct {
	sync.Mutex
	buf [15 * 64]byte
	off int // bytes of buf used; len(buf) when empty
}

func init() { idBytes.off = len(idBytes.buf) }

// newID returns a session id: 15 bytes from crypto/rand, base64url, like
// Node's base64id (20 characters).
func newID() string {
	var b [15]byte
	idBytes.Lock()
	if idBytes.off+len(b) > len(idBytes.buf) {
		_, _ = rand.Read(idBytes.buf[:])
		idBytes.off = 0
	}
	copy(b[:], idBytes.buf[idBytes.off:])
	clear(idBytes.buf[idBytes.off : idBytes.off+len(b)])
	idBytes.off += len(b)
	idBytes.Unlock()
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func isUpgradeRequest(r *http.Request) bool {
	return headerHasToken(r.Header, "Upgrade", "websocket") && headerHasToken(r.Header, "Connection", "upgrade")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// invalidHeaderChar mirrors Node's check of the Origin header.
func invalidHeaderChar(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\t' && (c < 0x20 || c == 0x7f) {
			return true
		}
	}
	return false
}

// eioParam is the EIO query parameter as Node reads it: the last one when
// it is repeated.
func eioParam(q url.Values) string {
	v := q["EIO"]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// handshakeProtocol is the protocol revision a handshake asks for: 3 or 4,
// or 0 for any other EIO value (missing, empty, "abc", "5"), which Node
// refuses with code 5 (its allowEIO3 off, the default: only "4" opens a
// session there).
func handshakeProtocol(q url.Values) int {
	switch eioParam(q) {
	case "4":
		return 4
	case "3":
		return 3
	}
	return 0
}

// requestProtocol is the revision of a request that names a session, as
// Node computes it to compare with the session's: 4 for EIO=4, 3 for any
// other value or none.
func requestProtocol(q url.Values) int {
	if eioParam(q) == "4" {
		return 4
	}
	return 3
}

// ServeHTTP answers Engine.IO requests: handshakes, polls, posts and
// WebSocket upgrades.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c := s.opts.CORS; c != nil && c.apply(w, r) {
		return
	}
	q := r.URL.Query()
	upgrade := isUpgradeRequest(r)
	sess, rerr := s.verify(r, q, upgrade)
	if rerr != nil {
		s.refuse(w, rerr, upgrade)
		return
	}
	if sess == nil {
		s.handshake(w, r, q, upgrade)
		return
	}
	switch {
	case upgrade:
		sess.serveUpgrade(w, r, q)
	case r.Method == http.MethodGet:
		sess.servePoll(w, r)
	case r.Method == http.MethodPost:
		sess.servePost(w, r)
	default:
		w.WriteHeader(http.StatusInternalServerError)
	}
}

func (s *Server) refuse(w http.ResponseWriter, e *RequestError, upgrade bool) {
	s.opts.Logger.Debug("engine.io request refused", "code", int(e.Code), "message", e.Message)
	if o := s.opts.Observer; o != nil {
		o.HandshakeRefused(e.Code)
	}
	if e.Status != 0 {
		// siogo's own refusals (capacity, per-address bounds, a
		// WebSocket's origin) keep their status and JSON body on
		// upgrades too.
		e.writeJSON(w)
		return
	}
	if upgrade {
		e.writeUpgrade(w)
		return
	}
	e.writeJSON(w)
}

// verify checks a request in the Node server's order and returns the session
// it names, nil for a handshake.
func (s *Server) verify(r *http.Request, q url.Values, upgrade bool) (*Session, *RequestError) {
	transport := q.Get("transport")
	if !(transport == TransportPolling && s.polling) && !(transport == TransportWebSocket && s.websocket) {
		return nil, requestError(CodeUnknownTransport, "")
	}
	if s.opts.DisableJSONP && transport == TransportPolling && !upgrade && q.Has("j") && q.Get("sid") == "" {
		// Node picks JSONP at the handshake, by this parameter.
		return nil, requestError(CodeUnknownTransport, "")
	}
	if invalidHeaderChar(r.Header.Get("Origin")) {
		return nil, requestError(CodeBadRequest, "")
	}
	if upgrade && s.opts.CORS != nil && !s.opts.CORS.AllowsWebSocket(r) {
		return nil, errOriginForbidden
	}
	if sid := q.Get("sid"); sid != "" {
		sess := s.Session(sid)
		if sess == nil {
			return nil, requestError(CodeUnknownSID, "")
		}
		if !upgrade && sess.Transport() != transport {
			return nil, requestError(CodeBadRequest, "")
		}
		if requestProtocol(q) != sess.protocol {
			return nil, requestError(CodeBadRequest, "")
		}
		if upgrade && transport != TransportWebSocket {
			return nil, requestError(CodeBadRequest, "")
		}
		return sess, nil
	}
	if r.Method != http.MethodGet {
		return nil, requestError(CodeBadHandshakeMethod, "")
	}
	if transport == TransportWebSocket && !upgrade {
		return nil, requestError(CodeBadRequest, "")
	}
	if upgrade && transport != TransportWebSocket {
		return nil, requestError(CodeBadRequest, "")
	}
	if s.closed.Load() {
		return nil, requestError(CodeBadRequest, "Server shutting down")
	}
	if s.opts.AllowRequest != nil {
		if err := s.opts.AllowRequest(r); err != nil {
			return nil, requestError(CodeForbidden, err.Error())
		}
	}
	if s.atCapacity() {
		return nil, errAtCapacity
	}
	return nil, nil
}

var errAtCapacity = &RequestError{Code: CodeBadRequest, Message: "Server at capacity", Status: http.StatusServiceUnavailable}

// atCapacity reports whether the sessions and the connections Admit let
// in fill MaxSessions.
func (s *Server) atCapacity() bool {
	max := s.opts.MaxSessions
	return max > 0 && s.Count()+int(s.admitted.Load()) >= max
}

// Admit counts a connection the application serves beside Engine.IO (a
// WebSocket endpoint of its own) against MaxSessions, MaxSessionsPerAddr
// and MaxHandshakesPerSecondPerAddr, as one more session of r's client
// address (TrustedProxies apply), so that one budget bounds both. It
// returns release, to call when the connection ends (once; later calls do
// nothing), or the *RequestError a handshake would get, whose ServeHTTP
// writes it. After Shutdown it refuses. Count does not include what it
// admits.
//
//	release, err := engine.Admit(r)
//	if err != nil {
//		err.(*transports.RequestError).ServeHTTP(w, r)
//		return
//	}
func (s *Server) Admit(r *http.Request) (release func(), err error) {
	if s.closed.Load() {
		return nil, requestError(CodeBadRequest, "Server shutting down")
	}
	if s.atCapacity() {
		return nil, errAtCapacity
	}
	var addr netip.Addr
	if s.limits.enabled() {
		addr = s.limits.clientAddr(r)
		if rerr := s.limits.admit(addr); rerr != nil {
			return nil, rerr
		}
	}
	s.admitted.Add(1)
	var done atomic.Bool
	return func() {
		if done.CompareAndSwap(false, true) {
			s.admitted.Add(-1)
			if s.limits.enabled() {
				s.limits.release(addr)
			}
		}
	}, nil
}

// upgradeRefusal is what Node writes into a WebSocket it refuses after the
// 101 (its abortUpgrade, byte for byte).
func upgradeRefusal(message string) []byte {
	return []byte("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-type: text/html\r\nContent-Length: " +
		strconv.Itoa(len(message)) + "\r\n\r\n" + message)
}

// refuseProtocol refuses a handshake whose EIO names no protocol siogo
// serves, with code 5. As Node, which checks the protocol only once ws has
// answered the upgrade: a WebSocket handshake gets its 101, then the 400
// response inside the upgraded stream, and the connection closes.
func (s *Server) refuseProtocol(w http.ResponseWriter, r *http.Request, upgrade bool) {
	e := requestError(CodeUnsupportedProtocolVersion, "")
	if !upgrade {
		s.refuse(w, e, false)
		return
	}
	s.opts.Logger.Debug("engine.io request refused", "code", int(e.Code), "message", e.Message)
	if o := s.opts.Observer; o != nil {
		o.HandshakeRefused(e.Code)
	}
	conn, err := s.ws.Upgrade(w, r, w.Header(), discardHandler{})
	if err != nil {
		return
	}
	_ = conn.Abort(upgradeRefusal(e.Message))
}

// discardHandler takes the events of a WebSocket accepted only to be
// closed.
type discardHandler struct{}

func (discardHandler) OnMessage(*websocket.Conn, bool, []byte) {}
func (discardHandler) OnClose(*websocket.Conn, error)          {}

func (s *Server) handshake(w http.ResponseWriter, r *http.Request, q url.Values, upgrade bool) {
	protocol := handshakeProtocol(q)
	if protocol == 0 || (protocol == 3 && s.opts.DisableEIO3) {
		s.refuseProtocol(w, r, upgrade)
		return
	}
	addr := s.limits.clientAddr(r)
	if s.limits.enabled() {
		if rerr := s.limits.admit(addr); rerr != nil {
			s.refuse(w, rerr, upgrade)
			return
		}
	}
	sess := newSession(s, r, q, protocol, upgrade)
	sess.limitAddr = addr
	// No message reaches a handler before OnSession has set it: the
	// session's receive lock is held until then.
	sess.recvMu.Lock()
	defer sess.recvMu.Unlock()

	s.mu.Lock()
	s.sessions[sess.id] = sess
	s.mu.Unlock()
	s.open.Add(1)
	if o := s.opts.Observer; o != nil {
		transport := TransportPolling
		if upgrade {
			transport = TransportWebSocket
		}
		o.SessionOpened(transport, protocol)
	}

	// What w holds (CORS) goes into a 101 too, as Node's middlewares' do.
	header := w.Header().Clone()
	if c := s.opts.Cookie; c != nil {
		header.Set("Set-Cookie", c.header(sess.id))
	}
	tail := s.openTailPolling
	if upgrade {
		tail = s.openTailWS
	}
	open := s.openPacket(sess.id, tail)
	if upgrade {
		t := sess.t.(*wsTransport)
		conn, err := s.ws.Upgrade(w, r, header, t)
		if err != nil {
			s.opts.Logger.Debug("engine.io websocket handshake failed", "err", err)
			sess.closeWith(ReasonTransportError, false)
			return
		}
		sess.mu.Lock()
		live := sess.state == stateOpen
		if live {
			t.conn = conn
			if s.keepHeaders == nil {
				sess.header = trimHeader(sess.header)
			}
		}
		sess.mu.Unlock()
		if !live {
			_ = conn.Close(websocket.CloseNoStatus)
			return
		}
		// The open packet leaves apart from the 101, as from Node, whose
		// JavaScript between the two writes keeps them in separate reads:
		// a client that listens for messages only once its WebSocket is
		// open (ws emits both in one tick when they come in one read) must
		// not lose it.
		conn.Hold(openPacketGap)
		if err := t.write([]Packet{{Type: PacketOpen, Data: open}}); err != nil {
			sess.closeWith(ReasonTransportError, false)
			return
		}
	} else {
		for k, v := range header {
			w.Header()[k] = v
		}
		sess.t.(*pollingTransport).writePayload(w, r, []Packet{{Type: PacketOpen, Data: open}})
	}
	if o := s.opts.Observer; o != nil {
		o.PacketsOut(1, 1+len(open))
	}
	s.opts.Logger.Debug("engine.io session open", "sid", sess.id, "protocol", protocol, "transport", sess.Transport())
	if s.opts.OnSession != nil {
		s.opts.OnSession(sess)
	}
	sess.startHeartbeat()
}

// openPacketGap is how long a WebSocket's open packet waits after the
// 101: against 0.1 ms, a ws client listening once open lost it 0.3% of the
// time (Node's server: 40%), against 0 ms, 66% (TestOpenPacketAfterOpen).
const openPacketGap = 250 * time.Microsecond

// countOut counts a session out of the open ones, once, as it leaves the
// open state.
func (s *Server) countOut(sess *Session) {
	s.open.Add(-1)
	if s.limits.enabled() {
		s.limits.release(sess.limitAddr)
	}
}

func (s *Server) remove(sess *Session) {
	s.mu.Lock()
	delete(s.sessions, sess.id)
	empty := len(s.sessions) == 0
	s.mu.Unlock()
	if empty && s.closed.Load() {
		s.signalDrained()
	}
}

func (s *Server) signalDrained() {
	s.drainOnce.Do(func() { close(s.drained) })
}

// Shutdown refuses new sessions, closes every session (each gets its close
// packet; pending polls are answered), and waits until the polling sessions
// have taken their close packets or ctx ends. Then it stops the WebSocket
// loop.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.closed.CompareAndSwap(false, true) {
		return ErrServerClosed
	}
	s.mu.RLock()
	all := make([]*Session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		all = append(all, sess)
	}
	empty := len(s.sessions) == 0
	s.mu.RUnlock()
	if empty {
		s.signalDrained()
	}
	for _, sess := range all {
		sess.closeWith(ReasonServerShutdown, true)
	}
	var err error
	select {
	case <-s.drained:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.mu.RLock()
	all = all[:0]
	for _, sess := range s.sessions {
		all = append(all, sess)
	}
	s.mu.RUnlock()
	for _, sess := range all {
		sess.finalize()
	}
	if s.ws != nil {
		s.ws.Close()
	}
	return err
}

// Close shuts the server down, waiting at most a second for polling
// sessions to take their close packets.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.Shutdown(ctx)
	if err == context.DeadlineExceeded {
		return nil
	}
	return err
}

// Transports lists the enabled transports.
func (s *Server) Transports() []string { return slices.Clone(s.opts.Transports) }
