// Package engineio holds the Engine.IO options of googollee/go-socket.io
// v1.7.0, under their import path there, for programs moving to siogo. The
// engine itself is siogo's package transports; this package only carries
// the types a socketio program names.
package engineio

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/siogo/siogo/compat/googollee/engineio/session"
	"github.com/siogo/siogo/compat/googollee/engineio/transport"
)

// Options configure socketio.NewServer; nil or zero fields take
// googollee's defaults (not Node's): PingInterval 20s, PingTimeout 1
// minute, polling then websocket, random session ids.
type Options struct {
	// PingTimeout is how long a heartbeat may go unanswered. Default 1m.
	PingTimeout time.Duration
	// PingInterval is the time between heartbeats. Default 20s.
	PingInterval time.Duration

	// Transports lists the allowed transports by their Name, in upgrade
	// order: polling before websocket lets polling clients upgrade.
	Transports []transport.Transport
	// SessionIDGenerator makes the Engine.IO session ids, which are also
	// the ids of Conn. Default: 15 random bytes, base64url (googollee
	// counted 1, 2, 3 in base 36, which anyone could guess).
	SessionIDGenerator session.IDGenerator

	// RequestChecker is asked about every HTTP request; an error answers
	// 502 with its text, and the header it returns is added to the answer.
	RequestChecker CheckerFunc
	// ConnInitor is called at each handshake, before the connection joins
	// a namespace; what it sets with SetContext is the Context of the
	// connection's Conn in the root namespace.
	ConnInitor ConnInitorFunc
}

// CheckerFunc checks a request; see Options.RequestChecker.
type CheckerFunc func(*http.Request) (http.Header, error)

// ConnInitorFunc prepares a new connection; see Options.ConnInitor.
type ConnInitorFunc func(*http.Request, Conn)

// Conn is an Engine.IO connection, as ConnInitor sees it.
type Conn interface {
	ID() string
	// NextReader and NextWriter exist for the interface's sake: the
	// Socket.IO layer owns the frames, and they return ErrNotSupported.
	NextReader() (session.FrameType, io.ReadCloser, error)
	NextWriter(fType session.FrameType) (io.WriteCloser, error)
	Close() error
	URL() url.URL
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
	RemoteHeader() http.Header
	SetContext(v interface{})
	Context() interface{}
}

// ErrNotSupported is what Conn's frame methods return.
var ErrNotSupported = errors.New("engineio: frames belong to the socket.io layer")
