package netpoll_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/siogo/siogo/internal/netpoll"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newLoop starts a Loop closed when t ends.
func newLoop(t testing.TB, opts netpoll.Options) *netpoll.Loop {
	t.Helper()
	l, err := netpoll.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// serve serves a fresh loopback listener on l and returns its address;
// when t ends the Loop is closed and Serve must have returned.
func serve(t testing.TB, l *netpoll.Loop, accept func(*netpoll.Conn) netpoll.Handler, opts ...netpoll.ServeOption) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- l.Serve(ln, accept, opts...) }()
	t.Cleanup(func() {
		_ = l.Close()
		if err := <-done; !errors.Is(err, netpoll.ErrLoopClosed) {
			t.Errorf("Serve returned %v, want ErrLoopClosed", err)
		}
	})
	return addr
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closes records each connection's OnClose errors.
type closes struct {
	mu   sync.Mutex
	errs map[*netpoll.Conn][]error
	ch   chan error
}

func newCloses() *closes {
	return &closes{errs: map[*netpoll.Conn][]error{}, ch: make(chan error, 1024)}
}

func (r *closes) record(c *netpoll.Conn, err error) {
	r.mu.Lock()
	r.errs[c] = append(r.errs[c], err)
	r.mu.Unlock()
	r.ch <- err
}

func (r *closes) next(t testing.TB) error {
	t.Helper()
	select {
	case err := <-r.ch:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("no OnClose")
		return nil
	}
}

// echo is a Handler that writes back what it reads.
func echo(r *closes) func(*netpoll.Conn) netpoll.Handler {
	return func(*netpoll.Conn) netpoll.Handler {
		return netpoll.HandlerFuncs{
			Data: func(c *netpoll.Conn, b []byte) { _, _ = c.Write(b) },
			Close: func(c *netpoll.Conn, err error) {
				if r != nil {
					r.record(c, err)
				}
			},
		}
	}
}

func TestEcho(t *testing.T) {
	l := newLoop(t, netpoll.Options{})
	addr := serve(t, l, echo(nil))
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for j := 0; j < 100; j++ {
				msg := fmt.Sprintf("client %d message %d", i, j)
				if _, err := c.Write([]byte(msg)); err != nil {
					errs <- err
					return
				}
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil {
					errs <- err
					return
				}
				if string(got) != msg {
					errs <- fmt.Errorf("got %q, want %q", got, msg)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// pattern is n bytes that say where they are.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7 / 3)
	}
	return b
}

// TestWriteBuffered writes far more than the socket holds to a peer that
// does not read yet: the rest waits in the connection's buffer, and
// arrives whole and in order once the peer reads; then nothing waits.
func TestWriteBuffered(t *testing.T) {
	l := newLoop(t, netpoll.Options{MaxWriteBuffer: 64 << 20})
	conns := make(chan *netpoll.Conn, 1)
	addr := serve(t, l, func(c *netpoll.Conn) netpoll.Handler {
		conns <- c
		return netpoll.HandlerFuncs{}
	})
	client := dial(t, addr)
	sc := <-conns
	want := pattern(16 << 20)
	// Three writers' turns, from this goroutine: Write, Writev, Write.
	if n, err := sc.Write(want[:5<<20]); err != nil || n != 5<<20 {
		t.Fatalf("Write: %d %v", n, err)
	}
	if n, err := sc.Writev([][]byte{want[5<<20 : 6<<20], want[6<<20 : 11<<20]}); err != nil || n != 6<<20 {
		t.Fatalf("Writev: %d %v", n, err)
	}
	if n, err := sc.Write(want[11<<20:]); err != nil || n != 5<<20 {
		t.Fatalf("Write: %d %v", n, err)
	}
	if sc.Buffered() == 0 {
		t.Fatal("16 MiB to a peer that does not read: nothing buffered")
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the bytes arrived changed")
	}
	// The loop releases the buffer as it writes the last of it; the
	// client has it all, so the count is 0 at the latest once the loop
	// has run a task queued after that write.
	done := make(chan int)
	sc.Exec(func() { done <- sc.Buffered() })
	if n := <-done; n != 0 {
		t.Fatalf("Buffered = %d after the peer read everything", n)
	}
}

func TestWritesFromManyGoroutines(t *testing.T) {
	l := newLoop(t, netpoll.Options{})
	conns := make(chan *netpoll.Conn, 1)
	addr := serve(t, l, func(c *netpoll.Conn) netpoll.Handler {
		conns <- c
		return netpoll.HandlerFuncs{}
	})
	client := dial(t, addr)
	sc := <-conns
	const writers, each = 8, 2000
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				msg := [4]byte{byte(w), byte(i >> 8), byte(i), '\n'}
				if _, err := sc.Write(msg[:]); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	next := make([]int, writers)
	buf := make([]byte, 4)
	for n := 0; n < writers*each; n++ {
		if _, err := io.ReadFull(client, buf); err != nil {
			t.Fatal(err)
		}
		w, i := int(buf[0]), int(buf[1])<<8|int(buf[2])
		if w >= writers || i != next[w] || buf[3] != '\n' {
			t.Fatalf("message %d: writer %d number %d, want %d", n, w, i, next[w%writers])
		}
		next[w]++
	}
	wg.Wait()
}

func TestSlowPeer(t *testing.T) {
	l := newLoop(t, netpoll.Options{MaxWriteBuffer: 256 << 10})
	r := newCloses()
	conns := make(chan *netpoll.Conn, 1)
	addr := serve(t, l, func(c *netpoll.Conn) netpoll.Handler {
		conns <- c
		return echo(r)(c)
	})
	_ = dial(t, addr) // never reads
	sc := <-conns
	chunk := make([]byte, 64<<10)
	var err error
	for i := 0; i < 10000 && err == nil; i++ {
		_, err = sc.Write(chunk)
	}
	if !errors.Is(err, netpoll.ErrSlowPeer) {
		t.Fatalf("Write: %v, want ErrSlowPeer", err)
	}
	if err := r.next(t); !errors.Is(err, netpoll.ErrSlowPeer) {
		t.Fatalf("OnClose: %v, want ErrSlowPeer", err)
	}
	if _, err := sc.Write(chunk); err == nil {
		t.Fatal("Write after the close succeeded")
	}
}

// TestGracefulClose: what was written before Close reaches the peer in
// full, then its end; OnClose is called with nil.
func TestGracefulClose(t *testing.T) {
	l := newLoop(t, netpoll.Options{})
	r := newCloses()
	conns := make(chan *netpoll.Conn, 1)
	addr := serve(t, l, func(c *netpoll.Conn) netpoll.Handler {
		conns <- c
		return echo(r)(c)
	})
	client := dial(t, addr)
	sc := <-conns
	want := pattern(3 << 20)
	if _, err := sc.Write(want); err != nil {
		t.Fatal(err)
	}
	if err := sc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Write([]byte("late")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v, want net.ErrClosed", err)
	}
	got, err := io.ReadAll(client)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want the %d written", len(got), len(want))
	}
	client.Close()
	if err := r.next(t); err != nil {
		t.Fatalf("OnClose: %v, want nil", err)
	}
}

func TestAbort(t *testing.T) {
	l := newLoop(t, netpoll.Options{})
	r := newCloses()
	conns := make(chan *netpoll.Conn, 1)
	addr := serve(t, l, func(c *netpoll.Conn) netpoll.Handler {
		conns <- c
		return echo(r)(c)
	})
	client := dial(t, addr)
	sc := <-conns
	sc.Abort()
	if err := r.next(t); err != nil {
		t.Fatalf("OnClose: %v, want nil", err)
	}
	if _, err := client.Read(make([]byte, 1)); err == nil {
		t.Fatal("read from an aborted connection succeeded")
	}
}

func TestPeerClose(t *testing.T) {
	l := newLoop(t, netpoll.Options{})
	r := newCloses()
	addr := serve(t, l, echo(r))
	client := dial(t, addr)
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(client, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	client.Close()
	if err := r.next(t); !errors.Is(err, io.EOF) {
		t.Fatalf("OnClose: %v, want io.EOF", err)
	}
}

func TestPauseResume(t *testing.T) {
	l := newLoop(t, netpoll.Options{})
	data := make(chan string, 16)
	conns := make(chan *netpoll.Conn, 1)
	addr := serve(t, l, func(c *netpoll.Conn) netpoll.Handler {
		c.PauseReads()
		conns <- c
		return netpoll.HandlerFuncs{Data: func(c *netpoll.Conn, b []byte) { data <- string(b) }}
	})
	client := dial(t, addr)
	sc := <-conns
	if _, err := client.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	// A task queued after the bytes could have been read has run, and
	// they were not delivered: the poller holds them in the kernel.
	for i := 0; i < 3; i++ {
		ran := make(chan struct{})
		sc.Exec(func() { close(ran) })
		<-ran
	}
	select {
	case s := <-data:
		t.Fatalf("OnData(%q) while paused", s)
	default:
	}
	sc.ResumeReads()
	if s := <-data; s != "held" {
		t.Fatalf("after ResumeReads: %q", s)
	}
}

// TestExec: tasks run on the connection's loop, in order, never at the
// same time as its callbacks (the race detector watches count).
func TestExec(t *testing.T) {
	l := newLoop(t, netpoll.Options{})
	count := 0
	conns := make(chan *netpoll.Conn, 1)
	addr := serve(t, l, func(c *netpoll.Conn) netpoll.Handler {
		conns <- c
		return netpoll.HandlerFuncs{Data: func(c *netpoll.Conn, b []byte) { count += len(b) }}
	})
	client := dial(t, addr)
	sc := <-conns
	var order []int
	const n = 1000
	go func() {
		for i := 0; i < 100; i++ {
			_, _ = client.Write([]byte("abc"))
		}
	}()
	for i := 0; i < n; i++ {
		if !sc.Exec(func() { count++; order = append(order, i) }) {
			t.Fatal("Exec refused on an open loop")
		}
	}
	done := make(chan []int)
	sc.Exec(func() { done <- order })
	got := <-done
	if len(got) != n {
		t.Fatalf("%d tasks ran, want %d", len(got), n)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("task %d ran as %d", v, i)
		}
	}
}

func TestSetHandler(t *testing.T) {
	l := newLoop(t, netpoll.Options{})
	addr := serve(t, l, func(c *netpoll.Conn) netpoll.Handler {
		return netpoll.HandlerFuncs{Data: func(c *netpoll.Conn, b []byte) {
			_, _ = c.Write([]byte("first:" + string(b)))
			c.SetHandler(netpoll.HandlerFuncs{Data: func(c *netpoll.Conn, b []byte) {
				_, _ = c.Write([]byte("second:" + string(b)))
			}})
		}}
	})
	client := dial(t, addr)
	for _, want := range []string{"first:a", "second:b", "second:c"} {
		if _, err := client.Write([]byte(want[len(want)-1:])); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(want))
		if _, err := io.ReadFull(client, got); err != nil || string(got) != want {
			t.Fatalf("got %q %v, want %q", got, err, want)
		}
	}
}

func TestAddrsAndContext(t *testing.T) {
	l := newLoop(t, netpoll.Options{})
	type info struct{ local, remote, ctx string }
	infos := make(chan info, 1)
	addr := serve(t, l, func(c *netpoll.Conn) netpoll.Handler {
		c.SetContext("state of " + c.RemoteAddr().String())
		return netpoll.HandlerFuncs{Data: func(c *netpoll.Conn, b []byte) {
			infos <- info{c.LocalAddr().String(), c.RemoteAddr().String(), c.Context().(string)}
		}}
	})
	client := dial(t, addr)
	_, _ = client.Write([]byte("x"))
	got := <-infos
	want := info{addr, client.LocalAddr().String(), "state of " + client.LocalAddr().String()}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestMaxConns(t *testing.T) {
	l := newLoop(t, netpoll.Options{MaxConns: 2})
	addr := serve(t, l, echo(nil))
	a, b := dial(t, addr), dial(t, addr)
	for _, c := range []net.Conn{a, b} {
		_, _ = c.Write([]byte("x"))
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
	}
	over := dial(t, addr)
	if _, err := over.Read(make([]byte, 1)); err == nil {
		t.Fatal("a connection over MaxConns was served")
	}
	if s := l.Stats(); s.Rejected != 1 || s.Conns != 2 {
		t.Fatalf("stats %+v, want 1 rejected and 2 open", s)
	}
}

// TestCloseEveryConn: Loop.Close closes every connection, calling
// OnClose once each with ErrLoopClosed; then writes and Exec are refused.
// goleak (TestMain) proves nothing the loop started outlives it.
func TestCloseEveryConn(t *testing.T) {
	l, err := netpoll.New(netpoll.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := newCloses()
	var opened atomic.Int64
	conns := make(chan *netpoll.Conn, 100)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		served <- l.Serve(ln, func(c *netpoll.Conn) netpoll.Handler {
			opened.Add(1)
			conns <- c
			return echo(r)(c)
		})
	}()
	var clients []net.Conn
	for i := 0; i < 100; i++ {
		c := dial(t, ln.Addr().String())
		clients = append(clients, c)
	}
	for i := 0; i < 100; i++ {
		<-conns
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, netpoll.ErrLoopClosed) {
		t.Fatalf("Serve: %v", err)
	}
	r.mu.Lock()
	if len(r.errs) != 100 {
		t.Errorf("%d connections got OnClose, want 100", len(r.errs))
	}
	var one *netpoll.Conn
	for c, errs := range r.errs {
		one = c
		if len(errs) != 1 || !errors.Is(errs[0], netpoll.ErrLoopClosed) {
			t.Errorf("OnClose calls: %v, want one ErrLoopClosed", errs)
		}
	}
	r.mu.Unlock()
	if _, err := one.Write([]byte("x")); err == nil {
		t.Error("Write after Loop.Close succeeded")
	}
	if one.Exec(func() {}) {
		t.Error("Exec after Loop.Close accepted")
	}
	for _, c := range clients {
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("a client's connection is still open")
		}
	}
	if s := l.Stats(); s.Conns != 0 {
		t.Errorf("%d connections open after Close", s.Conns)
	}
	_ = l.Close() // twice is fine
}

// TestShutdown delivers what is buffered before closing.
func TestShutdown(t *testing.T) {
	l := newLoop(t, netpoll.Options{})
	r := newCloses()
	conns := make(chan *netpoll.Conn, 1)
	addr := serve(t, l, func(c *netpoll.Conn) netpoll.Handler {
		conns <- c
		return echo(r)(c)
	})
	client := dial(t, addr)
	sc := <-conns
	want := pattern(4 << 20)
	if _, err := sc.Write(want); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Shutdown(context.Background()) }()
	got, err := io.ReadAll(client)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes (%v), want %d", len(got), err, len(want))
	}
	client.Close()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := r.next(t); err != nil {
		t.Fatalf("OnClose: %v", err)
	}
}

func TestShutdownContext(t *testing.T) {
	l := newLoop(t, netpoll.Options{CloseTimeout: time.Hour})
	r := newCloses()
	addr := serve(t, l, echo(r))
	client := dial(t, addr) // stays open: the graceful close waits for its end
	_, _ = client.Write([]byte("x"))
	_, _ = io.ReadFull(client, make([]byte, 1))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown: %v, want context.Canceled", err)
	}
	if err := r.next(t); !errors.Is(err, netpoll.ErrLoopClosed) {
		t.Fatalf("OnClose: %v, want ErrLoopClosed", err)
	}
}

// TestStopAccepting: after StopAccepting a new client is refused, the
// connections already open go on, and a later Serve returns at once.
func TestStopAccepting(t *testing.T) {
	l := newLoop(t, netpoll.Options{})
	addr := serve(t, l, echo(nil))
	client := dial(t, addr)
	// Accepted for sure (not still in the listener's backlog, which the
	// close resets) once it has an answer.
	_, _ = client.Write([]byte("x"))
	if _, err := io.ReadFull(client, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	l.StopAccepting()
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("a client connected after StopAccepting")
	}
	if _, err := client.Write([]byte("still")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(client, got); err != nil || string(got) != "still" {
		t.Fatalf("an open connection after StopAccepting: %q %v", got, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Serve(ln, echo(nil)); !errors.Is(err, netpoll.ErrLoopClosed) {
		t.Fatalf("Serve after StopAccepting: %v, want ErrLoopClosed", err)
	}
}
