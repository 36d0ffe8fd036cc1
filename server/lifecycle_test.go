package server_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/nodetest"
	"github.com/siogo/siogo/server"
)

// startServer serves srv on a free port until the test ends.
func startServer(t *testing.T, opts server.Options) (*server.Server, string) {
	t.Helper()
	srv, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close()
		hs.Close()
	})
	return srv, hs.URL
}

// waitFor fails t unless ch delivers within a generous bound: the bound
// only ends a test that already failed.
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	panic("unreachable")
}

// A client that disconnects politely (socket.disconnect(), a DISCONNECT
// packet) while a handler waits for its acknowledgement: the wait ends at
// once with ErrSocketClosed, the socket's context ends with the reason,
// the disconnect handlers run and the socket leaves its rooms, while the
// handler still runs (issue 17, point 10).
func TestCleanDisconnectEndsWaitForAck(t *testing.T) {
	for _, transport := range []string{"websocket", "polling"} {
		t.Run(transport, func(t *testing.T) {
			srv, url := startServer(t, server.Options{})
			waited := make(chan error, 1)
			reasons := make(chan string, 1)
			var sock *server.Socket
			connected := make(chan struct{})
			srv.OnConnection(func(s *server.Socket) {
				sock = s
				s.Join("chat")
				s.OnDisconnect(func(reason string) { reasons <- reason })
				close(connected)
			})
			srv.OnEvent("ask", func(s *server.Socket, _ []any, _ server.Ack) {
				_, err := s.EmitWithAck(context.Background(), "question")
				waited <- err
			})

			r := nodetest.StartRemote(t)
			r.ConnectOver(url, transport)
			waitFor(t, connected, "the connection")
			r.Send("ask")
			r.WaitEvent("question") // the handler now waits for the answer
			r.Disconnect()

			err := waitFor(t, waited, "EmitWithAck to return")
			var de *server.DisconnectError
			if !errors.Is(err, server.ErrSocketClosed) || !errors.As(err, &de) || de.Reason != server.ReasonClientNamespaceDisconnect {
				t.Fatalf("EmitWithAck returned %v", err)
			}
			if reason := waitFor(t, reasons, "OnDisconnect"); reason != server.ReasonClientNamespaceDisconnect {
				t.Fatalf("reason %q", reason)
			}
			if cause := context.Cause(sock.Context()); !errors.As(cause, &de) || sock.Context().Err() != context.Canceled {
				t.Fatalf("context: %v, cause %v", sock.Context().Err(), cause)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if left, err := srv.In("chat").FetchSockets(ctx); err != nil || len(left) != 0 {
				t.Fatalf("sockets still in the room: %v %v", left, err)
			}
			if n := len(srv.Of("/").Sockets()); n != 0 {
				t.Fatalf("%d sockets left", n)
			}
		})
	}
}

// The same wait inside a connection handler: the disconnection ends it,
// then the disconnect handlers run after the connection handler, as in
// Node.
func TestDisconnectEndsWaitInConnectionHandler(t *testing.T) {
	srv, url := startServer(t, server.Options{})
	order := make(chan string, 3)
	srv.OnConnection(func(s *server.Socket) {
		s.OnDisconnect(func(string) { order <- "disconnect" })
		_, err := s.EmitWithAck(s.Context(), "hello")
		if errors.Is(err, server.ErrSocketClosed) && errors.Is(err, context.Canceled) {
			order <- "released"
		} else {
			order <- "returned " + err.Error()
		}
	})
	r := nodetest.StartRemote(t)
	r.ConnectOver(url, "websocket")
	r.WaitEvent("hello")
	r.Disconnect()
	if a, b := waitFor(t, order, "the handler"), waitFor(t, order, "the disconnection"); a != "released" || b != "disconnect" {
		t.Fatalf("order %q, %q", a, b)
	}
}

// A Concurrent handler that waits holds up nothing: the same client's
// join is answered meanwhile. Serial handlers keep their order.
func TestConcurrentHandlerHoldsUpNothing(t *testing.T) {
	srv, url := startServer(t, server.Options{})
	release := make(chan struct{})
	done := make(chan error, 1)
	srv.OnEvent("receipts", func(s *server.Socket, _ []any, _ server.Ack) {
		<-release // as a handler waiting 2 s for receipts would
		done <- s.Emit("receipts", "all read")
	}, server.Concurrent)
	srv.OnEvent("join", func(s *server.Socket, args []any, ack server.Ack) {
		room, _ := args[0].(string)
		s.Join(room)
		_ = ack(room)
	})
	r := nodetest.StartRemote(t)
	r.ConnectOver(url, "websocket")
	r.Send("receipts")
	if got := r.Emit("join", "room-1"); len(got) != 1 || got[0] != "room-1" {
		t.Fatalf("join answered %v", got)
	}
	close(release)
	if err := waitFor(t, done, "the receipts handler"); err != nil {
		t.Fatalf("emit: %v", err)
	}
	if got := r.WaitEvent("receipts"); len(got) != 1 || got[0] != "all read" {
		t.Fatalf("receipts: %v", got)
	}
}

// A panic in a handler: the client waiting for an answer gets
// Options.ErrorAck's (never the panic's value), OnError gets a
// *PanicError, the socket stays connected.
func TestHandlerPanicReachesOnErrorAndClient(t *testing.T) {
	srv, url := startServer(t, server.Options{})
	errs := make(chan error, 1)
	srv.OnConnection(func(s *server.Socket) {
		s.OnError(func(err error) { errs <- err })
	})
	srv.OnEvent("boom", func(*server.Socket, []any, server.Ack) { panic("secret detail") })
	srv.OnEvent("ping", func(_ *server.Socket, _ []any, ack server.Ack) { _ = ack("pong") })
	r := nodetest.StartRemote(t)
	r.ConnectOver(url, "polling")
	got := r.Emit("boom")
	m, _ := got[0].(map[string]any)
	if len(got) != 1 || m["error"] != "internal server error" {
		t.Fatalf("the client got %v", got)
	}
	var pe *server.PanicError
	if err := waitFor(t, errs, "OnError"); !errors.As(err, &pe) || pe.Event != "boom" || pe.Value != "secret detail" {
		t.Fatalf("OnError got %v", err)
	}
	if got := r.Emit("ping"); len(got) != 1 || got[0] != "pong" {
		t.Fatalf("after the panic: %v", got)
	}
}
