package transports

import (
	"net/http"
	"strings"
	"time"

	"github.com/siogo/siogo/internal/http1"
	"github.com/siogo/siogo/internal/polling"
)

// parkedPoll is a GET that waits for packets with no goroutine: its
// response, detached from the handler (an HTTPServer's http1.Detacher),
// and what the answer needs of the request.
type parkedPoll struct {
	d              http1.Detacher
	acceptEncoding string // gzip, deflate or none, as the client accepts
	userAgent      string // only when it names an old IE, which changes the answer
	duringUpgrade  bool
	upgradeTimer   *time.Timer
	woken          bool // an answer is on its way
}

// detacher is the Detacher behind w, through the middlewares that wrap
// it (Unwrap, as http.ResponseController looks), or nil.
func detacher(w http.ResponseWriter) http1.Detacher {
	for {
		switch v := w.(type) {
		case http1.Detacher:
			return v
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return nil
		}
	}
}

// park turns a waiting GET into a parkedPoll when its server can answer
// after the handler returns; nil otherwise. s.mu is held.
func (t *pollingTransport) park(w http.ResponseWriter, r *http.Request) *parkedPoll {
	d := detacher(w)
	if d == nil {
		return nil
	}
	p := &parkedPoll{
		d: d,
		// The encoding chosen now, a constant: the header's own string
		// would be kept.
		acceptEncoding: polling.AcceptedEncoding(r.Header.Get("Accept-Encoding")),
		duringUpgrade:  t.s.up.probed(),
	}
	if ua := r.Header.Get("User-Agent"); strings.Contains(ua, ";MSIE") || strings.Contains(ua, "Trident/") {
		p.userAgent = ua
	}
	// The connection's close ends the session, as the close of a waiting
	// request does (Node: the request's close event).
	if d.Detach(func() { t.parkedLost(p) }) != nil {
		return nil // the client is gone already: the handler sees it
	}
	return p
}

// parkedLost is told that the connection of parked poll p closed.
func (t *pollingTransport) parkedLost(p *parkedPoll) {
	s := t.s
	s.mu.Lock()
	lost := t.parked == p && !p.woken
	if lost {
		t.parked = nil
		if p.upgradeTimer != nil {
			p.upgradeTimer.Stop()
		}
	}
	s.mu.Unlock()
	if lost {
		s.closeWith(ReasonTransportError, false)
	}
}

// wakeParked has the parked poll answered. s.mu is held.
func (t *pollingTransport) wakeParked() {
	p := t.parked
	if p == nil || p.woken {
		return
	}
	p.woken = true
	if p.upgradeTimer != nil {
		p.upgradeTimer.Stop()
	}
	go t.answerParked(p)
}

// answerParked answers a parked poll, as servePoll does once woken.
func (t *pollingTransport) answerParked(p *parkedPoll) {
	s := t.s
	s.mu.Lock()
	if t.parked == p {
		t.parked = nil
	}
	req := &http.Request{Method: http.MethodGet, Header: http.Header{}}
	if p.acceptEncoding != "" {
		req.Header["Accept-Encoding"] = []string{p.acceptEncoding}
	}
	if p.userAgent != "" {
		req.Header["User-Agent"] = []string{p.userAgent}
	}
	if p.duringUpgrade && s.t != t && s.state == stateOpen {
		s.mu.Unlock()
		requestError(CodeBadRequest, "").writeJSON(p.d)
		_ = p.d.Finish()
		return
	}
	pkts, last := s.takePoll()
	s.mu.Unlock()
	if len(pkts) == 0 {
		pkts = []Packet{{Type: PacketNoop}}
	}
	t.writePayload(p.d, req, pkts)
	_ = p.d.Finish()
	if last {
		s.finalize()
	}
}
