package main

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"
)

// A small Socket.IO client (namespace "/" only) over Engine.IO 4 or 3, on
// WebSocket or HTTP long-polling with or without an upgrade, written for
// holding many connections cheaply: one goroutine per connection reads, no
// timer per connection (Engine.IO 4's server pings; an Engine.IO 3 client
// pings from one shared ticker), packets handed to the scenario as bytes.

// Transports a client may use.
const (
	transportWebSocket = "websocket"
	transportPolling   = "polling"
	transportUpgrade   = "upgrade" // polling first, then the upgrade to WebSocket
)

// Dialer opens clients to one server.
type Dialer struct {
	Addr      string   // host:port to dial
	Host      string   // the Host header
	Path      string   // the Socket.IO path, "/socket.io/"
	EIO       int      // 4 or 3
	Transport string   // websocket, polling or upgrade
	Header    []string // extra request header lines, "{host}" replaced
	Deflate   bool     // offer permessage-deflate, as browsers do
	Sources   []net.IP // local addresses to spread connections over
	Timeout   time.Duration
	TLS       *tls.Config // https:// and wss://: each connection's client side, a full handshake

	next atomic.Uint32

	pingStop chan struct{} // closed to stop the ping ticker; nil when none runs
	pingMu   sync.Mutex
	v3       map[*Client]struct{} // Engine.IO 3 clients, pinged by one ticker
}

func (d *Dialer) dial() (net.Conn, error) {
	c, err := d.dialTCP()
	if err != nil || d.TLS == nil {
		return c, err
	}
	tc := tls.Client(c, d.TLS)
	if d.Timeout > 0 {
		_ = tc.SetDeadline(time.Now().Add(d.Timeout))
	}
	if err := tc.Handshake(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	_ = tc.SetDeadline(time.Time{})
	return tc, nil
}

func (d *Dialer) dialTCP() (net.Conn, error) {
	nd := net.Dialer{Timeout: d.Timeout}
	if len(d.Sources) == 0 {
		return nd.Dial("tcp", d.Addr)
	}
	var err error
	for range d.Sources { // a source whose ports ran out: try the next
		nd.LocalAddr = &net.TCPAddr{IP: d.Sources[int(d.next.Add(1))%len(d.Sources)]}
		var c net.Conn
		if c, err = nd.Dial("tcp", d.Addr); err == nil {
			return c, nil
		}
		if !errors.Is(err, syscall.EADDRNOTAVAIL) && !errors.Is(err, syscall.EADDRINUSE) {
			return nil, err
		}
	}
	return nil, err
}

// Client is one Socket.IO connection to namespace "/".
type Client struct {
	d            *Dialer
	sid          string
	pingInterval time.Duration
	onEvent      func(pkt []byte) // an EVENT packet, "2[...]" (after the Engine.IO "4")

	mu        sync.Mutex
	ws        *wsConn
	connected chan error // the namespace's CONNECT or CONNECT_ERROR
	probed    chan struct{}
	once      sync.Once
	done      chan struct{}
	err       error

	// long-polling
	upgrading atomic.Bool
	pollDone  chan struct{}
	pollConn  net.Conn
	postMu    sync.Mutex
	post      net.Conn
	postBR    *bufio.Reader
	postIdle  *time.Timer

	ackID  atomic.Uint64
	ackFor atomic.Uint64
	acks   chan uint64 // the id of an awaited ack that came

	vanished atomic.Bool // answers nothing, sends nothing (Vanish)

	opened   time.Time    // when Connect began
	lastRecv atomic.Int64 // when the last packet came (UnixNano)
}

// handshake is the Engine.IO open packet.
type handshake struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
}

// Connect opens a client and joins namespace "/". onEvent, if not nil,
// receives each event the server emits (on the reading goroutine).
func (d *Dialer) Connect(ctx context.Context, onEvent func(pkt []byte)) (*Client, error) {
	c := &Client{d: d, onEvent: onEvent, connected: make(chan error, 1), done: make(chan struct{}), acks: make(chan uint64, 1), opened: time.Now()}
	var err error
	if d.Transport == transportWebSocket {
		err = c.openWebSocket()
	} else {
		err = c.openPolling()
	}
	if err != nil {
		err = fmt.Errorf("opening %s: %w", d.Transport, err)
		c.shut(err)
		return nil, err
	}
	if d.EIO == 4 {
		if err := c.send("40"); err != nil { // Engine.IO 3's server connects "/" by itself
			c.shut(err)
			return nil, err
		}
	} else {
		d.watchPing(c)
	}
	if d.Transport == transportUpgrade {
		if err := c.upgrade(ctx); err != nil {
			err = fmt.Errorf("upgrading: %w", err)
			c.shut(err)
			return nil, err
		}
	}
	t := time.NewTimer(d.Timeout)
	defer t.Stop()
	select {
	case err = <-c.connected:
	case <-c.done:
		err = c.Err()
	case <-t.C:
		err = errors.New("no CONNECT from the server")
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		err = fmt.Errorf("joining \"/\": %w", err)
		c.shut(err)
		return nil, err
	}
	return c, nil
}

func (d *Dialer) query(transport, sid string) string {
	q := d.Path + "?EIO=" + strconv.Itoa(d.EIO) + "&transport=" + transport
	if transport == transportPolling {
		q += "&t=" + strconv.FormatInt(time.Now().UnixNano()>>10, 36)
	}
	if sid != "" {
		q += "&sid=" + sid
	}
	return q
}

func (c *Client) openWebSocket() error {
	conn, err := c.d.dial()
	if err != nil {
		return err
	}
	ws, err := wsHandshake(conn, c.d.Host, c.d.query(transportWebSocket, ""), c.d.Header, c.d.Deflate)
	if err != nil {
		conn.Close()
		return err
	}
	_ = conn.SetDeadline(time.Now().Add(c.d.Timeout))
	_, p, err := ws.read()
	_ = conn.SetDeadline(time.Time{})
	if err != nil {
		conn.Close()
		return err
	}
	if err := c.open(p); err != nil {
		conn.Close()
		return err
	}
	c.ws = ws
	go c.readWebSocket(ws)
	return nil
}

func (c *Client) open(p []byte) error {
	var h handshake
	if len(p) == 0 || p[0] != '0' || json.Unmarshal(p[1:], &h) != nil || h.SID == "" {
		return fmt.Errorf("not an Engine.IO open packet: %.80q", p)
	}
	c.sid, c.pingInterval = h.SID, time.Duration(h.PingInterval)*time.Millisecond
	return nil
}

func (c *Client) readWebSocket(ws *wsConn) {
	for {
		_, p, err := ws.read()
		if err != nil {
			c.shut(err)
			return
		}
		c.packet(p)
	}
}

// packet handles one Engine.IO packet.
func (c *Client) packet(p []byte) {
	if len(p) == 0 || c.vanished.Load() {
		return
	}
	c.lastRecv.Store(time.Now().UnixNano())
	switch p[0] {
	case '2': // ping (Engine.IO 4)
		if len(p) == 1 {
			_ = c.send("3")
		}
	case '3':
		if string(p) == "3probe" {
			select {
			case c.probed <- struct{}{}:
			default:
			}
		}
	case '4':
		c.socketPacket(p[1:])
	case '1':
		c.shut(errors.New("closed by the server"))
	}
}

// socketPacket handles one Socket.IO packet of namespace "/".
func (c *Client) socketPacket(p []byte) {
	if len(p) == 0 {
		return
	}
	switch p[0] {
	case '2':
		if c.onEvent != nil {
			c.onEvent(p)
		}
	case '3':
		id, _ := strconv.ParseUint(string(digits(p[1:])), 10, 64)
		if id != 0 && c.ackFor.CompareAndSwap(id, 0) {
			select {
			case c.acks <- id:
			default: // one of an EmitAck given up on, not taken yet
				select {
				case <-c.acks:
				default:
				}
				c.acks <- id
			}
		}
	case '0':
		select {
		case c.connected <- nil:
		default:
		}
	case '4':
		select {
		case c.connected <- fmt.Errorf("CONNECT_ERROR %s", p[1:]):
		default:
		}
	case '1':
		c.shut(errors.New("disconnected by the server"))
	}
}

func digits(p []byte) []byte {
	i := 0
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	return p[:i]
}

// send sends one Engine.IO packet on the current transport.
func (c *Client) send(pkt string) error {
	if c.vanished.Load() {
		return errVanished
	}
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		return ws.write(opText, []byte(pkt))
	}
	return c.postPayload(c.encodePayload(pkt))
}

// Emit sends an EVENT: args is the JSON array's content, `"message","hi"`.
func (c *Client) Emit(args string) error { return c.send(`42[` + args + `]`) }

// EmitAck sends an EVENT asking for an acknowledgement and waits for it.
// One at a time per client.
func (c *Client) EmitAck(ctx context.Context, args string) error {
	id := c.ackID.Add(1)
	c.ackFor.Store(id)
	if err := c.send(`42` + strconv.FormatUint(id, 10) + `[` + args + `]`); err != nil {
		return err
	}
	for {
		select {
		case got := <-c.acks:
			if got == id {
				return nil
			}
			continue // the ack of an EmitAck given up on (its ctx ended)
		case <-c.done:
			return fmt.Errorf("waiting for an ack: %w", c.Err())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close leaves the namespace and closes the transport.
func (c *Client) Close() {
	select {
	case <-c.done:
		return
	default:
	}
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		_ = ws.write(opText, []byte("41"))
		ws.close()
	} else {
		_ = c.postPayload(c.encodePayload("41", "1"))
	}
	c.shut(nil)
}

// Vanish makes the client stop without closing: from now on it sends
// nothing and answers nothing (not even the server's pings), on a TCP
// connection kept open, as a client whose network went away. The server's
// heartbeat must reap it. After the given time the client closes its end
// for good (set it past the server's ping interval plus timeout).
func (c *Client) Vanish(after time.Duration) {
	c.vanished.Store(true)
	c.closeIdlePost()
	time.AfterFunc(after, func() { c.shut(errVanished) })
}

var errVanished = errors.New("vanished")

// Describe says what a report of the client's end needs: its transport
// (now), its session id, its age and the time since its last packet.
func (c *Client) Describe() string {
	c.mu.Lock()
	on := c.d.Transport
	if c.ws != nil {
		on = transportWebSocket
	}
	c.mu.Unlock()
	last := "never"
	if n := c.lastRecv.Load(); n != 0 {
		last = time.Since(time.Unix(0, n)).Round(time.Millisecond).String() + " ago"
	}
	return fmt.Sprintf("%s client on %s, sid %s, %s old, last packet %s",
		c.d.Transport, on, c.sid, time.Since(c.opened).Round(time.Millisecond), last)
}

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err says why the connection ended.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Client) shut(err error) {
	c.once.Do(func() {
		c.mu.Lock()
		c.err = err
		ws := c.ws
		c.mu.Unlock()
		if ws != nil {
			_ = ws.c.Close()
		}
		if c.pollConn != nil {
			_ = c.pollConn.Close()
		}
		c.postMu.Lock()
		if c.post != nil {
			_ = c.post.Close()
			c.post = nil
		}
		c.postMu.Unlock()
		close(c.done)
		if c.d.EIO == 3 {
			c.d.pingMu.Lock()
			delete(c.d.v3, c)
			if len(c.d.v3) == 0 && c.d.pingStop != nil {
				close(c.d.pingStop) // the last one: the ticker stops
				c.d.pingStop = nil
			}
			c.d.pingMu.Unlock()
		}
	})
}

// watchPing adds an Engine.IO 3 client to the shared ping ticker, which
// runs while any such client is open.
func (d *Dialer) watchPing(c *Client) {
	d.pingMu.Lock()
	defer d.pingMu.Unlock()
	if d.v3 == nil {
		d.v3 = map[*Client]struct{}{}
	}
	d.v3[c] = struct{}{}
	if d.pingStop != nil {
		return
	}
	stop := make(chan struct{})
	d.pingStop = stop
	iv := c.pingInterval
	if iv <= 0 {
		iv = 25 * time.Second
	}
	go func() {
		t := time.NewTicker(iv)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			d.pingMu.Lock()
			all := make([]*Client, 0, len(d.v3))
			for c := range d.v3 {
				all = append(all, c)
			}
			d.pingMu.Unlock()
			for _, c := range all {
				_ = c.send("2")
			}
		}
	}()
}

// --- long-polling ---

// encodePayload joins packets as the protocol version does.
func (c *Client) encodePayload(pkts ...string) []byte {
	var b []byte
	for i, p := range pkts {
		if c.d.EIO == 3 {
			b = strconv.AppendInt(b, int64(utf8.RuneCountInString(p)), 10)
			b = append(b, ':')
		} else if i > 0 {
			b = append(b, 0x1e)
		}
		b = append(b, p...)
	}
	return b
}

// decodePayload splits a text payload into packets.
func (c *Client) decodePayload(b []byte) ([][]byte, error) {
	if c.d.EIO == 4 {
		return bytes.Split(b, []byte{0x1e}), nil
	}
	var out [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, ':')
		if i < 0 {
			return nil, fmt.Errorf("bad Engine.IO 3 payload %.40q", b)
		}
		n, err := strconv.Atoi(string(b[:i]))
		if err != nil {
			return nil, fmt.Errorf("bad Engine.IO 3 payload %.40q", b)
		}
		b = b[i+1:]
		// The length counts characters; the bench's packets are ASCII but a
		// server's may not be.
		end := 0
		for k := 0; k < n && end < len(b); k++ {
			_, size := utf8.DecodeRune(b[end:])
			end += size
		}
		out = append(out, b[:end])
		b = b[end:]
	}
	return out, nil
}

// request writes one HTTP request on conn and reads its response body.
func (c *Client) request(conn net.Conn, br *bufio.Reader, method, query string, body []byte) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: keep-alive\r\n", method, query, c.d.Host)
	for _, h := range c.d.Header {
		b.WriteString(strings.ReplaceAll(h, "{host}", c.d.Host))
		b.WriteString("\r\n")
	}
	if method == http.MethodPost {
		fmt.Fprintf(&b, "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	if _, err := conn.Write(b.Bytes()); err != nil {
		return nil, err
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var r io.Reader = res.Body
	switch res.Header.Get("Content-Encoding") {
	case "gzip":
		if r, err = gzip.NewReader(r); err != nil {
			return nil, err
		}
	case "deflate":
		r = flate.NewReader(r)
	}
	out, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s %s", method, c.d.Path, res.Status, bytes.TrimSpace(out))
	}
	return out, nil
}

func (c *Client) openPolling() error {
	conn, err := c.d.dial()
	if err != nil {
		return err
	}
	br := bufio.NewReaderSize(conn, 1024)
	_ = conn.SetDeadline(time.Now().Add(c.d.Timeout))
	body, err := c.request(conn, br, http.MethodGet, c.d.query(transportPolling, ""), nil)
	_ = conn.SetDeadline(time.Time{})
	if err != nil {
		conn.Close()
		return err
	}
	pkts, err := c.decodePayload(body)
	if err != nil || len(pkts) == 0 {
		conn.Close()
		return fmt.Errorf("handshake %.80q: %v", body, err)
	}
	if err := c.open(pkts[0]); err != nil {
		conn.Close()
		return err
	}
	c.pollDone = make(chan struct{})
	c.pollConn = conn
	go c.pollLoop(conn, br, pkts[1:])
	return nil
}

// pollLoop keeps a GET waiting until the upgrade or the end.
func (c *Client) pollLoop(conn net.Conn, br *bufio.Reader, first [][]byte) {
	defer close(c.pollDone)
	defer conn.Close()
	for _, p := range first {
		c.packet(p)
	}
	for !c.upgrading.Load() {
		if c.vanished.Load() { // keep the connection, ask for nothing more
			<-c.done
			return
		}
		select {
		case <-c.done:
			return
		default:
		}
		body, err := c.request(conn, br, http.MethodGet, c.d.query(transportPolling, c.sid), nil)
		if err != nil {
			if !c.upgrading.Load() {
				c.shut(err)
			}
			return
		}
		pkts, err := c.decodePayload(body)
		if err != nil {
			c.shut(err)
			return
		}
		for _, p := range pkts {
			c.packet(p)
		}
	}
}

// postPayload sends a payload in a POST, on a second connection that is
// closed after a second of disuse (as a browser's would be, in time).
func (c *Client) postPayload(b []byte) error {
	c.postMu.Lock()
	defer c.postMu.Unlock()
	for try := 0; ; try++ {
		if c.post == nil {
			conn, err := c.d.dial()
			if err != nil {
				return err
			}
			c.post, c.postBR = conn, bufio.NewReaderSize(conn, 512)
		}
		_ = c.post.SetDeadline(time.Now().Add(c.d.Timeout))
		_, err := c.request(c.post, c.postBR, http.MethodPost, c.d.query(transportPolling, c.sid), b)
		if err != nil {
			_ = c.post.Close()
			c.post = nil
			if try == 0 && isStale(err) { // the server closed the idle connection
				continue
			}
			return err
		}
		_ = c.post.SetDeadline(time.Time{})
		if c.postIdle == nil {
			c.postIdle = time.AfterFunc(time.Second, c.closeIdlePost)
		} else {
			c.postIdle.Reset(time.Second)
		}
		return nil
	}
}

func isStale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (c *Client) closeIdlePost() {
	c.postMu.Lock()
	defer c.postMu.Unlock()
	if c.post != nil {
		_ = c.post.Close()
		c.post = nil
	}
}

// upgrade probes a WebSocket with the session's sid and moves to it.
func (c *Client) upgrade(ctx context.Context) error {
	conn, err := c.d.dial()
	if err != nil {
		return err
	}
	ws, err := wsHandshake(conn, c.d.Host, c.d.query(transportWebSocket, c.sid), c.d.Header, c.d.Deflate)
	if err != nil {
		conn.Close()
		return err
	}
	c.probed = make(chan struct{}, 1)
	if err := ws.write(opText, []byte("2probe")); err != nil {
		conn.Close()
		return err
	}
	go c.readWebSocket(ws) // "3probe" arrives here
	t := time.NewTimer(c.d.Timeout)
	defer t.Stop()
	select {
	case <-c.probed:
	case <-t.C:
		conn.Close()
		return errors.New("upgrade: no 3probe")
	case <-c.done:
		conn.Close()
		return c.Err()
	case <-ctx.Done():
		conn.Close()
		return ctx.Err()
	}
	// Pause polling: the server answers the waiting GET (a noop) once
	// probed, and the loop stops there; then "5" completes the upgrade.
	c.upgrading.Store(true)
	select {
	case <-c.pollDone:
	case <-t.C:
		conn.Close()
		return errors.New("upgrade: the waiting GET was not released")
	}
	if err := ws.write(opText, []byte("5")); err != nil {
		return err
	}
	c.mu.Lock()
	c.ws = ws
	c.mu.Unlock()
	return nil
}
