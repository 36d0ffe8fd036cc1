package http1

import (
	"bytes"
	"net/http"
	"net/url"
)

// Parser reads HTTP/1.1 requests from the bytes of one connection, fed as
// they arrive in any split. It hands out one request at a time: after
// Next returns a request, the parser only keeps (up to a bound) what the
// client sends next, until the caller has answered and calls Done.
//
// The caller's loop:
//
//	if err := p.Feed(b); err != nil { write ErrorResponse(err); close }
//	r, err := p.Next()         // nil, nil: more bytes are needed
//	if p.WantsContinue() { write Continue100 }
//	serve r; p.Done(); p.Next() again for a pipelined request
//
// A Parser is not safe for concurrent use; it keeps no buffer while the
// connection is idle.
type Parser struct {
	// RemoteAddr is copied into every request's RemoteAddr.
	RemoteAddr string

	cfg *Config
	// buf holds what Feed could not consume at once: an unfinished head,
	// or what came after the complete request.
	buf []byte

	// The head being scanned: how far the search for its end went, where
	// the line being read starts, and the lines seen so far.
	scan, line, lines int

	req       *http.Request // the request whose body is arriving
	ready     *http.Request // complete, not yet taken by Next
	body      []byte
	remaining int64 // body bytes still due: of the Content-Length, or of the chunk
	limit     int64 // Content-Length, or MaxBodyBytes for a chunked body
	err       error // sticky

	// chunked framing: extension and trailer bytes and lines so far
	extBytes, trailerBytes, trailerLines int

	phase    phase
	cs       chunkState
	digits   uint8 // of the chunk size
	cont     bool  // 100 Continue is owed
	inFlight bool  // taken by Next, Done not yet called
}

type phase uint8

const (
	phaseHead phase = iota
	phaseLength
	phaseChunked
)

type chunkState uint8

const (
	csSize chunkState = iota
	csExt
	csSizeLF
	csData
	csDataCR
	csDataLF
	csTrailerStart
	csTrailerName
	csTrailerValue
	csTrailerLF
	csEndLF
)

// maxChunkExtBytes bounds the chunk extensions of one body: Node's
// kMaxChunkExtensionsSize (per chunk there; per body here), answered 413
// as Node answers it.
const maxChunkExtBytes = 16384

// Continue100 is the interim response a caller writes when WantsContinue
// reports that the client waits for it.
const Continue100 = "HTTP/1.1 100 Continue\r\n\r\n"

// State is where a Parser stands, for the caller's timers.
type State uint8

const (
	// StateIdle: no byte of a request yet (Node's keepAliveTimeout runs).
	StateIdle State = iota
	// StateHead: a request line or headers are arriving (headersTimeout).
	StateHead
	// StateBody: the head is in, the body is arriving.
	StateBody
	// StateReady: a complete request waits for Next.
	StateReady
	// StateInFlight: a request is being answered; Done ends it.
	StateInFlight
	// StateClosed: the parser failed, or Rest took its bytes.
	StateClosed
)

// NewParser returns a parser bounded by c (nil: Node's defaults). c is
// shared, not copied.
func NewParser(c *Config) *Parser {
	if c == nil {
		c = &zeroConfig
	}
	return &Parser{cfg: c}
}

func (p *Parser) config() *Config {
	if p.cfg == nil {
		p.cfg = &zeroConfig
	}
	return p.cfg
}

// Feed hands the parser bytes read from the connection. It parses what it
// can and keeps what it must, so b may be reused once Feed returns; a
// parsed request shares no memory with b. An error is final: write
// ErrorResponse(err) and close the connection.
//
// While a request is ready or being answered, Feed only keeps the bytes,
// up to Config.MaxHeaderBytes; past that Full reports true and the
// caller must stop reading until Done. Feeding a full parser fails with
// ErrBufferFull.
func (p *Parser) Feed(b []byte) error {
	if p.err != nil {
		return p.err
	}
	if p.ready != nil || p.inFlight {
		if p.Full() {
			return p.fail(ErrBufferFull)
		}
		p.buf = append(p.buf, b...)
		return nil
	}
	if len(p.buf) == 0 {
		n, err := p.run(b)
		if err != nil {
			return p.fail(err)
		}
		if n < len(b) {
			p.buf = append(make([]byte, 0, len(b)-n), b[n:]...)
		}
		return nil
	}
	p.buf = append(p.buf, b...)
	return p.drain()
}

// drain parses what buf holds, and keeps the rest.
func (p *Parser) drain() error {
	n, err := p.run(p.buf)
	if err != nil {
		return p.fail(err)
	}
	switch {
	case n == len(p.buf):
		p.buf = nil // an idle connection keeps no buffer
	case n > 0:
		p.buf = p.buf[:copy(p.buf, p.buf[n:])]
	}
	return nil
}

// Next returns the next complete request, or nil, nil when it needs more
// bytes or a request is still being answered (Done not called yet).
func (p *Parser) Next() (*http.Request, error) {
	if p.err != nil {
		return nil, p.err
	}
	if p.inFlight {
		return nil, nil
	}
	if p.ready == nil && len(p.buf) > 0 {
		if err := p.drain(); err != nil {
			return nil, err
		}
	}
	r := p.ready
	if r != nil {
		p.ready = nil
		p.inFlight = true
	}
	return r, nil
}

// Done tells the parser the request Next returned has been answered: the
// next one may be parsed (by Next).
func (p *Parser) Done() { p.inFlight = false }

// WantsContinue reports, once, that the request being read asked for
// 100-continue and waits for it before sending its body: the caller
// writes Continue100. Check it after each Next that returned no request.
func (p *Parser) WantsContinue() bool {
	c := p.cont
	p.cont = false
	return c
}

// Full reports that the parser keeps as much as it will of what the
// client sent ahead while a request is being answered: stop reading
// until Done.
func (p *Parser) Full() bool {
	return (p.ready != nil || p.inFlight) && len(p.buf) >= p.config().maxHeaderBytes()
}

// Rest ends parsing and returns the bytes the client sent after the
// request being answered, untouched: the start of the protocol a
// WebSocket upgrade switches to. The parser is closed afterwards.
func (p *Parser) Rest() []byte {
	b := p.buf
	p.fail(ErrClosed)
	return b
}

// State says where the parser stands.
func (p *Parser) State() State {
	switch {
	case p.err != nil:
		return StateClosed
	case p.inFlight:
		return StateInFlight
	case p.ready != nil:
		return StateReady
	case p.phase != phaseHead:
		return StateBody
	case len(p.buf) > 0:
		return StateHead
	}
	return StateIdle
}

func (p *Parser) fail(err error) error {
	p.err = err
	p.buf, p.body, p.req, p.ready, p.inFlight, p.cont = nil, nil, nil, nil, false, false
	return err
}

// run parses in from where the parser stands, up to the end of one
// request at most, and returns how many bytes it consumed. An unfinished
// head is not consumed: the caller keeps it and feeds it again, longer.
func (p *Parser) run(in []byte) (int, error) {
	n := 0
	if p.phase == phaseHead {
		end, err := p.scanHead(in)
		if end <= 0 || err != nil {
			return 0, err
		}
		if err := p.parseHead(in[:end]); err != nil {
			return 0, err
		}
		n = end
	}
	switch p.phase {
	case phaseLength:
		k := int(min(int64(len(in)-n), p.remaining))
		p.appendBody(in[n : n+k])
		p.remaining -= int64(k)
		n += k
		if p.remaining == 0 {
			p.complete()
		}
	case phaseChunked:
		k, err := p.chunked(in[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// scanHead looks for the end of the head in in, from where the last call
// stopped, checking line endings and bounds on the way. It returns the
// head's length, or 0 while it is unfinished.
func (p *Parser) scanHead(in []byte) (int, error) {
	c := p.config()
	maxBytes, maxLines := c.maxHeaderBytes(), c.maxHeaders()+1
	for {
		i := bytes.IndexByte(in[p.scan:], '\n')
		if i < 0 {
			if len(in) >= maxBytes {
				return 0, tooLarge("request head over MaxHeaderBytes")
			}
			p.scan = len(in) // searched: the next call goes on from here
			return 0, nil
		}
		lf := p.scan + i
		if lf+1 > maxBytes {
			return 0, tooLarge("request head over MaxHeaderBytes")
		}
		if lf == 0 || in[lf-1] != '\r' {
			return 0, bad("bare LF")
		}
		empty := lf-1 == p.line
		p.scan, p.line = lf+1, lf+1
		if !empty {
			p.lines++
			if p.lines > maxLines {
				return 0, tooLarge("over MaxHeaders header lines")
			}
			continue
		}
		if p.lines > 0 {
			end := p.scan
			p.scan, p.line = 0, 0
			return end, nil
		}
		// An empty line before the request line is ignored (RFC 9112 2.2).
	}
}

// parseHead turns a complete head into p.req and readies its body.
func (p *Parser) parseHead(h []byte) error {
	nHeaders := p.lines - 1
	p.lines = 0
	for h[0] == '\r' && h[1] == '\n' {
		h = h[2:]
	}
	lf := bytes.IndexByte(h, '\n')
	line, rest := h[:lf-1], h[lf+1:]

	// request-line = method SP request-target SP HTTP-version
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return bad("malformed request line")
	}
	method, ok := methods[string(line[:sp])]
	if !ok {
		return bad("unknown method")
	}
	line = line[sp+1:]
	sp = bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return bad("malformed request line")
	}
	target, version := line[:sp], line[sp+1:]
	var minor int
	switch string(version) {
	case "HTTP/1.1":
		minor = 1
	case "HTTP/1.0":
	default:
		return bad("unsupported HTTP version")
	}
	for _, c := range target {
		if !isTargetByte[c] {
			return bad("invalid byte in request target")
		}
	}
	if method == "CONNECT" {
		// Node, with no 'connect' listener, destroys the socket.
		return &Error{Status: 400, Reason: "CONNECT is not served", kind: kindSilent}
	}
	switch {
	case target[0] == '/':
	case len(target) == 1 && target[0] == '*':
		if method != "OPTIONS" {
			return bad("asterisk-form outside OPTIONS")
		}
	case hasPrefixFold(target, "http://"), hasPrefixFold(target, "https://"):
	default:
		return bad("invalid request target")
	}
	uri := string(target)
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return bad("invalid request target")
	}

	hdr := make(http.Header, nHeaders)
	strs := make([]string, nHeaders)
	for {
		lf := bytes.IndexByte(rest, '\n')
		line := rest[:lf-1]
		rest = rest[lf+1:]
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return bad("obsolete line folding")
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return bad("malformed header line")
		}
		name, v := line[:colon], line[colon+1:]
		for _, c := range name {
			if !isToken[c] {
				return bad("invalid header name")
			}
		}
		for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
			v = v[1:]
		}
		for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
			v = v[:len(v)-1]
		}
		for _, c := range v {
			if !isValueByte[c] {
				return bad("invalid header value")
			}
		}
		key, ck := canonicalKey(name)
		var val string
		if ck.values {
			if s, ok := commonValues[string(v)]; ok {
				val = s
			}
		}
		if val == "" && len(v) > 0 {
			val = string(v)
		}
		if vv := hdr[key]; vv != nil {
			hdr[key] = append(vv, val)
		} else {
			strs[0] = val
			hdr[key] = strs[:1:1]
			strs = strs[1:]
		}
	}

	r := &http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: minor,
		Header:     hdr,
		RequestURI: uri,
		RemoteAddr: p.RemoteAddr,
	}
	if minor == 0 {
		r.Proto = "HTTP/1.0"
	}

	// Host: exactly one when HTTP/1.1, of host bytes (net/http's server);
	// taken from an absolute-form target first. Node takes the first of
	// several, and any bytes.
	hosts := hdr["Host"]
	switch {
	case len(hosts) > 1:
		return bad("several Host headers")
	case len(hosts) == 1:
		for i := 0; i < len(hosts[0]); i++ {
			if !isHostByte[hosts[0][i]] {
				return bad("invalid Host header")
			}
		}
	case minor == 1:
		return &Error{Status: 400, Reason: "HTTP/1.1 request without Host", kind: kindMissingHost}
	}
	r.Host = u.Host
	if r.Host == "" && len(hosts) == 1 {
		r.Host = hosts[0]
	}
	delete(hdr, "Host") // as net/http's server does

	// Framing: the smuggling surface, refused wherever net/http or Node
	// refuses (RFC 9112 6.1, 6.3).
	tes, cls := hdr["Transfer-Encoding"], hdr["Content-Length"]
	switch {
	case len(tes) > 0:
		if minor == 0 {
			return bad("Transfer-Encoding in HTTP/1.0")
		}
		if len(cls) > 0 {
			return bad("both Content-Length and Transfer-Encoding")
		}
		if len(tes) > 1 || !equalFoldASCII(tes[0], "chunked") {
			return bad("unsupported Transfer-Encoding")
		}
		delete(hdr, "Transfer-Encoding")
		r.TransferEncoding = []string{"chunked"}
		r.ContentLength = -1
	case len(cls) > 1:
		return bad("several Content-Length headers")
	case len(cls) == 1:
		n, ok := parseContentLength(cls[0])
		if !ok {
			return bad("invalid Content-Length")
		}
		r.ContentLength = n
	}
	maxBody := p.config().maxBodyBytes()
	if r.ContentLength > maxBody {
		return bodyTooLarge("Content-Length over MaxBodyBytes")
	}

	conn := hdr["Connection"]
	r.Close = anyToken(conn, "close") || minor == 0 && !anyToken(conn, "keep-alive")

	if ex := hdr["Expect"]; len(ex) > 0 && minor == 1 {
		if !anyToken(ex, "100-continue") {
			return &Error{Status: 417, Reason: "unsupported Expect"}
		}
		p.cont = r.ContentLength != 0
	}

	// As net/http's ReadRequest: an HTTP/1.0 cache's Pragma for a missing
	// Cache-Control.
	if pr := hdr["Pragma"]; len(pr) > 0 && pr[0] == "no-cache" {
		if _, ok := hdr["Cache-Control"]; !ok {
			hdr["Cache-Control"] = []string{"no-cache"}
		}
	}

	p.req = r
	switch {
	case r.ContentLength > 0:
		p.phase, p.remaining, p.limit = phaseLength, r.ContentLength, r.ContentLength
	case r.ContentLength < 0:
		p.phase, p.limit = phaseChunked, maxBody
		p.cs, p.digits, p.remaining, p.extBytes, p.trailerBytes, p.trailerLines = csSize, 0, 0, 0, 0, 0
	default:
		p.complete()
	}
	return nil
}

// complete makes the request read so far the ready one.
func (p *Parser) complete() {
	r := p.req
	r.Body = newBody(p.body)
	p.req, p.body, p.cont, p.phase = nil, nil, false, phaseHead
	p.ready = r
}

// appendBody adds b to the body, growing it by doubling within its
// limit: memory follows what arrived, not what a header announced.
func (p *Parser) appendBody(b []byte) {
	need := len(p.body) + len(b)
	if need > cap(p.body) {
		c := int64(max(2*cap(p.body), need, 4096))
		c = min(c, max(p.limit, int64(need)))
		nb := make([]byte, len(p.body), c)
		copy(nb, p.body)
		p.body = nb
	}
	p.body = append(p.body, b...)
}

// chunked reads a chunked body (RFC 9112 7.1) from in, byte by byte but
// for the data; it stops at the end of the request.
func (p *Parser) chunked(in []byte) (int, error) {
	c := p.config()
	n := 0
	for n < len(in) {
		b := in[n]
		if p.cs >= csTrailerStart {
			p.trailerBytes++
			if p.trailerBytes > c.maxHeaderBytes() {
				return n, tooLarge("trailer section over MaxHeaderBytes")
			}
		}
		switch p.cs {
		case csSize:
			if v := unhex(b); v >= 0 {
				if p.digits == 16 {
					return n, bad("chunk size too long")
				}
				p.digits++
				p.remaining = p.remaining<<4 | int64(v)
				break
			}
			if p.digits == 0 {
				return n, bad("invalid chunk size")
			}
			switch b {
			case ';':
				p.cs = csExt
			case '\r':
				p.cs = csSizeLF
			default:
				return n, bad("invalid chunk size")
			}
		case csExt:
			i := n
			for i < len(in) && in[i] != '\r' {
				if !isValueByte[in[i]] {
					return i, bad("invalid chunk extension")
				}
				i++
			}
			p.extBytes += i - n
			if p.extBytes > maxChunkExtBytes {
				return i, bodyTooLarge("chunk extensions over 16 KiB")
			}
			n = i
			if i == len(in) {
				return n, nil
			}
			p.cs = csSizeLF
		case csSizeLF:
			if b != '\n' {
				return n, bad("chunk size line without LF")
			}
			if p.remaining == 0 {
				p.cs = csTrailerStart
				break
			}
			if p.remaining > p.limit-int64(len(p.body)) || p.remaining < 0 {
				return n, bodyTooLarge("chunked body over MaxBodyBytes")
			}
			p.cs = csData
		case csData:
			k := int(min(int64(len(in)-n), p.remaining))
			p.appendBody(in[n : n+k])
			p.remaining -= int64(k)
			n += k
			if p.remaining == 0 {
				p.cs = csDataCR
			}
			continue
		case csDataCR:
			if b != '\r' {
				return n, bad("chunk data without CRLF")
			}
			p.cs = csDataLF
		case csDataLF:
			if b != '\n' {
				return n, bad("chunk data without CRLF")
			}
			p.cs, p.digits = csSize, 0
		case csTrailerStart:
			switch {
			case b == '\r':
				p.cs = csEndLF
			case isToken[b]:
				p.cs = csTrailerName
			default:
				return n, bad("invalid trailer line")
			}
		case csTrailerName:
			switch {
			case isToken[b]:
			case b == ':':
				p.cs = csTrailerValue
			default:
				return n, bad("invalid trailer name")
			}
		case csTrailerValue:
			if b == '\r' {
				p.cs = csTrailerLF
			} else if !isValueByte[b] {
				return n, bad("invalid trailer value")
			}
		case csTrailerLF:
			if b != '\n' {
				return n, bad("trailer line without LF")
			}
			p.trailerLines++
			if p.trailerLines > c.maxHeaders() {
				return n, tooLarge("over MaxHeaders trailer lines")
			}
			p.cs = csTrailerStart
		case csEndLF:
			if b != '\n' {
				return n, bad("trailer section without LF")
			}
			p.complete()
			return n + 1, nil
		}
		n++
	}
	return n, nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// parseContentLength accepts 1*DIGIT and nothing else (no sign, no list,
// no spaces: its OWS is already trimmed), within int64.
func parseContentLength(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

func anyToken(vs []string, tok string) bool {
	for _, v := range vs {
		if hasToken(v, tok) {
			return true
		}
	}
	return false
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && equalFoldASCII(b[:len(prefix)], prefix)
}

// IsUpgrade reports whether r asks to switch protocols (Connection:
// upgrade with an Upgrade header, HTTP/1.1), as a WebSocket handshake
// does. After such a request the parser, like after any, parses nothing
// until Done, so a handler that takes the connection gets every byte that
// followed from Rest.
func IsUpgrade(r *http.Request) bool {
	return r.ProtoAtLeast(1, 1) && len(r.Header["Upgrade"]) > 0 && anyToken(r.Header["Connection"], "upgrade")
}
