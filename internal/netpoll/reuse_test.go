package netpoll_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/cpuhog"
	"github.com/siogo/siogo/internal/netpoll"
)

// registry is the set of open server connections that the pushers write
// to from their own goroutines, as a broadcast does.
type registry struct {
	mu    sync.Mutex
	conns []*netpoll.Conn
}

func (r *registry) add(c *netpoll.Conn) {
	r.mu.Lock()
	r.conns = append(r.conns, c)
	r.mu.Unlock()
}

func (r *registry) remove(c *netpoll.Conn) {
	r.mu.Lock()
	for i, x := range r.conns {
		if x == c {
			r.conns[i] = r.conns[len(r.conns)-1]
			r.conns = r.conns[:len(r.conns)-1]
			break
		}
	}
	r.mu.Unlock()
}

func (r *registry) pick() *netpoll.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.conns) == 0 {
		return nil
	}
	return r.conns[rand.IntN(len(r.conns))]
}

// reuseConn is the server's state of one connection: the id its client
// announced, and whether OnClose came.
type reuseConn struct {
	id     string
	closed bool // on the loop
	closes atomic.Int32
}

// TestCloseAndReuseUnderLoad plays the race that nbio lost: connections
// closed from other goroutines while their pollers hold events for them,
// their numbers reused at once by new connections, and writes from other
// goroutines aimed at connections as they close. Each client announces an
// id and may only ever receive lines carrying it; each server connection
// may only ever receive its own client's bytes; every connection gets one
// OnClose and no OnData after it. Half the clients reset instead of
// ending. Nothing settles or waits: the generations in epoll_data and the
// close under the write lock are the whole defence.
func TestCloseAndReuseUnderLoad(t *testing.T) { closeAndReuse(t, 4000) }

// TestCloseAndReuseSaturated is the same with every core kept busy.
func TestCloseAndReuseSaturated(t *testing.T) {
	cpuhog.Start(t, 0)
	closeAndReuse(t, 2000)
}

func closeAndReuse(t *testing.T, cycles int) {
	l := newLoop(t, netpoll.Options{Pollers: 2})
	var reg registry
	var opened, closed atomic.Int64
	var failures atomic.Int64
	fail := func(format string, args ...any) {
		if failures.Add(1) <= 10 {
			t.Errorf(format, args...)
		}
	}
	addr := serve(t, l, func(c *netpoll.Conn) netpoll.Handler {
		opened.Add(1)
		st := &reuseConn{}
		c.SetContext(st)
		return netpoll.HandlerFuncs{
			Data: func(c *netpoll.Conn, b []byte) {
				if st.closed {
					fail("OnData after OnClose")
				}
				for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
					switch {
					case strings.HasPrefix(line, "id "):
						if st.id != "" {
							fail("a second id %q on %q's connection", line, st.id)
						}
						st.id = line[3:]
						reg.add(c)
						_, _ = c.Write([]byte(st.id + "\n"))
					case line == "close":
						// Off the loop, while pushers may write to it.
						go func() {
							if rand.IntN(2) == 0 {
								_ = c.Close()
							} else {
								c.Abort()
							}
						}()
					case line != st.id:
						fail("connection %q read %q", st.id, line)
					}
				}
			},
			Close: func(c *netpoll.Conn, err error) {
				st.closed = true
				if st.closes.Add(1) != 1 {
					fail("OnClose twice on %q", st.id)
				}
				reg.remove(c)
				closed.Add(1)
			},
		}
	})

	stop := make(chan struct{})
	var pushers sync.WaitGroup
	for i := 0; i < 4; i++ {
		pushers.Add(1)
		go func() {
			defer pushers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if c := reg.pick(); c != nil {
					_, _ = c.Write([]byte(c.Context().(*reuseConn).idOrEmpty() + "\n"))
				} else {
					time.Sleep(100 * time.Microsecond)
				}
			}
		}()
	}

	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(cycles) && failures.Load() == 0; i = next.Add(1) {
				if err := reuseCycle(addr, i); err != nil {
					fail("cycle %d: %v", i, err)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	pushers.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for closed.Load() < opened.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if o, c := opened.Load(), closed.Load(); o != c || o < int64(cycles) {
		t.Errorf("%d connections opened, %d closed, %d cycles", o, c, cycles)
	}
	if s := l.Stats(); s.Conns != 0 {
		t.Errorf("%d connections still counted open", s.Conns)
	}
}

// idOrEmpty is the connection's id for a pusher: read off the loop, so
// through the registry, which only holds connections whose id is set.
func (s *reuseConn) idOrEmpty() string { return s.id }

// reuseCycle connects, announces an id, checks that every line it gets
// carries it, asks the server to close, and either reads to the end
// (checking every line on the way) or resets.
func reuseCycle(addr string, i int64) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	id := strconv.FormatInt(i, 10)
	if _, err := fmt.Fprintf(conn, "id %s\n", id); err != nil {
		return err
	}
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil {
		return fmt.Errorf("a fresh connection was lost: %w", err)
	}
	if line != id+"\n" {
		return fmt.Errorf("got %q, want %q", line, id)
	}
	// Some of its own bytes, which the server checks.
	if _, err := fmt.Fprintf(conn, "%s\n%s\nclose\n", id, id); err != nil {
		return err
	}
	if i%2 == 0 {
		_ = conn.(*net.TCPConn).SetLinger(0) // a reset while the server closes
		return nil
	}
	for {
		line, err := br.ReadString('\n')
		if errors.Is(err, io.EOF) && line == "" {
			return nil
		}
		if err != nil {
			// Abort drops what waited, so a line may be cut; and a close
			// with bytes unread in the server's socket resets.
			if errors.Is(err, io.EOF) && strings.HasPrefix(id+"\n", line) || errors.Is(err, syscall.ECONNRESET) {
				return nil
			}
			return fmt.Errorf("%q then %w", line, err)
		}
		if line != id+"\n" {
			return fmt.Errorf("connection %s read %q", id, line)
		}
	}
}
