package http1

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// parsed is what a test sees of one request.
type parsed struct {
	req  *http.Request
	body string
	cont bool // WantsContinue was reported before the request completed
}

// feed parses data fed split bytes at a time (0: at once), answering each
// request at once, and returns the requests and the first error.
func feed(cfg *Config, data []byte, split int) ([]parsed, error) {
	p := NewParser(cfg)
	p.RemoteAddr = "192.0.2.1:1234"
	var out []parsed
	cont := false
	step := func() error {
		for {
			r, err := p.Next()
			if err != nil {
				return err
			}
			if p.WantsContinue() {
				cont = true
			}
			if r == nil {
				return nil
			}
			b, err := io.ReadAll(r.Body)
			if err != nil {
				return err
			}
			out = append(out, parsed{req: r, body: string(b), cont: cont})
			cont = false
			p.Done()
		}
	}
	if split <= 0 {
		split = len(data)
	}
	for len(data) > 0 {
		k := min(split, len(data))
		// A fresh slice each time, overwritten after: the parser must
		// have kept copies of what it needs.
		b := append([]byte(nil), data[:k]...)
		err := p.Feed(b)
		for i := range b {
			b[i] = '#'
		}
		if err != nil {
			return out, err
		}
		if err := step(); err != nil {
			return out, err
		}
		data = data[k:]
	}
	return out, nil
}

var splits = []int{0, 1, 2, 3, 7, 64}

const browserPoll = "GET /socket.io/?EIO=4&transport=polling&t=PZx1a2b&sid=Ab3dEf6hIj9kLmN0pQrS HTTP/1.1\r\n" +
	"Host: localhost:3000\r\n" +
	"Connection: keep-alive\r\n" +
	"sec-ch-ua-platform: \"Linux\"\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n" +
	"sec-ch-ua: \"Google Chrome\";v=\"131\", \"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"\r\n" +
	"sec-ch-ua-mobile: ?0\r\n" +
	"Accept: */*\r\n" +
	"Sec-Fetch-Site: same-origin\r\n" +
	"Sec-Fetch-Mode: cors\r\n" +
	"Sec-Fetch-Dest: empty\r\n" +
	"Referer: http://localhost:3000/\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"Cookie: io=Ab3dEf6hIj9kLmN0pQrS\r\n" +
	"\r\n"

const smallPost = "POST /socket.io/?EIO=4&transport=polling&t=PZx1a3c&sid=Ab3dEf6hIj9kLmN0pQrS HTTP/1.1\r\n" +
	"Host: localhost:3000\r\n" +
	"Connection: keep-alive\r\n" +
	"Content-Length: 40\r\n" +
	"Content-type: text/plain;charset=UTF-8\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n" +
	"Accept: */*\r\n" +
	"Origin: http://localhost:3000\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"\r\n" +
	`42["chat message","hello from a client"]`

func TestParserAccepts(t *testing.T) {
	type check func(t *testing.T, rs []parsed)
	one := func(f func(t *testing.T, r parsed)) check {
		return func(t *testing.T, rs []parsed) {
			t.Helper()
			if len(rs) != 1 {
				t.Fatalf("%d requests, want 1", len(rs))
			}
			f(t, rs[0])
		}
	}
	eq := func(t *testing.T, what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
	tests := []struct {
		name  string
		in    string
		check check
	}{
		{"browser poll", browserPoll, one(func(t *testing.T, r parsed) {
			q := r.req
			eq(t, "Method", q.Method, "GET")
			eq(t, "RequestURI", q.RequestURI, "/socket.io/?EIO=4&transport=polling&t=PZx1a2b&sid=Ab3dEf6hIj9kLmN0pQrS")
			eq(t, "Path", q.URL.Path, "/socket.io/")
			eq(t, "sid", q.URL.Query().Get("sid"), "Ab3dEf6hIj9kLmN0pQrS")
			eq(t, "Host", q.Host, "localhost:3000")
			eq(t, "Header[Host]", q.Header["Host"], []string(nil))
			eq(t, "Proto", q.Proto, "HTTP/1.1")
			eq(t, "ProtoMinor", q.ProtoMinor, 1)
			eq(t, "Close", q.Close, false)
			eq(t, "ContentLength", q.ContentLength, int64(0))
			eq(t, "Body", q.Body, http.NoBody)
			eq(t, "RemoteAddr", q.RemoteAddr, "192.0.2.1:1234")
			eq(t, "Sec-Ch-Ua-Platform", q.Header["Sec-Ch-Ua-Platform"], []string{`"Linux"`})
			eq(t, "Accept-Encoding", q.Header.Get("Accept-Encoding"), "gzip, deflate, br, zstd")
			eq(t, "Cookie", q.Header.Get("Cookie"), "io=Ab3dEf6hIj9kLmN0pQrS")
			eq(t, "headers", len(q.Header), 13)
		})},
		{"small post", smallPost, one(func(t *testing.T, r parsed) {
			eq(t, "Method", r.req.Method, "POST")
			eq(t, "ContentLength", r.req.ContentLength, int64(40))
			eq(t, "body", r.body, `42["chat message","hello from a client"]`)
			eq(t, "Content-Type", r.req.Header["Content-Type"], []string{"text/plain;charset=UTF-8"})
		})},
		{"chunked with extension and trailer",
			"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n" +
				"3;name=value;q=\"x y\"\r\nabc\r\n0A\r\n0123456789\r\n0\r\nT: v\r\nU:\r\n\r\n",
			one(func(t *testing.T, r parsed) {
				eq(t, "body", r.body, "abc0123456789")
				eq(t, "ContentLength", r.req.ContentLength, int64(-1))
				eq(t, "TransferEncoding", r.req.TransferEncoding, []string{"chunked"})
				eq(t, "Header[Transfer-Encoding]", r.req.Header["Transfer-Encoding"], []string(nil))
			})},
		{"chunked empty", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			one(func(t *testing.T, r parsed) { eq(t, "body", r.body, "") })},
		{"leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
			one(func(t *testing.T, r parsed) { eq(t, "Path", r.req.URL.Path, "/") })},
		{"absolute form", "GET http://example.com:8080/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n",
			one(func(t *testing.T, r parsed) {
				eq(t, "Host", r.req.Host, "example.com:8080")
				eq(t, "RawQuery", r.req.URL.RawQuery, "q=1")
			})},
		{"asterisk form", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
			one(func(t *testing.T, r parsed) { eq(t, "Path", r.req.URL.Path, "*") })},
		{"HTTP/1.0 without Host closes", "GET / HTTP/1.0\r\n\r\n", one(func(t *testing.T, r parsed) {
			eq(t, "Proto", r.req.Proto, "HTTP/1.0")
			eq(t, "Close", r.req.Close, true)
			eq(t, "Host", r.req.Host, "")
		})},
		{"HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
			one(func(t *testing.T, r parsed) { eq(t, "Close", r.req.Close, false) })},
		{"Connection close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n",
			one(func(t *testing.T, r parsed) { eq(t, "Close", r.req.Close, true) })},
		{"value whitespace and obs-text", "GET / HTTP/1.1\r\nHost: a\r\nX-A: \t a \tb\t \r\nX-B:\xe9t\xe9\r\nX-C:\r\n\r\n",
			one(func(t *testing.T, r parsed) {
				eq(t, "X-A", r.req.Header["X-A"], []string{"a \tb"})
				eq(t, "X-B", r.req.Header["X-B"], []string{"\xe9t\xe9"})
				eq(t, "X-C", r.req.Header["X-C"], []string{""})
			})},
		{"repeated header and canonical names", "GET / HTTP/1.1\r\nhost: a\r\nx-forwarded-FOR: 1\r\nX-FORWARDED-for: 2\r\nwww-authenticate: x\r\n\r\n",
			one(func(t *testing.T, r parsed) {
				eq(t, "X-Forwarded-For", r.req.Header["X-Forwarded-For"], []string{"1", "2"})
				eq(t, "Www-Authenticate", r.req.Header["Www-Authenticate"], []string{"x"})
			})},
		{"Pragma no-cache", "GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n",
			one(func(t *testing.T, r parsed) {
				eq(t, "Cache-Control", r.req.Header["Cache-Control"], []string{"no-cache"})
			})},
		{"Expect 100-continue", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n" + "abc",
			func(t *testing.T, rs []parsed) {
				// Whether 100 was asked for depends on the split: not when
				// the body came with the head.
				if len(rs) != 1 || rs[0].body != "abc" {
					t.Fatalf("got %+v", rs)
				}
			}},
		{"empty Host accepted", "GET / HTTP/1.1\r\nHost:\r\n\r\n",
			one(func(t *testing.T, r parsed) { eq(t, "Host", r.req.Host, "") })},
		{"GET with a body", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi",
			one(func(t *testing.T, r parsed) { eq(t, "body", r.body, "hi") })},
		{"Content-Length leading zeros", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 002\r\n\r\nhi",
			one(func(t *testing.T, r parsed) { eq(t, "body", r.body, "hi") })},
		{"pipelined", "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nxGET /3 HTTP/1.1\r\nHost: a\r\n\r\n",
			func(t *testing.T, rs []parsed) {
				if len(rs) != 3 {
					t.Fatalf("%d requests, want 3", len(rs))
				}
				for i, want := range []string{"/1", "/2", "/3"} {
					eq(t, "path", rs[i].req.URL.Path, want)
				}
				eq(t, "body", rs[1].body, "x")
			}},
		{"upgrade", "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
			one(func(t *testing.T, r parsed) { eq(t, "IsUpgrade", IsUpgrade(r.req), true) })},
	}
	for _, tt := range tests {
		for _, split := range splits {
			rs, err := feed(nil, []byte(tt.in), split)
			if err != nil {
				t.Errorf("%s (split %d): %v", tt.name, split, err)
				continue
			}
			t.Run(tt.name, func(t *testing.T) {
				tt.check(t, rs)
			})
		}
	}
}

var (
	bigValue    = strings.Repeat("a", 17000)
	manyHeaders = strings.Repeat("X: y\r\n", 2001)
)

// refuseCases are requests the parser refuses, with the status it answers
// and what Node 20 does (probed with its http server).
var refuseCases = []struct {
	name   string
	in     string
	status int // 0: closed without an answer (CONNECT)
	node   string
}{
	{"head over 16 KiB", "GET / HTTP/1.1\r\nHost: a\r\nX: " + bigValue + "\r\n\r\n", 431, "431"},
	{"request line over 16 KiB", "GET /" + bigValue + " HTTP/1.1\r\n", 431, "431"},
	{"too many headers", "GET / HTTP/1.1\r\nHost: a\r\n" + manyHeaders + "\r\n", 431, "200, extra headers dropped"},
	{"endless leading empty lines", strings.Repeat("\r\n", 9000), 431, "200 (unbounded)"},
	{"trailer over 16 KiB", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: " + bigValue + "\r\n\r\n", 431, "431"},
	{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", 400, "400"},
	{"bare LF in a header", "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", 400, "400"},
	{"bare CR", "GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400, "400"},
	{"CR before request line", "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "400"},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400, "400"},
	{"folded first header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, "400"},
	{"CTL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400, "400"},
	{"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400, "400"},
	{"DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", 400, "400"},
	{"space before colon", "GET / HTTP/1.1\r\nHost: a\r\nX : a\r\n\r\n", 400, "400"},
	{"space in name", "GET / HTTP/1.1\r\nHost: a\r\nX Y: a\r\n\r\n", 400, "400"},
	{"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n", 400, "400"},
	{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n", 400, "400"},
	{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "400"},
	{"TE and CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400, "400"},
	{"two equal CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400, "400"},
	{"two CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, "400"},
	{"CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc", 400, "400"},
	{"CL sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 400, "400"},
	{"CL empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400, "400"},
	{"CL inner space", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400, "400"},
	{"CL hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\nabc", 400, "400"},
	{"CL overflow", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, "400"},
	{"TE identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400, "400"},
	{"TE gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400, "200 (gzip passed to the app)"},
	{"TE chunked, gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400, "400"},
	{"TE twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "400"},
	{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "-"},
	{"chunk size not hex", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n", 400, "400"},
	{"chunk size empty", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\n\r\n", 400, "400"},
	{"chunk size bare LF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400, "400"},
	{"chunk size space", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n", 400, "400"},
	{"chunk size 17 digits", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000003\r\nabc\r\n0\r\n\r\n", 400, "200"},
	{"chunk size overflow", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", 413, "400"},
	{"chunk data without CRLF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n", 400, "400"},
	{"chunk extension CTL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;a\x01\r\nabc\r\n0\r\n\r\n", 400, "400"},
	{"chunk extensions over 16 KiB", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;" + bigValue + "\r\nx\r\n0\r\n\r\n", 413, "413"},
	{"trailer obs-fold", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: a\r\n b\r\n\r\n", 400, "400"},
	{"trailer CTL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: a\x01\r\n\r\n", 400, "400"},
	{"unknown method", "FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "400"},
	{"lower-case method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "400"},
	{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 400, "400"},
	{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 400, "200, then close"},
	{"HTTP/0.9", "GET /\r\n\r\n", 400, "200"},
	{"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400, "400"},
	{"double space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "200"},
	{"trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, "400"},
	{"tab separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "400"},
	{"space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "400"},
	{"CTL in target", "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "400"},
	{"obs-text in target", "GET /\xe9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "400"},
	{"bad escape in target", "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400, "200"},
	{"relative target", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "400"},
	{"asterisk outside OPTIONS", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "200"},
	{"other scheme", "GET ftp://a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "200"},
	{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400, "400"},
	{"two Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "200, first Host"},
	{"bad Host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "200"},
	{"CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 0, "closed, nothing written"},
	{"Content-Length over MaxBodyBytes", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000001\r\n\r\n", 413, "-"},
	{"chunked over MaxBodyBytes", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1E8481\r\n", 413, "-"},
	{"Expect other", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 0\r\n\r\n", 417, "417, kept open"},
}

func TestParserRefuses(t *testing.T) {
	tests := refuseCases
	for _, tt := range tests {
		for _, split := range splits {
			rs, err := feed(nil, []byte(tt.in), split)
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("%s (split %d): %d requests, err %v; want a %d", tt.name, split, len(rs), err, tt.status)
				continue
			}
			resp := ErrorResponse(err)
			if tt.status == 0 {
				if resp != nil {
					t.Errorf("%s: answered %q, want a silent close", tt.name, resp)
				}
				continue
			}
			if e.Status != tt.status {
				t.Errorf("%s (split %d): %v, status %d, want %d", tt.name, split, err, e.Status, tt.status)
			}
			if !bytes.HasPrefix(resp, []byte("HTTP/1.1 "+strconv.Itoa(tt.status)+" ")) || !bytes.Contains(resp, []byte("\r\nConnection: close\r\n")) {
				t.Errorf("%s: answer %q", tt.name, resp)
			}
		}
	}
}

// overlaps reports whether s's bytes lie inside buf.
func overlaps(buf []byte, s string) bool {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	return start <= p && p < start+uintptr(len(buf))
}

// TestErrorResponses pins the bytes Node 20 writes (lib/_http_server.js).
func TestErrorResponses(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{ErrBadRequest, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"},
		{ErrHeaderTooLarge, "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n"},
		{ErrBodyTooLarge, "HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n\r\n"},
		{bad("x"), "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"},
		{io.EOF, ""},
	} {
		if got := string(ErrorResponse(tt.err)); got != tt.want {
			t.Errorf("ErrorResponse(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	_, err := feed(nil, []byte("GET / HTTP/1.1\r\n\r\n"), 0)
	got := string(ErrorResponse(err))
	if !strings.HasPrefix(got, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nDate: ") ||
		!strings.HasSuffix(got, " GMT\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") {
		t.Errorf("missing Host answered %q", got)
	}
	if !errors.Is(err, ErrBadRequest) || errors.Is(err, ErrHeaderTooLarge) {
		t.Errorf("errors.Is on %v", err)
	}
}

// TestHeaderBound checks the bound byte for byte: a head of exactly
// MaxHeaderBytes passes, one more byte is a 431.
func TestHeaderBound(t *testing.T) {
	for _, max := range []int{0, 100, 1000} {
		limit := max
		if limit == 0 {
			limit = DefaultMaxHeaderBytes
		}
		cfg := &Config{MaxHeaderBytes: max}
		base := "GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n"
		pad := strings.Repeat("v", limit-len(base))
		exact := strings.Replace(base, "X: ", "X: "+pad, 1)
		for _, split := range splits {
			if len(exact) != limit {
				t.Fatalf("test head is %d bytes", len(exact))
			}
			if rs, err := feed(cfg, []byte(exact), split); err != nil || len(rs) != 1 {
				t.Errorf("max %d split %d: head of %d bytes: %v", max, split, len(exact), err)
			}
			over := strings.Replace(exact, "X: ", "X: v", 1)
			if _, err := feed(cfg, []byte(over), split); !errors.Is(err, ErrHeaderTooLarge) {
				t.Errorf("max %d split %d: head of %d bytes: %v, want 431", max, split, len(over), err)
			}
			// An unfinished head over the bound is refused before its end.
			if _, err := feed(cfg, []byte(over[:limit+1]), split); !errors.Is(err, ErrHeaderTooLarge) {
				t.Errorf("max %d split %d: unfinished head: %v, want 431", max, split, err)
			}
		}
	}
}

func TestHeaderCountBound(t *testing.T) {
	cfg := &Config{MaxHeaders: 3}
	ok := "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n"
	if _, err := feed(cfg, []byte(ok), 0); err != nil {
		t.Fatal(err)
	}
	over := "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
	if _, err := feed(cfg, []byte(over), 0); !errors.Is(err, ErrHeaderTooLarge) {
		t.Fatalf("%v, want 431", err)
	}
}

func TestBodyBound(t *testing.T) {
	cfg := &Config{MaxBodyBytes: 10}
	for _, split := range splits {
		if rs, err := feed(cfg, []byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789"), split); err != nil || rs[0].body != "0123456789" {
			t.Fatalf("split %d: %v", split, err)
		}
		if _, err := feed(cfg, []byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n"), split); !errors.Is(err, ErrBodyTooLarge) {
			t.Fatalf("split %d: %v, want 413", split, err)
		}
		chunked := "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n5\r\n56789\r\n"
		if rs, err := feed(cfg, []byte(chunked+"0\r\n\r\n"), split); err != nil || rs[0].body != "0123456789" {
			t.Fatalf("split %d: %v", split, err)
		}
		if _, err := feed(cfg, []byte(chunked+"1\r\n"), split); !errors.Is(err, ErrBodyTooLarge) {
			t.Fatalf("split %d: %v, want 413", split, err)
		}
	}
}

func TestContinue(t *testing.T) {
	p := NewParser(nil)
	head := "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
	if err := p.Feed([]byte(head)); err != nil {
		t.Fatal(err)
	}
	if r, err := p.Next(); r != nil || err != nil {
		t.Fatalf("Next = %v, %v before the body", r, err)
	}
	if !p.WantsContinue() {
		t.Fatal("no 100 Continue asked for")
	}
	if p.WantsContinue() {
		t.Fatal("100 Continue asked for twice")
	}
	if p.State() != StateBody {
		t.Fatalf("state %d", p.State())
	}
	p.Feed([]byte("abc"))
	if r, _ := p.Next(); r == nil {
		t.Fatal("no request")
	}

	// No 100 when the body came along, nor for HTTP/1.0, nor without a body.
	for _, in := range []string{
		head + "abc",
		"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
	} {
		p := NewParser(nil)
		p.Feed([]byte(in))
		p.Next()
		if p.WantsContinue() {
			t.Errorf("100 Continue asked for by %q", in)
		}
	}
}

// TestPipelineBound: while a request is answered, what comes next is
// kept up to MaxHeaderBytes; Full says so; feeding on is an error.
func TestPipelineBound(t *testing.T) {
	cfg := &Config{MaxHeaderBytes: 64}
	p := NewParser(cfg)
	req := "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	p.Feed([]byte(req + req))
	r, _ := p.Next()
	if r == nil || p.State() != StateInFlight {
		t.Fatalf("request %v, state %d", r, p.State())
	}
	if r, _ := p.Next(); r != nil {
		t.Fatal("a second request while the first is in flight")
	}
	for !p.Full() {
		if err := p.Feed([]byte(req)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Feed([]byte(req)); err != ErrBufferFull {
		t.Fatalf("Feed on a full parser: %v", err)
	}
}

func TestStates(t *testing.T) {
	p := NewParser(nil)
	steps := []struct {
		in   string
		want State
	}{
		{"", StateIdle},
		{"POST / HTTP/1.1\r\n", StateHead},
		{"Host: a\r\nContent-Length: 2\r\n\r\n", StateBody},
		{"h", StateBody},
		{"i", StateReady},
	}
	for _, s := range steps {
		if s.in != "" {
			if err := p.Feed([]byte(s.in)); err != nil {
				t.Fatal(err)
			}
		}
		if got := p.State(); got != s.want {
			t.Fatalf("after %q: state %d, want %d", s.in, got, s.want)
		}
	}
	p.Next()
	if p.State() != StateInFlight {
		t.Fatal("not in flight")
	}
	p.Done()
	if p.State() != StateIdle || p.buf != nil {
		t.Fatalf("state %d, buffer %d bytes kept", p.State(), cap(p.buf))
	}
	p.Feed([]byte("\x00"))
	if p.State() != StateHead {
		t.Fatal("garbage is not a head")
	}
	p.Feed([]byte("\r\n\r\n"))
	if _, err := p.Next(); err == nil || p.State() != StateClosed {
		t.Fatalf("err %v, state %d", err, p.State())
	}
}

// TestUpgradeRest: the bytes after an upgrade request reach the handler
// that takes the connection untouched, whatever the split.
func TestUpgradeRest(t *testing.T) {
	head := "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	frames := "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58GET / HTTP/1.1\r\n\r\n"
	for _, split := range splits {
		p := NewParser(nil)
		in := []byte(head + frames)
		var r *http.Request
		for i := 0; i < len(in); {
			k := len(in) - i
			if split > 0 {
				k = min(split, k)
			}
			if err := p.Feed(in[i : i+k]); err != nil {
				t.Fatal(err)
			}
			i += k
			if r == nil {
				r, _ = p.Next()
			}
		}
		if r == nil || !IsUpgrade(r) {
			t.Fatalf("split %d: request %v", split, r)
		}
		if got := string(p.Rest()); got != frames {
			t.Fatalf("split %d: rest %q", split, got)
		}
		if err := p.Feed([]byte("x")); err != ErrClosed {
			t.Fatalf("Feed after Rest: %v", err)
		}
	}
}

// TestNoPinnedBuffer: a request kept after parsing (a parked poll) keeps
// its own small strings, not the buffer it was read from.
func TestNoPinnedBuffer(t *testing.T) {
	buf := make([]byte, 1<<20)
	n := copy(buf, browserPoll)
	p := NewParser(nil)
	if err := p.Feed(buf[:n]); err != nil {
		t.Fatal(err)
	}
	r, _ := p.Next()
	for _, s := range append([]string{r.RequestURI, r.Host, r.URL.RawQuery, r.Method}, r.Header["User-Agent"]...) {
		if len(s) > 0 && overlaps(buf, s) {
			t.Errorf("%q points into the read buffer", s)
		}
	}
}

func TestErrorsIs(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want error
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\nX: " + bigValue + "\r\n\r\n", ErrHeaderTooLarge},
		{"GET / HTTP/1.1\nHost: a\n\n", ErrBadRequest},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9999999\r\n\r\n", ErrBodyTooLarge},
		{"POST / HTTP/1.1\r\nHost: a\r\nExpect: x\r\n\r\n", ErrExpectationFailed},
	} {
		_, err := feed(nil, []byte(tt.in), 0)
		if !errors.Is(err, tt.want) || err.Error() == tt.want.Error() {
			t.Errorf("%v is not a %v, or says no more", err, tt.want)
		}
		for _, other := range []error{ErrHeaderTooLarge, ErrBadRequest, ErrBodyTooLarge, ErrExpectationFailed} {
			if other != tt.want && errors.Is(err, other) {
				t.Errorf("%v is a %v", err, other)
			}
		}
	}
	if errors.Is(bad("x"), bad("x")) {
		t.Error("a non-sentinel matches")
	}
}

func TestBody(t *testing.T) {
	rs, err := feed(nil, []byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"), 0)
	if err != nil {
		t.Fatal(err)
	}
	b := newBody([]byte("hello"))
	var sb strings.Builder
	if n, err := io.CopyN(&sb, b, 2); n != 2 || err != nil {
		t.Fatal(n, err)
	}
	if n, err := io.Copy(&sb, b); n != 3 || err != nil || sb.String() != "hello" { // WriteTo
		t.Fatal(n, err, sb.String())
	}
	if n, err := b.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatal(n, err)
	}
	b.Close()
	if _, err := b.Read(make([]byte, 1)); err != http.ErrBodyReadAfterClose {
		t.Fatal(err)
	}
	if _, err := b.(io.WriterTo).WriteTo(io.Discard); err != http.ErrBodyReadAfterClose {
		t.Fatal(err)
	}
	if rs[0].body != "hello" || rs[0].req.Body.Close() != nil {
		t.Fatal(rs[0].body)
	}
}
