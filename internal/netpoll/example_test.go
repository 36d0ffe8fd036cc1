package netpoll_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/netpoll"
	"github.com/siogo/siogo/internal/testcert"
)

// An echo server: every connection's bytes are written back, and a
// connection that sends nothing for a minute is closed.
func Example() {
	l, err := netpoll.New(netpoll.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go l.Serve(ln, func(c *netpoll.Conn) netpoll.Handler {
		c.SetReadTimeout(time.Minute)
		return netpoll.HandlerFuncs{
			Data: func(c *netpoll.Conn, b []byte) { c.Write(b) },
		}
	})

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Fprint(c, "hello")
	reply := make([]byte, 5)
	io.ReadFull(c, reply)
	fmt.Println(string(reply))
	// Output: hello
}

// Serving TLS: the Handler sees plaintext, and the connection's TLS state.
func ExampleTLS() {
	cert := testcert.New(&testing.T{})
	l, err := netpoll.New(netpoll.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	cfg := &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
	go l.Serve(ln, func(c *netpoll.Conn) netpoll.Handler {
		st, _ := c.ConnectionState()
		c.Write([]byte(tls.VersionName(st.Version) + "\n"))
		return netpoll.HandlerFuncs{}
	}, netpoll.TLS(cfg))

	c, err := tls.Dial("tcp", ln.Addr().String(), cert.Client())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	line, _ := bufio.NewReader(c).ReadString('\n')
	fmt.Print(line)
	// Output: TLS 1.3
}

// Taking over a connection net/http has hijacked (an upgrade): the answer
// that must come first is written before Adopt, then the loop serves it.
func ExampleLoop_Adopt() {
	l, err := netpoll.New(netpoll.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	upper := netpoll.HandlerFuncs{Data: func(c *netpoll.Conn, b []byte) {
		c.Write([]byte(strings.ToUpper(string(b))))
	}}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		nc.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: upper\r\nConnection: Upgrade\r\n\r\n"))
		early, _ := brw.Reader.Peek(brw.Reader.Buffered())
		if _, err := l.Adopt(nc, early, upper); err == netpoll.ErrNotTCP {
			nc.Close() // a real server would serve it another way
		}
	}))
	defer hs.Close()

	c, err := net.Dial("tcp", hs.Listener.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: upper\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	res, _ := http.ReadResponse(br, nil)
	fmt.Fprint(c, "hello")
	reply := make([]byte, 5)
	io.ReadFull(br, reply)
	fmt.Println(res.Status, string(reply))
	// Output: 101 Switching Protocols HELLO
}
