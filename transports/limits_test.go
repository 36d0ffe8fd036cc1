package transports_test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/siogo/siogo/transports"
)

// wsAttempt sends a WebSocket handshake with extra header lines and
// returns the status and body of the answer; a 101 is closed at once.
func wsAttempt(t *testing.T, base, query, extra string) (int, string) {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	fmt.Fprintf(conn, "GET /engine.io/?transport=websocket&%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
		query, u.Host, base64.StdEncoding.EncodeToString(key), extra)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		return res.StatusCode, ""
	}
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestWebSocketOrigin: with CORS origins set, a WebSocket from another
// origin is refused, at the handshake and at the upgrade of a polling
// session, with 403 and the body Node gives a Forbidden request; browsers
// do not apply CORS to WebSocket, so this is the only check there is.
// Allowed: the listed origin, the server's own, and no Origin at all.
func TestWebSocketOrigin(t *testing.T) {
	e := newEchoServer(t, transports.Options{CORS: &transports.CORS{Origins: []string{"https://good.example"}}})
	host := e.URL[len("http://"):]
	const forbidden = `{"code":4,"message":"Forbidden"}`
	for _, c := range []struct {
		origin string
		want   int
	}{
		{"", http.StatusSwitchingProtocols},
		{"https://good.example", http.StatusSwitchingProtocols},
		{"http://" + host, http.StatusSwitchingProtocols},
		{"https://evil.example", http.StatusForbidden},
		{"https://good.example.evil.example", http.StatusForbidden},
		{"http://" + host + ".evil.example", http.StatusForbidden},
		{"null", http.StatusForbidden},
	} {
		extra := ""
		if c.origin != "" {
			extra = "Origin: " + c.origin + "\r\n"
		}
		for _, eio := range []string{"EIO=4", "EIO=3"} {
			status, body := wsAttempt(t, e.URL, eio, extra)
			if status != c.want {
				t.Errorf("%s origin %q: %d %s, want %d", eio, c.origin, status, body, c.want)
			}
			if status == http.StatusForbidden && body != forbidden {
				t.Errorf("origin %q: body %s, want %s", c.origin, body, forbidden)
			}
		}
	}
	// The upgrade of a polling session is checked the same way.
	sid := handshake(t, e.URL, "EIO=4")
	if status, body := wsAttempt(t, e.URL, "EIO=4&sid="+sid, "Origin: https://evil.example\r\n"); status != http.StatusForbidden || body != forbidden {
		t.Errorf("upgrade from another origin: %d %s", status, body)
	}
	// Polling from another origin is answered, without CORS headers, as
	// Node does: the browser keeps the page from reading it.
	r := do(t, "GET", e.URL+"/engine.io/?EIO=4&transport=polling", "", nil, "Origin", "https://evil.example")
	if r.Status != 200 || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("polling from another origin: %d, allow-origin %q", r.Status, r.Header.Get("Access-Control-Allow-Origin"))
	}
	// Without CORS, as Node: any origin.
	open := newEchoServer(t, transports.Options{})
	if status, body := wsAttempt(t, open.URL, "EIO=4", "Origin: https://evil.example\r\n"); status != http.StatusSwitchingProtocols {
		t.Errorf("no CORS configured: %d %s", status, body)
	}
}

// TestMaxSessionsPerAddr: an address holds at most the bound's sessions;
// the next handshake, polling or WebSocket, gets 429; once one closes
// another may open; other addresses (here through a trusted proxy) are
// counted apart.
func TestMaxSessionsPerAddr(t *testing.T) {
	const limit = 3
	e := newEchoServer(t, transports.Options{
		MaxSessionsPerAddr: limit,
		TrustedProxies:     []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	})
	const refused = `{"code":3,"message":"Too many connections from this address"}`
	var sids []string
	for i := 0; i < limit; i++ {
		sids = append(sids, handshake(t, e.URL, "EIO=4"))
	}
	r := do(t, "GET", e.URL+"/engine.io/?EIO=4&transport=polling", "", nil)
	if r.Status != http.StatusTooManyRequests || string(r.Body) != refused {
		t.Fatalf("handshake past the bound: %d %s", r.Status, r.Body)
	}
	if status, body := wsAttempt(t, e.URL, "EIO=4", ""); status != http.StatusTooManyRequests || body != refused {
		t.Fatalf("websocket past the bound: %d %s", status, body)
	}
	// Another client behind the trusted proxy has its own count.
	r = do(t, "GET", e.URL+"/engine.io/?EIO=4&transport=polling", "", nil, "X-Forwarded-For", "192.0.2.7")
	if r.Status != 200 {
		t.Fatalf("another address: %d %s", r.Status, r.Body)
	}
	e.session(t, sids[0]).Close()
	e.reason(t, sids[0])
	if status, body := wsAttempt(t, e.URL, "EIO=4", ""); status != http.StatusSwitchingProtocols {
		t.Fatalf("after a close: %d %s", status, body)
	}
}

// TestHandshakeRatePerAddr: a burst of one second's worth passes, the next
// handshake gets 429, and the bucket refills at the rate.
func TestHandshakeRatePerAddr(t *testing.T) {
	e := newEchoServer(t, transports.Options{MaxHandshakesPerSecondPerAddr: 5})
	var mu sync.Mutex
	now := time.Unix(1e9, 0)
	transports.SetClock(e.Server, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	const refused = `{"code":3,"message":"Too many handshakes from this address"}`
	for i := 0; i < 5; i++ {
		handshake(t, e.URL, "EIO=4")
	}
	r := do(t, "GET", e.URL+"/engine.io/?EIO=4&transport=polling", "", nil)
	if r.Status != http.StatusTooManyRequests || string(r.Body) != refused {
		t.Fatalf("6th handshake in a second: %d %s", r.Status, r.Body)
	}
	advance(199 * time.Millisecond)
	if status, _ := wsAttempt(t, e.URL, "EIO=4", ""); status != http.StatusTooManyRequests {
		t.Fatalf("before a token came back: %d", status)
	}
	advance(time.Millisecond)
	if status, body := wsAttempt(t, e.URL, "EIO=4", ""); status != http.StatusSwitchingProtocols {
		t.Fatalf("a token later: %d %s", status, body)
	}
	if status, _ := wsAttempt(t, e.URL, "EIO=4", ""); status != http.StatusTooManyRequests {
		t.Fatalf("only one token came back: %d", status)
	}
	// Requests of existing sessions are not handshakes.
	advance(time.Second)
	sid := handshake(t, e.URL, "EIO=4")
	for i := 0; i < 10; i++ {
		do(t, "POST", e.URL+"/engine.io/?EIO=4&transport=polling&sid="+sid, "text/plain", []byte("4x"))
	}
}

// TestForwardedFor: X-Forwarded-For counts only from a trusted proxy, and
// then its last address that is not a trusted proxy names the client.
func TestForwardedFor(t *testing.T) {
	untrusting := newEchoServer(t, transports.Options{MaxSessionsPerAddr: 1})
	handshake(t, untrusting.URL, "EIO=4")
	// A client cannot dodge the bound by writing the header itself.
	r := do(t, "GET", untrusting.URL+"/engine.io/?EIO=4&transport=polling", "", nil, "X-Forwarded-For", "192.0.2.1")
	if r.Status != http.StatusTooManyRequests {
		t.Fatalf("forged X-Forwarded-For: %d %s", r.Status, r.Body)
	}

	e := newEchoServer(t, transports.Options{
		MaxSessionsPerAddr: 1,
		TrustedProxies:     []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")},
	})
	for _, c := range []struct {
		xff  string
		want int
	}{
		{"198.51.100.1", 200},
		{"198.51.100.1", http.StatusTooManyRequests},
		// The client forged the first hop; the proxies appended the real one.
		{"203.0.113.9, 198.51.100.1, 10.1.2.3", http.StatusTooManyRequests},
		{"198.51.100.1, 198.51.100.2", 200},
		{"198.51.100.2", http.StatusTooManyRequests},
		{"::ffff:198.51.100.3", 200},
		{"198.51.100.3", http.StatusTooManyRequests},
		// Only proxies: the first of them is the client.
		{"10.9.9.9, 10.1.1.1", 200},
		// A malformed hop: nothing before it is believed, the peer is counted.
		{"198.51.100.4, not-an-address", 200},
		{"198.51.100.5, garbage", http.StatusTooManyRequests},
	} {
		r := do(t, "GET", e.URL+"/engine.io/?EIO=4&transport=polling", "", nil, "X-Forwarded-For", c.xff)
		if r.Status != c.want {
			t.Errorf("X-Forwarded-For %q: %d %s, want %d", c.xff, r.Status, r.Body, c.want)
		}
	}
}
