package http1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// fuzzConfig has small bounds, so that the fuzzer reaches them.
var fuzzConfig = &Config{MaxHeaderBytes: 2048, MaxHeaders: 32, MaxBodyBytes: 4096}

// fuzzSeeds are requests of every kind the tests know, good and bad.
func fuzzSeeds() []string {
	s := []string{
		browserPoll,
		smallPost,
		browserPoll + smallPost + browserPoll,
		"GET / HTTP/1.0\r\n\r\n",
		"GET http://a.example/x?y HTTP/1.1\r\nHost: b\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;e=\"v\"\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
		"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x80abcd",
		"\r\nGET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\n",
		"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\nx",
		"GET / HTTP/1.1\r\nHost: a\r\nX : a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;" + strings.Repeat("e", 3000) + "\r\nx\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("v", 2100) + "\r\n\r\n",
	}
	return s
}

func FuzzParser(f *testing.F) {
	for i, s := range fuzzSeeds() {
		f.Add([]byte(s), uint8(i))
	}
	for i, c := range refuseCases {
		if len(c.in) < 4096 {
			f.Add([]byte(c.in), uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		whole, wholeErr := fuzzFeed(t, data, 0)
		parts, partsErr := fuzzFeed(t, data, int(split%32)+1)

		// The split changes nothing.
		if len(whole) != len(parts) || status(wholeErr) != status(partsErr) {
			t.Fatalf("whole: %d requests, %v; split by %d: %d requests, %v", len(whole), wholeErr, split%32+1, len(parts), partsErr)
		}
		for i := range whole {
			if d := diff(whole[i], parts[i]); d != "" {
				t.Fatalf("request %d differs with the split: %s", i, d)
			}
		}
		if wholeErr != nil && ErrorResponse(wholeErr) == nil && status(wholeErr) != 400 {
			t.Fatalf("error %v has no answer", wholeErr)
		}

		// net/http, on the same bytes, reads the same requests, for as
		// long as it accepts them.
		br := bufio.NewReaderSize(bytes.NewReader(data), 64<<10)
		for i, ours := range whole {
			if knownLenient(br) {
				return
			}
			theirs, err := http.ReadRequest(br)
			if err != nil {
				t.Fatalf("request %d: we accept, net/http refuses: %v\n%q", i, err, data)
			}
			b, err := io.ReadAll(theirs.Body)
			if err != nil {
				t.Fatalf("request %d: we accept, net/http refuses the body: %v\n%q", i, err, data)
			}
			delete(theirs.Header, "Host") // net/http's server deletes it too
			if d := diff(ours, fuzzReq{theirs, string(b)}); d != "" {
				t.Fatalf("request %d: %s\n%q", i, d, data)
			}
		}
	})
}

// knownLenient reports the requests we accept on purpose where net/http's
// ReadRequest does not: after empty lines before the request line (RFC
// 9112 2.2, and Node).
func knownLenient(br *bufio.Reader) bool {
	b, _ := br.Peek(2)
	return string(b) == "\r\n"
}

type fuzzReq struct {
	r    *http.Request
	body string
}

func status(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	if err != nil {
		return -1
	}
	return 0
}

// fuzzFeed parses data split bytes at a time (0: at once), checking the
// bounds after each Feed.
func fuzzFeed(t *testing.T, data []byte, split int) ([]fuzzReq, error) {
	p := NewParser(fuzzConfig)
	var out []fuzzReq
	if split <= 0 {
		split = max(len(data), 1)
	}
	for i := 0; i < len(data); i += split {
		chunk := data[i:min(i+split, len(data))]
		err := p.Feed(chunk)
		if len(p.buf) > fuzzConfig.MaxHeaderBytes+len(chunk) || int64(cap(p.body)) > fuzzConfig.MaxBodyBytes {
			t.Fatalf("parser holds %d + %d bytes", len(p.buf), cap(p.body))
		}
		if err != nil {
			return out, err
		}
		for {
			r, err := p.Next()
			if err != nil {
				return out, err
			}
			if r == nil {
				break
			}
			b, _ := io.ReadAll(r.Body)
			if int64(len(b)) > fuzzConfig.MaxBodyBytes || (r.ContentLength >= 0 && int64(len(b)) != r.ContentLength) {
				t.Fatalf("body of %d bytes, Content-Length %d", len(b), r.ContentLength)
			}
			out = append(out, fuzzReq{r, string(b)})
			p.Done()
		}
	}
	return out, nil
}

// diff compares what a handler sees of two requests.
func diff(a, b fuzzReq) string {
	x, y := a.r, b.r
	switch {
	case x.Method != y.Method:
		return "Method " + x.Method + " / " + y.Method
	case x.RequestURI != y.RequestURI:
		return "RequestURI " + x.RequestURI + " / " + y.RequestURI
	case x.URL.String() != y.URL.String():
		return "URL " + x.URL.String() + " / " + y.URL.String()
	case x.Proto != y.Proto || x.ProtoMajor != y.ProtoMajor || x.ProtoMinor != y.ProtoMinor:
		return "Proto " + x.Proto + " / " + y.Proto
	case x.Host != y.Host:
		return "Host " + x.Host + " / " + y.Host
	case x.ContentLength != y.ContentLength:
		return "ContentLength"
	case !reflect.DeepEqual(x.TransferEncoding, y.TransferEncoding):
		return "TransferEncoding"
	case x.Close != y.Close:
		return "Close"
	case a.body != b.body:
		return "body"
	}
	if len(x.Header) != len(y.Header) {
		return "Header size"
	}
	for k, v := range x.Header {
		if !reflect.DeepEqual(v, y.Header[k]) {
			return "Header " + k + ": " + strings.Join(v, "|") + " / " + strings.Join(y.Header[k], "|")
		}
	}
	return ""
}

// FuzzResponse: whatever a handler puts in a header field, status and
// body, the bytes are one well-framed response with no field the handler
// did not set.
func FuzzResponse(f *testing.F) {
	f.Add("X-Evil", "a\r\nSet-Cookie: x=1\r\n\r\n<html>", []byte("body"), uint16(0), false, uint8(0))
	f.Add("Bad Name\r\nX", "v", []byte{}, uint16(4), true, uint8(1))
	f.Add("Content-Length", "1", []byte("abc"), uint16(0), false, uint8(2))
	f.Add("Connection", "close", bytes.Repeat([]byte("z"), 300), uint16(104), false, uint8(1))
	f.Fuzz(func(t *testing.T, name, value string, body []byte, status uint16, head bool, mode uint8) {
		code := 200 + int(status%800)
		method := "GET"
		if head {
			method = "HEAD"
		}
		r := request(method, "HTTP/1.1", "")
		c := &recConn{}
		w := NewResponse(c, r, &Config{StreamThreshold: 64})
		w.Header()[name] = []string{value}
		w.WriteHeader(code)
		switch mode % 3 {
		case 0:
			w.Write(body)
		case 1:
			w.Write(body)
			w.Flush()
			w.Write(body)
			body = append(body, body...)
		case 2:
			io.Copy(w, bytes.NewReader(body))
		}
		w.End()
		out := c.all()
		rd := bytes.NewReader(out)
		br := bufio.NewReader(rd)
		res, err := http.ReadResponse(br, r)
		if err != nil {
			t.Fatalf("%v in %q", err, out)
		}
		got, err := io.ReadAll(res.Body)
		if err != nil && !c.closeAfter { // a body short of its declared length ends with the connection
			t.Fatalf("body: %v in %q", err, out)
		}
		if !c.closeAfter && (br.Buffered() > 0 || rd.Len() > 0) {
			t.Fatalf("bytes after the response in %q", out)
		}
		if method == "GET" && bodyAllowed(code) && !c.closeAfter && string(got) != string(body) {
			t.Fatalf("body %q, want %q", got, body)
		}
		own := map[string]bool{"Date": true, "Content-Length": true, "Connection": true,
			"Keep-Alive": true, "Content-Type": true, http.CanonicalHeaderKey(name): true}
		for k, vv := range res.Header {
			if !own[k] || len(vv) > 2 {
				t.Fatalf("field %q: %q in %q", k, vv, out)
			}
		}
	})
}
