package websocket_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/testcert"
	"github.com/siogo/siogo/internal/websocket"
	"github.com/siogo/siogo/transports"
)

// echo is a Handler that sends every message back as it came.
type echo struct{}

func (echo) OnMessage(c *websocket.Conn, binary bool, data []byte) {
	// Frames are queued and written together; data is copied on the way.
	_ = c.WriteFrames(websocket.Frame{Binary: binary, Data: data})
}

func (echo) OnClose(*websocket.Conn, error) {}

// A WebSocket echo server on any net/http server: Upgrade hijacks the
// connection and hands it to the Server's event loop, so the handler
// returns and no goroutine waits on the idle connection.
func ExampleServer_Upgrade() {
	ws, err := websocket.NewServer(websocket.Config{MaxMessageSize: 1 << 16})
	if err != nil {
		panic(err)
	}
	defer ws.Close()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := ws.Upgrade(w, r, nil, echo{}); err != nil {
			return // Upgrade has answered the request with an error
		}
	}))
	defer hs.Close()

	// The least of a client: the opening handshake, then one masked text
	// frame, "hi", and the server's unmasked answer.
	conn, err := net.Dial("tcp", strings.TrimPrefix(hs.URL, "http://"))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(res.StatusCode, res.Header.Get("Sec-Websocket-Accept"))

	mask := [4]byte{1, 2, 3, 4}
	frame := []byte{0x81, 0x80 | 2, mask[0], mask[1], mask[2], mask[3], 'h' ^ mask[0], 'i' ^ mask[1]}
	if _, err := conn.Write(frame); err != nil {
		panic(err)
	}
	head := make([]byte, 2)
	if _, err := io.ReadFull(br, head); err != nil {
		panic(err)
	}
	body := make([]byte, head[1])
	if _, err := io.ReadFull(br, body); err != nil {
		panic(err)
	}
	fmt.Printf("fin+text=%#x %s\n", head[0], body)
	// Output:
	// 101 s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
	// fin+text=0x81 hi
}

// WSS on transports.HTTPServer: Go's crypto/tls on the event loop, which
// decrypts the upgraded connection too, so an idle WSS connection holds
// no goroutine, as a plain one.
func ExampleServer_Upgrade_tls() {
	cert := testcert.New(&testing.T{})
	ws, err := websocket.NewServer(websocket.Config{})
	if err != nil {
		panic(err)
	}
	defer ws.Close()
	hs := transports.NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = ws.Upgrade(w, r, nil, echo{})
	}), transports.HTTPServerOptions{TLS: &tls.Config{Certificates: []tls.Certificate{cert.TLS}}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go hs.Serve(ln)
	defer hs.Shutdown(context.Background())

	conn, err := tls.Dial("tcp", ln.Addr().String(), cert.Client())
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(res.StatusCode, conn.ConnectionState().Version == tls.VersionTLS13)
	// Output: 101 true
}

// A heartbeat for an endpoint whose protocol has none: ping every
// connection each interval, and close those that have not answered within
// the timeout (a peer gone, or one holding a frame half sent). One ticker
// for all. (Not run: it runs until stop is closed.)
func ExampleConn_Ping() {
	var mu sync.Mutex
	conns := map[*websocket.Conn]bool{} // kept by the Handler
	const interval, timeout = 25 * time.Second, 20 * time.Second
	stop := make(chan struct{})
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		sent := time.Now()
		mu.Lock()
		var pinged []*websocket.Conn
		for c := range conns {
			if c.Ping(nil) == nil {
				pinged = append(pinged, c)
			}
		}
		mu.Unlock()
		time.AfterFunc(timeout, func() {
			for _, c := range pinged {
				if c.LastPong().Before(sent) {
					_ = c.Close(1001)
				}
			}
		})
	}
}
