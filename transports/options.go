package transports

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Transport names, as clients put them in the transport query parameter.
const (
	TransportPolling   = "polling"
	TransportWebSocket = "websocket"
)

// Options configure a Server. The zero value gives the Node server's
// defaults; each field says its default.
type Options struct {
	// PingInterval is the time between heartbeats. Default 25s.
	PingInterval time.Duration
	// PingTimeout is how long a heartbeat may go unanswered. Default 20s.
	PingTimeout time.Duration
	// UpgradeTimeout bounds the upgrade from polling to WebSocket. Default 10s.
	UpgradeTimeout time.Duration
	// CloseTimeout is how long a closed polling session waits for the
	// request that carries its close packet. Default 30s.
	CloseTimeout time.Duration
	// MaxHTTPBufferSize bounds a POST body and a WebSocket message; it is
	// announced as maxPayload. Default 1e6 bytes.
	MaxHTTPBufferSize int64
	// MaxQueuedPackets bounds a session's outgoing queue (what waits for
	// the next poll, or for an upgrade to finish); past it the session
	// closes with ReasonQueueFull. Default 4096.
	MaxQueuedPackets int
	// MaxWriteBuffer bounds the bytes waiting for a slow WebSocket peer;
	// past it the connection closes. Default 4 MiB, or twice
	// MaxHTTPBufferSize when that is more (a packet as large as the
	// largest a client may send can go back).
	MaxWriteBuffer int
	// MaxPayloadPackets bounds the packets in one polling POST. Default 10000.
	MaxPayloadPackets int

	// Transports lists the allowed transports. Default polling and websocket.
	Transports []string
	// DisableJSONP refuses JSONP polling, as Node refuses a transport it
	// does not serve: a handshake with the j query parameter gets 400
	// {"code":0,"message":"Transport unknown"}. JSONP is served by default,
	// as Node does: the oldest browsers (socket.io-client 2 without XHR2)
	// need it. No origin check covers it: a page of any site may load a
	// script, cookies included, and read what it defines, and post a form,
	// so CORS does not keep other sites out of a JSONP session.
	DisableJSONP bool
	// DisableUpgrades stops polling sessions from upgrading.
	DisableUpgrades bool
	// DisableEIO3 refuses Engine.IO protocol 3 clients (socket.io-client 2),
	// as Node does unless allowEIO3 is set. siogo accepts them by default:
	// legacy browsers are one of its goals. Either way only EIO=3 and EIO=4
	// open a session; any other EIO, or none, gets code 5, as from Node with
	// its default (Node with allowEIO3 takes any value but 4 for 3).
	DisableEIO3 bool

	// KeepHeaders, when not nil, names the only handshake header fields a
	// session keeps for Header (and so for a socket's handshake): a
	// browser's header, about 500 bytes on the wire, costs about 2.5 KB of
	// heap per connection as a Go map, held as long as the connection. Nil keeps
	// every field, as Node does (less the WebSocket handshake's own after
	// an upgrade); an empty slice keeps none. Session.XDomain and Secure are
	// read before the header is trimmed, whatever it keeps.
	KeepHeaders []string

	// DisablePerMessageDeflate turns off WebSocket compression, otherwise
	// negotiated when the client offers it.
	DisablePerMessageDeflate bool
	// PerMessageDeflateThreshold is the smallest message compressed.
	// Default 1024 bytes.
	PerMessageDeflateThreshold int
	// DisableHTTPCompression turns off gzip and deflate of poll responses.
	DisableHTTPCompression bool
	// HTTPCompressionThreshold is the smallest poll response compressed.
	// Default 1024 bytes.
	HTTPCompressionThreshold int

	// Cookie, when set, sends the session id in a cookie at the handshake.
	Cookie *Cookie
	// CORS, when set, answers cross-origin requests and preflights.
	CORS *CORS
	// AllowRequest, when set, is asked before a session is created (origin
	// or authentication checks); an error refuses the handshake with 403
	// and the error's text as message.
	AllowRequest func(r *http.Request) error
	// OnSession is called for each new session, before any of its messages
	// is delivered: set its handlers there.
	OnSession func(s *Session)
	// NewSessionID, when set, makes the id of the session a handshake r
	// opens, instead of 15 random bytes: for layers that must know the
	// request behind a session (compat/googollee's ConnInitor). The ids must
	// be unique and URL-safe, and should be unguessable: a polling client
	// is known by its id alone.
	NewSessionID func(r *http.Request) string
	// MaxSessions bounds the open sessions; a handshake past it is refused
	// with 503 and {"code":3,"message":"Server at capacity"} (Node has no
	// such bound). Zero means no bound.
	MaxSessions int
	// MaxSessionsPerAddr bounds the sessions one remote address holds at
	// once; a handshake past it is refused with 429 and
	// {"code":3,"message":"Too many connections from this address"}.
	// Zero means no bound, as Node.
	MaxSessionsPerAddr int
	// MaxHandshakesPerSecondPerAddr bounds how fast one remote address
	// opens sessions: a token bucket that holds one second's worth (at
	// least one); past it a handshake is refused with 429 and
	// {"code":3,"message":"Too many handshakes from this address"}.
	// Zero means no bound, as Node.
	MaxHandshakesPerSecondPerAddr float64
	// TrustedProxies lists the proxies whose X-Forwarded-For names the
	// client, for the per-address bounds: a request from one of them is
	// counted against the last address of that header that is not itself
	// a trusted proxy. From any other peer the header is ignored. Empty
	// means the peer's own address always.
	TrustedProxies []netip.Prefix
	// Observer, when set, is told of sessions and packets, for metrics.
	Observer Observer
	// OnPanic, when set, is told of each panic recovered on a WebSocket's
	// path (its frame reader, a message's handling: the Engine.IO and
	// Socket.IO layers and the application's handlers), after it was
	// logged, for a metric; where is "read" or "handler". The connection
	// was closed (1011), its session with "transport error"; the process
	// and the other clients go on.
	OnPanic func(where string)
	// Logger receives the server's logs. Default slog.Default().
	Logger *slog.Logger
}

// Observer is told of the Engine.IO layer's events, for metrics. Its
// methods are called on hot paths: they must be quick and safe for
// concurrent use.
type Observer interface {
	SessionOpened(transport string, protocol int)
	SessionUpgraded(protocol int)
	SessionClosed(transport string, protocol int, reason string)
	HandshakeRefused(code ErrorCode)
	PacketsIn(packets, bytes int)
	PacketsOut(packets, bytes int)
}

// Cookie describes the optional session cookie. Name defaults to "io",
// Path to "/", SameSite to Lax; it is HttpOnly unless DisableHTTPOnly.
type Cookie struct {
	Name            string
	Path            string
	Domain          string
	MaxAge          int
	Secure          bool
	SameSite        http.SameSite
	DisableHTTPOnly bool
}

// CORS configures cross-origin responses as Node's cors package does
// with engine.io's cors option, header for header, with Origins as its
// array form. It also decides which origins a WebSocket may come from
// (AllowsWebSocket), which Node does not check.
type CORS struct {
	// Origins lists the allowed origins, each compared whole with the
	// request's Origin, which an allowed one gets back in
	// Access-Control-Allow-Origin, with Vary: Origin. "*" allows any: every
	// response then says Access-Control-Allow-Origin: *, which browsers
	// refuse for a credentialed request (cookies, XHR withCredentials).
	// Empty allows none (cors would default to "*").
	Origins []string
	// AllowOrigin, when set, decides instead of Origins (cors with an
	// origin function): an allowed origin is reflected; for a refused one
	// no CORS header is written and the request goes on as without CORS
	// (a preflight then gets the Engine.IO error of an OPTIONS request).
	AllowOrigin func(origin string) bool
	// Credentials sends Access-Control-Allow-Credentials: true, on every
	// response as cors does; only an origin reflected by name (not "*")
	// lets a browser read a credentialed response.
	Credentials bool
	// Methods allowed in a preflight. Default GET,HEAD,PUT,PATCH,POST,DELETE.
	Methods []string
	// AllowedHeaders in a preflight. Default: those the request asks for.
	AllowedHeaders []string
	// ExposedHeaders are shown to the page.
	ExposedHeaders []string
	// MaxAge of a preflight answer; zero sends none.
	MaxAge time.Duration
}

func (o Options) withDefaults() Options {
	if o.PingInterval <= 0 {
		o.PingInterval = 25 * time.Second
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = 20 * time.Second
	}
	if o.UpgradeTimeout <= 0 {
		o.UpgradeTimeout = 10 * time.Second
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = 30 * time.Second
	}
	if o.MaxHTTPBufferSize <= 0 {
		o.MaxHTTPBufferSize = 1e6
	}
	if o.MaxQueuedPackets <= 0 {
		o.MaxQueuedPackets = 4096
	}
	if o.MaxWriteBuffer <= 0 {
		o.MaxWriteBuffer = max(4<<20, 2*int(o.MaxHTTPBufferSize))
	}
	if o.MaxPayloadPackets <= 0 {
		o.MaxPayloadPackets = 10000
	}
	if len(o.Transports) == 0 {
		o.Transports = []string{TransportPolling, TransportWebSocket}
	}
	if o.PerMessageDeflateThreshold <= 0 {
		o.PerMessageDeflateThreshold = 1024
	}
	if o.HTTPCompressionThreshold <= 0 {
		o.HTTPCompressionThreshold = 1024
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if c := o.Cookie; c != nil {
		cc := *c
		if cc.Name == "" {
			cc.Name = "io"
		}
		if cc.Path == "" {
			cc.Path = "/"
		}
		if cc.SameSite == 0 {
			cc.SameSite = http.SameSiteLaxMode
		}
		o.Cookie = &cc
	}
	return o
}

func (c *Cookie) header(sid string) string {
	ck := http.Cookie{
		Name: c.Name, Value: sid, Path: c.Path, Domain: c.Domain, MaxAge: c.MaxAge,
		Secure: c.Secure, HttpOnly: !c.DisableHTTPOnly, SameSite: c.SameSite,
	}
	return ck.String()
}

// AllowsWebSocket reports whether a WebSocket request may come from its
// Origin. Browsers apply CORS to polling, not to WebSocket, so without this
// check any page could open a session with the user's cookies (cross-site
// WebSocket hijacking). Allowed: no Origin (not a browser), an origin the
// configuration allows, and the server's own origin (the Origin's host is
// the request's Host, or, behind a proxy that drops the port from Host,
// its host name is). The Server applies it to its WebSocket handshakes and
// upgrades; an application applies it to a WebSocket endpoint of its own.
func (c *CORS) AllowsWebSocket(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	switch {
	case origin == "":
		return true
	case c.AllowOrigin != nil:
		if c.AllowOrigin(origin) {
			return true
		}
	case slices.Contains(c.Origins, "*"), slices.Contains(c.Origins, origin):
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	_, _, err = net.SplitHostPort(r.Host)
	return err != nil && strings.EqualFold(u.Hostname(), r.Host)
}

// apply writes the CORS headers for r as the cors package does, and
// reports whether r was a preflight, now fully answered (204).
func (c *CORS) apply(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	origin := r.Header.Get("Origin")
	var vary []string
	switch {
	case c.AllowOrigin != nil:
		if !c.AllowOrigin(origin) {
			return false
		}
		if origin != "" {
			h.Set("Access-Control-Allow-Origin", origin)
		}
		vary = append(vary, "Origin")
	case slices.Contains(c.Origins, "*"):
		h.Set("Access-Control-Allow-Origin", "*")
	default:
		if origin != "" && slices.Contains(c.Origins, origin) {
			h.Set("Access-Control-Allow-Origin", origin)
		}
		vary = append(vary, "Origin")
	}
	if c.Credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	preflight := r.Method == http.MethodOptions
	if preflight {
		methods := c.Methods
		if len(methods) == 0 {
			methods = []string{"GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"}
		}
		h.Set("Access-Control-Allow-Methods", strings.Join(methods, ","))
		if len(c.AllowedHeaders) > 0 {
			h.Set("Access-Control-Allow-Headers", strings.Join(c.AllowedHeaders, ","))
		} else {
			vary = append(vary, "Access-Control-Request-Headers")
			if req := strings.Join(r.Header.Values("Access-Control-Request-Headers"), ", "); req != "" {
				h.Set("Access-Control-Allow-Headers", req)
			}
		}
		if c.MaxAge > 0 {
			h.Set("Access-Control-Max-Age", strconv.Itoa(int(c.MaxAge/time.Second)))
		}
	}
	if len(c.ExposedHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(c.ExposedHeaders, ","))
	}
	addVary(h, vary)
	if !preflight {
		return false
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// addVary adds fields to the Vary header, in one line as Node's vary
// package writes it: those already named are not repeated, and "*" stays
// alone.
func addVary(h http.Header, fields []string) {
	if len(fields) == 0 {
		return
	}
	cur := strings.Join(h.Values("Vary"), ", ")
	if strings.TrimSpace(cur) == "*" {
		return
	}
	var have []string
	for f := range strings.SplitSeq(cur, ",") {
		if f = strings.TrimSpace(f); f != "" {
			have = append(have, f)
		}
	}
	out := cur
	for _, f := range fields {
		if slices.ContainsFunc(have, func(x string) bool { return strings.EqualFold(x, f) }) {
			continue
		}
		have = append(have, f)
		if out == "" {
			out = f
		} else {
			out += ", " + f
		}
	}
	h.Set("Vary", out)
}
