package websocket

import (
	"net/http"
	"strconv"
	"strings"
)

// permessage-deflate negotiation (RFC 7692 section 7.1). The client lists
// offers in its order of preference; the server accepts the first whose
// every parameter it can honour, and declines the others: an offer with a
// parameter it does not know, a parameter twice or a bad value (section
// 5). Its answer names exactly what it will follow:
//
//   - server_no_context_takeover and client_no_context_takeover, always:
//     the server's own choice (RFC 7692 lets it make both), so that no
//     deflater or inflater is kept per connection and an idle one stays
//     small;
//   - server_max_window_bits=N when the offer asks for it: a message that
//     could refer further back than 2^N bytes is then coded with Huffman
//     codes alone (Go's compress/flate has a fixed 32 KiB window, but a
//     Huffman-only stream refers back to nothing);
//   - never client_max_window_bits: the inflater takes any window, so the
//     client keeps the one it has.
//
// A header that cannot be read declines compression; the handshake goes
// on (Node's ws, when its perMessageDeflate is on, answers 400 instead).

// extension is one element of Sec-WebSocket-Extensions.
type extension struct {
	name   string
	params []extParam
}

type extParam struct {
	name, value string
	hasValue    bool
}

// extScanner reads the grammar of RFC 6455 section 9.1: a list of
// extensions, each a token with ";"-separated parameters, a parameter's
// value a token or a quoted string that unescapes to a token.
type extScanner struct {
	s   string
	pos int
}

func (x *extScanner) space() {
	for x.pos < len(x.s) && (x.s[x.pos] == ' ' || x.s[x.pos] == '\t') {
		x.pos++
	}
}

// peek returns the next byte, 0 at the end.
func (x *extScanner) peek() byte {
	if x.pos < len(x.s) {
		return x.s[x.pos]
	}
	return 0
}

func tokenByte(c byte) bool {
	switch {
	case c <= ' ' || c >= 0x7f:
		return false
	case strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0:
		return false
	}
	return true
}

func (x *extScanner) token() string {
	start := x.pos
	for x.pos < len(x.s) && tokenByte(x.s[x.pos]) {
		x.pos++
	}
	return x.s[start:x.pos]
}

// value reads a parameter's value, a token or a quoted string; false when
// it is neither. RFC 6455 asks that a quoted value unescape to a token:
// permessage-deflate's values are checked as numbers, another extension's
// are left alone.
func (x *extScanner) value() (string, bool) {
	if x.peek() != '"' {
		v := x.token()
		return v, v != ""
	}
	x.pos++
	var b []byte
	for x.pos < len(x.s) {
		c := x.s[x.pos]
		x.pos++
		switch c {
		case '"':
			return string(b), true
		case '\\':
			if x.pos == len(x.s) {
				return "", false
			}
			c = x.s[x.pos]
			x.pos++
		}
		b = append(b, c)
	}
	return "", false
}

// parseExtensions reads every Sec-WebSocket-Extensions line as one list.
// Empty list elements are skipped, as HTTP lists allow.
func parseExtensions(lines []string) ([]extension, bool) {
	var exts []extension
	for _, line := range lines {
		x := &extScanner{s: line}
		for {
			x.space()
			if x.pos == len(x.s) {
				break
			}
			if x.peek() == ',' {
				x.pos++
				continue
			}
			e, ok := x.extension()
			if !ok {
				return nil, false
			}
			exts = append(exts, e)
			x.space()
			if x.pos < len(x.s) && x.peek() != ',' {
				return nil, false
			}
		}
	}
	return exts, true
}

func (x *extScanner) extension() (extension, bool) {
	e := extension{name: x.token()}
	if e.name == "" {
		return e, false
	}
	for {
		x.space()
		if x.peek() != ';' {
			return e, true
		}
		x.pos++
		x.space()
		p := extParam{name: x.token()}
		if p.name == "" {
			return e, false
		}
		x.space()
		if x.peek() == '=' {
			x.pos++
			x.space()
			v, ok := x.value()
			if !ok {
				return e, false
			}
			p.value, p.hasValue = v, true
		}
		e.params = append(e.params, p)
	}
}

// windowBits reads a window size: 8 to 15, in decimal without a leading
// zero (RFC 7692 section 7.1.2).
func windowBits(v string) (uint8, bool) {
	if len(v) == 0 || len(v) > 2 || v[0] == '0' {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 8 || n > 15 {
		return 0, false
	}
	return uint8(n), true
}

// deflateOffer reports whether the server can accept a permessage-deflate
// offer with params, and the server_max_window_bits it asks for (0: none).
func deflateOffer(params []extParam) (window uint8, ok bool) {
	var seen [4]bool
	for _, p := range params {
		var i int
		switch strings.ToLower(p.name) {
		case "server_no_context_takeover":
			i = 0
		case "client_no_context_takeover":
			i = 1
		case "server_max_window_bits":
			i = 2
		case "client_max_window_bits":
			i = 3
		default:
			return 0, false // not defined for an offer
		}
		if seen[i] {
			return 0, false
		}
		seen[i] = true
		switch i {
		case 0, 1:
			if p.hasValue {
				return 0, false
			}
		case 2:
			bits, ok := windowBits(p.value)
			if !p.hasValue || !ok {
				return 0, false
			}
			window = bits
		case 3:
			// With or without a value: the server may leave the client's
			// window as it is.
			if _, ok := windowBits(p.value); p.hasValue && !ok {
				return 0, false
			}
		}
	}
	return window, true
}

// negotiateDeflate picks the first offer of h's Sec-WebSocket-Extensions
// the server can honour. It returns the response's extension element and
// the server_max_window_bits the server must keep to (0: none), or false
// when no offer can be accepted.
func negotiateDeflate(h http.Header) (string, uint8, bool) {
	lines := h["Sec-Websocket-Extensions"]
	if len(lines) == 0 {
		return "", 0, false
	}
	exts, ok := parseExtensions(lines)
	if !ok {
		return "", 0, false
	}
	for _, e := range exts {
		if !strings.EqualFold(e.name, "permessage-deflate") {
			continue
		}
		window, ok := deflateOffer(e.params)
		if !ok {
			continue
		}
		resp := "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
		if window != 0 {
			resp += "; server_max_window_bits=" + strconv.Itoa(int(window))
		}
		return resp, window, true
	}
	return "", 0, false
}
