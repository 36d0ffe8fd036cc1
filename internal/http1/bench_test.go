package http1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

var benchRequests = []struct{ name, raw string }{
	{"poll-GET", browserPoll},
	{"POST-40B", smallPost},
}

// BenchmarkParse parses a request as a server would: a parser per
// connection, the body drained, the request answered.
func BenchmarkParse(b *testing.B) {
	for _, br := range benchRequests {
		data := []byte(br.raw)
		b.Run(br.name+"/http1", func(b *testing.B) {
			p := NewParser(nil)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Feed(data); err != nil {
					b.Fatal(err)
				}
				r, err := p.Next()
				if err != nil || r == nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, r.Body)
				p.Done()
			}
		})
		b.Run(br.name+"/net-http", func(b *testing.B) {
			src := bytes.NewReader(data)
			rd := bufio.NewReader(src)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(data)
				rd.Reset(src)
				r, err := http.ReadRequest(rd)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, r.Body)
			}
		})
	}
}

// BenchmarkFeedByteAtATime is a client that sends a 16 KiB head one byte
// per read: the cost per byte must stay flat.
func BenchmarkFeedByteAtATime(b *testing.B) {
	head := "GET / HTTP/1.1\r\nHost: a\r\nX: "
	head += strings.Repeat("v", DefaultMaxHeaderBytes-len(head)-4) + "\r\n\r\n"
	b.SetBytes(int64(len(head)))
	b.ReportAllocs()
	for b.Loop() {
		p := NewParser(nil)
		for i := 0; i < len(head); i++ {
			if err := p.Feed([]byte(head[i : i+1])); err != nil {
				b.Fatal(err)
			}
		}
		if r, _ := p.Next(); r == nil {
			b.Fatal("no request")
		}
	}
}

// discardConn is a Conn that writes nowhere.
type discardConn struct{}

func (discardConn) Write(b []byte) (int, error) { return len(b), nil }
func (discardConn) ResponseDone(bool)           {}

// BenchmarkResponse answers a poll as Engine.IO does: CORS and type
// headers, an explicit length, a short payload, one write.
func BenchmarkResponse(b *testing.B) {
	p := NewParser(nil)
	p.Feed([]byte(browserPoll))
	r, _ := p.Next()
	payload := []byte(`42["chat message","hello from a client"]`)
	b.ReportAllocs()
	for b.Loop() {
		w := NewResponse(discardConn{}, r, nil)
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=UTF-8")
		h.Set("Content-Length", "40")
		h.Set("Access-Control-Allow-Origin", "http://localhost:3000")
		h.Set("Access-Control-Allow-Credentials", "true")
		w.WriteHeader(http.StatusOK)
		w.Write(payload)
		w.End()
	}
}

// BenchmarkResponseLarge streams a 1 MB body through a 32 KiB buffer.
func BenchmarkResponseLarge(b *testing.B) {
	p := NewParser(nil)
	p.Feed([]byte(browserPoll))
	r, _ := p.Next()
	body := bytes.Repeat([]byte("x"), 1e6)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		w := NewResponse(discardConn{}, r, nil)
		io.Copy(w, bytes.NewReader(body))
		w.End()
	}
}
