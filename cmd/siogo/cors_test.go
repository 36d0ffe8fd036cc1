package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/nodetest"
)

// rawRequest sends one HTTP/1.1 request with header lines, and returns
// the answer's status and what a client sees of CORS in it: each field's
// lines as they came.
func rawRequest(t *testing.T, base, method, target string, header []string) (int, map[string][]string) {
	t.Helper()
	host := strings.TrimPrefix(base, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, host)
	for i := 0; i+1 < len(header); i += 2 {
		req += header[i] + ": " + header[i+1] + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for k, v := range res.Header {
		if strings.HasPrefix(k, "Access-Control-") || k == "Vary" {
			out[k] = v
		}
	}
	return res.StatusCode, out
}

// TestCORSLikeNode runs Node's socket.io 4 (engine.io and the cors
// package) and siogo with the same CORS configuration, sends each the
// same requests (handshakes, preflights, an error, a WebSocket's 101) and
// compares the status and every CORS header line: --cors-origin '*' is
// Node's {origin: "*"} (a literal *, no credentials), a list is
// {origin: [...], credentials: true}. Only siogo's WebSocket origin check
// (403) is left out: Node has none.
func TestCORSLikeNode(t *testing.T) {
	nodetest.Require(t)
	for _, c := range []struct{ flag, node string }{
		{"*", `{"origin":"*"}`},
		{"https://a.example,https://b.example", `{"origin":["https://a.example","https://b.example"],"credentials":true}`},
	} {
		t.Run(c.flag, func(t *testing.T) {
			siogo := start(t, "--cors-origin", c.flag, "--tick", "1h", "--shutdown-timeout", "500ms")
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			nodetest.Serve(t, 30*time.Second, "cors-server.js", addr, c.node)
			node := "http://" + addr
			ws := []string{"Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}
			for _, r := range []struct {
				name, method, query string
				header              []string
			}{
				{"handshake, listed origin", "GET", "EIO=4&transport=polling", []string{"Origin", "https://b.example"}},
				{"handshake, other origin", "GET", "EIO=4&transport=polling", []string{"Origin", "https://evil.example"}},
				{"handshake, no origin", "GET", "EIO=4&transport=polling", nil},
				{"EIO=3 handshake", "GET", "EIO=3&transport=polling", []string{"Origin", "https://a.example"}},
				{"preflight", "OPTIONS", "EIO=4&transport=polling", []string{"Origin", "https://a.example", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type"}},
				{"preflight, other origin", "OPTIONS", "EIO=4&transport=polling&sid=x", []string{"Origin", "https://evil.example", "Access-Control-Request-Method", "POST"}},
				{"preflight, no origin", "OPTIONS", "EIO=4&transport=polling", nil},
				{"unknown transport", "GET", "EIO=4&transport=nope", []string{"Origin", "https://a.example"}},
				{"unknown sid", "GET", "EIO=4&transport=polling&sid=nope", []string{"Origin", "https://evil.example"}},
				{"WebSocket handshake", "GET", "EIO=4&transport=websocket", append([]string{"Origin", "https://a.example"}, ws...)},
			} {
				ns, nh := rawRequest(t, node, r.method, "/socket.io/?"+r.query, r.header)
				ss, sh := rawRequest(t, siogo, r.method, "/socket.io/?"+r.query, r.header)
				nj, _ := json.Marshal(nh)
				sj, _ := json.Marshal(sh)
				if ns != ss || string(nj) != string(sj) {
					t.Errorf("%s:\n Node  %d %s\n siogo %d %s", r.name, ns, nj, ss, sj)
				}
			}
		})
	}
}

// TestJSONPFlag: JSONP is served by default, as by Node; --jsonp=false
// (SIOGO_JSONP=false) refuses a JSONP handshake as Node refuses a
// transport it does not serve, while XHR polling goes on.
func TestJSONPFlag(t *testing.T) {
	on := start(t, "--tick", "1h", "--shutdown-timeout", "500ms")
	if code, body := get(t, on+"/socket.io/?EIO=3&transport=polling&j=0"); code != 200 || !strings.HasPrefix(body, `___eio[0]("`) {
		t.Fatalf("JSONP by default: %d %s", code, body)
	}
	off := start(t, "--jsonp=false", "--tick", "1h", "--shutdown-timeout", "500ms")
	if code, body := get(t, off+"/socket.io/?EIO=3&transport=polling&j=0"); code != 400 || body != `{"code":0,"message":"Transport unknown"}` {
		t.Fatalf("JSONP off: %d %s", code, body)
	}
	if code, body := get(t, off+"/socket.io/?EIO=3&transport=polling"); code != 200 {
		t.Fatalf("XHR polling with JSONP off: %d %s", code, body)
	}
	cfg, err := parseConfig(nil, func(k string) string { return map[string]string{"SIOGO_JSONP": "false"}[k] }, io.Discard)
	if err != nil || cfg.JSONP {
		t.Fatalf("SIOGO_JSONP=false: %+v %v", cfg.JSONP, err)
	}
	if _, err := parseConfig([]string{"--cors-origin", "*,https://a.example"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Fatal("--cors-origin with * in a list accepted")
	}
}
