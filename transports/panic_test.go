package transports_test

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siogo/siogo/transports"
)

// TestPanicOnEachPath: an application handler that panics, reached over a
// WebSocket (on a message worker) and over polling (in the HTTP
// server's handler), closes that connection only: the WebSocket with
// 1011 and its session with "transport error", the POST with a 500; each
// panic is counted; other clients, on either transport, go on. (The
// frame reader's own path is in internal/websocket's
// TestPanicStaysWithItsConnection.)
func TestPanicOnEachPath(t *testing.T) {
	var mu sync.Mutex
	counts := map[string]int{}
	count := func(where string) {
		mu.Lock()
		counts[where]++
		mu.Unlock()
	}
	reasons := make(chan string, 16)
	quiet := slog.New(slog.DiscardHandler)
	srv, err := transports.NewServer(transports.Options{
		Logger:  quiet,
		OnPanic: count,
		OnSession: func(s *transports.Session) {
			s.OnMessage(func(data []byte, binary bool) {
				if string(data) == "boom" {
					panic("injected in the application")
				}
				_ = s.Send(transports.Packet{Type: transports.PacketMessage, Data: append([]byte(nil), data...)})
			})
			s.OnClose(func(reason string) { reasons <- reason })
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", srv)
	base := serveHTTP(t, mux, srv, transports.HTTPServerOptions{Logger: quiet, OnPanic: count})
	poll := func(sid string) string { return base + "/engine.io/?EIO=4&transport=polling&sid=" + sid }

	wsOther := dialWS(t, base, "EIO=4")
	if _, p := wsOther.read(); !strings.HasPrefix(p, "0{") {
		t.Fatalf("open packet %q", p)
	}
	pollOther := handshake(t, base, "EIO=4")
	bystanders := func(step string) {
		t.Helper()
		wsOther.send(1, "4hi")
		wsOther.expect("4hi")
		if r := do(t, "POST", poll(pollOther), "text/plain;charset=UTF-8", []byte("4hi")); r.Status != 200 {
			t.Fatalf("%s: a polling client's POST: %d", step, r.Status)
		}
		if r := do(t, "GET", poll(pollOther), "", nil); string(r.Body) != "4hi" {
			t.Fatalf("%s: a polling client's GET: %q", step, r.Body)
		}
	}
	bystanders("before")

	// The message worker.
	ws := dialWS(t, base, "EIO=4")
	ws.read()
	ws.send(1, "4boom")
	if op, p := ws.read(); op != 8 || p != "\x03\xf3" {
		t.Fatalf("after a panic on the worker: opcode %d %q, want close 1011", op, p)
	}
	select {
	case r := <-reasons:
		if r != transports.ReasonTransportError {
			t.Fatalf("the session closed with %q", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the session did not close")
	}
	bystanders("after the worker's panic")

	// The polling request's handler.
	sid := handshake(t, base, "EIO=4")
	if r := do(t, "POST", poll(sid), "text/plain;charset=UTF-8", []byte("4boom")); r.Status != 500 {
		t.Fatalf("a POST whose handler panicked: %d %q", r.Status, r.Body)
	}
	bystanders("after the HTTP handler's panic")

	mu.Lock()
	defer mu.Unlock()
	if counts["handler"] != 1 || counts["http"] != 1 {
		t.Fatalf("panics counted %v, want handler 1 and http 1", counts)
	}
}
