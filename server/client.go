package server

import (
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/siogo/siogo/transports"
)

// client is the Socket.IO side of one Engine.IO session: it decodes
// packets and routes them to the sockets it carries, one per namespace.
type client struct {
	srv     *Server
	conn    *transports.Session
	decoder Decoder

	mu           sync.Mutex
	sockets      []*Socket // one per namespace; a slice, as most clients have one
	connectTimer *time.Timer
	closed       bool
}

func newClient(srv *Server, sess *transports.Session) *client {
	return &client{
		srv:     srv,
		conn:    sess,
		decoder: srv.parser.NewDecoder(),
	}
}

func (c *client) setup() {
	c.conn.OnMessage(c.onMessage)
	c.conn.OnClose(c.onClose)
	if c.conn.Protocol() == 3 {
		// Protocol 4 clients (socket.io-client 2) are in the root
		// namespace from the start, without asking.
		c.connect("/", nil)
		return
	}
	c.mu.Lock()
	c.connectTimer = time.AfterFunc(c.srv.opts.ConnectTimeout, func() {
		c.mu.Lock()
		idle := len(c.sockets) == 0
		c.mu.Unlock()
		if idle {
			c.conn.Close()
		}
	})
	c.mu.Unlock()
}

func (c *client) onMessage(data []byte, binary bool) {
	pkt, err := c.decoder.Add(data, binary)
	if err != nil {
		c.srv.log.Debug("socket.io invalid packet", "sid", c.conn.ID(), "err", err)
		c.onError(err)
		return
	}
	if pkt == nil {
		return
	}
	name, auth := pkt.Nsp, map[string]any(nil)
	if c.conn.Protocol() == 3 {
		// Protocol 4 carries the query of a namespace in its name.
		if u, err := url.Parse(pkt.Nsp); err == nil {
			name = u.Path
			auth = map[string]any{}
			for k, v := range u.Query() {
				auth[k] = v[0]
			}
		}
	} else if m, ok := pkt.Data.(map[string]any); ok && pkt.Type == PacketConnect {
		auth = m
	}
	c.mu.Lock()
	s := c.socketOf(name)
	c.mu.Unlock()
	switch {
	case s == nil && pkt.Type == PacketConnect:
		c.connect(name, auth)
	case s != nil && pkt.Type != PacketConnect && pkt.Type != PacketConnectError:
		s.onPacket(pkt)
	default:
		c.srv.log.Debug("socket.io packet in an invalid state", "sid", c.conn.ID(), "type", pkt.Type, "nsp", name)
		c.close()
	}
}

// connect joins the client to the namespace name.
func (c *client) connect(name string, auth map[string]any) {
	if auth == nil {
		// As Node: a CONNECT without a payload (and the root namespace of
		// a protocol 4 client) has the auth {}, not null.
		auth = map[string]any{}
	}
	nsp := c.srv.lookup(name, auth)
	if nsp == nil {
		c.sendPacket(&Packet{Type: PacketConnectError, Nsp: name, Data: map[string]any{"message": "Invalid namespace"}}, false, false)
		return
	}
	nsp.add(c, auth)
}

// attached records a socket that joined its namespace.
func (c *client) attached(s *Socket) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.sockets = append(c.sockets, s)
	if c.connectTimer != nil {
		c.connectTimer.Stop()
		c.connectTimer = nil
	}
	return true
}

// socketOf is the client's socket in namespace name, or nil. c.mu is held.
func (c *client) socketOf(name string) *Socket {
	for _, s := range c.sockets {
		if s.nsp.name == name {
			return s
		}
	}
	return nil
}

func (c *client) detach(s *Socket) {
	c.mu.Lock()
	c.sockets = slices.DeleteFunc(c.sockets, func(x *Socket) bool { return x == s })
	c.mu.Unlock()
}

func (c *client) open() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.closed
}

// sendPacket encodes and sends one packet to this client alone.
func (c *client) sendPacket(p *Packet, volatile, noCompress bool) error {
	pkts, err := c.srv.parser.Encode(p)
	if err != nil {
		return err
	}
	return c.send(pkts, volatile, noCompress)
}

// send writes encoded packets. They may be shared with other clients (a
// broadcast): they are copied only to set the compress flag.
func (c *client) send(pkts []transports.Packet, volatile, noCompress bool) error {
	if noCompress {
		cp := make([]transports.Packet, len(pkts))
		for i, p := range pkts {
			p.NoCompress = true
			cp[i] = p
		}
		pkts = cp
	}
	if volatile {
		c.conn.SendVolatile(pkts...)
		return nil
	}
	return c.conn.Send(pkts...)
}

// onError handles a protocol violation: every socket hears of it, then the
// connection closes, as Node does.
func (c *client) onError(err error) {
	for _, s := range c.socketList(false) {
		s.reportError(err)
	}
	c.conn.Close()
}

// disconnectAll disconnects every socket (with DISCONNECT packets), then
// closes the connection: Socket.CloseConnection.
func (c *client) disconnectAll() {
	for _, s := range c.socketList(false) {
		s.Disconnect()
	}
	c.close()
}

// close closes the connection; sockets left learn it as a forced close.
func (c *client) close() {
	c.closeSockets(ReasonForcedServerClose)
	c.conn.Close()
}

// onClose is the Engine.IO session's end.
func (c *client) onClose(reason string) {
	c.closeSockets(reason)
	c.srv.removeClient(c)
}

func (c *client) closeSockets(reason string) {
	for _, s := range c.socketList(true) {
		s.onClose(reason)
	}
}

// socketList returns the client's sockets; with closing, the client is
// marked closed and forgets them, in the same critical section.
func (c *client) socketList(closing bool) []*Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	sockets := slices.Clone(c.sockets)
	if closing {
		c.closed = true
		if c.connectTimer != nil {
			c.connectTimer.Stop()
			c.connectTimer = nil
		}
		c.sockets = nil
	}
	return sockets
}
