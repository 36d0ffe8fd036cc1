package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/nodetest"
	"github.com/siogo/siogo/server"
)

// testApp is the demo application of demo-contract.md plus the hooks the
// client tests need; it records why each socket disconnected.
type testApp struct {
	*server.Server
	URL string

	mu      sync.Mutex
	reasons map[string]string
}

func newTestApp(t *testing.T, opts server.Options) *testApp {
	t.Helper()
	srv, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	app := &testApp{Server: srv, reasons: map[string]string{}}
	srv.Use(func(s *server.Socket) error {
		if s.Handshake().Auth["token"] == "bad" || s.Handshake().Query.Get("token") == "bad" {
			return &server.ConnectError{Message: "Not authorized", Data: map[string]any{"code": 42}}
		}
		return nil
	})
	srv.OnConnection(func(s *server.Socket) { app.root(s) })
	chat := srv.Of("/chat")
	chat.OnConnection(func(s *server.Socket) {
		s.On("whoami", func(_ []any, ack server.Ack) { ack(s.Namespace().Name()) })
		s.On("message", func(args []any, _ server.Ack) {
			s.Emit("message", fmt.Sprintf("%s: %v", s.Namespace().Name(), args[0]))
		})
	})
	srv.OfRegexp(regexp.MustCompile(`^/dyn-\d+$`)).OnConnection(func(s *server.Socket) {
		s.On("whoami", func(_ []any, ack server.Ack) { ack(s.Namespace().Name()) })
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := httptest.NewServer(mux)
	app.URL = hs.URL
	t.Cleanup(func() {
		_ = srv.Close()
		hs.Close()
	})
	return app
}

func (app *testApp) root(s *server.Socket) {
	srv := app.Server
	s.OnDisconnect(func(reason string) {
		app.mu.Lock()
		app.reasons[s.ID()] = reason
		app.mu.Unlock()
	})
	s.On("message", func(args []any, ack server.Ack) {
		_ = s.Emit("message", args...)
		if ack != nil {
			ack(args...)
		}
	})
	s.On("broadcast", func(args []any, ack server.Ack) {
		_ = srv.Emit("broadcast", args...)
		if ack != nil {
			ack()
		}
	})
	s.On("join", func(args []any, ack server.Ack) {
		room, _ := args[0].(string)
		s.Join(room)
		ack(room)
	})
	s.On("leave", func(args []any, ack server.Ack) {
		room, _ := args[0].(string)
		s.Leave(room)
		ack(room)
	})
	s.On("to", func(args []any, ack server.Ack) {
		room, _ := args[0].(string)
		_ = srv.To(room).Emit("broadcast", args[1:]...)
		ack()
	})
	s.On("to-except", func(args []any, ack server.Ack) {
		room, _ := args[0].(string)
		except, _ := args[1].(string)
		_ = srv.To(room).Except(except).Emit("broadcast", args[2:]...)
		ack()
	})
	s.On("rooms", func(_ []any, ack server.Ack) { ack(s.Rooms()) })
	s.On("auth", func(_ []any, ack server.Ack) { ack(s.Handshake().Auth, s.Handshake().Auth["token"]) })
	s.On("ask", func(args []any, ack server.Ack) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		answer, err := s.EmitWithAck(ctx, "question", args...)
		if err != nil {
			ack("error: " + err.Error())
			return
		}
		ack(answer...)
	})
	s.On("ask-timeout", func(_ []any, ack server.Ack) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if _, err := s.EmitWithAck(ctx, "ignored"); err != nil {
			ack("timeout")
			return
		}
		ack("answered")
	})
	s.On("ask-all", func(args []any, ack server.Ack) {
		// Only the sockets that answer questions are asked.
		answers, err := srv.In("r", "ex").Timeout(2*time.Second).EmitWithAck(context.Background(), "question", args...)
		if err != nil {
			ack("error: " + err.Error())
			return
		}
		ack(answers)
	})
	s.On("fetch", func(_ []any, ack server.Ack) {
		all, err := srv.Of("/").FetchSockets(context.Background())
		if err != nil {
			ack(-1)
			return
		}
		ack(len(all))
	})
	s.On("set-data", func(args []any, ack server.Ack) { s.SetData(args[0]); ack() })
	s.On("get-data", func(_ []any, ack server.Ack) { ack(s.Data()) })
	s.On("emit-while-away", func(args []any, ack server.Ack) {
		delay, _ := args[0].(float64)
		time.AfterFunc(time.Duration(delay)*time.Millisecond, func() {
			_ = srv.To("r").Emit("broadcast", "e2 to r")
			_ = srv.Except("r").Emit("broadcast", "not for r")
			_ = srv.Emit("broadcast", "e3 to all")
		})
		ack()
	})
	s.On("disconnect-me", func([]any, server.Ack) { s.Disconnect() })
	s.On("close-me", func([]any, server.Ack) { s.CloseConnection() })
}

func (app *testApp) reason(t *testing.T, id string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		app.mu.Lock()
		r, ok := app.reasons[id]
		app.mu.Unlock()
		if ok {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("socket %s did not disconnect", id)
	return ""
}

type sioReport struct {
	OK                     bool     `json:"ok"`
	Steps                  []string `json:"steps"`
	Error                  string   `json:"error"`
	ClientDisconnectID     string   `json:"clientDisconnectId"`
	ServerDisconnectID     string   `json:"serverDisconnectId"`
	ServerDisconnectReason string   `json:"serverDisconnectReason"`
	TransportCloseID       string   `json:"transportCloseId"`
	CloseID                string   `json:"closeId"`
	CloseReason            string   `json:"closeReason"`
}

// TestOfficialClients runs socket.io-client 4 (protocol 5) and 2 (protocol
// 4, Engine.IO 3) over WebSocket and over polling: echo with binary nested
// in objects, acknowledgements both ways with timeouts, rooms with except,
// broadcasts with acks, fetchSockets, middleware refusal, several
// namespaces on one connection, a dynamic namespace, an unknown one, and
// each disconnect reason.
func TestOfficialClients(t *testing.T) {
	nodetest.Require(t)
	app := newTestApp(t, server.Options{})
	msgpackApp := newTestApp(t, server.Options{Parser: server.MsgpackParser{}})
	type run struct {
		app       *testApp
		version   int
		transport string
		parser    string
	}
	var runs []run
	for _, version := range []int{4, 2} {
		for _, transport := range []string{"websocket", "polling"} {
			runs = append(runs, run{app, version, transport, "json"})
		}
	}
	// socket.io-msgpack-parser, for socket.io-client 4.
	runs = append(runs, run{msgpackApp, 4, "websocket", "msgpack"}, run{msgpackApp, 4, "polling", "msgpack"})
	for _, r := range runs {
		app := r.app
		t.Run(fmt.Sprintf("v%d/%s/%s", r.version, r.transport, r.parser), func(t *testing.T) {
			var rep sioReport
			nodetest.Run(t, 90*time.Second, "sio-client.js", map[string]any{
				"url": app.URL, "version": r.version, "transport": r.transport, "parser": r.parser,
			}, &rep)
			if !rep.OK {
				t.Fatalf("client failed after %v: %s", rep.Steps, rep.Error)
			}
			checks := []struct{ id, want string }{
				{rep.ClientDisconnectID, server.ReasonClientNamespaceDisconnect},
				{rep.ServerDisconnectID, server.ReasonServerNamespaceDisconnect},
				{rep.TransportCloseID, "transport close"},
				{rep.CloseID, server.ReasonServerNamespaceDisconnect},
			}
			for _, c := range checks {
				if got := app.reason(t, c.id); got != c.want {
					t.Errorf("socket %s: server reason %q, want %q", c.id, got, c.want)
				}
			}
			if rep.ServerDisconnectReason != "io server disconnect" || rep.CloseReason != "io server disconnect" {
				t.Errorf("client reasons %q and %q, want io server disconnect", rep.ServerDisconnectReason, rep.CloseReason)
			}
		})
	}
}

// TestRecovery cuts a socket.io-client 4 connection and checks that the
// client comes back with its id, rooms and data, and the events it missed.
func TestRecovery(t *testing.T) {
	nodetest.Require(t)
	app := newTestApp(t, server.Options{Recovery: &server.RecoveryOptions{}})
	for _, transport := range []string{"websocket", "polling"} {
		t.Run(transport, func(t *testing.T) {
			var rep sioReport
			nodetest.Run(t, 60*time.Second, "sio-recovery.js", map[string]any{"url": app.URL, "transport": transport}, &rep)
			if !rep.OK {
				t.Fatalf("client failed after %v: %s", rep.Steps, rep.Error)
			}
		})
	}
}

// TestClientEdges runs socket.io-client 4 and 2 over both transports, with
// and without forceBase64 (binary as base64 text, both ways): the auth of
// a CONNECT without payload is {}, empty binary arguments and binary ones
// nested in objects are echoed and acknowledged.
func TestClientEdges(t *testing.T) {
	nodetest.Require(t)
	app := newTestApp(t, server.Options{})
	for _, version := range []int{4, 2} {
		for _, transport := range []string{"websocket", "polling"} {
			for _, b64 := range []bool{false, true} {
				t.Run(fmt.Sprintf("v%d/%s/forceBase64=%v", version, transport, b64), func(t *testing.T) {
					var rep sioReport
					nodetest.Run(t, 60*time.Second, "sio-edge.js", map[string]any{
						"url": app.URL, "version": version, "transport": transport, "forceBase64": b64,
					}, &rep)
					if !rep.OK {
						t.Fatalf("client failed after %v: %s", rep.Steps, rep.Error)
					}
				})
			}
		}
	}
}
