package transports_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Raw clients for the tests that must see the bytes: plain HTTP requests for
// polling, and a minimal WebSocket client.

type rawResp struct {
	Status int
	Header http.Header
	Body   []byte
}

func do(t *testing.T, method, url, contentType string, body []byte, header ...string) rawResp {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResp{res.StatusCode, res.Header, b}
}

// sendGET writes a GET for rawURL on a connection of its own and returns
// at once; the function it returns reads the response.
func sendGET(t *testing.T, rawURL string) func() rawResp {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", u.RequestURI(), u.Host); err != nil {
		t.Fatal(err)
	}
	return func() rawResp {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return rawResp{res.StatusCode, res.Header, b}
	}
}

// handshake opens a polling session and returns its sid.
func handshake(t *testing.T, base, query string) string {
	t.Helper()
	r := do(t, "GET", base+"/engine.io/?transport=polling&"+query, "", nil)
	if r.Status != 200 {
		t.Fatalf("handshake: %d %s", r.Status, r.Body)
	}
	m := sidPattern.FindSubmatch(r.Body)
	if m == nil {
		t.Fatalf("handshake body %q", r.Body)
	}
	return string(m[1])
}

// sidPattern finds the sid in an open packet, JSONP-escaped or not.
var sidPattern = regexp.MustCompile(`sid\\?":\\?"([A-Za-z0-9_-]+)`)

type wsClient struct {
	sid  string // set by tests that read the open packet
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func dialWS(t *testing.T, base, query string) *wsClient {
	t.Helper()
	c, _ := dialWSHeader(t, base, query, "")
	return c
}

// dialWSHeader dials with extra request header lines and returns the 101
// response's header too.
func dialWSHeader(t *testing.T, base, query, extra string) (*wsClient, http.Header) {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	fmt.Fprintf(conn, "GET /engine.io/?transport=websocket&%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
		query, u.Host, base64.StdEncoding.EncodeToString(key), extra)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("websocket handshake: %d %s", res.StatusCode, b)
	}
	c := &wsClient{t: t, conn: conn, br: br}
	t.Cleanup(func() { conn.Close() })
	return c, res.Header
}

func (c *wsClient) send(op byte, payload string) {
	var hdr []byte
	n := len(payload)
	switch {
	case n < 126:
		hdr = []byte{0x80 | op, 0x80 | byte(n)}
	case n <= 0xffff:
		hdr = binary.BigEndian.AppendUint16([]byte{0x80 | op, 0x80 | 126}, uint16(n))
	default:
		hdr = binary.BigEndian.AppendUint64([]byte{0x80 | op, 0x80 | 127}, uint64(n))
	}
	mask := []byte{1, 2, 3, 4}
	b := []byte(payload)
	for i := range b {
		b[i] ^= mask[i%4]
	}
	if _, err := c.conn.Write(append(append(hdr, mask...), b...)); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next data frame's opcode and payload; op 8 is a close.
func (c *wsClient) read() (byte, string) {
	c.t.Helper()
	b0, p := c.readFrame()
	return b0 & 0x0f, p
}

// readFrame returns the next frame's first byte (FIN, RSV1, opcode) and
// its payload as sent.
func (c *wsClient) readFrame() (byte, string) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	h := make([]byte, 2)
	if _, err := io.ReadFull(c.br, h); err != nil {
		c.t.Fatalf("websocket read: %v", err)
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		b := make([]byte, 2)
		_, _ = io.ReadFull(c.br, b)
		n = int(binary.BigEndian.Uint16(b))
	case 127:
		b := make([]byte, 8)
		_, _ = io.ReadFull(c.br, b)
		n = int(binary.BigEndian.Uint64(b))
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		c.t.Fatalf("websocket read: %v", err)
	}
	return h[0], string(p)
}

func (c *wsClient) expect(want string) {
	c.t.Helper()
	if _, got := c.read(); got != want {
		c.t.Fatalf("websocket: got %q, want %q", got, want)
	}
}

// splitV4 splits a v4 polling payload.
func splitV4(body []byte) []string {
	return strings.Split(string(body), "\x1e")
}
