package transports_test

import (
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/siogo/siogo/transports"
)

// TestRunOnEachTransport: a job a message's handler queues with
// Session.Run runs, over WebSocket and polling alike; it may wait for what
// the client sends next (the next messages are delivered meanwhile), after
// a Flush that sends what it sent first; a panic in a job run off the
// transport's worker closes that session with "transport error" and is
// counted.
func TestRunOnEachTransport(t *testing.T) {
	var mu sync.Mutex
	panics := 0
	reasons := make(chan string, 4)
	srv, err := transports.NewServer(transports.Options{
		Logger:  slog.New(slog.DiscardHandler),
		OnPanic: func(string) { mu.Lock(); panics++; mu.Unlock() },
		OnSession: func(s *transports.Session) {
			released := make(chan struct{}, 1)
			s.OnMessage(func(data []byte, binary bool) {
				msg := string(data)
				switch msg {
				case "release":
					released <- struct{}{}
					return
				case "boom":
					s.Run(func() { panic("injected in a job") })
					return
				}
				s.Run(func() {
					if msg == "wait" {
						// Waits for a message the client sends once it
						// has "waiting".
						_ = s.Send(transports.Packet{Type: transports.PacketMessage, Data: []byte("waiting")})
						s.Flush()
						<-released
					}
					_ = s.Send(transports.Packet{Type: transports.PacketMessage, Data: []byte("ran " + msg)})
				})
			})
			s.OnClose(func(reason string) { reasons <- reason })
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", srv)
	base := serveHTTP(t, mux, srv, transports.HTTPServerOptions{Logger: slog.New(slog.DiscardHandler)})

	ws := dialWS(t, base, "EIO=4")
	ws.read()
	ws.send(1, "4a")
	ws.send(1, "4wait")
	ws.expect("4ran a")
	ws.expect("4waiting")
	ws.send(1, "4b")
	ws.send(1, "4release")
	// b's job runs on the worker that delivered b, before it delivers
	// release, which lets wait's job go on.
	ws.expect("4ran b")
	ws.expect("4ran wait")

	sid := handshake(t, base, "EIO=4")
	poll := base + "/engine.io/?EIO=4&transport=polling&sid=" + sid
	post := func(body string) {
		t.Helper()
		if r := do(t, "POST", poll, "text/plain;charset=UTF-8", []byte(body)); r.Status != 200 {
			t.Fatalf("POST %q: %d", body, r.Status)
		}
	}
	get := func(want string) {
		t.Helper()
		if r := do(t, "GET", poll, "", nil); string(r.Body) != want {
			t.Fatalf("GET: %q, want %q", r.Body, want)
		}
	}
	post("4a")
	get("4ran a")
	post("4wait")
	get("4waiting")
	// The job waits, the POST was answered: the next one is taken.
	post("4release")
	get("4ran wait")

	if r := do(t, "POST", poll, "text/plain;charset=UTF-8", []byte("4boom")); r.Status != 200 {
		t.Fatalf("POST: %d", r.Status)
	}
	select {
	case r := <-reasons:
		if r != transports.ReasonTransportError {
			t.Fatalf("the session closed with %q", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the session did not close")
	}
	mu.Lock()
	defer mu.Unlock()
	if panics != 1 {
		t.Fatalf("panics counted %d, want 1", panics)
	}
}
