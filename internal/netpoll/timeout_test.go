package netpoll_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/netpoll"
)

const tick = 10 * time.Millisecond

// TestReadTimeout: a connection that reads closes d after its last read,
// and not before: reads push the timeout on.
func TestReadTimeout(t *testing.T) {
	l := newLoop(t, netpoll.Options{TimerTick: tick})
	r := newCloses()
	const d = 200 * time.Millisecond
	addr := serve(t, l, func(c *netpoll.Conn) netpoll.Handler {
		c.SetReadTimeout(d)
		return echo(r)(c)
	})
	client := dial(t, addr)
	start := time.Now()
	var last time.Time
	// Keep reading going for 3d: the timeout must not fire meanwhile.
	for time.Since(start) < 3*d {
		sent := time.Now()
		if _, err := client.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(client, make([]byte, 1)); err != nil {
			t.Fatalf("closed while reading, %v after the start: %v", time.Since(start), err)
		}
		last = sent        // the server read it after this
		time.Sleep(d / 10) // the client's pace, not a wait for the server
	}
	if err := r.next(t); !errors.Is(err, netpoll.ErrReadTimeout) {
		t.Fatalf("OnClose: %v, want ErrReadTimeout", err)
	}
	if idle := time.Since(last); idle < d {
		t.Fatalf("closed %v after the last read, before %v", idle, d)
	}
}

func TestDeadline(t *testing.T) {
	l := newLoop(t, netpoll.Options{TimerTick: tick})
	r := newCloses()
	at := time.Now().Add(150 * time.Millisecond)
	addr := serve(t, l, func(c *netpoll.Conn) netpoll.Handler {
		c.SetDeadline(at)
		return echo(r)(c)
	})
	client := dial(t, addr)
	go func() { // busy: the deadline fires anyway
		for {
			if _, err := client.Write([]byte("x")); err != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	if err := r.next(t); !errors.Is(err, netpoll.ErrDeadline) {
		t.Fatalf("OnClose: %v, want ErrDeadline", err)
	}
	if time.Now().Before(at) {
		t.Fatal("closed before the deadline")
	}
}

// TestTimeoutsOff: disarmed timeouts do not fire. A second connection,
// whose timeout is armed for later than the first one's were, shows the
// wheel turned past them.
func TestTimeoutsOff(t *testing.T) {
	l := newLoop(t, netpoll.Options{TimerTick: tick})
	r := newCloses()
	var n atomic.Int64
	conns := make(chan *netpoll.Conn, 2)
	addr := serve(t, l, func(c *netpoll.Conn) netpoll.Handler {
		if n.Add(1) == 1 {
			c.SetReadTimeout(50 * time.Millisecond)
			c.SetDeadline(time.Now().Add(50 * time.Millisecond))
			c.SetReadTimeout(0)
			c.SetDeadline(time.Time{})
		} else {
			c.SetReadTimeout(150 * time.Millisecond)
		}
		conns <- c
		return echo(r)(c)
	})
	client := dial(t, addr)
	sc := <-conns
	_ = dial(t, addr)
	witness := <-conns
	if err := r.next(t); !errors.Is(err, netpoll.ErrReadTimeout) {
		t.Fatalf("OnClose: %v, want the witness's ErrReadTimeout", err)
	}
	r.mu.Lock()
	_, first := r.errs[sc]
	_, second := r.errs[witness]
	r.mu.Unlock()
	if first || !second {
		t.Fatal("a disarmed timeout fired")
	}
	_, _ = client.Write([]byte("x"))
	if _, err := io.ReadFull(client, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	sc.Abort()
}

type timeoutHandler struct {
	netpoll.HandlerFuncs
	timeouts chan error
}

func (h timeoutHandler) OnTimeout(c *netpoll.Conn, err error) {
	h.timeouts <- err
	_, _ = c.Write([]byte("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n"))
	_ = c.Close()
}

// TestTimeoutHandler: a TimeoutHandler answers before it closes, as an
// HTTP server's 408.
func TestTimeoutHandler(t *testing.T) {
	l := newLoop(t, netpoll.Options{TimerTick: tick})
	r := newCloses()
	timeouts := make(chan error, 1)
	addr := serve(t, l, func(c *netpoll.Conn) netpoll.Handler {
		c.SetDeadline(time.Now().Add(50 * time.Millisecond))
		return timeoutHandler{HandlerFuncs: netpoll.HandlerFuncs{Close: r.record}, timeouts: timeouts}
	})
	client := dial(t, addr)
	got, err := io.ReadAll(client)
	if err != nil || !strings.HasPrefix(string(got), "HTTP/1.1 408") {
		t.Fatalf("read %q %v", got, err)
	}
	if err := <-timeouts; !errors.Is(err, netpoll.ErrDeadline) {
		t.Fatalf("OnTimeout: %v", err)
	}
	client.Close()
	if err := r.next(t); err != nil {
		t.Fatalf("OnClose: %v, want nil", err)
	}
}

// TestCloseTimeout: a graceful close whose peer never reads ends at
// CloseTimeout.
func TestCloseTimeout(t *testing.T) {
	l := newLoop(t, netpoll.Options{TimerTick: tick, CloseTimeout: 100 * time.Millisecond})
	r := newCloses()
	conns := make(chan *netpoll.Conn, 1)
	addr := serve(t, l, func(c *netpoll.Conn) netpoll.Handler {
		conns <- c
		return echo(r)(c)
	})
	_ = dial(t, addr) // never reads, never closes
	sc := <-conns
	if _, err := sc.Write(make([]byte, 3<<20)); err != nil {
		t.Fatal(err)
	}
	_ = sc.Close()
	if err := r.next(t); !errors.Is(err, netpoll.ErrCloseTimeout) {
		t.Fatalf("OnClose: %v, want ErrCloseTimeout", err)
	}
}

// syncBuffer is a log destination safe for the loop's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPanicStaysWithItsConnection: a panic in a callback closes that
// connection with a *PanicError, is logged and counted, and every other
// connection goes on.
func TestPanicStaysWithItsConnection(t *testing.T) {
	var logs syncBuffer
	var hooked atomic.Int64
	l := newLoop(t, netpoll.Options{
		Pollers: 1, // the panicking connection shares its loop with the others
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
		OnPanic: func(*netpoll.PanicError) { hooked.Add(1) },
	})
	r := newCloses()
	addr := serve(t, l, func(c *netpoll.Conn) netpoll.Handler {
		return netpoll.HandlerFuncs{
			Data: func(c *netpoll.Conn, b []byte) {
				switch string(b) {
				case "boom":
					panic("decoder bug")
				case "exec":
					c.Exec(func() { panic(errors.New("task bug")) })
				default:
					_, _ = c.Write(b)
				}
			},
			Close: r.record,
		}
	})
	var others []net.Conn
	for i := 0; i < 5; i++ {
		others = append(others, dial(t, addr))
	}
	roundTrip := func() {
		t.Helper()
		for _, c := range others {
			if _, err := c.Write([]byte("ok")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
				t.Fatal(err)
			}
		}
	}
	roundTrip()
	for i, trigger := range []string{"boom", "exec"} {
		victim := dial(t, addr)
		_, _ = victim.Write([]byte(trigger))
		err := r.next(t)
		var pe *netpoll.PanicError
		if !errors.As(err, &pe) {
			t.Fatalf("%s: OnClose: %v, want a *PanicError", trigger, err)
		}
		if len(pe.Stack) == 0 {
			t.Errorf("%s: no stack", trigger)
		}
		if trigger == "exec" && (errors.Unwrap(err) == nil || errors.Unwrap(err).Error() != "task bug") {
			t.Errorf("exec: Unwrap = %v", errors.Unwrap(err))
		}
		if _, err := victim.Read(make([]byte, 1)); err == nil {
			t.Fatalf("%s: the panicking connection is still open", trigger)
		}
		if s := l.Stats(); s.Panics != uint64(i+1) || hooked.Load() != int64(i+1) {
			t.Fatalf("%s: %d panics counted, %d hooked", trigger, s.Panics, hooked.Load())
		}
		roundTrip()
	}
	if !strings.Contains(logs.String(), "decoder bug") || !strings.Contains(logs.String(), "task bug") {
		t.Fatalf("panics not logged: %s", logs.String())
	}
}

// TestPanicInOnCloseAndAccept: a panic in OnClose or in the accept
// function is recovered too.
func TestPanicInOnCloseAndAccept(t *testing.T) {
	l := newLoop(t, netpoll.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	var n atomic.Int64
	addr := serve(t, l, func(c *netpoll.Conn) netpoll.Handler {
		if n.Add(1) == 1 {
			panic("accept bug")
		}
		return netpoll.HandlerFuncs{
			Data:  func(c *netpoll.Conn, b []byte) { _ = c.Close() },
			Close: func(*netpoll.Conn, error) { panic("close bug") },
		}
	})
	first := dial(t, addr)
	if _, err := first.Read(make([]byte, 1)); err == nil {
		t.Fatal("served after its accept panicked")
	}
	second := dial(t, addr)
	_, _ = second.Write([]byte("x"))
	if _, err := second.Read(make([]byte, 1)); err == nil {
		t.Fatal("not closed")
	}
	second.Close() // the server's graceful close waits for this end
	third := dial(t, addr)
	_, _ = third.Write([]byte("x"))
	if _, err := third.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("the loop stopped serving: %v", err)
	}
	third.Close()
	for l.Stats().Panics < 3 {
		time.Sleep(time.Millisecond)
	}
}

// TestPanicInTimeoutAndHandshake: a panic in OnTimeout, or in a tls.Config
// callback during a handshake, is recovered too.
func TestPanicInTimeoutAndHandshake(t *testing.T) {
	srv, client := serverTLS(t)
	var hooked atomic.Int64
	l := newLoop(t, netpoll.Options{
		TimerTick: tick,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnPanic:   func(*netpoll.PanicError) { hooked.Add(1) },
	})
	r := newCloses()
	timeouts := make(chan error, 1)
	addr := serve(t, l, func(c *netpoll.Conn) netpoll.Handler {
		c.SetDeadline(time.Now().Add(20 * time.Millisecond))
		return panickyTimeout{timeoutHandler{HandlerFuncs: netpoll.HandlerFuncs{Close: r.record}, timeouts: timeouts}}
	})
	_ = dial(t, addr)
	var pe *netpoll.PanicError
	if err := r.next(t); !errors.As(err, &pe) {
		t.Fatalf("OnClose: %v, want a *PanicError", err)
	}

	cfg := srv.Clone()
	cfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { panic("certificate bug") }
	cfg.Certificates = nil
	tlsAddr := serve(t, l, echo(nil), netpoll.TLS(cfg))
	if c, err := tls.Dial("tcp", tlsAddr, client); err == nil {
		c.Close()
		t.Fatal("handshake succeeded")
	}
	for hooked.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	if s := l.Stats(); s.Panics != 2 {
		t.Fatalf("stats %+v", s)
	}
}

type panickyTimeout struct{ timeoutHandler }

func (panickyTimeout) OnTimeout(*netpoll.Conn, error) { panic("timeout bug") }
