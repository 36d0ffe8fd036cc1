package transports

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siogo/siogo/transports/polling"
	"github.com/siogo/siogo/transports/websocket"
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
type Session struct {
	srv      *Server
	id       string
	protocol int
	// v3 polling clients that asked for base64 (b64=1 at the handshake, or
	// JSONP) cannot take the binary payload.
	b64 bool
	// wsB64: the client of the current WebSocket asked for base64
	// (forceBase64, b64=1 on the WebSocket's request): binary messages go
	// both ways as base64 text frames, as Node's supportsBinary is false.
	// upgradeB64 is the same for the WebSocket being upgraded to.
	wsB64      bool
	upgradeB64 bool
	jsonp      bool
	jsonpIndex string
	header     http.Header
	remoteAddr string
	limitAddr  netip.Addr // the client's address, as the per-address bounds count it
	host       string
	url        string

	// recvMu orders the delivery of messages to the handler.
	recvMu    sync.Mutex
	onMessage func(data []byte, binary bool)
	via       *websocket.Conn // the WebSocket of the message being delivered; recvMu
	onClose   func(reason string)

	// inLimit is LimitInbound's bound; 0: MaxHTTPBufferSize alone.
	inLimit atomic.Int64

	// writeMu orders writes to the WebSocket, across the upgrade.
	writeMu sync.Mutex

	mu           sync.Mutex
	state        sessionState
	ws           *websocket.Conn // the current transport, when WebSocket
	probe        *websocket.Conn // a WebSocket being upgraded to
	upgrading    bool            // the probe answered; the pending poll is released
	probedAt     time.Duration   // when upgrading began, since clockStart
	upgradeTimer *time.Timer
	queue        []Packet
	pollWake     chan struct{} // set while a GET waits in its handler
	parked       *parkedPoll   // set while a GET waits with no goroutine (HTTPServer)
	posting      bool
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
	if j, ok := q["j"]; ok && !ws {
		s.jsonp = true
		s.jsonpIndex = j[0]
		s.b64 = true
	}
	if q.Get("b64") != "" {
		s.b64 = true
		s.wsB64 = ws
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
	ws := s.ws
	s.mu.Unlock()
	if ws != nil {
		ws.SetReadLimit(max)
	}
}

// Transport is the name of the current transport.
func (s *Session) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ws != nil {
		return TransportWebSocket
	}
	return TransportPolling
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

// RunAfter runs f once the message being delivered to the OnMessage
// callback has been handled, on the goroutine that delivers the session's
// messages, before the next one unless f waits for it (the next then goes
// on elsewhere, so f may wait for what the client sends next). Call it
// only from the OnMessage callback. It reports false, not running f, when
// the message did not come on a WebSocket served by the event loop: the
// caller then runs f on a goroutine of its own.
func (s *Session) RunAfter(f func()) bool {
	if s.via == nil {
		return false
	}
	return s.via.After(f)
}

// Flush writes at once what was sent while the current message is
// handled: over a WebSocket on the event loop the frames of one message's
// handling wait until it returns, to leave in one write call, or for about
// a millisecond at most. A handler about to wait for its client calls it.
// It does nothing elsewhere.
func (s *Session) Flush() {
	s.mu.Lock()
	ws := s.ws
	s.mu.Unlock()
	if ws != nil {
		ws.Flush()
	}
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
	if ws := s.ws; ws != nil {
		s.mu.Unlock()
		if volatile && ws.Backlogged() {
			return false, nil // the peer is not reading what it has
		}
		return true, s.writeWS(ws, pkts)
	}
	if volatile && (!s.pollPending() || len(s.queue) > 0 || s.upgrading) {
		s.mu.Unlock()
		return false, nil
	}
	if len(s.queue)+len(pkts) > s.srv.opts.MaxQueuedPackets {
		s.mu.Unlock()
		s.closeWith(ReasonQueueFull, false)
		return false, ErrQueueFull
	}
	s.queue = append(s.queue, pkts...)
	s.wakePoll()
	s.mu.Unlock()
	return true, nil
}

// pollPending reports whether a GET waits. s.mu is held.
func (s *Session) pollPending() bool { return s.pollWake != nil || s.parked != nil }

// wakePoll releases the pending GET, if any. s.mu is held.
func (s *Session) wakePoll() {
	s.wakeParked()
	if s.pollWake != nil {
		select {
		case s.pollWake <- struct{}{}:
		default:
		}
	}
}

var (
	// base64Heads start a binary message sent as text: "b4" in protocol
	// 3, "b" in protocol 4.
	base64Heads = [...][]byte{[]byte("b4"), []byte("b")}
	typeDigits  = [...][]byte{{'0'}, {'1'}, {'2'}, {'3'}, {'4'}, {'5'}, {'6'}}
	typeBytes   = [...][]byte{{0}, {1}, {2}, {3}, {4}, {5}, {6}}
)

// writeWS writes pkts to conn in one call.
func (s *Session) writeWS(conn *websocket.Conn, pkts []Packet) error {
	var small [8]websocket.Frame
	frames := small[:0]
	for _, p := range pkts {
		switch {
		case p.Binary && s.wsB64:
			frames = append(frames, websocket.Frame{Head: base64Heads[s.protocol-3], Data: base64.StdEncoding.AppendEncode(nil, p.Data), NoCompress: p.NoCompress})
		case p.Binary && s.protocol == 4:
			frames = append(frames, websocket.Frame{Binary: true, Data: p.Data, NoCompress: p.NoCompress})
		case p.Binary:
			frames = append(frames, websocket.Frame{Binary: true, Head: typeBytes[p.Type], Data: p.Data, NoCompress: p.NoCompress})
		default:
			frames = append(frames, websocket.Frame{Head: typeDigits[p.Type], Data: p.Data, NoCompress: p.NoCompress})
		}
	}
	return conn.WriteFrames(frames...)
}

// writePayload answers a poll with pkts in the session's payload format.
func (s *Session) writePayload(w http.ResponseWriter, r *http.Request, pkts []Packet) {
	resp := polling.Response{ContentType: polling.ContentTypeText}
	// As Node: the response is compressed if any of its packets may be.
	if !s.srv.opts.DisableHTTPCompression && slices.ContainsFunc(pkts, func(p Packet) bool { return !p.NoCompress }) {
		resp.CompressThreshold = s.srv.opts.HTTPCompressionThreshold
	}
	var body []byte
	switch {
	case s.protocol == 4:
		body = EncodePayloadV4(nil, pkts)
	case !s.b64 && HasBinary(pkts):
		body = EncodeBinaryPayloadV3(nil, pkts)
		resp.ContentType = polling.ContentTypeBinary
	default:
		body = EncodeStringPayloadV3(nil, pkts)
	}
	if s.jsonp {
		body = polling.AppendJSONP(make([]byte, 0, len(body)+len(body)/8+16), s.jsonpIndex, body)
		resp.ContentType = polling.ContentTypeJSONP
	}
	_ = resp.Write(w, r, body)
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

// onPacketVia takes a packet that came on ws, or by polling when nil.
func (s *Session) onPacketVia(p Packet, ws *websocket.Conn) {
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
			s.via = ws
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
		s.awaitPoll()
		s.close(ReasonTransportClose, closeByClient)
	}
	// open, upgrade and noop from the client carry nothing to act on.
}

// closePollGrace bounds how long a polling client's close waits for a poll
// the client sent before it. Node takes requests in the order they come,
// so a client that polls and then posts its close packet (the official
// suite's "forcefully closes the session") has its poll answered with a
// noop; here the two requests run on goroutines of their own, and the post
// may be served first. Real clients seldom wait: engine.io-client keeps a
// poll pending while it is open.
const closePollGrace = 100 * time.Millisecond

// awaitPoll waits, at most closePollGrace, until a poll is pending on a
// polling session.
func (s *Session) awaitPoll() {
	deadline := time.Now().Add(closePollGrace)
	for {
		s.mu.Lock()
		ready := s.pollPending() || s.ws != nil || s.state != stateOpen
		s.mu.Unlock()
		if ready || !time.Now().Before(deadline) {
			return
		}
		time.Sleep(time.Millisecond)
	}
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
	probe := s.probe
	s.probe = nil
	if s.upgradeTimer != nil {
		s.upgradeTimer.Stop()
	}
	ws := s.ws
	// A polling client gets its close packet in its pending poll, or, when
	// notify is set, in its next one; that poll then forgets the session.
	// A client that closed gets none: its pending poll takes what waits.
	finalNow := ws != nil || (mode != closeNotify && !s.pollPending())
	if !finalNow {
		if mode != closeByClient {
			s.queue = append(s.queue, Packet{Type: PacketClose})
		}
		s.wakePoll()
		s.resetTimer(s.srv.opts.CloseTimeout)
	}
	s.mu.Unlock()

	if probe != nil {
		_ = probe.Close(websocket.CloseNoStatus)
	}
	if ws != nil {
		_ = ws.Close(websocket.CloseNoStatus)
	}
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
		transport := TransportPolling
		if ws != nil {
			transport = TransportWebSocket
		}
		o.SessionClosed(transport, s.protocol, reason)
	}
	if handler != nil {
		handler(reason)
	}
}

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

// upgradePollWait is the period at which Node releases a poll with a noop
// during an upgrade (setInterval from the probe's answer); a poll that
// comes then is released at the next such tick.
const upgradePollWait = 100 * time.Millisecond

// clockStart is the origin of the monotonic times a session keeps as
// durations, 8 bytes where a time.Time takes 24.
var clockStart = time.Now()

// servePoll answers a GET: at once when packets wait, else when the first
// one comes.
func (s *Session) servePoll(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.pollPending() {
		// One pending poll per session: a second one is an error, as in Node.
		s.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		s.closeWith(ReasonTransportError, false)
		return
	}
	if s.ws != nil && s.state == stateOpen {
		// Upgraded since the request was checked.
		s.mu.Unlock()
		requestError(CodeBadRequest, "").writeJSON(w)
		return
	}
	if len(s.queue) == 0 && s.state == stateOpen {
		if p := s.park(w, r); p != nil {
			// Served by an HTTPServer: the handler returns, and the
			// answer is written when a packet comes (answerParked).
			s.parked = p
			if p.duringUpgrade {
				p.upgradeTimer = time.AfterFunc(s.untilUpgradeTick(), func() {
					s.mu.Lock()
					if s.parked == p {
						s.wakeParked()
					}
					s.mu.Unlock()
				})
			}
			s.mu.Unlock()
			return
		}
		wake := make(chan struct{}, 1)
		s.pollWake = wake
		// A poll that comes while the upgrade is pending waits for it: the
		// client may have sent the upgrade packet first, which Node would
		// have taken first, and siogo handles WebSocket frames on another
		// goroutine. Node releases such a poll with a noop at its next
		// 100 ms tick.
		var upgradeWait <-chan time.Time
		duringUpgrade := s.upgrading
		if duringUpgrade {
			t := time.NewTimer(s.untilUpgradeTick())
			defer t.Stop()
			upgradeWait = t.C
		}
		s.mu.Unlock()
		select {
		case <-wake:
		case <-upgradeWait:
		case <-r.Context().Done():
			s.mu.Lock()
			s.pollWake = nil
			s.mu.Unlock()
			s.closeWith(ReasonTransportError, false)
			return
		}
		s.mu.Lock()
		s.pollWake = nil
		if duringUpgrade && s.ws != nil && s.state == stateOpen {
			s.mu.Unlock()
			requestError(CodeBadRequest, "").writeJSON(w)
			return
		}
	}
	pkts, last := s.takePoll()
	s.mu.Unlock()
	if len(pkts) == 0 {
		pkts = []Packet{{Type: PacketNoop}}
	}
	s.writePayload(w, r, pkts)
	if last {
		s.finalize()
	}
}

// untilUpgradeTick is the time to Node's next 100 ms release of a poll
// during an upgrade. s.mu is held.
func (s *Session) untilUpgradeTick() time.Duration {
	return upgradePollWait - (time.Since(clockStart)-s.probedAt)%upgradePollWait
}

// takePoll takes the packets a poll answers with, and whether they end
// the session. s.mu is held.
func (s *Session) takePoll() (pkts []Packet, last bool) {
	pkts = s.queue
	s.queue = nil
	last = s.state != stateOpen
	if last && len(pkts) > 1 && pkts[len(pkts)-1].Type == PacketClose {
		// As Node, the close packet waits until what was queued before it
		// has been taken: a client that handles packets asynchronously
		// (socket.io-client 4) would otherwise see the close first.
		s.queue = pkts[len(pkts)-1:]
		pkts = pkts[:len(pkts)-1]
		last = false
	}
	return pkts, last
}

// servePost takes a payload from the client.
func (s *Session) servePost(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.posting {
		s.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		s.closeWith(ReasonTransportError, false)
		return
	}
	s.posting = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.posting = false
		s.mu.Unlock()
	}()

	binary := r.Header.Get("Content-Type") == polling.ContentTypeBinary
	if binary && s.protocol == 4 {
		w.WriteHeader(http.StatusBadRequest)
		s.closeWith(ReasonTransportError, false)
		return
	}
	max := s.srv.opts.MaxHTTPBufferSize
	if l := s.inLimit.Load(); l > 0 && l < max {
		max = l
	}
	body, err := polling.ReadBody(r, max)
	if errors.Is(err, polling.ErrTooLarge) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		s.closeWith(ReasonTransportError, false)
		return
	}
	if err != nil {
		s.closeWith(ReasonTransportError, false)
		return
	}
	if s.jsonp && !binary {
		if body, err = polling.DecodeJSONP(body); err != nil {
			requestError(CodeBadRequest, "").writeJSON(w)
			s.closeWith(ReasonParseError, false)
			return
		}
	}
	var pkts []Packet
	maxPkts := s.srv.opts.MaxPayloadPackets
	switch {
	case s.protocol == 4:
		pkts, err = DecodePayloadV4(body, maxPkts)
	case binary:
		pkts, err = DecodeBinaryPayloadV3(body, maxPkts)
	default:
		pkts, err = DecodeStringPayloadV3(body, maxPkts)
	}
	if err != nil {
		requestError(CodeBadRequest, "").writeJSON(w)
		s.closeWith(ReasonParseError, false)
		return
	}
	for _, p := range pkts {
		s.onPacket(p)
	}
	polling.WriteOK(w, r)
}

// serveUpgrade starts the upgrade of a polling session to WebSocket.
func (s *Session) serveUpgrade(w http.ResponseWriter, r *http.Request, q url.Values) {
	if s.srv.opts.DisableUpgrades {
		requestError(CodeBadRequest, "").writeUpgrade(w)
		return
	}
	s.mu.Lock()
	// A session that is closed, upgrading or already on a WebSocket does
	// not refuse the handshake: as Node's onWebSocket, it accepts the
	// WebSocket and closes it at once, and its own transport goes on.
	doomed := s.state != stateOpen || s.ws != nil || s.probe != nil
	if !doomed {
		s.upgrading = false
		s.upgradeB64 = q.Get("b64") != ""
	}
	s.mu.Unlock()
	if doomed {
		if conn, err := s.srv.ws.Upgrade(w, r, w.Header(), discardHandler{}); err == nil {
			_ = conn.Close(websocket.CloseNoStatus)
		}
		return
	}
	conn, err := s.srv.ws.Upgrade(w, r, w.Header(), probeHandler{s})
	if err != nil {
		return
	}
	s.mu.Lock()
	if s.state != stateOpen || (s.probe != nil && s.probe != conn) {
		s.mu.Unlock()
		_ = conn.Close(websocket.CloseNoStatus)
		return
	}
	if s.ws != conn {
		s.probe = conn
		s.upgradeTimer = time.AfterFunc(s.srv.opts.UpgradeTimeout, func() { s.abortUpgrade(conn) })
	}
	s.mu.Unlock()
}

func (s *Session) abortUpgrade(conn *websocket.Conn) {
	s.mu.Lock()
	if s.probe == conn {
		s.probe = nil
		s.upgrading = false
	}
	upgraded := s.ws == conn
	s.mu.Unlock()
	if !upgraded {
		_ = conn.Close(websocket.CloseNoStatus)
	}
}

// decodeFrame decodes a WebSocket message of the session's protocol. A
// text frame may hold a binary message in base64 (a client with
// forceBase64), as Node's parsers take it whatever the client announced.
func (s *Session) decodeFrame(binary bool, data []byte) (Packet, error) {
	switch {
	case !binary && s.protocol == 4:
		return DecodeTextFrameV4(data)
	case !binary:
		return DecodeTextFrameV3(data)
	case s.protocol == 4:
		return Packet{Type: PacketMessage, Data: data, Binary: true}, nil
	default:
		return DecodeBinaryFrameV3(data)
	}
}

// wsHandler receives the events of the WebSocket a session was opened on.
type wsHandler struct{ s *Session }

func (h wsHandler) OnMessage(c *websocket.Conn, binary bool, data []byte) {
	h.s.onWSMessage(c, binary, data)
}

func (h wsHandler) OnClose(_ *websocket.Conn, err error) {
	h.s.closeWith(closeReason(err), false)
}

// onWSMessage takes a message from the session's WebSocket.
func (s *Session) onWSMessage(c *websocket.Conn, binary bool, data []byte) {
	p, err := s.decodeFrame(binary, data)
	if err != nil {
		s.closeWith(ReasonParseError, false)
		return
	}
	s.onPacketVia(p, c)
}

// closeReason is the session's close reason for the end of its WebSocket.
// As in Node, only what breaks the protocol is a "transport error": ws
// reports a socket's own errors (a reset, a timeout, a failed write) as a
// close (code 1006), which engine.io calls "transport close".
func closeReason(err error) string {
	switch {
	case errors.Is(err, websocket.ErrSlowPeer):
		return ReasonQueueFull
	case errors.Is(err, websocket.ErrProtocol), errors.Is(err, websocket.ErrMessageTooLarge),
		errors.Is(err, websocket.ErrPanic):
		return ReasonTransportError
	}
	return ReasonTransportClose
}

// probeHandler receives the events of a WebSocket being upgraded to, and
// of that WebSocket once it is the session's transport.
type probeHandler struct{ s *Session }

func (h probeHandler) OnMessage(c *websocket.Conn, binary bool, data []byte) {
	s := h.s
	s.mu.Lock()
	current := s.ws == c
	if !current && s.probe == nil && s.state == stateOpen {
		s.probe = c // a frame came before serveUpgrade recorded the probe
	}
	s.mu.Unlock()
	if current {
		s.onWSMessage(c, binary, data)
		return
	}
	p, err := s.decodeFrame(binary, data)
	switch {
	case err == nil && p.Type == PacketPing && string(p.Data) == "probe":
		if c.WriteFrames(websocket.Frame{Head: typeDigits[PacketPong], Data: p.Data}) != nil {
			return
		}
		s.mu.Lock()
		if s.probe == c {
			s.upgrading = true
			s.probedAt = time.Since(clockStart)
			// Release the pending poll, so that the client can pause
			// polling and send the upgrade packet.
			s.wakePoll()
		}
		s.mu.Unlock()
	case err == nil && p.Type == PacketUpgrade:
		s.completeUpgrade(c)
	default:
		s.abortUpgrade(c)
	}
}

func (h probeHandler) OnClose(c *websocket.Conn, err error) {
	s := h.s
	s.mu.Lock()
	current := s.ws == c
	s.mu.Unlock()
	if current {
		s.closeWith(closeReason(err), false)
		return
	}
	s.abortUpgrade(c)
}

// completeUpgrade makes c the session's transport: what waited in the
// polling queue leaves on c, before anything sent after.
func (s *Session) completeUpgrade(c *websocket.Conn) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	if s.state != stateOpen || s.probe != c {
		s.mu.Unlock()
		_ = c.Close(websocket.CloseNoStatus)
		return
	}
	if s.upgradeTimer != nil {
		s.upgradeTimer.Stop()
	}
	s.ws = c
	s.wsB64 = s.upgradeB64
	s.probe = nil
	s.upgrading = false
	pkts := s.queue
	s.queue = nil
	// A poll still pending gets a noop; later polls are refused.
	s.wakePoll()
	// Read under s.mu, as LimitInbound reads s.ws: neither misses the other.
	limit := s.inLimit.Load()
	s.mu.Unlock()
	if limit > 0 {
		c.SetReadLimit(int(limit))
	}
	s.srv.opts.Logger.Debug("engine.io session upgraded", "sid", s.id)
	if o := s.srv.opts.Observer; o != nil {
		o.SessionUpgraded(s.protocol)
	}
	if len(pkts) > 0 {
		// A write fails only on a connection closed or closing (the peer
		// may have closed right after its upgrade packet): its close,
		// reported after this message, gives the reason, as in Node, where
		// ws still takes a write until it has read the peer's close.
		_ = s.writeWS(c, pkts)
	}
}
