package websocket

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

const acceptBoth = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

// TestNegotiateDeflate: the first offer whose every parameter the server
// can honour is accepted, and the answer names exactly what the server
// will follow; an offer the server cannot honour is declined, not fixed.
func TestNegotiateDeflate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header []string // Sec-WebSocket-Extensions lines
		want   string   // the response's element; "" declined
		window uint8
	}{
		{"none", nil, "", 0},
		{"plain", []string{"permessage-deflate"}, acceptBoth, 0},
		{"browser", []string{"permessage-deflate; client_max_window_bits"}, acceptBoth, 0},
		{"client window value", []string{"permessage-deflate; client_max_window_bits=10"}, acceptBoth, 0},
		{"both takeovers", []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover"}, acceptBoth, 0},
		{"server window 9", []string{"permessage-deflate; server_max_window_bits=9"}, acceptBoth + "; server_max_window_bits=9", 9},
		{"server window 8", []string{"permessage-deflate; server_max_window_bits=8"}, acceptBoth + "; server_max_window_bits=8", 8},
		{"server window 15", []string{"permessage-deflate; server_max_window_bits=15"}, acceptBoth + "; server_max_window_bits=15", 15},
		{"quoted value", []string{`permessage-deflate; server_max_window_bits="10"`}, acceptBoth + "; server_max_window_bits=10", 10},
		{"escaped quoted value", []string{`permessage-deflate; server_max_window_bits="1\1"`}, acceptBoth + "; server_max_window_bits=11", 11},
		{"spaces and case", []string{"  Permessage-Deflate ;Server_Max_Window_Bits = 12 ; client_max_window_bits  "}, acceptBoth + "; server_max_window_bits=12", 12},
		{"autobahn 13.5", []string{"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=9"}, acceptBoth + "; server_max_window_bits=9", 9},

		{"server window without value", []string{"permessage-deflate; server_max_window_bits"}, "", 0},
		{"server window 7", []string{"permessage-deflate; server_max_window_bits=7"}, "", 0},
		{"server window 16", []string{"permessage-deflate; server_max_window_bits=16"}, "", 0},
		{"leading zero", []string{"permessage-deflate; server_max_window_bits=09"}, "", 0},
		{"client window 0", []string{"permessage-deflate; client_max_window_bits=0"}, "", 0},
		{"client window text", []string{"permessage-deflate; client_max_window_bits=big"}, "", 0},
		{"takeover with a value", []string{"permessage-deflate; server_no_context_takeover=1"}, "", 0},
		{"empty quoted value", []string{`permessage-deflate; client_max_window_bits=""`}, "", 0},
		{"unknown parameter", []string{"permessage-deflate; mem_level=8"}, "", 0},
		{"duplicate parameter", []string{"permessage-deflate; client_max_window_bits; client_max_window_bits"}, "", 0},
		{"duplicate window", []string{"permessage-deflate; server_max_window_bits=10; server_max_window_bits=10"}, "", 0},
		{"other extension only", []string{"x-webkit-deflate-frame"}, "", 0},
		{"unterminated quote", []string{`permessage-deflate; server_max_window_bits="10`}, "", 0},
		{"garbage", []string{"permessage-deflate; ;"}, "", 0},
		{"separator in name", []string{"permessage-deflate/2"}, "", 0},

		{"first acceptable of several", []string{"permessage-deflate; mem_level=8, permessage-deflate; server_max_window_bits=10, permessage-deflate"}, acceptBoth + "; server_max_window_bits=10", 10},
		{"autobahn 13.7", []string{"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=9, permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover, permessage-deflate; client_no_context_takeover; client_max_window_bits"}, acceptBoth + "; server_max_window_bits=9", 9},
		{"over two lines", []string{"x-foo; a=1", "permessage-deflate; server_max_window_bits=11"}, acceptBoth + "; server_max_window_bits=11", 11},
		{"empty elements", []string{", ,permessage-deflate,,"}, acceptBoth, 0},
		{"comma inside a quote", []string{`x-foo; a="1,2", permessage-deflate`}, acceptBoth, 0},
		{"bad first declines all", []string{`x-foo; a="unterminated, permessage-deflate`}, "", 0},
		{"all declined", []string{"permessage-deflate; server_max_window_bits=1, permessage-deflate; foo"}, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, l := range tc.header {
				h.Add("Sec-WebSocket-Extensions", l)
			}
			got, window, ok := negotiateDeflate(h)
			if ok != (tc.want != "") || got != tc.want || window != tc.window {
				t.Fatalf("negotiateDeflate(%q) = %q, %d, %v; want %q, %d", tc.header, got, window, ok, tc.want, tc.window)
			}
		})
	}
}

func TestParseExtensions(t *testing.T) {
	got, ok := parseExtensions([]string{`foo, bar; a; b=1; c="x\"y" ,`, `baz;d="";e=2`})
	want := []extension{
		{name: "foo"},
		{name: "bar", params: []extParam{{name: "a"}, {name: "b", value: "1", hasValue: true}, {name: "c", value: `x"y`, hasValue: true}}},
		{name: "baz", params: []extParam{{name: "d", hasValue: true}, {name: "e", value: "2", hasValue: true}}},
	}
	if !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, %v; want %+v", got, ok, want)
	}
	for _, bad := range []string{"a;", "a; =1", "a; b=", `a; b="1`, "a b", "a; b c", ";a", `a; b="\`} {
		if got, ok := parseExtensions([]string{bad}); ok {
			t.Errorf("%q parsed: %+v", bad, got)
		}
	}
}

type extClient struct {
	*client
	ext string // the 101's Sec-WebSocket-Extensions
}

// dialExt is dial offering extensions.
func dialExt(t *testing.T, addr, offer string) extClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: %s\r\n\r\n", addr, offer)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", err, res)
	}
	return extClient{&client{t, conn, br}, res.Header.Get("Sec-Websocket-Extensions")}
}

// TestUpgradeAnswersTheOffer: the 101 names what was negotiated, and a
// connection whose offer was declined gets no extension, and no RSV1.
func TestUpgradeAnswersTheOffer(t *testing.T) {
	for _, tc := range []struct{ offer, want string }{
		{"permessage-deflate; server_max_window_bits=10", acceptBoth + "; server_max_window_bits=10"},
		{"permessage-deflate; foo=bar", ""},
	} {
		_, addr := serve(t, Config{Compression: true})
		c := dialExt(t, addr, tc.offer)
		if c.ext != tc.want {
			t.Fatalf("offer %q answered %q, want %q", tc.offer, c.ext, tc.want)
		}
	}
	_, addr := serve(t, Config{})
	if c := dialExt(t, addr, "permessage-deflate"); c.ext != "" {
		t.Fatalf("compression off, yet answered %q", c.ext)
	}
}

// FuzzExtensions: the header parser and the negotiation never panic; an
// accepted offer is a permessage-deflate offer that parses back, and the
// answer holds only what the server follows, each once.
func FuzzExtensions(f *testing.F) {
	f.Add("permessage-deflate; client_max_window_bits")
	f.Add(`permessage-deflate; server_max_window_bits="10", permessage-deflate`)
	f.Add("permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=9, permessage-deflate")
	f.Add(`x; a="\\", ,permessage-deflate;;`)
	f.Add("permessage-deflate; server_max_window_bits=09")
	f.Fuzz(func(t *testing.T, line string) {
		exts, ok := parseExtensions([]string{line})
		h := http.Header{"Sec-Websocket-Extensions": {line}}
		resp, window, accepted := negotiateDeflate(h)
		if !ok && accepted {
			t.Fatalf("%q: unreadable, yet accepted", line)
		}
		if !accepted {
			return
		}
		if window != 0 && (window < 8 || window > 15) {
			t.Fatalf("%q: window %d", line, window)
		}
		found := false
		for _, e := range exts {
			if strings.EqualFold(e.name, "permessage-deflate") {
				found = true
			}
		}
		if !found {
			t.Fatalf("%q: accepted with no permessage-deflate offer", line)
		}
		back, ok := parseExtensions([]string{resp})
		if !ok || len(back) != 1 || back[0].name != "permessage-deflate" {
			t.Fatalf("%q: answer %q does not parse", line, resp)
		}
		seen := map[string]bool{}
		for _, p := range back[0].params {
			if seen[p.name] || p.name == "client_max_window_bits" {
				t.Fatalf("%q: answer %q", line, resp)
			}
			seen[p.name] = true
		}
		if !seen["server_no_context_takeover"] || !seen["client_no_context_takeover"] || seen["server_max_window_bits"] != (window != 0) {
			t.Fatalf("%q: answer %q, window %d", line, resp, window)
		}
	})
}
