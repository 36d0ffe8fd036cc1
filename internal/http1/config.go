package http1

import "time"

// Config bounds what a Parser accepts and shapes what a Response writes.
// The zero value means Node 20's defaults; one Config is shared by every
// connection of a server and must not change once in use.
type Config struct {
	// MaxHeaderBytes bounds a request's head: the request line, the
	// header lines and the empty line that ends them, CRLFs included, and
	// any empty lines before the request line. Over it: 431. Default
	// 16384, Node's maxHeaderSize. (Node counts only the URL, names and
	// values, and so accepts a little more, and unbounded whitespace.)
	// It also bounds a chunked body's trailer section, and the bytes kept
	// of pipelined requests while one is being answered.
	MaxHeaderBytes int
	// MaxHeaders bounds the header lines of a request (and the trailer
	// lines of a chunked body). Over it: 431. Default 2000, Node's
	// maxHeadersCount (Node drops the extra headers; a request whose
	// headers cannot all be kept is refused here).
	MaxHeaders int
	// MaxBodyBytes bounds a request body. A larger Content-Length is
	// refused before any of the body is read (and before 100 Continue);
	// a chunked body is refused when it crosses the bound. Either way:
	// 413, then close. Default 2e6: Node's http server has no bound of
	// its own, and twice Engine.IO's maxHttpBufferSize lets the
	// application's own bound answer first, as Node's engine.io does.
	MaxBodyBytes int64
	// KeepAlive is how long the server keeps an idle connection between
	// requests; a Response advertises it on every keep-alive answer as
	// Node does ("Keep-Alive: timeout=5"). Default 5s, Node's
	// keepAliveTimeout; negative: no Keep-Alive header.
	KeepAlive time.Duration
	// StreamThreshold is how much of a body a Response buffers before it
	// sends what it has and streams the rest (chunked when the handler set
	// no Content-Length). A body within it goes out with its head in one
	// write. Default 32 KiB.
	StreamThreshold int
}

// The defaults of a zero Config.
const (
	DefaultMaxHeaderBytes  = 16384
	DefaultMaxHeaders      = 2000
	DefaultMaxBodyBytes    = 2e6
	DefaultKeepAlive       = 5 * time.Second
	DefaultStreamThreshold = 32 << 10
)

var zeroConfig Config

func (c *Config) maxHeaderBytes() int {
	if c.MaxHeaderBytes > 0 {
		return c.MaxHeaderBytes
	}
	return DefaultMaxHeaderBytes
}

func (c *Config) maxHeaders() int {
	if c.MaxHeaders > 0 {
		return c.MaxHeaders
	}
	return DefaultMaxHeaders
}

func (c *Config) maxBodyBytes() int64 {
	if c.MaxBodyBytes > 0 {
		return c.MaxBodyBytes
	}
	return DefaultMaxBodyBytes
}

func (c *Config) keepAlive() time.Duration {
	if c.KeepAlive != 0 {
		return c.KeepAlive
	}
	return DefaultKeepAlive
}

func (c *Config) streamThreshold() int {
	if c.StreamThreshold > 0 {
		return c.StreamThreshold
	}
	return DefaultStreamThreshold
}
