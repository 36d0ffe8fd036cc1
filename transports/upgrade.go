package transports

import (
	"net/http"
	"net/url"
	"time"

	"github.com/siogo/siogo/internal/websocket"
)

// upgrade is a polling session's move to a WebSocket, as engine.io's
// Socket.maybeUpgrade: the client's probe (2probe) is answered (3probe) on
// the new WebSocket and the pending poll released, so that the client can
// pause polling; its upgrade packet (5) then makes the WebSocket the
// session's transport, what waited for a poll leaving on it first. Without
// it within UpgradeTimeout, or on any other frame, the WebSocket is closed
// and polling goes on. Its fields are under the session's mu.
type upgrade struct {
	t        *wsTransport // the WebSocket being upgraded to; t.conn once known
	answered bool         // the probe was answered; the pending poll released
	probedAt time.Duration
	timer    *time.Timer // UpgradeTimeout
}

// probed reports whether the probe was answered; u may be nil.
func (u *upgrade) probed() bool { return u != nil && u.answered }

// untilTick is the time to Node's next 100 ms release of a poll during an
// upgrade.
func (u *upgrade) untilTick() time.Duration {
	return upgradePollWait - (time.Since(clockStart)-u.probedAt)%upgradePollWait
}

func (u *upgrade) stop() {
	if u.timer != nil {
		u.timer.Stop()
	}
}

// serveUpgrade starts the upgrade of a polling session to WebSocket.
func (s *Session) serveUpgrade(w http.ResponseWriter, r *http.Request, q url.Values) {
	if s.srv.opts.DisableUpgrades {
		requestError(CodeBadRequest, "").writeUpgrade(w)
		return
	}
	up := &upgrade{t: newWSTransport(s, q)}
	s.mu.Lock()
	// A session that is closed, upgrading or already on a WebSocket does
	// not refuse the handshake: as Node's onWebSocket, it accepts the
	// WebSocket and closes it at once, and its own transport goes on.
	_, polling := s.t.(*pollingTransport)
	doomed := s.state != stateOpen || !polling || s.up != nil
	if !doomed {
		s.up = up
	}
	s.mu.Unlock()
	if doomed {
		if conn, err := s.srv.ws.Upgrade(w, r, w.Header(), discardHandler{}); err == nil {
			_ = conn.Close(websocket.CloseNoStatus)
		}
		return
	}
	t := up.t
	conn, err := s.srv.ws.Upgrade(w, r, w.Header(), probeHandler{t})
	s.mu.Lock()
	if err != nil {
		if s.up == up {
			s.up = nil
		}
		s.mu.Unlock()
		return
	}
	if t.conn == nil {
		t.conn = conn
	}
	switch {
	case s.t == t:
		// Upgraded already: the client was quick.
	case s.state == stateOpen && s.up == up:
		up.timer = time.AfterFunc(s.srv.opts.UpgradeTimeout, func() { s.abortUpgrade(t, conn) })
	default:
		// The session closed, or the upgrade was given up.
		s.mu.Unlock()
		_ = conn.Close(websocket.CloseNoStatus)
		return
	}
	s.mu.Unlock()
}

// abortUpgrade gives up the upgrade to t (its WebSocket c): polling goes on.
func (s *Session) abortUpgrade(t *wsTransport, c *websocket.Conn) {
	s.mu.Lock()
	if s.up != nil && s.up.t == t {
		s.up.stop()
		s.up = nil
	}
	upgraded := s.t == t
	s.mu.Unlock()
	if !upgraded {
		_ = c.Close(websocket.CloseNoStatus)
	}
}

// probeHandler receives the events of a WebSocket being upgraded to, and
// of that WebSocket once it is the session's transport.
type probeHandler struct{ t *wsTransport }

func (h probeHandler) OnMessage(c *websocket.Conn, binary bool, data []byte) {
	t := h.t
	s := t.s
	s.mu.Lock()
	current := s.t == t
	if t.conn == nil {
		t.conn = c // a frame came before serveUpgrade recorded the WebSocket
	}
	s.mu.Unlock()
	if current {
		s.onWSMessage(t, binary, data)
		return
	}
	p, err := s.decodeFrame(binary, data)
	switch {
	case err == nil && p.Type == PacketPing && string(p.Data) == "probe":
		if c.WriteFrames(websocket.Frame{Head: typeDigits[PacketPong], Data: p.Data}) != nil {
			return
		}
		s.mu.Lock()
		if up := s.up; up != nil && up.t == t {
			up.answered = true
			up.probedAt = time.Since(clockStart)
			// Release the pending poll, so that the client can pause
			// polling and send the upgrade packet.
			if pt, ok := s.t.(*pollingTransport); ok {
				pt.wake()
			}
		}
		s.mu.Unlock()
	case err == nil && p.Type == PacketUpgrade:
		s.completeUpgrade(t, c)
	default:
		s.abortUpgrade(t, c)
	}
}

func (h probeHandler) OnClose(c *websocket.Conn, err error) {
	t := h.t
	s := t.s
	s.mu.Lock()
	current := s.t == t
	s.mu.Unlock()
	if current {
		s.closeWith(closeReason(err), false)
		return
	}
	s.abortUpgrade(t, c)
}

// completeUpgrade makes t (its WebSocket c) the session's transport: what
// waited in the polling queue leaves on c, before anything sent after.
func (s *Session) completeUpgrade(t *wsTransport, c *websocket.Conn) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	up := s.up
	if s.state != stateOpen || up == nil || up.t != t {
		s.mu.Unlock()
		_ = c.Close(websocket.CloseNoStatus)
		return
	}
	up.stop()
	old := s.t
	s.t = t
	s.up = nil
	pkts := s.queue
	s.queue = nil
	// A poll still pending gets a noop; later polls are refused.
	if pt, ok := old.(*pollingTransport); ok {
		pt.wake()
	}
	// Read under s.mu, as LimitInbound reads s.t: neither misses the other.
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
		_ = t.write(pkts)
	}
}
