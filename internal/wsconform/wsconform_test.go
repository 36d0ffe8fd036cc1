package wsconform

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/siogo/siogo/internal/nodetest"
)

// TestCases: every id once, and as many per section as Autobahn has.
func TestCases(t *testing.T) {
	cs := Cases(Config{})
	seen := map[string]bool{}
	per := map[string]int{}
	for _, c := range cs {
		if seen[c.ID] {
			t.Errorf("case %s twice", c.ID)
		}
		seen[c.ID] = true
		per[sectionOf(c.ID)]++
	}
	want := map[string]int{"1": 16, "2": 11, "3": 7, "4": 10, "5": 20, "6": 145, "7": 37, "9": 54, "10": 1, "12": 90, "13": 126, "L": 5}
	for s, n := range want {
		if per[s] != n {
			t.Errorf("section %s: %d cases, want %d", s, per[s], n)
		}
	}
	if got := Cases(Config{Cases: []string{"6.4", "7.1.1"}}); len(got) != 5 {
		t.Errorf("selecting 6.4 and 7.1.1 gave %d cases", len(got))
	}
}

// TestUTF8Groups: the sequences of 6.5 to 6.23 are Autobahn's, with its
// count per group and its verdict on each.
func TestUTF8Groups(t *testing.T) {
	sizes := []int{5, 11, 4, 2, 4, 3, 5, 8, 5, 10, 1, 3, 5, 5, 5, 7, 8, 34, 7}
	// The groups Autobahn marks all valid, all invalid, or mixed.
	valid := map[int]bool{0: true, 2: true, 4: true, 17: true, 18: true}
	for i, g := range utf8Groups() {
		if len(g.seqs) != sizes[i] {
			t.Errorf("6.%d %s: %d sequences, want %d", i+5, g.name, len(g.seqs), sizes[i])
		}
		for j, s := range g.seqs {
			ok := utf8.ValidString(s)
			switch i {
			case 1: // prefixes: valid where a code point ends
				if want := j == 1 || j == 4 || j == 6 || j == 8 || j == 10; ok != want {
					t.Errorf("6.6.%d: valid %v", j+1, ok)
				}
			case 6: // boundaries: all valid but U+110000
				if ok != (j < 4) {
					t.Errorf("6.11.%d: valid %v", j+1, ok)
				}
			default:
				if ok != valid[i] {
					t.Errorf("6.%d.%d %q: valid %v", i+5, j+1, s, ok)
				}
			}
		}
	}
}

func TestInflater(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	text := jsonData()[:50000]
	noise := make([]byte, 20000)
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	for _, level := range []int{flate.HuffmanOnly, flate.NoCompression, flate.BestSpeed, flate.DefaultCompression, flate.BestCompression} {
		for _, data := range [][]byte{nil, []byte("a"), text, noise} {
			var z bytes.Buffer
			zw, _ := flate.NewWriter(&z, level)
			_, _ = zw.Write(data)
			_ = zw.Flush()
			in := inflater{window: 1 << 15}
			got, err := in.inflate(z.Bytes(), 1<<20)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("level %d, %d bytes: %v, got %d bytes", level, len(data), err, len(got))
			}
		}
	}
	// With context takeover, the second message refers back into the first.
	var z bytes.Buffer
	zw, _ := flate.NewWriter(&z, flate.BestCompression)
	in := inflater{window: 1 << 15, takeover: true}
	for i := range 2 {
		z.Reset()
		_, _ = zw.Write(text[:5000])
		_ = zw.Flush()
		if i == 1 && z.Len() > 200 {
			t.Fatalf("the second message (%d bytes) does not refer back", z.Len())
		}
		got, err := in.inflate(bytes.Clone(z.Bytes()), 1<<20)
		if err != nil || !bytes.Equal(got, text[:5000]) {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	// A window of 512 bytes refuses what refers 4000 bytes back.
	far := append(append(bytes.Clone(text[:3000]), noise[:1000]...), text[:3000]...)
	z.Reset()
	zw, _ = flate.NewWriter(&z, flate.BestCompression)
	_, _ = zw.Write(far)
	_ = zw.Flush()
	in = inflater{window: 1 << 9}
	if _, err := in.inflate(z.Bytes(), 1<<20); err == nil || !strings.Contains(err.Error(), "past the agreed window") {
		t.Fatalf("window 512 took a back-reference of 4000 bytes: %v", err)
	}
	// Huffman coding alone keeps to any window.
	z.Reset()
	zw, _ = flate.NewWriter(&z, flate.HuffmanOnly)
	_, _ = zw.Write(far)
	_ = zw.Flush()
	if got, err := in.inflate(z.Bytes(), 1<<20); err != nil || !bytes.Equal(got, far) {
		t.Fatalf("Huffman only: %v", err)
	}
}

// TestAcceptResponse: the client's side of RFC 7692 section 5.
func TestAcceptResponse(t *testing.T) {
	def, nct, w9, w15 := Offer{}, Offer{ServerNoContextTakeover: true}, Offer{ServerMaxWindowBits: 9}, Offer{ServerMaxWindowBits: 15}
	for _, tc := range []struct {
		offers []Offer
		resp   string
		ok     bool
		window int
	}{
		{[]Offer{def}, "", true, 0},
		{nil, "permessage-deflate", false, 0},
		{[]Offer{def}, "permessage-deflate", true, 15},
		{[]Offer{def}, "permessage-deflate; server_no_context_takeover; client_no_context_takeover", true, 15},
		{[]Offer{def}, "permessage-deflate; server_max_window_bits=10", true, 10},
		{[]Offer{def}, "permessage-deflate; client_max_window_bits=10", true, 15},
		{[]Offer{def}, "permessage-deflate; client_max_window_bits", false, 0},
		{[]Offer{def}, "permessage-deflate; server_max_window_bits=16", false, 0},
		{[]Offer{def}, "permessage-deflate; foo", false, 0},
		{[]Offer{def}, "permessage-deflate; server_no_context_takeover; server_no_context_takeover", false, 0},
		{[]Offer{def}, "permessage-deflate, permessage-deflate", false, 0},
		{[]Offer{def}, "x-other", false, 0},
		{[]Offer{nct}, "permessage-deflate", false, 0},
		{[]Offer{nct}, "permessage-deflate; server_no_context_takeover", true, 15},
		{[]Offer{w9}, "permessage-deflate; server_no_context_takeover", false, 0},
		{[]Offer{w9}, "permessage-deflate; server_max_window_bits=10", false, 0},
		{[]Offer{w9}, "permessage-deflate; server_max_window_bits=9", true, 9},
		{[]Offer{w9}, "permessage-deflate; server_max_window_bits=8", true, 8},
		{[]Offer{w15}, "permessage-deflate", true, 15},
		{[]Offer{w9, nct, def}, "permessage-deflate; server_no_context_takeover", true, 15},
		{[]Offer{w9, nct}, "permessage-deflate", false, 0},
	} {
		var lines []string
		if tc.resp != "" {
			lines = []string{tc.resp}
		}
		p, err := acceptResponse(tc.offers, lines)
		if (err == nil) != tc.ok || (p != nil && p.serverWindow != tc.window) {
			t.Errorf("offers %v, response %q: %+v, %v", tc.offers, tc.resp, p, err)
		}
	}
}

func TestSocketIOEscape(t *testing.T) {
	a := &sioAdapter{}
	if got := string(a.escape([]byte("a\"b\\c\x00\x1f\x7f\xff"))); got != `a\"b\\c\u0000\u001f`+"\x7f\xff" {
		t.Fatalf("escape: %q", got)
	}
	for _, g := range utf8Groups() {
		for _, s := range g.seqs {
			if !utf8.ValidString(s) {
				continue
			}
			var back string
			if err := json.Unmarshal([]byte(`"`+string(a.escape([]byte(s)))+`"`), &back); err != nil || back != s {
				t.Fatalf("%q: %q, %v", s, back, err)
			}
		}
	}
}

// laxServer is an echo server that checks nothing the client sends and
// cuts corners a server must not: it echoes frames whatever their
// reserved bits and opcodes, echoes any close code, and, offered
// permessage-deflate, answers any server_max_window_bits asked for and
// compresses with a 32 KiB window all the same. The harness must fail it.
// With ping, it pings before every echo, and counts the pongs in pongs.
func laxServer(t *testing.T, ping bool, pongs *atomic.Int32) string {
	key := regexp.MustCompile(`server_max_window_bits=\d+`)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer nc.Close()
		resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(r.Header.Get("Sec-Websocket-Key")) + "\r\n"
		deflate := strings.Contains(r.Header.Get("Sec-Websocket-Extensions"), "permessage-deflate")
		if deflate {
			resp += "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover"
			if m := key.FindString(r.Header.Get("Sec-Websocket-Extensions")); m != "" {
				resp += "; " + m
			}
			resp += "\r\n"
		}
		_, _ = io.WriteString(nc, resp+"\r\n")
		laxEcho(nc, brw.Reader, deflate, ping, pongs)
	}))
	t.Cleanup(hs.Close)
	return "ws" + strings.TrimPrefix(hs.URL, "http")
}

func laxEcho(nc net.Conn, br *bufio.Reader, deflate, ping bool, pongs *atomic.Int32) {
	var msg []byte
	var op byte
	var compressed bool
	for {
		var h [14]byte
		if _, err := io.ReadFull(br, h[:2]); err != nil {
			return
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			_, _ = io.ReadFull(br, h[2:4])
			n = uint64(binary.BigEndian.Uint16(h[2:4]))
		case 127:
			_, _ = io.ReadFull(br, h[2:10])
			n = binary.BigEndian.Uint64(h[2:10])
		}
		var mask [4]byte
		_, _ = io.ReadFull(br, mask[:])
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			return
		}
		maskBytes(p, mask, 0)
		fin, fop := h[0]&0x80 != 0, h[0]&0x0f
		switch fop {
		case opPing:
			_, _ = nc.Write(append([]byte{0x80 | opPong, byte(len(p))}, p...))
			continue
		case opPong:
			if string(p) == "keepalive" && pongs != nil {
				pongs.Add(1)
			}
			continue
		case opClose:
			_, _ = nc.Write(append([]byte{0x80 | opClose, byte(len(p))}, p...))
			return
		case opCont:
		default:
			op, compressed = fop, h[0]&0x40 != 0
		}
		msg = append(msg, p...)
		if !fin {
			continue
		}
		b0 := 0x80 | op
		if compressed && deflate {
			in, _ := io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(msg), strings.NewReader("\x00\x00\xff\xff\x01\x00\x00\xff\xff"))))
			var z bytes.Buffer
			zw, _ := flate.NewWriter(&z, flate.BestCompression)
			_, _ = zw.Write(in)
			_ = zw.Flush()
			msg = bytes.TrimSuffix(z.Bytes(), []byte{0, 0, 0xff, 0xff})
			b0 |= 0x40
		}
		frame := []byte{b0}
		switch {
		case len(msg) < 126:
			frame = append(frame, byte(len(msg)))
		case len(msg) <= 0xffff:
			frame = binary.BigEndian.AppendUint16(append(frame, 126), uint16(len(msg)))
		default:
			frame = binary.BigEndian.AppendUint64(append(frame, 127), uint64(len(msg)))
		}
		if ping {
			_, _ = nc.Write([]byte("\x89\x09keepalive"))
		}
		_, _ = nc.Write(append(frame, msg...))
		msg = nil
	}
}

// TestHarnessFailsALaxServer: the harness passes what the lax server does
// right and fails what it does wrong, each as Autobahn would, or as the
// RFCs say where Autobahn's client would not notice.
func TestHarnessFailsALaxServer(t *testing.T) {
	want := map[string]Behavior{
		"1.1.1": OK, "1.2.6": OK, "2.1": OK, "5.3": OK, "6.2.3": OK, "7.7.1": OK, "13.1.5": OK,
		"3.1":    Failed, // echoed, where RSV 1 must fail the connection
		"4.1.1":  Failed, // ignored a reserved opcode
		"6.3.1":  Failed, // echoed invalid UTF-8
		"7.9.1":  Failed, // echoed close code 0
		"13.3.5": Failed, // agreed to a 512-byte window, used 32 KiB
	}
	var ids []string
	for id := range want {
		ids = append(ids, id)
	}
	rep := Run(Config{URL: laxServer(t, false, nil), Cases: ids, Count: 2, Timeout: time.Second})
	if len(rep.Results) != len(want) {
		t.Fatalf("%d results for %d cases", len(rep.Results), len(want))
	}
	for _, r := range rep.Results {
		if r.Verdict != want[r.ID] {
			t.Errorf("case %s: %s, want %s: %s", r.ID, r.Verdict, want[r.ID], r.summary())
		}
	}
	if r := rep.Results[len(rep.Results)-1]; r.ID == "13.3.5" && !strings.Contains(r.Result, "past the agreed window") {
		t.Errorf("13.3.5 failed for another reason: %s", r.Result)
	}
}

// TestServerPings: a server that pings (to keep its connections alive) is
// answered, and its pings are left out of the judgement.
func TestServerPings(t *testing.T) {
	var pongs atomic.Int32
	rep := Run(Config{URL: laxServer(t, true, &pongs), Cases: []string{"1.1.1", "5.6", "9.7.1"}, Count: 3})
	for _, r := range rep.Results {
		if r.Verdict != OK {
			t.Errorf("case %s: %s: %s", r.ID, r.Verdict, r.summary())
		}
	}
	if n := pongs.Load(); n < 5 {
		t.Errorf("%d pongs for 5 pings", n)
	}
}

// TestNodeReference runs every case against Node's ws, which passes
// Autobahn's own run: the harness must judge it as Autobahn does, every
// case OK but the fail-fast cases 6.4 (ws checks UTF-8 once a message is
// complete: NON-STRICT) and the informational ones. ws also keeps its
// deflate context between messages, which the harness's decoder follows.
func TestNodeReference(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	nodetest.Serve(t, 20*time.Second, "ws-echo-server.js", addr)
	rep := Run(Config{URL: "ws://" + addr + "/", Count: 2, DeflateCount: 1, SizeCap: 64 << 10, Timeout: 3 * time.Second})
	t.Logf("%d cases:\n%s", len(rep.Results), rep.Table())
	for _, r := range rep.Results {
		want := OK
		switch {
		case strings.HasPrefix(r.ID, "6.4."):
			want = NonStrict
		case r.ID == "7.1.6" || strings.HasPrefix(r.ID, "7.13."):
			want = Informational
		}
		if r.Verdict != want {
			t.Errorf("case %s: %s, want %s: %s", r.ID, r.Verdict, want, r.summary())
		}
	}
}

// FuzzInflater: the harness's decoder takes what compress/flate makes of
// any bytes at any level back to them, and any bytes at all without
// panicking.
func FuzzInflater(f *testing.F) {
	f.Add([]byte("hello hello hello"), int8(1))
	f.Add([]byte{0, 0, 0xff, 0xff}, int8(-2))
	f.Add([]byte{0x02, 0x00}, int8(9))
	f.Fuzz(func(t *testing.T, data []byte, level int8) {
		in := inflater{window: 1 << 15, takeover: true}
		_, _ = in.inflate(bytes.Clone(data), 1<<16)
		lv := int(level)%11 - 1 // -2 (Huffman only) to 9
		var z bytes.Buffer
		zw, err := flate.NewWriter(&z, lv)
		if err != nil {
			return
		}
		_, _ = zw.Write(data)
		_ = zw.Flush()
		in = inflater{window: 1 << 15}
		got, err := in.inflate(z.Bytes(), 1<<20)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("level %d: %v, %d bytes back of %d", lv, err, len(got), len(data))
		}
	})
}
