package netpoll_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/siogo/siogo/internal/netpoll"
)

// upgradeServer is an HTTP server whose handler hands the connection to
// the loop, as a WebSocket upgrade does: the bytes net/http had already
// read come first.
func upgradeServer(t *testing.T, l *netpoll.Loop, r *closes) string {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		initial, _ := brw.Reader.Peek(brw.Reader.Buffered())
		// What must precede the handler's bytes is written before Adopt:
		// from then on the loop may run the handler at any time.
		if _, err := nc.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")); err != nil {
			t.Error(err)
			return
		}
		if _, err := l.Adopt(nc, initial, echo(r)(nil)); err != nil {
			t.Error(err)
		}
	}))
	t.Cleanup(hs.Close)
	return strings.TrimPrefix(hs.URL, "http://")
}

func TestAdopt(t *testing.T) {
	l := newLoop(t, netpoll.Options{})
	r := newCloses()
	addr := upgradeServer(t, l, r)
	for i := 0; i < 20; i++ {
		c := dial(t, addr)
		// The first echo's bytes come with the request, in the same
		// write: net/http has read them before the handler runs.
		first := fmt.Sprintf("early %d;", i)
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n%s", first)
		br := bufio.NewReader(c)
		res, err := http.ReadResponse(br, nil)
		if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: %v %v", res, err)
		}
		got := make([]byte, len(first))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != first {
			t.Fatalf("first echo %q %v", got, err)
		}
		if _, err := c.Write([]byte("later")); err != nil {
			t.Fatal(err)
		}
		got = make([]byte, 5)
		if _, err := io.ReadFull(br, got); err != nil || string(got) != "later" {
			t.Fatalf("echo %q %v", got, err)
		}
		c.Close()
		if err := r.next(t); !errors.Is(err, io.EOF) {
			t.Fatalf("OnClose: %v", err)
		}
	}
	if s := l.Stats(); s.Accepted != 20 {
		t.Fatalf("stats %+v", s)
	}
}

func TestAdoptAfterClose(t *testing.T) {
	l := newLoop(t, netpoll.Options{})
	_ = l.Close()
	a, b := tcpPair(t)
	defer b.Close()
	if _, err := l.Adopt(a, nil, netpoll.HandlerFuncs{}); !errors.Is(err, netpoll.ErrLoopClosed) {
		t.Fatalf("Adopt: %v, want ErrLoopClosed", err)
	}
	if _, err := b.Read(make([]byte, 1)); err == nil {
		t.Fatal("the refused connection is still open")
	}
}

func TestAdoptMaxConns(t *testing.T) {
	l := newLoop(t, netpoll.Options{MaxConns: 1})
	a, b := tcpPair(t)
	defer b.Close()
	if _, err := l.Adopt(a, nil, netpoll.HandlerFuncs{}); err != nil {
		t.Fatal(err)
	}
	c, d := tcpPair(t)
	defer d.Close()
	if _, err := l.Adopt(c, nil, netpoll.HandlerFuncs{}); !errors.Is(err, netpoll.ErrMaxConns) {
		t.Fatalf("Adopt: %v, want ErrMaxConns", err)
	}
	if s := l.Stats(); s.Rejected != 1 || s.Conns != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// tcpPair is a connected pair of loopback TCP connections.
func tcpPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return <-accepted, d
}
