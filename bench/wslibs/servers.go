package main

import (
	"context"
	"net"
	"net/http"
	"sync"
	"syscall"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/gorilla/websocket"
	nbhttp "github.com/lesismal/nbio/nbhttp"
	nbws "github.com/lesismal/nbio/nbhttp/websocket"
	"github.com/lxzan/gws"

	coder "github.com/coder/websocket"
)

// Each server upgrades at /ws, echoes every message, and on broadcast
// writes one message to every connection with the library's encode-once
// facility where it has one. All run on net/http so that long-polling could
// share the listener, as siogo needs.
type server interface {
	http.Handler
	broadcast(payload []byte)
}

var servers = map[string]func() server{
	"nbio":    newNbio,
	"gorilla": newGorilla,
	"coder":   newCoder,
	"gws":     newGws,
	"gobwas":  newGobwas,
}

// --- lesismal/nbio: the hijacked connection moves to an epoll loop.

type nbioServer struct {
	up    *nbws.Upgrader
	mu    sync.Mutex
	conns map[*nbws.Conn]struct{}
}

func newNbio() server {
	engine := nbhttp.NewEngine(nbhttp.Config{MaxLoad: 1 << 20, ReleaseWebsocketPayload: true})
	if err := engine.Start(); err != nil {
		panic(err)
	}
	s := &nbioServer{conns: map[*nbws.Conn]struct{}{}}
	u := nbws.NewUpgrader()
	u.Engine = engine
	u.KeepaliveTime = 0
	u.BlockingModTrasferConnToPoller = true
	u.CheckOrigin = func(*http.Request) bool { return true }
	u.OnMessage(func(c *nbws.Conn, mt nbws.MessageType, data []byte) { _ = c.WriteMessage(mt, data) })
	u.OnClose(func(c *nbws.Conn, err error) { s.mu.Lock(); delete(s.conns, c); s.mu.Unlock() })
	s.up = u
	return s
}

func (s *nbioServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
}

func (s *nbioServer) broadcast(payload []byte) {
	frame := textFrame(payload) // encoded once, as siogo does
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_, _ = c.Conn.Write(frame)
	}
}

// --- gorilla/websocket: a reader goroutine per connection.

type gorillaConn struct {
	c  *websocket.Conn
	mu sync.Mutex
}

type gorillaServer struct {
	up    websocket.Upgrader
	mu    sync.Mutex
	conns map[*gorillaConn]struct{}
}

func newGorilla() server {
	return &gorillaServer{
		up:    websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
		conns: map[*gorillaConn]struct{}{},
	}
}

func (s *gorillaServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	gc := &gorillaConn{c: c}
	s.mu.Lock()
	s.conns[gc] = struct{}{}
	s.mu.Unlock()
	// A fresh goroutine reads, so the handler's grown stack is released.
	go func() {
		defer func() { s.mu.Lock(); delete(s.conns, gc); s.mu.Unlock(); c.Close() }()
		for {
			mt, data, err := c.ReadMessage()
			if err != nil {
				return
			}
			gc.mu.Lock()
			_ = c.WriteMessage(mt, data)
			gc.mu.Unlock()
		}
	}()
}

func (s *gorillaServer) broadcast(payload []byte) {
	pm, _ := websocket.NewPreparedMessage(websocket.TextMessage, payload)
	s.mu.Lock()
	defer s.mu.Unlock()
	for gc := range s.conns {
		gc.mu.Lock()
		_ = gc.c.WritePreparedMessage(pm)
		gc.mu.Unlock()
	}
}

// --- coder/websocket: a reader goroutine per connection; no prepared
// messages, each write frames the payload again.

type coderServer struct {
	mu    sync.Mutex
	conns map[*coder.Conn]struct{}
}

func newCoder() server { return &coderServer{conns: map[*coder.Conn]struct{}{}} }

func (s *coderServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := coder.Accept(w, r, &coder.AcceptOptions{InsecureSkipVerify: true, CompressionMode: coder.CompressionDisabled})
	if err != nil {
		return
	}
	c.SetReadLimit(1 << 20)
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	go func() {
		defer func() { s.mu.Lock(); delete(s.conns, c); s.mu.Unlock(); c.CloseNow() }()
		ctx := context.Background()
		for {
			mt, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			_ = c.Write(ctx, mt, data)
		}
	}()
}

func (s *coderServer) broadcast(payload []byte) {
	ctx := context.Background()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.Write(ctx, coder.MessageText, payload)
	}
}

// --- lxzan/gws: a ReadLoop goroutine per connection; Broadcaster encodes once.

type gwsServer struct {
	gws.BuiltinEventHandler
	up    *gws.Upgrader
	mu    sync.Mutex
	conns map[*gws.Conn]struct{}
}

func newGws() server {
	s := &gwsServer{conns: map[*gws.Conn]struct{}{}}
	s.up = gws.NewUpgrader(s, &gws.ServerOption{})
	return s
}

func (s *gwsServer) OnMessage(c *gws.Conn, m *gws.Message) {
	_ = c.WriteMessage(m.Opcode, m.Bytes())
	_ = m.Close()
}

func (s *gwsServer) OnClose(c *gws.Conn, err error) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *gwsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := s.up.Upgrade(w, r)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	go c.ReadLoop()
}

func (s *gwsServer) broadcast(payload []byte) {
	b := gws.NewBroadcaster(gws.OpcodeText, payload)
	defer b.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = b.Broadcast(c)
	}
}

// --- gobwas/ws with an epoll loop of its own: no goroutine per connection.

type gobwasServer struct {
	epfd  int
	mu    sync.Mutex
	conns map[int]net.Conn
}

func newGobwas() server {
	epfd, err := syscall.EpollCreate1(0)
	if err != nil {
		panic(err)
	}
	s := &gobwasServer{epfd: epfd, conns: map[int]net.Conn{}}
	go s.loop()
	return s
}

func (s *gobwasServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, _, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return
	}
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		c.Close()
		return
	}
	_ = raw.Control(func(fd uintptr) {
		s.mu.Lock()
		s.conns[int(fd)] = c
		s.mu.Unlock()
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(fd)}
		_ = syscall.EpollCtl(s.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
}

func (s *gobwasServer) loop() {
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(s.epfd, events, -1)
		if err != nil {
			continue
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			s.mu.Lock()
			c := s.conns[fd]
			s.mu.Unlock()
			if c == nil {
				continue
			}
			data, op, err := wsutil.ReadClientData(c)
			if err != nil {
				s.mu.Lock()
				delete(s.conns, fd)
				s.mu.Unlock()
				_ = syscall.EpollCtl(s.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
				c.Close()
				continue
			}
			_ = wsutil.WriteServerMessage(c, op, data)
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(fd)}
			_ = syscall.EpollCtl(s.epfd, syscall.EPOLL_CTL_MOD, fd, &ev)
		}
	}
}

func (s *gobwasServer) broadcast(payload []byte) {
	frame := ws.MustCompileFrame(ws.NewTextFrame(payload))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		_, _ = c.Write(frame)
	}
}

// textFrame is an unmasked, final text frame holding payload (< 126 bytes).
func textFrame(payload []byte) []byte {
	return append([]byte{0x81, byte(len(payload))}, payload...)
}
