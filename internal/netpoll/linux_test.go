//go:build linux && !netpoll_portable

package netpoll

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/siogo/siogo/internal/testcert"
)

// onLoop runs f on p's goroutine and waits for it.
func onLoop(t testing.TB, p *poller, f func()) {
	t.Helper()
	done := make(chan struct{})
	if !p.post(func() { defer close(done); f() }) {
		t.Fatal("the poller has stopped")
	}
	<-done
}

func pair(t testing.TB) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); d.Close() })
	return a.(*net.TCPConn), d.(*net.TCPConn)
}

// TestStaleEventDropped is the nbio race, played by hand: the poller
// holds an event for connection A (here: taken before A closes), A closes
// on the loop, B gets A's descriptor number and A's slot, and then the
// poller goes through its events. The old event must not reach B; B's
// own event must.
func TestStaleEventDropped(t *testing.T) {
	l, err := New(Options{Pollers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := l.pollers[0]
	type got struct {
		who  string
		data string
	}
	data := make(chan got, 4)
	handler := func(who string) Handler {
		return HandlerFuncs{Data: func(c *Conn, b []byte) { data <- got{who, string(b)} }}
	}

	aSrv, aPeer := pair(t)
	a, err := l.Adopt(aSrv, nil, handler("A"))
	if err != nil {
		t.Fatal(err)
	}
	bSrv, bPeer := pair(t)
	// B's socket, duplicated close-on-exec like any the loop takes, but
	// not yet given a number of the loop's choosing.
	bFd, err := dupSocket(bSrv)
	if err != nil {
		t.Fatal(err)
	}
	bSrv.Close()
	if _, err := bPeer.Write([]byte("for B")); err != nil {
		t.Fatal(err)
	}

	onLoop(t, p, func() {
		stale := unix.EpollEvent{Events: unix.EPOLLIN, Fd: a.slot, Pad: int32(a.gen)}
		aFd := a.fd
		p.closeNow(a, nil)
		// B takes A's number (the lowest free one) and A's slot.
		fd, err := unix.FcntlInt(uintptr(bFd), unix.F_DUPFD_CLOEXEC, aFd)
		if err != nil || fd != aFd {
			t.Errorf("B's number: %d %v, want A's %d", fd, err, aFd)
			return
		}
		unix.Close(bFd)
		b := newConn(p, fd)
		b.h = handler("B")
		if err := p.register(b); err != nil {
			t.Error(err)
			return
		}
		b.state = stOpen
		if b.slot != stale.Fd || uint32(stale.Pad) == b.gen {
			t.Errorf("B: slot %d gen %d; the stale event: slot %d gen %d", b.slot, b.gen, stale.Fd, stale.Pad)
		}
		before := p.stale
		p.dispatch(&stale)
		if p.stale != before+1 {
			t.Error("the stale event was not dropped")
		}
		select {
		case g := <-data:
			t.Errorf("the stale event delivered %q to %s", g.data, g.who)
		default:
		}
	})
	// B's own registration reports its bytes (the edge of its add).
	select {
	case g := <-data:
		if g.who != "B" || g.data != "for B" {
			t.Fatalf("got %+v", g)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("B's own event delivered nothing")
	}
	if _, err := aPeer.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("A's peer: %v, want EOF", err)
	}
}

// TestCloseOnExec: every descriptor the loop holds is close-on-exec and
// every socket non-blocking, from its birth.
func TestCloseOnExec(t *testing.T) {
	cert := testcert.New(t)
	l, err := New(Options{Pollers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	echo := func(*Conn) Handler { return HandlerFuncs{Data: func(c *Conn, b []byte) { _, _ = c.Write(b) }} }
	lnPlain, _ := net.Listen("tcp", "127.0.0.1:0")
	lnTLS, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = l.Serve(lnPlain, echo) }()
	go func() { _ = l.Serve(lnTLS, echo, TLS(&tls.Config{Certificates: []tls.Certificate{cert.TLS}})) }()
	for i := 0; i < 4; i++ {
		c, err := net.Dial("tcp", lnPlain.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = c.Write([]byte("x"))
		_, _ = io.ReadFull(c, make([]byte, 1))
		tc, err := tls.Dial("tcp", lnTLS.Addr().String(), cert.Client())
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		_, _ = tc.Write([]byte("x"))
		_, _ = io.ReadFull(tc, make([]byte, 1))
	}
	a, _ := pair(t)
	if _, err := l.Adopt(a, nil, HandlerFuncs{}); err != nil {
		t.Fatal(err)
	}
	check := func(what string, fd int, socket bool) {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("%s (fd %d): not close-on-exec (%#x, %v)", what, fd, flags, err)
		}
		if !socket {
			return
		}
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil || fl&unix.O_NONBLOCK == 0 {
			t.Errorf("%s (fd %d): blocking (%#x, %v)", what, fd, fl, err)
		}
	}
	n := 0
	for _, p := range l.pollers {
		onLoop(t, p, func() {
			check("epoll", p.epfd, false)
			check("eventfd", p.evfd, false)
			for _, lis := range p.lns {
				check("listener", lis.fd, true)
			}
			for _, c := range p.slots {
				if c != nil {
					n++
					check("connection", c.fd, true)
				}
			}
		})
	}
	if n != 9 {
		t.Fatalf("%d connections checked, want 9", n)
	}
}

// TestNoDescriptorLeft: after Close, the process holds the descriptors it
// held before New.
func TestNoDescriptorLeft(t *testing.T) {
	count := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before := count()
	l, err := New(Options{Pollers: 2})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	served := make(chan error, 1)
	go func() { served <- l.Serve(ln, func(*Conn) Handler { return HandlerFuncs{} }) }()
	var clients []net.Conn
	for i := 0; i < 20; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	for l.Stats().Accepted < 20 {
		onLoop(t, l.pollers[0], func() {})
	}
	_ = l.Close()
	<-served
	for _, c := range clients {
		c.Close()
	}
	if after := count(); after != before {
		t.Fatalf("%d descriptors open before, %d after", before, after)
	}
}

func TestAdoptNotTCP(t *testing.T) {
	l, err := New(Options{Pollers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := l.Adopt(a, nil, HandlerFuncs{}); !errors.Is(err, ErrNotTCP) {
		t.Fatalf("Adopt(net.Pipe): %v, want ErrNotTCP", err)
	}
	go func() { _, _ = b.Write([]byte("x")) }()
	if _, err := a.Read(make([]byte, 1)); err != nil {
		t.Fatalf("the caller's connection was touched: %v", err)
	}
}

// BenchmarkAccept opens connections from 1 or 16 goroutines and reports
// how they spread over the pollers (the share of the busiest one: 0.5 is
// even, with 2), with each poller keeping what it accepts (local) or
// handing it to the least loaded (spread).
func BenchmarkAccept(b *testing.B) {
	for _, local := range []bool{true, false} {
		for _, dialers := range []int{1, 16} {
			name := fmt.Sprint("spread/", dialers, "-dialers")
			if local {
				name = fmt.Sprint("local/", dialers, "-dialers")
			}
			b.Run(name, func(b *testing.B) { benchAccept(b, dialers, local) })
		}
	}
}

func benchAccept(b *testing.B, dialers int, local bool) {
	l, err := New(Options{Pollers: 2})
	if err != nil {
		b.Fatal(err)
	}
	l.acceptLocal = local
	defer l.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = l.Serve(ln, func(*Conn) Handler { return HandlerFuncs{} }) }()
	addr := ln.Addr().String()
	work := make(chan struct{})
	conns := make(chan net.Conn, 1<<16)
	var wg sync.WaitGroup
	for i := 0; i < dialers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Error(err)
					return
				}
				conns <- c
			}
		}()
	}
	n := 0
	for b.Loop() {
		work <- struct{}{}
		n++
		if n%4096 == 0 { // stay under the file limit
			for len(conns) > 0 {
				(<-conns).Close()
			}
		}
	}
	close(work)
	wg.Wait()
	for l.Stats().Accepted < uint64(n) {
		onLoop(b, l.pollers[0], func() {})
	}
	counts := make([]int32, len(l.pollers))
	total := 0
	for i, p := range l.pollers {
		counts[i] = p.n.Load()
		total += int(counts[i])
	}
	busiest := slices.Max(counts)
	if total > 0 {
		b.ReportMetric(float64(busiest)/float64(total), "busiest-share")
	}
	close(conns)
	for c := range conns {
		c.Close()
	}
}

// TestBlockingWait: the poller's other way to wait, a blocking epoll_wait,
// used when its descriptor cannot join Go's poller.
func TestBlockingWait(t *testing.T) {
	parkInRuntime = false
	l, err := New(Options{Pollers: 2, TimerTick: 10 * time.Millisecond})
	parkInRuntime = true
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, p := range l.pollers {
		if p.raw != nil {
			t.Fatal("the poller waits in Go's poller")
		}
	}
	closed := make(chan error, 1)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() {
		_ = l.Serve(ln, func(c *Conn) Handler {
			c.SetReadTimeout(50 * time.Millisecond)
			return HandlerFuncs{
				Data:  func(c *Conn, b []byte) { _, _ = c.Write(b) },
				Close: func(c *Conn, err error) { closed <- err },
			}
		})
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("x"))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if err := <-closed; !errors.Is(err, ErrReadTimeout) {
		t.Fatalf("OnClose: %v, want ErrReadTimeout (the tick woke the poller)", err)
	}
}
