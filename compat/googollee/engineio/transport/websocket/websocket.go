// Package websocket is the WebSocket transport's configuration, as in
// googollee/go-socket.io v1.7.0's engineio/transport/websocket; siogo's
// internal/websocket serves it.
package websocket

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Transport configures WebSocket. Only CheckOrigin acts on the server;
// the other fields were googollee's Go client's and gorilla's buffer
// sizes, which siogo's WebSocket layer sizes itself.
type Transport struct {
	ReadBufferSize   int
	WriteBufferSize  int
	NetDial          func(network, addr string) (net.Conn, error)
	Proxy            func(*http.Request) (*url.URL, error)
	TLSClientConfig  *tls.Config
	HandshakeTimeout time.Duration
	Subprotocols     []string
	// CheckOrigin decides whether an upgrade request may proceed; false
	// answers 403. When nil, as with gorilla/websocket, a request whose
	// Origin header names another host than Host is refused.
	CheckOrigin func(r *http.Request) bool
}

// Default is the default WebSocket transport.
var Default = &Transport{}

// Name is "websocket".
func (t *Transport) Name() string { return "websocket" }
