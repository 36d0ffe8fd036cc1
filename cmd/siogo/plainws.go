package main

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/siogo/siogo/transports/websocket"
)

// plainWS is the contract's bare WebSocket endpoint, /ws: every message is
// sent back as it came, and every tick the timestamp goes out as text.
type plainWS struct {
	srv   *websocket.Server
	mu    sync.Mutex
	conns map[*websocket.Conn]struct{}
}

func newPlainWS(maxMessage int) (*plainWS, error) {
	srv, err := websocket.NewServer(websocket.Config{MaxMessageSize: maxMessage, Compression: true})
	if err != nil {
		return nil, err
	}
	return &plainWS{srv: srv, conns: map[*websocket.Conn]struct{}{}}, nil
}

func (p *plainWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := p.srv.Upgrade(w, r, nil, p)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.conns[c] = struct{}{}
	p.mu.Unlock()
}

// OnMessage echoes (websocket.Handler).
func (p *plainWS) OnMessage(c *websocket.Conn, binary bool, data []byte) {
	_ = c.WriteFrames(websocket.Frame{Binary: binary, Data: data})
}

// OnClose forgets the connection (websocket.Handler).
func (p *plainWS) OnClose(c *websocket.Conn, _ error) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
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

// close closes every connection.
func (p *plainWS) close() {
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close(1001)
	}
	p.mu.Unlock()
	p.srv.Close()
}
