package siotest

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// WS is a raw Engine.IO protocol-4 WebSocket client for tests that open
// thousands of connections or must control the socket itself (a client
// that stops reading, one that vanishes). Its methods return errors rather
// than failing a test, so that any goroutine may use them.
type WS struct {
	Conn net.Conn
	br   *bufio.Reader
	// SID is the Engine.IO session id, once the open packet was read.
	SID string
}

// DialWS opens a WebSocket to rawURL (http://host:port/path/?query) and
// answers nothing yet. With rcvbuf > 0 the socket's receive buffer is set
// that small before it connects, so that a client that stops reading
// closes its TCP window at once.
func DialWS(rawURL string, rcvbuf int) (*WS, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	if rcvbuf > 0 {
		d.Control = setRcvbuf(rcvbuf)
	}
	conn, err := d.Dial("tcp", u.Host)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		u.RequestURI(), u.Host, base64.StdEncoding.EncodeToString(key)); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(res.Body)
		conn.Close()
		return nil, &RefusedError{Status: res.StatusCode, Body: string(b)}
	}
	_ = conn.SetDeadline(time.Time{})
	return &WS{Conn: conn, br: br}, nil
}

// RefusedError is a handshake the server answered with another status than
// 101 or 200.
type RefusedError struct {
	Status int
	Body   string
}

func (e *RefusedError) Error() string { return fmt.Sprintf("refused: %d %s", e.Status, e.Body) }

// WriteText sends one text message (masked, as a client must).
func (c *WS) WriteText(s string) error {
	n := len(s)
	hdr := make([]byte, 0, 14+n)
	switch {
	case n < 126:
		hdr = append(hdr, 0x81, 0x80|byte(n))
	case n <= 0xffff:
		hdr = binary.BigEndian.AppendUint16(append(hdr, 0x81, 0x80|126), uint16(n))
	default:
		hdr = binary.BigEndian.AppendUint64(append(hdr, 0x81, 0x80|127), uint64(n))
	}
	hdr = append(hdr, 0, 0, 0, 0) // a zero mask leaves the payload as it is
	_, err := c.Conn.Write(append(hdr, s...))
	return err
}

// ReadFrame reads one frame: its opcode and payload.
func (c *WS) ReadFrame() (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 64<<20 {
		return 0, nil, errors.New("siotest: frame over 64 MiB")
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return 0, nil, err
	}
	return h[0] & 0x0f, p, nil
}

// ErrClosed is what Next returns once the server sent its close frame.
var ErrClosed = errors.New("siotest: the server closed the WebSocket")

// Next returns the next text message, answering pings ("2") on the way.
func (c *WS) Next() (string, error) {
	for {
		op, p, err := c.ReadFrame()
		if err != nil {
			return "", err
		}
		switch {
		case op == 8:
			return "", ErrClosed
		case op == 1 && string(p) == "2":
			if err := c.WriteText("3"); err != nil {
				return "", err
			}
		case op == 1:
			return string(p), nil
		}
	}
}

// Close sends a close frame and closes the connection.
func (c *WS) Close() error {
	_, _ = c.Conn.Write([]byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8})
	return c.Conn.Close()
}

// OpenSocketIO opens a WebSocket session with the Socket.IO server at
// base (http://host:port, path /socket.io/) and joins the root namespace.
func OpenSocketIO(base string, rcvbuf int) (*WS, error) {
	c, err := DialWS(base+"/socket.io/?EIO=4&transport=websocket", rcvbuf)
	if err != nil {
		return nil, err
	}
	open, err := c.Next()
	if err == nil && !strings.HasPrefix(open, "0{") {
		err = fmt.Errorf("siotest: open packet %q", open)
	}
	if err == nil {
		if m := sidRe.FindStringSubmatch(open); m != nil {
			c.SID = m[1]
		}
		err = c.WriteText("40")
	}
	if err == nil {
		var ack string
		ack, err = c.Next()
		if err == nil && !strings.HasPrefix(ack, "40{") {
			err = fmt.Errorf("siotest: connect answered %q", ack)
		}
	}
	if err != nil {
		c.Conn.Close()
		return nil, fmt.Errorf("%w (sid %s)", err, c.SID)
	}
	return c, nil
}

// Polling is a raw long-polling session for goroutines: errors, not t.
type Polling struct {
	HTTP *http.Client
	URL  string // the session's polling URL
	SID  string

	sending sync.Mutex // one POST at a time, as engine.io-client writes
}

// OpenPolling opens a polling session with the Socket.IO server at base
// and joins the root namespace.
func OpenPolling(hc *http.Client, base string) (*Polling, error) {
	body, err := do(hc, "GET", base+"/socket.io/?EIO=4&transport=polling", "")
	if err != nil {
		return nil, err
	}
	m := sidRe.FindStringSubmatch(body)
	if m == nil {
		return nil, fmt.Errorf("siotest: handshake %q", body)
	}
	p := &Polling{HTTP: hc, URL: base + "/socket.io/?EIO=4&transport=polling&sid=" + m[1], SID: m[1]}
	if err := p.Send("40"); err != nil {
		return nil, err
	}
	got, err := p.Poll()
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(got[0], "40{") {
		return nil, fmt.Errorf("siotest: connect answered %q", got)
	}
	return p, nil
}

// Send posts packets in one payload, after any POST still under way: a
// server closes a session that overlaps two (as Node's does).
func (p *Polling) Send(pkts ...string) error {
	p.sending.Lock()
	defer p.sending.Unlock()
	r, err := do(p.HTTP, "POST", p.URL, strings.Join(pkts, "\x1e"))
	if err == nil && r != "ok" {
		err = fmt.Errorf("siotest: post answered %q", r)
	}
	return err
}

// Poll returns the packets of the next poll that has any, pings answered.
func (p *Polling) Poll() ([]string, error) {
	for {
		body, err := do(p.HTTP, "GET", p.URL, "")
		if err != nil {
			return nil, err
		}
		var out []string
		for _, pkt := range strings.Split(body, "\x1e") {
			if pkt == "2" {
				if err := p.Send("3"); err != nil {
					return nil, err
				}
				continue
			}
			out = append(out, pkt)
		}
		if len(out) > 0 {
			return out, nil
		}
	}
}

// Upgrade moves the session to WebSocket as engine.io-client does: a poll
// stays pending (pings answered) while the probe goes and comes back, the
// server releases that poll with a noop, then the upgrade packet.
func (p *Polling) Upgrade(base string) (*WS, error) {
	polled := make(chan error, 1)
	go func() {
		got, err := p.Poll()
		if err == nil && (len(got) != 1 || got[0] != "6") {
			err = fmt.Errorf("siotest: the poll during the upgrade got %q", got)
		}
		polled <- err
	}()
	c, err := DialWS(base+"/socket.io/?EIO=4&transport=websocket&sid="+p.SID, 0)
	if err != nil {
		return nil, err
	}
	c.SID = p.SID
	if err := c.WriteText("2probe"); err != nil {
		c.Conn.Close()
		return nil, err
	}
	if got, err := c.Next(); err != nil || got != "3probe" {
		c.Conn.Close()
		return nil, fmt.Errorf("siotest: probe of %s answered %q, %v", p.SID, got, err)
	}
	if err := <-polled; err != nil {
		c.Conn.Close()
		return nil, err
	}
	if err := c.WriteText("5"); err != nil {
		c.Conn.Close()
		return nil, err
	}
	return c, nil
}

func do(hc *http.Client, method, url, body string) (string, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	if method == "POST" {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	res, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK {
		return "", &RefusedError{Status: res.StatusCode, Body: string(b)}
	}
	return string(b), nil
}
