package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/siogo/siogo/internal/siotest"
	"github.com/siogo/siogo/server"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func connectGo(t *testing.T, url string) *siotest.Socket {
	t.Helper()
	c, err := siotest.Connect(url, "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// An Ack says whether the answer went: once, and not to a socket gone.
func TestAckReportsErrors(t *testing.T) {
	srv, url := startServer(t, server.Options{})
	results := make(chan error, 3)
	release := make(chan struct{})
	srv.OnEvent("twice", func(_ *server.Socket, _ []any, ack server.Ack) {
		results <- ack(1)
		results <- ack(2)
	})
	started := make(chan struct{})
	srv.OnEvent("late", func(s *server.Socket, _ []any, ack server.Ack) {
		close(started)
		<-release
		results <- ack("too late")
	})
	c := connectGo(t, url)
	ctx := context.Background()
	if got, _ := c.EmitWithAck(ctx, "twice"); len(got) != 1 || got[0] != float64(1) {
		t.Fatalf("answer %v", got)
	}
	if a, b := waitFor(t, results, "ack"), waitFor(t, results, "ack"); a != nil || !errors.Is(b, server.ErrAckSent) {
		t.Fatalf("%v, %v", a, b)
	}
	go func() { _, _ = c.EmitWithAck(ctx, "late") }()
	waitFor(t, started, "the late handler")
	disconnected := make(chan struct{})
	sock := waitSocket(t, srv)
	sock.OnDisconnect(func(string) { close(disconnected) })
	_ = c.Disconnect()
	waitFor(t, disconnected, "the disconnection")
	close(release)
	if err := waitFor(t, results, "the late ack"); !errors.Is(err, server.ErrSocketClosed) {
		t.Fatalf("late ack: %v", err)
	}
}

// waitSocket returns the root namespace's one socket.
func waitSocket(t *testing.T, srv *server.Server) *server.Socket {
	t.Helper()
	if s := srv.Of("/").Sockets(); len(s) == 1 {
		return s[0]
	}
	t.Fatalf("%d sockets", len(srv.Of("/").Sockets()))
	return nil
}

// A handler still running after the disconnection cannot put the socket
// back in a room; the events received before the disconnection still
// reach their handlers, in order.
func TestEventsAfterDisconnect(t *testing.T) {
	srv, url := startServer(t, server.Options{})
	got := make(chan string, 4)
	srv.OnEvent("block", func(s *server.Socket, _ []any, _ server.Ack) {
		<-s.Context().Done()
		s.Join("late-room")
		got <- "block ended: " + context.Cause(s.Context()).Error()
	})
	srv.OnEvent("after", func(s *server.Socket, args []any, _ server.Ack) {
		got <- "after: " + args[0].(string)
	})
	c := connectGo(t, url)
	_ = c.Emit("block")
	_ = c.Emit("after", "still delivered")
	_ = c.Disconnect()
	if a := waitFor(t, got, "the blocked handler"); a != "block ended: socket.io: socket disconnected: client namespace disconnect" {
		t.Fatal(a)
	}
	if b := waitFor(t, got, "the next event"); b != "after: still delivered" {
		t.Fatal(b)
	}
	if rooms := srv.Of("/").Adapter().Rooms(); slices.Contains(rooms, "late-room") {
		t.Fatalf("rooms %v", rooms)
	}
}

// A refused socket's context ends with the refusal.
func TestMiddlewareContext(t *testing.T) {
	srv, url := startServer(t, server.Options{})
	causes := make(chan error, 1)
	srv.Use(func(s *server.Socket) error {
		ctx := s.Context()
		go func() {
			<-ctx.Done()
			causes <- context.Cause(ctx)
		}()
		return errors.New("no entry")
	})
	if _, err := siotest.Connect(url, "/", nil); err == nil {
		t.Fatal("connected")
	}
	if cause := waitFor(t, causes, "the context's end"); cause == nil || !strings.Contains(cause.Error(), "no entry") {
		t.Fatalf("cause %v", cause)
	}
}

// Modes resolve per handler, then namespace, then parent namespace, then
// server; a Concurrent handler holds up nothing, a Serial one does.
func TestHandlerModes(t *testing.T) {
	srv, url := startServer(t, server.Options{})
	release := make(chan struct{})
	defer close(release)
	srv.Of("/").SetHandlerMode(server.Concurrent)
	srv.OnEvent("wait", func(*server.Socket, []any, server.Ack) { <-release }) // the namespace's mode
	srv.OnEvent("ping", func(_ *server.Socket, _ []any, ack server.Ack) { _ = ack("pong") })
	c := connectGo(t, url)
	ctx := context.Background()
	_ = c.Emit("wait")
	if got, _ := c.EmitWithAck(ctx, "ping"); len(got) != 1 {
		t.Fatal(got)
	}

	// A socket's own handler, typed, Serial by choice: ping waits for it.
	order := make(chan string, 2)
	sock := waitSocket(t, srv)
	step := make(chan struct{})
	sock.OnEvent("serial", server.TypedNoAck(func(_ *server.Socket, n int) {
		<-step
		order <- "serial"
	}), server.Serial)
	sock.On("mark", func(_ []any, ack server.Ack) { order <- "mark"; _ = ack() })
	_ = c.Emit("serial", 1)
	done := make(chan struct{})
	go func() { _, _ = c.EmitWithAck(ctx, "mark"); close(done) }()
	close(step)
	<-done
	if a, b := <-order, <-order; a != "serial" || b != "mark" {
		t.Fatalf("order %s, %s", a, b)
	}

	// A parent namespace's mode reaches its children.
	dyn := srv.OfRegexp(regexp.MustCompile(`^/dyn-\d+$`))
	dyn.SetHandlerMode(server.Concurrent)
	started := make(chan struct{}, 1)
	dyn.OnConnection(func(s *server.Socket) {
		s.On("wait", func([]any, server.Ack) { started <- struct{}{}; <-release })
		s.On("ping", func(_ []any, ack server.Ack) { _ = ack("pong") })
	})
	d, err := siotest.Connect(url, "/dyn-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_ = d.Emit("wait")
	<-started
	if got, _ := d.EmitWithAck(ctx, "ping"); len(got) != 1 {
		t.Fatal(got)
	}
}

// MaxPendingEvents bounds the concurrent handlers of a socket.
func TestConcurrentHandlersBounded(t *testing.T) {
	srv, url := startServer(t, server.Options{MaxPendingEvents: 2, HandlerMode: server.Concurrent, Logger: quiet})
	release := make(chan struct{})
	defer close(release)
	reasons := make(chan string, 1)
	srv.OnConnection(func(s *server.Socket) { s.OnDisconnect(func(r string) { reasons <- r }) })
	srv.OnEvent("wait", func(*server.Socket, []any, server.Ack) { <-release })
	c := connectGo(t, url)
	for i := 0; i < 3; i++ {
		_ = c.Emit("wait")
	}
	if r := waitFor(t, reasons, "the disconnection"); r != server.ReasonForcedServerClose {
		t.Fatalf("reason %q", r)
	}
}

// A panic in a connection handler leaves the others to run, and the
// socket able to disconnect.
func TestConnectionHandlerPanic(t *testing.T) {
	srv, url := startServer(t, server.Options{Logger: quiet})
	ran := make(chan string, 2)
	srv.OnConnection(func(s *server.Socket) {
		s.OnDisconnect(func(r string) { ran <- "disconnect" })
		panic("oops")
	})
	srv.OnConnection(func(s *server.Socket) { ran <- "second" })
	c := connectGo(t, url)
	if got := waitFor(t, ran, "the second handler"); got != "second" {
		t.Fatal(got)
	}
	_ = c.Disconnect()
	if got := waitFor(t, ran, "the disconnection"); got != "disconnect" {
		t.Fatal(got)
	}
}

// Close reports a drain that timed out: a polling client that never came
// back for its close packet.
func TestCloseReportsDrainTimeout(t *testing.T) {
	srv, err := server.New(server.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if res := fetch(t, srv, "GET", "/socket.io/?EIO=4&transport=polling"); res.StatusCode != http.StatusOK {
		t.Fatal(res.StatusCode)
	}
	if err := srv.Close(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v", err)
	}
}
