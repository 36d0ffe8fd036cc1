package adaptertest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// proxy is a TCP proxy in front of one node at a time, for a client that
// must move between nodes: cut drops its connections, and while held it
// refuses new ones, as a load balancer whose node just died.
type proxy struct {
	ln      net.Listener
	mu      sync.Mutex
	backend string // host:port
	held    bool
	conns   map[net.Conn]struct{}
}

func startProxy(t *testing.T, backend string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, backend: backend, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

func (p *proxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		backend, held := p.backend, p.held
		p.mu.Unlock()
		if held {
			c.Close()
			continue
		}
		b, err := net.Dial("tcp", backend)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[b] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go p.pipe(c, b)
		go p.pipe(b, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// cut drops every connection and holds new ones until moveTo.
func (p *proxy) cut() {
	p.mu.Lock()
	p.held = true
	conns := p.conns
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}

// moveTo sends the next connections to backend.
func (p *proxy) moveTo(backend string) {
	p.mu.Lock()
	p.backend, p.held = backend, false
	p.mu.Unlock()
}
