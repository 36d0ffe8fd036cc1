package wsconform

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The client's side of permessage-deflate (RFC 7692): the offers Autobahn's
// client makes, the checks a client owes the server's response (section
// 5: fail on anything it did not offer), and a codec that holds the server
// to the window it agreed to.

// Offer is one permessage-deflate offer, as Autobahn's client builds it:
// it always says it accepts client_no_context_takeover and
// client_max_window_bits, and may ask for server_no_context_takeover and
// server_max_window_bits.
type Offer struct {
	ServerNoContextTakeover bool
	ServerMaxWindowBits     int // 0: not asked
}

// String is the offer as it goes in Sec-WebSocket-Extensions.
func (o Offer) String() string {
	s := "permessage-deflate; client_no_context_takeover; client_max_window_bits"
	if o.ServerNoContextTakeover {
		s += "; server_no_context_takeover"
	}
	if o.ServerMaxWindowBits != 0 {
		s += "; server_max_window_bits=" + strconv.Itoa(o.ServerMaxWindowBits)
	}
	return s
}

// pmd is the negotiated configuration and the codec's state.
type pmd struct {
	serverNoTakeover bool
	serverWindow     int // bits the server may use
	clientNoTakeover bool
	clientWindow     int // bits the client may use

	in  inflater      // the server's messages, when its window or context needs checking
	zw  *flate.Writer // the client's messages, kept across them with context takeover
	buf bytes.Buffer
}

// acceptResponse checks the server's Sec-WebSocket-Extensions against
// the offers and returns the configuration, nil when the server declined.
func acceptResponse(offers []Offer, values []string) (*pmd, error) {
	exts, err := parseExtensions(values)
	if err != nil {
		return nil, fmt.Errorf("server's Sec-WebSocket-Extensions: %w", err)
	}
	if len(exts) == 0 {
		return nil, nil
	}
	if len(offers) == 0 {
		return nil, fmt.Errorf("server answered extensions %q that were not offered", strings.Join(values, ", "))
	}
	if len(exts) > 1 {
		return nil, fmt.Errorf("server accepted %d extensions", len(exts))
	}
	e := exts[0]
	if !strings.EqualFold(e.name, "permessage-deflate") {
		return nil, fmt.Errorf("server answered extension %q, not offered", e.name)
	}
	p := &pmd{serverWindow: 15, clientWindow: 15}
	seen := map[string]bool{}
	for _, prm := range e.params {
		if seen[prm.name] {
			return nil, fmt.Errorf("response repeats %s", prm.name)
		}
		seen[prm.name] = true
		switch prm.name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if prm.hasValue {
				return nil, fmt.Errorf("response gives %s a value", prm.name)
			}
			if prm.name == "server_no_context_takeover" {
				p.serverNoTakeover = true
			} else {
				p.clientNoTakeover = true
			}
		case "server_max_window_bits", "client_max_window_bits":
			bits, ok := windowBits(prm.value)
			if !prm.hasValue || !ok {
				return nil, fmt.Errorf("response's %s=%q is not 8 to 15", prm.name, prm.value)
			}
			if prm.name == "server_max_window_bits" {
				p.serverWindow = bits
			} else {
				p.clientWindow = bits
			}
		default:
			return nil, fmt.Errorf("response has parameter %q, not defined for a response", prm.name)
		}
	}
	// The response must represent a configuration one of the offers
	// supports (RFC 7692 sections 5 and 7.1): a server that was asked for
	// server_no_context_takeover says so, and its window is no larger than
	// the one asked for (15 bits when the response names none).
	for _, o := range offers {
		if o.ServerNoContextTakeover && !p.serverNoTakeover {
			continue
		}
		if o.ServerMaxWindowBits != 0 && p.serverWindow > o.ServerMaxWindowBits {
			continue
		}
		p.in = inflater{window: 1 << p.serverWindow, takeover: !p.serverNoTakeover}
		return p, nil
	}
	return nil, fmt.Errorf("response %q accepts none of the offers %v", strings.Join(values, ", "), offers)
}

// windowBits parses a window size: a decimal from 8 to 15, no leading zero.
func windowBits(v string) (int, bool) {
	if len(v) == 0 || len(v) > 2 || v[0] == '0' {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 8 && n <= 15
}

// deflate compresses one message of the client as RFC 7692 section 7.2.1
// says, within the window the server allowed: with a window under Go's
// 32 KiB, Huffman coding alone, which refers back to nothing.
func (p *pmd) deflate(msg []byte) []byte {
	level := flate.BestSpeed
	if p.clientWindow < 15 {
		level = flate.HuffmanOnly
	}
	p.buf.Reset()
	if p.zw == nil || p.clientNoTakeover || p.clientWindow < 15 {
		p.zw, _ = flate.NewWriter(&p.buf, level)
	}
	_, _ = p.zw.Write(msg)
	_ = p.zw.Flush()
	b := bytes.Clone(p.buf.Bytes())
	return bytes.TrimSuffix(b, []byte{0, 0, 0xff, 0xff})
}

// inflate decompresses one message of the server. Go's inflater is used
// when nothing needs checking (no context takeover, a full window); the
// harness's own otherwise, which refuses a back-reference past the window
// the server agreed to.
func (p *pmd) inflate(msg []byte) ([]byte, error) {
	if p.serverNoTakeover && p.serverWindow == 15 {
		src := io.MultiReader(bytes.NewReader(msg), strings.NewReader("\x00\x00\xff\xff\x01\x00\x00\xff\xff"))
		out, err := io.ReadAll(io.LimitReader(flate.NewReader(src), maxFrame+1))
		if err != nil {
			return nil, err
		}
		if len(out) > maxFrame {
			return nil, errors.New("inflates past the harness's bound")
		}
		return out, nil
	}
	return p.in.inflate(append(bytes.Clone(msg), 0, 0, 0xff, 0xff), maxFrame)
}
