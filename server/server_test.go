package server_test

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/siotest"
	"github.com/siogo/siogo/server"
	"github.com/siogo/siogo/transports"
)

type pollClient = siotest.Client

func dialPoll(t *testing.T, base string) *pollClient { return siotest.Dial(t, base) }

var sidRe = regexp.MustCompile(`"sid":"([^"]+)"`)

func httpDo(t *testing.T, method, url, body string) string { return siotest.Do(t, method, url, body) }

func newServer(t *testing.T, opts server.Options) (*server.Server, string) {
	t.Helper()
	app := newTestApp(t, opts)
	return app.Server, app.URL
}

func TestShutdown(t *testing.T) {
	srv, url := newServer(t, server.Options{})
	reasons := make(chan string, 2)
	srv.OnConnection(func(s *server.Socket) { s.OnDisconnect(func(r string) { reasons <- r }) })
	c := dialPoll(t, url)
	c.Connect()
	polled := make(chan []string)
	go func() { polled <- c.Poll() }()
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if r := <-reasons; r != server.ReasonServerShutdown {
		t.Fatalf("reason %q", r)
	}
	// No DISCONNECT packet: the client reconnects, elsewhere.
	if got := <-polled; !slices.Equal(got, []string{"1"}) {
		t.Fatalf("client got %q, want the Engine.IO close only", got)
	}
}

func TestConnectTimeout(t *testing.T) {
	srv, url := newServer(t, server.Options{ConnectTimeout: 100 * time.Millisecond})
	c := dialPoll(t, url)
	if got := c.Poll(); !slices.Equal(got, []string{"1"}) {
		t.Fatalf("got %q, want the connection closed", got)
	}
	if n := srv.Engine().Count(); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
}

func TestInvalidPacketClosesConnection(t *testing.T) {
	srv, url := newServer(t, server.Options{})
	var (
		mu     sync.Mutex
		errs   []error
		reason = make(chan string, 1)
	)
	srv.OnConnection(func(s *server.Socket) {
		s.OnError(func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() })
		s.OnDisconnect(func(r string) { reason <- r })
	})
	for _, bad := range []string{`42["disconnect"]`, `49`, `451-["a",{"_placeholder":true,"num":5}]`, `42/nowhere,["a"]`} {
		c := dialPoll(t, url)
		c.Connect()
		c.Send(bad)
		if strings.HasPrefix(bad, "451") {
			c.Send("bAQ==") // the attachment, with a forged placeholder number
		}
		select {
		case r := <-reason:
			if r != transports.ReasonForcedClose && r != server.ReasonForcedServerClose {
				t.Errorf("%s: reason %q", bad, r)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("%s: the connection stayed open", bad)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) < 3 {
		t.Fatalf("socket error handlers saw %d errors", len(errs))
	}
}

func TestHandlers(t *testing.T) {
	srv, url := newServer(t, server.Options{})
	type seen struct{ in, out, once []string }
	var (
		mu sync.Mutex
		s  seen
	)
	done := make(chan struct{})
	srv.Of("/h").OnConnection(func(sock *server.Socket) {
		sock.OnAny(func(ev string, _ []any) { mu.Lock(); s.in = append(s.in, ev); mu.Unlock() })
		sock.OnAnyOutgoing(func(ev string, _ []any) { mu.Lock(); s.out = append(s.out, ev); mu.Unlock() })
		sock.Once("one", func([]any, server.Ack) { mu.Lock(); s.once = append(s.once, "one"); mu.Unlock() })
		off := sock.On("gone", func([]any, server.Ack) { t.Error("removed handler called") })
		off()
		sock.On("end", func(_ []any, ack server.Ack) {
			_ = sock.Emit("reply", 1)
			_ = sock.Namespace().Emit("everyone")
			close(done)
		})
	})
	c := dialPoll(t, url)
	c.Send("40/h,")
	c.Poll()
	c.Send(`42/h,["one"]`, `42/h,["one"]`, `42/h,["gone"]`, `42/h,["end"]`)
	<-done
	got := c.Poll()
	if !slices.Equal(got, []string{`42/h,["reply",1]`, `42/h,["everyone"]`}) {
		t.Fatalf("client got %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(s.in, []string{"one", "one", "gone", "end"}) || !slices.Equal(s.once, []string{"one"}) ||
		!slices.Equal(s.out, []string{"reply", "everyone"}) {
		t.Fatalf("seen %+v", s)
	}
}

func TestVolatile(t *testing.T) {
	srv, url := newServer(t, server.Options{})
	c := dialPoll(t, url)
	c.Connect()
	// No poll is pending: a volatile event is dropped, a normal one waits.
	if err := srv.Of("/").Volatile().Emit("dropped"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Emit("kept"); err != nil {
		t.Fatal(err)
	}
	if got := c.Poll(); !slices.Equal(got, []string{`42["kept"]`}) {
		t.Fatalf("got %q", got)
	}
	// With a poll pending, a volatile event goes through.
	polled := make(chan []string)
	go func() { polled <- c.Poll() }()
	deadline := time.Now().Add(3 * time.Second)
	for {
		_ = srv.Of("/").Volatile().Emit("through")
		select {
		case got := <-polled:
			if got[0] != `42["through"]` {
				t.Fatalf("got %q", got)
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("volatile event never delivered to a waiting poll")
		}
	}
}

func TestClusterCalls(t *testing.T) {
	srv, url := newServer(t, server.Options{})
	a, b := dialPoll(t, url), dialPoll(t, url)
	ida, idb := a.Connect(), b.Connect()
	nsp := srv.Of("/")
	if err := nsp.In(ida).SocketsJoin("club"); err != nil {
		t.Fatal(err)
	}
	socks, err := srv.In("club").FetchSockets(context.Background())
	if err != nil || len(socks) != 1 || socks[0].ID != ida || !slices.Contains(socks[0].Rooms, "club") {
		t.Fatalf("fetch club: %+v %v", socks, err)
	}
	all, _ := nsp.FetchSockets(context.Background())
	if len(all) != 2 {
		t.Fatalf("fetch all: %d", len(all))
	}
	if err := socks[0].Emit("hi", "there"); err != nil {
		t.Fatal(err)
	}
	if got := a.Poll(); !slices.Equal(got, []string{`42["hi","there"]`}) {
		t.Fatalf("remote socket emit: %q", got)
	}
	_ = nsp.SocketsLeave("club")
	if socks, _ := srv.In("club").FetchSockets(context.Background()); len(socks) != 0 {
		t.Fatalf("club not empty: %d", len(socks))
	}
	_ = srv.Except(ida).DisconnectSockets()
	if got := b.Poll(); !slices.Equal(got, []string{"41"}) {
		t.Fatalf("disconnected socket got %q", got)
	}
	if s := nsp.Socket(idb); s != nil {
		t.Fatal("disconnected socket still in the namespace")
	}
	// With one node, no other answers a server-side emit.
	resp, err := nsp.ServerSideEmitWithAck(context.Background(), "ping")
	if err != nil || len(resp) != 0 {
		t.Fatalf("server-side emit: %v %v", resp, err)
	}
	if n, _ := nsp.Adapter().ServerCount(context.Background()); n != 1 {
		t.Fatalf("server count %d", n)
	}
}

func TestEmitWithAckErrors(t *testing.T) {
	srv, url := newServer(t, server.Options{})
	got := make(chan error, 1)
	srv.Of("/q").OnConnection(func(s *server.Socket) {
		go func() {
			_, err := s.EmitWithAck(context.Background(), "never")
			got <- err
		}()
	})
	c := dialPoll(t, url)
	c.Send("40/q,")
	c.Poll()
	time.Sleep(50 * time.Millisecond)
	c.Send("41/q,")
	if err := <-got; !errors.Is(err, server.ErrSocketClosed) {
		t.Fatalf("got %v, want ErrSocketClosed", err)
	}
}

// TestDisconnectAfterConnectionHandlers: a connection that ends before the
// connection handlers ran still reaches their disconnect handlers, after
// them, as in Node where both happen in order.
func TestDisconnectAfterConnectionHandlers(t *testing.T) {
	srv, url := newServer(t, server.Options{})
	reason := make(chan string, 1)
	srv.Of("/slow").OnConnection(func(s *server.Socket) {
		time.Sleep(200 * time.Millisecond)
		s.OnDisconnect(func(r string) { reason <- r })
	})
	c := dialPoll(t, url)
	c.Send("40/slow,")
	c.Poll()    // the CONNECT answer; the handler is still asleep
	c.Send("1") // the client closes the connection
	select {
	case r := <-reason:
		if r != transports.ReasonTransportClose {
			t.Fatalf("reason %q", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the disconnect handler never ran")
	}
}

// TestNamespaceEventHandlers: a handler added with OnEvent serves every
// socket of its namespace, after the socket's own handlers of the event,
// with the client's ack; another namespace does not see it.
func TestNamespaceEventHandlers(t *testing.T) {
	srv, url := newServer(t, server.Options{})
	var (
		mu    sync.Mutex
		order []string
	)
	nsp := srv.Of("/e")
	nsp.OnConnection(func(s *server.Socket) {
		s.On("ping", func([]any, server.Ack) { mu.Lock(); order = append(order, "socket"); mu.Unlock() })
	})
	nsp.OnEvent("ping", func(s *server.Socket, args []any, ack server.Ack) {
		mu.Lock()
		order = append(order, "namespace "+s.Namespace().Name())
		mu.Unlock()
		if ack != nil {
			ack(args...)
		}
	})
	srv.OnEvent("ping", func(*server.Socket, []any, server.Ack) { t.Error("root namespace's handler ran for /e") })
	c := dialPoll(t, url)
	c.Send("40/e,")
	c.Poll()
	c.Send(`42/e,7["ping","x",1]`)
	if got := c.Poll(); !slices.Equal(got, []string{`43/e,7["x",1]`}) {
		t.Fatalf("client got %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(order, []string{"socket", "namespace /e"}) {
		t.Fatalf("handlers ran %q", order)
	}
}

// TestHandshakeQuery: a socket's Handshake().Query is the handshake's
// query, parsed when asked (it is not kept as a map).
func TestHandshakeQuery(t *testing.T) {
	srv, url := newServer(t, server.Options{})
	got := make(chan server.Handshake, 1)
	srv.OnConnection(func(s *server.Socket) { got <- s.Handshake() })
	c := siotest.DialQuery(t, url, "token=abc&x=1&x=2")
	c.Connect()
	h := <-got
	if h.Query.Get("token") != "abc" || !slices.Equal(h.Query["x"], []string{"1", "2"}) || h.Query.Get("EIO") != "4" {
		t.Fatalf("query %v", h.Query)
	}
	if !strings.Contains(h.URL, "token=abc") {
		t.Fatalf("URL %q", h.URL)
	}
}
