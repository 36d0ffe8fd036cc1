package transports_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/siogo/siogo/transports"
)

// onEventLoop makes newEchoServer serve on a transports.HTTPServer instead
// of net/http: set by TestEventLoop while it runs the polling suite again.
var onEventLoop bool

// serveEventLoop serves h on an HTTPServer at a free port until the test
// ends, and returns its URL.
func serveEventLoop(t *testing.T, h http.Handler, srv *transports.Server) string {
	t.Helper()
	return serveHTTP(t, h, srv, transports.HTTPServerOptions{})
}

// serveHTTP serves h on an HTTPServer with opts at a free port until the
// test ends, then closes srv and shuts the HTTPServer down; it returns
// the server's URL.
func serveHTTP(t *testing.T, h http.Handler, srv *transports.Server, opts transports.HTTPServerOptions) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := transports.NewHTTPServer(h, opts)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		<-served
	})
	// Serve returns at once if the loop did not start.
	select {
	case err := <-served:
		t.Fatalf("HTTPServer.Serve: %v", err)
	case <-time.After(10 * time.Millisecond):
	}
	return "http://" + ln.Addr().String()
}

// TestEventLoop runs the suite of polling tests, and the official clients,
// with the server on transports.HTTPServer, where a waiting poll is parked
// without a goroutine and answered later on its keep-alive connection.
func TestEventLoop(t *testing.T) {
	onEventLoop = true
	defer func() { onEventLoop = false }()
	for _, c := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"Errors", TestErrors},
		{"PollingLimits", TestPollingLimits},
		{"JSONP", TestJSONP},
		{"V3BinaryPayload", TestV3BinaryPayload},
		{"HTTPCompression", TestHTTPCompression},
		{"CORSAndCookie", TestCORSAndCookie},
		{"CORSLikeNode", TestCORSLikeNode},
		{"DisableJSONP", TestDisableJSONP},
		{"PingTimeout", TestPingTimeout},
		{"Shutdown", TestShutdown},
		{"UpgradeKeepsOrder", TestUpgradeKeepsOrder},
		{"ProtocolVersion", TestProtocolVersion},
		{"ClientCloseWhilePolling", TestClientCloseWhilePolling},
		{"PollRightAfterUpgrade", TestPollRightAfterUpgrade},
		{"ParkedPollConnClosed", testParkedPollConnClosed},
		{"ParkedPollKeepAlive", testParkedPollKeepAlive},
		{"OfficialClients", TestOfficialClients},
	} {
		t.Run(c.name, c.f)
	}
}

// testParkedPollConnClosed: the client drops the connection of its waiting
// GET; the session closes with "transport error", as in Node (and as
// under net/http, where the request's context ends).
func testParkedPollConnClosed(t *testing.T) {
	e := newEchoServer(t, transports.Options{})
	sid := handshake(t, e.URL, "EIO=4")
	u := strings.TrimPrefix(e.URL, "http://")
	c, err := net.Dial("tcp", u)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Write([]byte("GET /engine.io/?EIO=4&transport=polling&sid=" + sid + " HTTP/1.1\r\nHost: x\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // parked
	_ = c.Close()
	if got := e.reason(t, sid); got != transports.ReasonTransportError {
		t.Fatalf("reason %q, want %q", got, transports.ReasonTransportError)
	}
}

// testParkedPollKeepAlive: three polls in turn on one keep-alive
// connection, each parked and answered by a message sent later; then a
// POST on the same connection.
func testParkedPollKeepAlive(t *testing.T) {
	e := newEchoServer(t, transports.Options{})
	sid := handshake(t, e.URL, "EIO=4")
	c, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 4096)
	read := func() string {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	for i, msg := range []string{"one", "two", "three"} {
		if _, err := c.Write([]byte("GET /engine.io/?EIO=4&transport=polling&sid=" + sid + " HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
		if err := e.session(t, sid).Send(transports.Packet{Type: transports.PacketMessage, Data: []byte(msg)}); err != nil {
			t.Fatal(err)
		}
		got := read()
		if !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(got, "\r\n\r\n4"+msg) ||
			!strings.Contains(got, "Content-Length: "+string(rune('0'+len(msg)+1))+"\r\n") {
			t.Fatalf("poll %d: %q", i, got)
		}
	}
	body := "4post"
	if _, err := c.Write([]byte("POST /engine.io/?EIO=4&transport=polling&sid=" + sid + " HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 5\r\n\r\n" + body)); err != nil {
		t.Fatal(err)
	}
	if got := read(); !strings.HasSuffix(got, "\r\n\r\nok") {
		t.Fatalf("post: %q", got)
	}
}

// serveEchoOn serves an echo server on an HTTPServer with opts until the
// test ends, and returns it and its URL.
func serveEchoOn(t *testing.T, opts transports.HTTPServerOptions) (*echoServer, string) {
	t.Helper()
	e := newEchoServer(t, transports.Options{})
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", e.Server)
	return e, serveHTTP(t, mux, e.Server, opts)
}

// TestHTTPServerTimersSpareSessions is the scenario of the WebSockets
// once closed 120 s after their accept (nbio's keep-alive deadline, set
// after the upgrade had cleared it): with HTTP's timers short, neither a
// WebSocket upgraded on the HTTPServer nor a parked poll is closed by
// them; an idle keep-alive connection is.
func TestHTTPServerTimersSpareSessions(t *testing.T) {
	const d = 200 * time.Millisecond
	e, base := serveEchoOn(t, transports.HTTPServerOptions{KeepAlive: d, HeadersTimeout: d, RequestTimeout: d})
	ws := dialWS(t, base, "EIO=4")
	ws.read()
	sid := handshake(t, base, "EIO=4")
	parked := sendGET(t, base+"/engine.io/?EIO=4&transport=polling&sid="+sid)
	waitPending(t, e, sid)
	idle, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	time.Sleep(4 * d)
	ws.send(1, "4still")
	ws.expect("4still")
	if err := e.session(t, sid).Send(transports.Packet{Type: transports.PacketMessage, Data: []byte("late")}); err != nil {
		t.Fatal(err)
	}
	if r := parked(); r.Status != 200 || string(r.Body) != "4late" {
		t.Fatalf("the parked poll: %d %q", r.Status, r.Body)
	}
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(idle); err != nil || !strings.HasPrefix(string(b), "HTTP/1.1 408 ") {
		t.Fatalf("a connection that sent nothing: %q %v, want 408 and its end", b, err)
	}
}

// TestSessionURLBound: a session keeps at most what the HTTP server let
// in: a head over MaxHeaderBytes (16 KiB) is refused with 431 before any
// session exists, and the longest URL a session can hold fits in it.
func TestSessionURLBound(t *testing.T) {
	e, base := serveEchoOn(t, transports.HTTPServerOptions{})
	addr := strings.TrimPrefix(base, "http://")
	get := func(pad int) (string, string) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /engine.io/?EIO=4&transport=polling&pad=%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", strings.Repeat("p", pad))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		m := sidPattern.FindStringSubmatch(string(b))
		if m == nil {
			return string(b), ""
		}
		return string(b), m[1]
	}
	if got, sid := get(17 << 10); sid != "" || !strings.HasPrefix(got, "HTTP/1.1 431 ") {
		t.Fatalf("a 17 KiB URL: %q (session %q)", got, sid)
	}
	_, sid := get(16<<10 - 200)
	if sid == "" {
		t.Fatal("a URL within 16 KiB opened no session")
	}
	if n := len(e.session(t, sid).URL()); n > 16<<10 {
		t.Fatalf("the session keeps a URL of %d bytes", n)
	}
}
