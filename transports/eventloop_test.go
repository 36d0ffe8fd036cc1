package transports_test

import (
	"context"
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := transports.NewHTTPServer(h, transports.HTTPServerOptions{})
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
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
