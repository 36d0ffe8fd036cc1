package transports_test

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/siogo/siogo/transports"
)

// TestErrors is the Node server's error table, one case each, against raw
// HTTP requests.
func TestErrors(t *testing.T) {
	e := newEchoServer(t, transports.Options{})
	refusing := newEchoServer(t, transports.Options{
		DisableEIO3: true,
		AllowRequest: func(r *http.Request) error {
			if r.Header.Get("X-Token") != "ok" {
				return errors.New("not allowed")
			}
			return nil
		},
	})
	sid := handshake(t, e.URL, "EIO=4")
	tests := []struct {
		name, base, method, query string
		header                    []string
		status                    int
		body                      string
	}{
		{"unknown transport", e.URL, "GET", "EIO=4&transport=carrier-pigeon", nil, 400, `{"code":0,"message":"Transport unknown"}`},
		{"no transport", e.URL, "GET", "EIO=4", nil, 400, `{"code":0,"message":"Transport unknown"}`},
		{"unknown sid", e.URL, "GET", "EIO=4&transport=polling&sid=nope", nil, 400, `{"code":1,"message":"Session ID unknown"}`},
		{"handshake by POST", e.URL, "POST", "EIO=4&transport=polling", nil, 400, `{"code":2,"message":"Bad handshake method"}`},
		{"websocket without upgrade", e.URL, "GET", "EIO=4&transport=websocket", nil, 400, `{"code":3,"message":"Bad request"}`},
		{"transport mismatch", e.URL, "GET", "EIO=4&transport=websocket&sid=" + sid, nil, 400, `{"code":3,"message":"Bad request"}`},
		{"protocol mismatch", e.URL, "GET", "EIO=3&transport=polling&sid=" + sid, nil, 400, `{"code":3,"message":"Bad request"}`},
		{"forbidden", refusing.URL, "GET", "EIO=4&transport=polling", nil, 403, `{"code":4,"message":"not allowed"}`},
		{"unsupported protocol", refusing.URL, "GET", "EIO=3&transport=polling", []string{"X-Token", "ok"}, 400, `{"code":5,"message":"Unsupported protocol version"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, tt.method, tt.base+"/engine.io/?"+tt.query, "", nil, tt.header...)
			if r.Status != tt.status || string(r.Body) != tt.body {
				t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, tt.status, tt.body)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
		})
	}
	if r := do(t, "GET", refusing.URL+"/engine.io/?EIO=4&transport=polling", "", nil, "X-Token", "ok"); r.Status != 200 {
		t.Fatalf("allowed request refused: %d %s", r.Status, r.Body)
	}
}

func TestPollingLimits(t *testing.T) {
	e := newEchoServer(t, transports.Options{MaxHTTPBufferSize: 100})
	url := func(sid string) string { return e.URL + "/engine.io/?EIO=4&transport=polling&sid=" + sid }

	t.Run("at the limit", func(t *testing.T) {
		sid := handshake(t, e.URL, "EIO=4")
		msg := "4" + strings.Repeat("a", 99)
		if r := do(t, "POST", url(sid), "text/plain;charset=UTF-8", []byte(msg)); r.Status != 200 || string(r.Body) != "ok" {
			t.Fatalf("post: %d %q", r.Status, r.Body)
		}
		if r := do(t, "GET", url(sid), "", nil); string(r.Body) != msg {
			t.Fatalf("echo %q", r.Body)
		}
	})
	t.Run("over the limit", func(t *testing.T) {
		sid := handshake(t, e.URL, "EIO=4")
		r := do(t, "POST", url(sid), "text/plain;charset=UTF-8", []byte("4"+strings.Repeat("a", 100)))
		if r.Status != 413 {
			t.Fatalf("got %d, want 413", r.Status)
		}
		if got := e.reason(t, sid); got != transports.ReasonTransportError {
			t.Fatalf("reason %q", got)
		}
	})
	t.Run("second pending poll", func(t *testing.T) {
		sid := handshake(t, e.URL, "EIO=4")
		first := make(chan rawResp)
		go func() { first <- do(t, "GET", url(sid), "", nil) }()
		waitPending(t, e, sid)
		if r := do(t, "GET", url(sid), "", nil); r.Status != 400 {
			t.Fatalf("second poll: %d", r.Status)
		}
		if r := <-first; string(r.Body) != "1" {
			t.Fatalf("first poll got %q, want the close packet", r.Body)
		}
		if got := e.reason(t, sid); got != transports.ReasonTransportError {
			t.Fatalf("reason %q", got)
		}
	})
	t.Run("binary body on protocol 4", func(t *testing.T) {
		sid := handshake(t, e.URL, "EIO=4")
		if r := do(t, "POST", url(sid), "application/octet-stream", []byte{4, 1}); r.Status != 400 {
			t.Fatalf("got %d", r.Status)
		}
	})
	t.Run("malformed payload", func(t *testing.T) {
		sid := handshake(t, e.URL, "EIO=4")
		r := do(t, "POST", url(sid), "text/plain", []byte("9nine"))
		if r.Status != 400 || string(r.Body) != `{"code":3,"message":"Bad request"}` {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
		if got := e.reason(t, sid); got != transports.ReasonParseError {
			t.Fatalf("reason %q", got)
		}
	})
}

// waitPending waits until a GET of session sid is pending, by sending a
// probe message through the server and seeing it released.
func waitPending(t *testing.T, e *echoServer, sid string) {
	t.Helper()
	// A pending GET cannot be observed from outside; give the request a
	// moment to reach the server. The assertions after do not depend on
	// timing: a late first GET would itself be the second one.
	time.Sleep(100 * time.Millisecond)
}

func TestJSONP(t *testing.T) {
	e := newEchoServer(t, transports.Options{})
	r := do(t, "GET", e.URL+"/engine.io/?EIO=3&transport=polling&j=7", "", nil)
	if ct := r.Header.Get("Content-Type"); ct != "text/javascript; charset=UTF-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	if !bytes.HasPrefix(r.Body, []byte(`___eio[7]("`)) || !bytes.HasSuffix(r.Body, []byte(`");`)) {
		t.Fatalf("body %q", r.Body)
	}
	sid := handshake(t, e.URL, "EIO=3&j=7")
	url := e.URL + "/engine.io/?EIO=3&transport=polling&j=7&sid=" + sid
	// The engine.io 3 client escapes newlines as \n in the form field.
	msg := "4two\\nlines \u2028 \"q\""
	form := "d=" + fmt.Sprintf("%d:%s", len([]rune(strings.ReplaceAll(msg, "\\n", "\n"))), msg)
	form = strings.NewReplacer("%", "%25", "+", "%2B", "&", "%26", " ", "+").Replace(form)
	if r := do(t, "POST", url, "application/x-www-form-urlencoded", []byte(form)); r.Status != 200 {
		t.Fatalf("post: %d %s", r.Status, r.Body)
	}
	r = do(t, "GET", url, "", nil)
	want := `___eio[7]("16:4two\nlines \u2028 \"q\"");`
	if string(r.Body) != want {
		t.Fatalf("got  %s\nwant %s", r.Body, want)
	}
}

func TestV3BinaryPayload(t *testing.T) {
	e := newEchoServer(t, transports.Options{})
	sid := handshake(t, e.URL, "EIO=3")
	url := e.URL + "/engine.io/?EIO=3&transport=polling&sid=" + sid
	payload := []byte{1, 4, 0xff, 4, 0, 0xfe, 0xff, 0, 3, 0xff, '4', 'h', 'i'}
	if r := do(t, "POST", url, "application/octet-stream", payload); r.Status != 200 {
		t.Fatalf("post: %d %s", r.Status, r.Body)
	}
	r := do(t, "GET", url, "", nil)
	if ct := r.Header.Get("Content-Type"); ct != "application/octet-stream" || !bytes.Equal(r.Body, payload) {
		t.Fatalf("got %s % x, want % x", ct, r.Body, payload)
	}

	// A client that asked for base64 gets the string payload.
	sid = handshake(t, e.URL, "EIO=3&b64=1")
	url = e.URL + "/engine.io/?EIO=3&transport=polling&sid=" + sid
	if r := do(t, "POST", url, "text/plain", []byte("6:b4AP7/")); r.Status != 200 {
		t.Fatalf("post: %d %s", r.Status, r.Body)
	}
	if r := do(t, "GET", url, "", nil); string(r.Body) != "6:b4AP7/" {
		t.Fatalf("got %q", r.Body)
	}
}

func TestHTTPCompression(t *testing.T) {
	e := newEchoServer(t, transports.Options{})
	big := "4" + strings.Repeat("compressible ", 200)
	for _, enc := range []string{"gzip", "deflate", ""} {
		t.Run("encoding "+enc, func(t *testing.T) {
			sid := handshake(t, e.URL, "EIO=4")
			url := e.URL + "/engine.io/?EIO=4&transport=polling&sid=" + sid
			do(t, "POST", url, "text/plain", []byte(big))
			r := do(t, "GET", url, "", nil, "Accept-Encoding", enc)
			if got := r.Header.Get("Content-Encoding"); got != enc {
				t.Fatalf("Content-Encoding %q, want %q", got, enc)
			}
			var rd io.Reader = bytes.NewReader(r.Body)
			switch enc {
			case "gzip":
				rd, _ = gzip.NewReader(rd)
			case "deflate":
				rd, _ = zlib.NewReader(rd)
			}
			body, err := io.ReadAll(rd)
			if err != nil || string(body) != big {
				t.Fatalf("body %d bytes, %v", len(body), err)
			}
		})
	}
	sid := handshake(t, e.URL, "EIO=4")
	url := e.URL + "/engine.io/?EIO=4&transport=polling&sid=" + sid
	do(t, "POST", url, "text/plain", []byte("4small"))
	if r := do(t, "GET", url, "", nil, "Accept-Encoding", "gzip"); r.Header.Get("Content-Encoding") != "" {
		t.Fatal("a response under the threshold was compressed")
	}
}

func TestCORSAndCookie(t *testing.T) {
	e := newEchoServer(t, transports.Options{
		CORS:   &transports.CORS{Origins: []string{"https://app.example"}, Credentials: true},
		Cookie: &transports.Cookie{},
	})
	r := do(t, "OPTIONS", e.URL+"/engine.io/?EIO=4&transport=polling", "", nil,
		"Origin", "https://app.example", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	if r.Status != 204 || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		r.Header.Get("Access-Control-Allow-Credentials") != "true" || r.Header.Get("Access-Control-Allow-Headers") != "content-type" ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight: %d %v", r.Status, r.Header)
	}
	r = do(t, "GET", e.URL+"/engine.io/?EIO=4&transport=polling", "", nil, "Origin", "https://evil.example")
	if r.Status != 200 || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign origin: %d %v", r.Status, r.Header)
	}
	sid := handshake(t, e.URL, "EIO=4")
	r = do(t, "GET", e.URL+"/engine.io/?EIO=4&transport=polling", "", nil, "Origin", "https://app.example")
	ck := r.Header.Get("Set-Cookie")
	if !strings.HasPrefix(ck, "io=") || !strings.Contains(ck, "Path=/") || !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Lax") {
		t.Fatalf("cookie %q", ck)
	}
	if r.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("allowed origin: %v", r.Header)
	}
	_ = sid
}

func TestPingTimeout(t *testing.T) {
	e := newEchoServer(t, transports.Options{PingInterval: 50 * time.Millisecond, PingTimeout: 50 * time.Millisecond})
	for _, eio := range []string{"EIO=4", "EIO=3"} {
		sid := handshake(t, e.URL, eio)
		if got := e.reason(t, sid); got != transports.ReasonPingTimeout {
			t.Fatalf("%s: reason %q", eio, got)
		}
	}
	// Over WebSocket the session ends with a close frame without a status
	// code, as from Node (ws's close() without arguments; clients see 1005).
	for _, eio := range []string{"EIO=4", "EIO=3"} {
		ws := dialWS(t, e.URL, eio)
		if _, open := ws.read(); !strings.HasPrefix(open, "0{") {
			t.Fatalf("%s: open %q", eio, open)
		}
		for {
			op, p := ws.read()
			if op == 8 {
				if p != "" {
					t.Fatalf("%s: close frame %q, want no status code", eio, p)
				}
				break
			}
		}
	}
	// A v4 client that answers the ping stays.
	sid := handshake(t, e.URL, "EIO=4")
	url := e.URL + "/engine.io/?EIO=4&transport=polling&sid=" + sid
	for i := 0; i < 3; i++ {
		if r := do(t, "GET", url, "", nil); string(r.Body) != "2" {
			t.Fatalf("expected a ping, got %q", r.Body)
		}
		do(t, "POST", url, "text/plain", []byte("3"))
	}
	if e.Session(sid) == nil {
		t.Fatal("a session that answered its pings was closed")
	}
}

func TestShutdown(t *testing.T) {
	e := newEchoServer(t, transports.Options{})
	sid := handshake(t, e.URL, "EIO=4")
	polled := make(chan rawResp)
	go func() { polled <- do(t, "GET", e.URL+"/engine.io/?EIO=4&transport=polling&sid="+sid, "", nil) }()
	ws := dialWS(t, e.URL, "EIO=4")
	if _, open := ws.read(); !strings.HasPrefix(open, "0{") {
		t.Fatalf("open %q", open)
	}
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if r := <-polled; string(r.Body) != "1" {
		t.Fatalf("pending poll got %q, want the close packet", r.Body)
	}
	// As Node's ws.close() without arguments: no status code.
	if op, p := ws.read(); op != 8 || p != "" {
		t.Fatalf("websocket got opcode %d %q, want an empty close frame", op, p)
	}
	if got := e.reason(t, sid); got != transports.ReasonServerShutdown {
		t.Fatalf("reason %q", got)
	}
	if r := do(t, "GET", e.URL+"/engine.io/?EIO=4&transport=polling", "", nil); r.Status != 400 {
		t.Fatalf("handshake after shutdown: %d", r.Status)
	}
}

// TestUpgradeKeepsOrder sends messages from the server all through an
// upgrade: none is lost or reordered between the polling and WebSocket legs.
func TestUpgradeKeepsOrder(t *testing.T) {
	for _, eio := range []string{"EIO=4", "EIO=3"} {
		t.Run(eio, func(t *testing.T) {
			e := newEchoServer(t, transports.Options{})
			sid := handshake(t, e.URL, eio)
			sess := e.session(t, sid)
			url := e.URL + "/engine.io/?transport=polling&" + eio + "&sid=" + sid
			const n = 300
			sent := make(chan struct{})
			go func() {
				defer close(sent)
				for i := 0; i < n; i++ {
					if err := sess.Send(transports.Packet{Type: transports.PacketMessage, Data: fmt.Appendf(nil, "m%d", i)}); err != nil {
						t.Errorf("send %d: %v", i, err)
						return
					}
					time.Sleep(20 * time.Microsecond)
				}
			}()
			var got []string
			take := func(p string) {
				if p != "" && p[0] == '4' {
					got = append(got, p[1:])
				}
			}
			poll := func() {
				r := do(t, "GET", url, "", nil)
				body := string(r.Body)
				if eio == "EIO=4" {
					for _, p := range splitV4(r.Body) {
						take(p)
					}
					return
				}
				for len(body) > 0 {
					i := strings.IndexByte(body, ':')
					var l int
					fmt.Sscanf(body[:i], "%d", &l)
					take(body[i+1 : i+1+l])
					body = body[i+1+l:]
				}
			}
			poll()
			ws := dialWS(t, e.URL, eio+"&sid="+sid)
			ws.send(1, "2probe")
			ws.expect("3probe")
			poll() // released by a noop if nothing was waiting
			ws.send(1, "5")
			<-sent
			for len(got) < n {
				_, p := ws.read()
				take(p)
			}
			for i, m := range got {
				if m != fmt.Sprintf("m%d", i) {
					t.Fatalf("message %d is %q: lost or reordered", i, m)
				}
			}
			// The messages may all have come over polling before the server
			// took the upgrade packet: wait for it, then polls are refused.
			deadline := time.Now().Add(5 * time.Second)
			for sess.Transport() != "websocket" {
				if time.Now().After(deadline) {
					t.Fatalf("transport %s after upgrade", sess.Transport())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if r := do(t, "GET", url, "", nil); r.Status != 400 {
				t.Fatalf("poll after upgrade: %d", r.Status)
			}
		})
	}
}

// TestPerMessageDeflate: offered by the client, compression is negotiated
// and applies to messages of 1024 bytes or more only.
func TestPerMessageDeflate(t *testing.T) {
	e := newEchoServer(t, transports.Options{})
	ws, h := dialWSHeader(t, e.URL, "EIO=4", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
	if ext := h.Get("Sec-WebSocket-Extensions"); !strings.HasPrefix(ext, "permessage-deflate") {
		t.Fatalf("extension not negotiated: %q", ext)
	}
	_, open := ws.read()
	if !strings.HasPrefix(open, "0{") {
		t.Fatalf("open %q", open)
	}
	ws.sid = sidPattern.FindStringSubmatch(open)[1]
	small := "4" + strings.Repeat("s", 100)
	big := "4" + strings.Repeat("compress me ", 200)
	ws.send(1, small)
	ws.send(1, big)
	if b0, p := ws.readFrame(); b0&0x40 != 0 || p != small {
		t.Fatalf("small message: first byte %#x, %d bytes", b0, len(p))
	}
	b0, p := ws.readFrame()
	if b0&0x40 == 0 {
		t.Fatal("big message not compressed")
	}
	out, err := io.ReadAll(flate.NewReader(strings.NewReader(p + "\x00\x00\xff\xff\x01\x00\x00\xff\xff")))
	if err != nil || string(out) != big {
		t.Fatalf("inflated %d bytes, %v", len(out), err)
	}

	// A packet marked NoCompress (Socket.IO's compress(false)) is not.
	sess := e.session(t, e.sidOf(t, ws))
	if err := sess.Send(transports.Packet{Type: transports.PacketMessage, Data: []byte(big[1:]), NoCompress: true}); err != nil {
		t.Fatal(err)
	}
	if b0, p := ws.readFrame(); b0&0x40 != 0 || p != big {
		t.Fatalf("NoCompress packet: first byte %#x", b0)
	}

	// Without the offer, nothing is compressed.
	plain := dialWS(t, e.URL, "EIO=4")
	plain.read()
	plain.send(1, big)
	if b0, p := plain.readFrame(); b0&0x40 != 0 || p != big {
		t.Fatalf("uncompressed client got first byte %#x", b0)
	}
}

// TestProtocolVersion: only EIO=3 and EIO=4 open a session; any other
// value, or none, gets code 5 as from Node's engine.io 6 (the last EIO
// counts when it is repeated, as Node reads the query). A request naming a
// session is compared with its protocol as Node does: EIO=4 is 4, any
// other value is 3.
func TestProtocolVersion(t *testing.T) {
	e := newEchoServer(t, transports.Options{})
	noEIO3 := newEchoServer(t, transports.Options{DisableEIO3: true})
	const refused = `{"code":5,"message":"Unsupported protocol version"}`
	for _, q := range []string{"", "EIO=", "EIO=abc", "EIO=5", "EIO=04", "EIO=2", "EIO=4&EIO=5", "EIO=3&EIO=abc"} {
		t.Run("polling "+q, func(t *testing.T) {
			r := do(t, "GET", e.URL+"/engine.io/?transport=polling&"+q, "", nil)
			if r.Status != 400 || string(r.Body) != refused || r.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("got %d %s %q, want 400 %s", r.Status, r.Body, r.Header.Get("Content-Type"), refused)
			}
		})
	}
	v4, v3 := regexp.MustCompile(`^0\{"sid":`), regexp.MustCompile(`^[0-9]+:0\{"sid":`)
	for q, open := range map[string]*regexp.Regexp{"EIO=4": v4, "EIO=3": v3, "EIO=abc&EIO=4": v4} {
		t.Run("polling "+q, func(t *testing.T) {
			r := do(t, "GET", e.URL+"/engine.io/?transport=polling&"+q, "", nil)
			if r.Status != 200 || !open.Match(r.Body) {
				t.Fatalf("got %d %s, want an open packet %s...", r.Status, r.Body, open)
			}
		})
	}
	// Over WebSocket Node checks the protocol after ws has sent the 101:
	// its 400 response then comes inside the upgraded stream.
	const afterUpgrade = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-type: text/html\r\nContent-Length: 28\r\n\r\nUnsupported protocol version"
	for _, tt := range []struct{ name, base, query string }{
		{"no EIO", e.URL, ""}, {"EIO=abc", e.URL, "EIO=abc"}, {"EIO=5", e.URL, "EIO=5"}, {"EIO=3 refused", noEIO3.URL, "EIO=3"},
	} {
		t.Run("websocket "+tt.name, func(t *testing.T) {
			c := dialWS(t, tt.base, tt.query)
			_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			rest, err := io.ReadAll(c.br)
			if err != nil {
				t.Fatalf("after %q: %v (the server did not close)", rest, err)
			}
			if string(rest) != afterUpgrade {
				t.Fatalf("after the 101: %q, want %q", rest, afterUpgrade)
			}
		})
	}
	if n := e.Count() + noEIO3.Count(); n != 3 {
		t.Fatalf("%d sessions open, want the 3 accepted above", n)
	}

	const mismatch = `{"code":3,"message":"Bad request"}`
	sid4 := handshake(t, e.URL, "EIO=4")
	for _, q := range []string{"", "EIO=abc", "EIO=3", "EIO=4&EIO=5"} {
		if r := do(t, "GET", e.URL+"/engine.io/?transport=polling&sid="+sid4+"&"+q, "", nil); r.Status != 400 || string(r.Body) != mismatch {
			t.Fatalf("v4 session, %q: got %d %s, want 400 %s", q, r.Status, r.Body, mismatch)
		}
	}
	sid3 := handshake(t, e.URL, "EIO=3")
	if r := do(t, "POST", e.URL+"/engine.io/?EIO=abc&transport=polling&sid="+sid3, "text/plain", []byte("3:4hi")); string(r.Body) != "ok" {
		t.Fatalf("v3 session, EIO=abc: got %d %s", r.Status, r.Body)
	}
	if r := do(t, "GET", e.URL+"/engine.io/?transport=polling&sid="+sid3, "", nil); string(r.Body) != "3:4hi" {
		t.Fatalf("v3 session, no EIO: got %d %s", r.Status, r.Body)
	}
}

// TestClientCloseWhilePolling: a client POSTs its close packet while its
// GET waits. As Node's Polling.onClose: the POST gets "ok", the GET a noop
// (or what was queued before the close), never a close packet, and the
// session is gone at once.
func TestClientCloseWhilePolling(t *testing.T) {
	e := newEchoServer(t, transports.Options{})
	for _, tt := range []struct{ name, eio, body, poll string }{
		{"v4", "EIO=4", "1", "6"},
		{"v3", "EIO=3", "1:1", "1:6"},
		{"v4 message first", "EIO=4", "4hi\x1e1", "4hi"},
		{"v4 message after", "EIO=4", "1\x1e4hi", "6"},
		{"v3 message first", "EIO=3", "3:4hi1:1", "3:4hi"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// A GET that reached the server only after the close would
			// find no session: then the case runs again.
			for try := 0; ; try++ {
				sid := handshake(t, e.URL, tt.eio)
				url := e.URL + "/engine.io/?" + tt.eio + "&transport=polling&sid=" + sid
				polled := make(chan rawResp)
				go func() { polled <- do(t, "GET", url, "", nil) }()
				waitPending(t, e, sid)
				if r := do(t, "POST", url, "text/plain;charset=UTF-8", []byte(tt.body)); r.Status != 200 || string(r.Body) != "ok" {
					t.Fatalf("POST: %d %q, want 200 ok", r.Status, r.Body)
				}
				r := <-polled
				if r.Status == 400 && try < 3 {
					continue
				}
				if r.Status != 200 || string(r.Body) != tt.poll {
					t.Fatalf("pending GET: %d %q, want 200 %q", r.Status, r.Body, tt.poll)
				}
				if r := do(t, "GET", url, "", nil); r.Status != 400 || string(r.Body) != `{"code":1,"message":"Session ID unknown"}` {
					t.Fatalf("GET after the close: %d %s, want code 1", r.Status, r.Body)
				}
				if got := e.reason(t, sid); got != transports.ReasonTransportClose {
					t.Fatalf("reason %q, want %q", got, transports.ReasonTransportClose)
				}
				return
			}
		})
	}
	// The official suite's "forcefully closes the session": the poll and
	// the close sent at once. Node takes them in the order they come;
	// siogo's close waits a moment for a poll sent before it.
	for _, tt := range []struct{ eio, body, poll string }{{"EIO=4", "1", "6"}, {"EIO=3", "1:1", "1:6"}} {
		t.Run(tt.eio+" poll and close at once", func(t *testing.T) {
			for i := 0; i < 20; i++ {
				sid := handshake(t, e.URL, tt.eio)
				url := e.URL + "/engine.io/?" + tt.eio + "&transport=polling&sid=" + sid
				// The GET's bytes are on their way before the POST starts.
				get := sendGET(t, url)
				do(t, "POST", url, "text/plain;charset=UTF-8", []byte(tt.body))
				if r := get(); r.Status != 200 || string(r.Body) != tt.poll {
					t.Fatalf("try %d: GET %d %s, want 200 %q", i, r.Status, r.Body, tt.poll)
				}
				if r := do(t, "GET", url, "", nil); r.Status != 400 {
					t.Fatalf("try %d: GET after the close: %d %s, want 400", i, r.Status, r.Body)
				}
			}
		})
	}
	t.Run("no poll pending", func(t *testing.T) {
		sid := handshake(t, e.URL, "EIO=4")
		url := e.URL + "/engine.io/?EIO=4&transport=polling&sid=" + sid
		if r := do(t, "POST", url, "text/plain;charset=UTF-8", []byte("1")); string(r.Body) != "ok" {
			t.Fatalf("POST: %d %q", r.Status, r.Body)
		}
		if r := do(t, "GET", url, "", nil); r.Status != 400 || string(r.Body) != `{"code":1,"message":"Session ID unknown"}` {
			t.Fatalf("GET after the close: %d %s, want code 1", r.Status, r.Body)
		}
	})
	if n := e.Count(); n != 0 {
		t.Fatalf("%d sessions still counted open", n)
	}
}

// TestSecondWebSocketBytes: a WebSocket for a session that is upgrading,
// upgraded, or opened on WebSocket is accepted (101) and closed at once
// with a close frame without a status code, as Node's onWebSocket does
// (ws's close() with no arguments); the session's own WebSocket goes on.
func TestSecondWebSocketBytes(t *testing.T) {
	e := newEchoServer(t, transports.Options{})
	// closedAtOnce dials a WebSocket for sid and checks that its only
	// frame is an empty close frame, then the end of the connection.
	closedAtOnce := func(t *testing.T, eio, sid string) {
		t.Helper()
		c := dialWS(t, e.URL, eio+"&sid="+sid)
		if b0, p := c.readFrame(); b0 != 0x88 || p != "" {
			t.Fatalf("second WebSocket: frame %#x %q, want an empty close frame 0x88", b0, p)
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if rest, err := io.ReadAll(c.br); err != nil || len(rest) != 0 {
			t.Fatalf("after the close frame: %q, %v; want the end of the connection", rest, err)
		}
	}
	upgraded := func(t *testing.T, sess *transports.Session) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for sess.Transport() != transports.TransportWebSocket {
			if time.Now().After(deadline) {
				t.Fatal("the upgrade did not complete")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, eio := range []string{"EIO=4", "EIO=3"} {
		t.Run(eio+" upgraded", func(t *testing.T) {
			sid := handshake(t, e.URL, eio)
			ws := dialWS(t, e.URL, eio+"&sid="+sid)
			ws.send(1, "2probe")
			ws.expect("3probe")
			ws.send(1, "5")
			upgraded(t, e.session(t, sid))
			closedAtOnce(t, eio, sid)
			ws.send(1, "4hello")
			ws.expect("4hello")
		})
		t.Run(eio+" upgrading", func(t *testing.T) {
			sid := handshake(t, e.URL, eio)
			ws := dialWS(t, e.URL, eio+"&sid="+sid)
			ws.send(1, "2probe")
			ws.expect("3probe")
			closedAtOnce(t, eio, sid)
			ws.send(1, "5")
			ws.send(1, "4hello")
			ws.expect("4hello")
			upgraded(t, e.session(t, sid))
		})
		t.Run(eio+" opened on WebSocket", func(t *testing.T) {
			ws := dialWS(t, e.URL, eio)
			_, open := ws.read()
			m := sidPattern.FindStringSubmatch(open)
			if m == nil {
				t.Fatalf("open packet %q", open)
			}
			closedAtOnce(t, eio, m[1])
			ws.send(1, "4hello")
			ws.expect("4hello")
		})
	}
}

// TestPollRightAfterUpgrade: a client that sends the upgrade packet and
// then polls gets the answer of a poll after the upgrade (400), as from
// Node, which takes the two in the order they came; siogo's WebSocket
// frames are handled on another goroutine than the poll, so a poll that
// comes while the upgrade is pending waits for it, up to the 100 ms after
// which Node releases such a poll with a noop (the official suite's
// "ignores HTTP requests with same sid after upgrade").
func TestPollRightAfterUpgrade(t *testing.T) {
	e := newEchoServer(t, transports.Options{})
	noop := map[string]string{"EIO=4": "6", "EIO=3": "1:6"}
	for _, eio := range []string{"EIO=4", "EIO=3"} {
		refused := 0
		for i := 0; i < 20; i++ {
			sid := handshake(t, e.URL, eio)
			url := e.URL + "/engine.io/?" + eio + "&transport=polling&sid=" + sid
			ws := dialWS(t, e.URL, eio+"&sid="+sid)
			ws.send(1, "2probe")
			ws.expect("3probe")
			ws.send(1, "5")
			start := time.Now()
			r := do(t, "GET", url, "", nil)
			switch {
			case r.Status == 400 && string(r.Body) == `{"code":3,"message":"Bad request"}`:
				refused++
			case r.Status == 200 && string(r.Body) == noop[eio] && time.Since(start) >= 100*time.Millisecond:
				// A machine so loaded that the upgrade packet took longer
				// than Node's 100 ms release of a poll: Node's answer too.
			default:
				t.Fatalf("%s, try %d: poll after the upgrade packet: %d %q after %v, want 400 code 3", eio, i, r.Status, r.Body, time.Since(start))
			}
			ws.send(1, "4hello")
			ws.expect("4hello")
			ws.conn.Close()
		}
		if refused == 0 {
			t.Fatalf("%s: no poll after the upgrade packet was refused", eio)
		}
	}
}

// TestBase64WebSocket: a client that asked for base64 (forceBase64, b64=1
// on its WebSocket's request) sends binary as text ("b"+base64 in protocol
// 4, "b4"+base64 in protocol 3, nothing after it for an empty message),
// and gets binary back in the same form, as from Node's engine.io; on a
// WebSocket opened straight away and on one upgraded to. A client that did
// not ask gets binary frames.
func TestBase64WebSocket(t *testing.T) {
	e := newEchoServer(t, transports.Options{})
	for _, tc := range []struct{ eio, head string }{{"EIO=4", "b"}, {"EIO=3", "b4"}} {
		t.Run(tc.eio, func(t *testing.T) {
			check := func(ws *wsClient) {
				t.Helper()
				for _, data := range []string{"\x00\x01\xfe\xff", ""} {
					ws.send(1, tc.head+base64.StdEncoding.EncodeToString([]byte(data)))
					op, got := ws.read()
					if op != 1 || got != tc.head+base64.StdEncoding.EncodeToString([]byte(data)) {
						t.Fatalf("echo of %q: opcode %d %q", data, op, got)
					}
				}
			}
			direct := dialWS(t, e.URL, tc.eio+"&b64=1")
			direct.read() // open
			check(direct)

			sid := handshake(t, e.URL, tc.eio+"&b64=1")
			up := dialWS(t, e.URL, tc.eio+"&b64=1&sid="+sid)
			up.send(1, "2probe")
			up.expect("3probe")
			up.send(1, "5")
			check(up)

			plain := dialWS(t, e.URL, tc.eio)
			plain.read()
			plain.send(1, tc.head+"AAE=")
			op, got := plain.read()
			want := "\x00\x01"
			if tc.eio == "EIO=3" {
				want = "\x04\x00\x01"
			}
			if op != 2 || got != want {
				t.Fatalf("client without b64: opcode %d %q, want a binary frame", op, got)
			}
		})
	}
}

// TestUnmaskedWebSocketFrame: on an Engine.IO WebSocket too, an unmasked
// client frame closes the connection with 1002 (whatever its bytes: a
// valid packet is not delivered) and the session with a transport error.
func TestUnmaskedWebSocketFrame(t *testing.T) {
	e := newEchoServer(t, transports.Options{})
	ws := dialWS(t, e.URL, "EIO=4")
	_, open := ws.read()
	ws.sid = sidPattern.FindStringSubmatch(open)[1]
	sid := e.sidOf(t, ws)
	if _, err := ws.conn.Write([]byte("\x81\x064hello")); err != nil {
		t.Fatal(err)
	}
	if op, p := ws.read(); op != 8 || p != "\x03\xea" {
		t.Fatalf("after an unmasked frame: opcode %d %q, want close 1002", op, p)
	}
	select {
	case got := <-e.closed:
		if got != sid {
			t.Fatalf("session %s closed, want %s", got, sid)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("session still open")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if r := e.reasons[sid]; r != transports.ReasonTransportError {
		t.Fatalf("reason %q, want %q", r, transports.ReasonTransportError)
	}
}

// TestWebSocketResetIsTransportClose: a client whose connection is reset
// (no close frame, an RST) closes its session with "transport close", as
// Node's: ws reports a socket's errors as a close (code 1006), not as an
// error; "transport error" is for what breaks the protocol.
func TestWebSocketResetIsTransportClose(t *testing.T) {
	for _, eio := range []string{"EIO=4", "EIO=3"} {
		t.Run(eio, func(t *testing.T) {
			e := newEchoServer(t, transports.Options{})
			ws := dialWS(t, e.URL, eio)
			_, open := ws.read()
			ws.sid = sidPattern.FindStringSubmatch(open)[1]
			sid := e.sidOf(t, ws)
			e.session(t, sid)
			tcp := ws.conn.(*net.TCPConn)
			_ = tcp.SetLinger(0) // the close sends an RST
			_ = tcp.Close()
			if r := e.reason(t, sid); r != transports.ReasonTransportClose {
				t.Fatalf("reason %q, want %q", r, transports.ReasonTransportClose)
			}
		})
	}
}

// TestUpgradeThenGone: a client that sends the upgrade packet and goes at
// once (a close frame, then a reset), while packets wait in the polling
// queue for the new WebSocket: the session ends with "transport close", as
// in Node, whatever the write of those packets meets. (siogo used to call
// the failed write a "transport error": 2 runs in 25 of the googollee
// features program, whose client closes right after its upgrade.)
func TestUpgradeThenGone(t *testing.T) {
	e := newEchoServer(t, transports.Options{})
	for i := 0; i < 20; i++ {
		sid := handshake(t, e.URL, "EIO=4")
		if err := e.session(t, sid).Send(transports.Packet{Type: transports.PacketMessage, Data: []byte("queued")}); err != nil {
			t.Fatal(err)
		}
		ws := dialWS(t, e.URL, "EIO=4&sid="+sid)
		ws.send(1, "2probe")
		ws.expect("3probe")
		ws.send(1, "5")
		ws.send(8, "\x03\xe8")
		tcp := ws.conn.(*net.TCPConn)
		_ = tcp.SetLinger(0)
		_ = tcp.Close()
		if r := e.reason(t, sid); r != transports.ReasonTransportClose {
			t.Fatalf("round %d: reason %q, want %q", i, r, transports.ReasonTransportClose)
		}
	}
}
