package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siogo/siogo/server"
)

// In-process sessions over polling: requests go straight to ServeHTTP, so
// a benchmark measures the server's own work (room index, encoding once,
// queueing to each session) and no network.
type inproc struct {
	srv  *server.Server
	urls []string
}

func request(srv *server.Server, method, url, body string) string {
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(method, url, strings.NewReader(body)))
	return rec.Body.String()
}

func newInproc(b *testing.B, n int) *inproc {
	b.Helper()
	srv, err := server.New(server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	p := &inproc{srv: srv}
	for i := 0; i < n; i++ {
		m := sidRe.FindStringSubmatch(request(srv, "GET", "/socket.io/?EIO=4&transport=polling", ""))
		url := "/socket.io/?EIO=4&transport=polling&sid=" + m[1]
		request(srv, "POST", url, "40")
		if got := request(srv, "GET", url, ""); !strings.HasPrefix(got, "40{") {
			b.Fatalf("connect: %q", got)
		}
		p.urls = append(p.urls, url)
	}
	return p
}

// drain takes what waits for every session, as their next polls would.
func (p *inproc) drain() {
	for _, u := range p.urls {
		request(p.srv, "GET", u, "")
	}
}

// BenchmarkBroadcast broadcasts one event to 1,000 and to 10,000 sockets:
// encoded once, queued to each. Allocations per operation do not grow with
// the number of recipients but for the growth of each session's queue
// (drained every 1,000 broadcasts, as polls would).
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			p := newInproc(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := p.srv.Emit("timestamp", 1764000000000); err != nil {
					b.Fatal(err)
				}
				if i%1000 == 999 {
					b.StopTimer()
					p.drain()
					b.StartTimer()
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/recipient")
		})
	}
}

// BenchmarkBroadcastRoom broadcasts to a room of 100 sockets among 10,000.
func BenchmarkBroadcastRoom(b *testing.B) {
	p := newInproc(b, 10000)
	socks := p.srv.Of("/").Sockets()
	for _, s := range socks[:100] {
		s.Join("room")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = p.srv.To("room").Emit("news", "x")
		if i%1000 == 999 {
			b.StopTimer()
			p.drain()
			b.StartTimer()
		}
	}
}

// BenchmarkEmitWithAck is a server-to-client emit and its acknowledgement,
// over one in-process polling session.
func BenchmarkEmitWithAck(b *testing.B) {
	p := newInproc(b, 1)
	sock := p.srv.Of("/").Sockets()[0]
	url := p.urls[0]
	ctx := context.Background()
	done := make(chan error)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		go func() {
			_, err := sock.EmitWithAck(ctx, "q", i)
			done <- err
		}()
		var got string
		for !strings.HasPrefix(got, "42") {
			got = request(p.srv, "GET", url, "")
		}
		id := got[2:strings.IndexByte(got, '[')]
		request(p.srv, "POST", url, "43"+id+`["ok"]`)
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEventRoundTrip is a client event with an ack request, handled by
// the echo handler of the demo, and its acknowledgement.
func BenchmarkEventRoundTrip(b *testing.B) {
	p := newInproc(b, 0)
	p.srv.OnConnection(func(s *server.Socket) {
		s.On("message", func(args []any, ack server.Ack) { ack(args...) })
	})
	p2 := &inproc{srv: p.srv}
	m := sidRe.FindStringSubmatch(request(p.srv, "GET", "/socket.io/?EIO=4&transport=polling", ""))
	url := "/socket.io/?EIO=4&transport=polling&sid=" + m[1]
	request(p.srv, "POST", url, "40")
	request(p.srv, "GET", url, "")
	p2.urls = []string{url}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := strconv.Itoa(i)
		request(p.srv, "POST", url, "42"+id+`["message","hello",{"n":1}]`)
		deadline := time.Now().Add(time.Second)
		for got := ""; !strings.HasPrefix(got, "43"+id+"["); {
			got = request(p.srv, "GET", url, "")
			if time.Now().After(deadline) {
				b.Fatalf("no ack: %q", got)
			}
		}
	}
}
