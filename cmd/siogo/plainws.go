package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/siogo/siogo/internal/websocket"
	"github.com/siogo/siogo/transports"
)

// plainWS is the contract's bare WebSocket endpoint, /ws: every message is
// sent back as it came, and every tick the timestamp goes out as text. It
// has the Socket.IO endpoint's guards: its origin rule (--cors-origin),
// its message bound (--max-payload), its connection bounds (counted with
// the Engine.IO sessions, through Admit) and a heartbeat on its
// intervals, of WebSocket pings, since there is no Engine.IO one here.
type plainWS struct {
	srv    *websocket.Server
	engine *transports.Server
	cors   *transports.CORS // nil: any origin, as on /socket.io/ without --cors-origin

	mu    sync.Mutex
	conns map[*websocket.Conn]*plainConn
}

// plainConn is one connection's handler, which gives its place in the
// bounds back when it closes.
type plainConn struct {
	p       *plainWS
	release func()
	closed  bool // under p.mu: OnClose came, maybe before ServeHTTP added it
}

func newPlainWS(engine *transports.Server, cors *transports.CORS, maxMessage int, log *slog.Logger, onPanic func(string)) (*plainWS, error) {
	srv, err := websocket.NewServer(websocket.Config{MaxMessageSize: maxMessage, Compression: true, Logger: log, OnPanic: onPanic})
	if err != nil {
		return nil, err
	}
	return &plainWS{srv: srv, engine: engine, cors: cors, conns: map[*websocket.Conn]*plainConn{}}, nil
}

// errForbidden is what /socket.io/ answers a WebSocket from an origin
// --cors-origin does not allow.
var errForbidden = &transports.RequestError{Code: transports.CodeForbidden, Message: "Forbidden", Status: http.StatusForbidden}

func (p *plainWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.cors != nil && !p.cors.AllowsWebSocket(r) {
		errForbidden.ServeHTTP(w, r)
		return
	}
	release, err := p.engine.Admit(r)
	if err != nil {
		var re *transports.RequestError
		if errors.As(err, &re) {
			re.ServeHTTP(w, r)
		} else {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
		return
	}
	pc := &plainConn{p: p, release: release}
	c, err := p.srv.Upgrade(w, r, nil, pc)
	if err != nil {
		release()
		return
	}
	p.mu.Lock()
	if !pc.closed {
		p.conns[c] = pc
	}
	p.mu.Unlock()
}

// OnMessage echoes (websocket.Handler).
func (pc *plainConn) OnMessage(c *websocket.Conn, binary bool, data []byte) {
	_ = c.WriteFrames(websocket.Frame{Binary: binary, Data: data})
}

// OnClose forgets the connection (websocket.Handler).
func (pc *plainConn) OnClose(c *websocket.Conn, _ error) {
	pc.p.mu.Lock()
	pc.closed = true
	delete(pc.p.conns, c)
	pc.p.mu.Unlock()
	pc.release()
}

// tick sends the timestamp to every connection until ctx ends.
func (p *plainWS) tick(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			frame := websocket.Frame{Data: strconv.AppendInt(nil, now.UnixMilli(), 10)}
			p.mu.Lock()
			for c := range p.conns {
				_ = c.WriteFrames(frame)
			}
			p.mu.Unlock()
		}
	}
}

// closeGoingAway is the close code of a connection whose peer did not
// answer a ping in time, and of every connection at shutdown.
const closeGoingAway = 1001

// heartbeat pings every connection each interval and closes, timeout
// later, those that have not answered since: a peer that is gone, reads
// nothing, or holds a frame half sent. One timer for all, as for the
// tick: an idle connection costs no timer of its own.
func (p *plainWS) heartbeat(ctx context.Context, interval, timeout time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sent := time.Now()
		p.mu.Lock()
		pinged := make([]*websocket.Conn, 0, len(p.conns))
		for c := range p.conns {
			if c.Ping(nil) == nil {
				pinged = append(pinged, c)
			}
		}
		p.mu.Unlock()
		time.AfterFunc(timeout, func() {
			for _, c := range pinged {
				if c.LastPong().Before(sent) {
					_ = c.Close(closeGoingAway)
				}
			}
		})
	}
}

// close closes every connection.
func (p *plainWS) close() {
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close(closeGoingAway)
	}
	p.mu.Unlock()
	p.srv.Close()
}
