package server_test

// Each example is a server a user would write, and a client that drives
// it: internal/siotest's Go client stands in for socket.io-client in a
// browser (io(url, {auth}), socket.emit, socket.emitWithAck, socket.on).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"time"

	"github.com/siogo/siogo/internal/siotest"
	"github.com/siogo/siogo/server"
	"github.com/siogo/siogo/transports"
)

// ChatMessage is what a chat client sends with "say".
type ChatMessage struct {
	Room string `json:"room"`
	Text string `json:"text"`
}

// A chat with rooms: clients give their name at connection, join rooms,
// and what one says reaches the others in the room.
func Example_chat() {
	srv, err := server.New(server.Options{})
	if err != nil {
		panic(err)
	}
	srv.Use(func(s *server.Socket) error {
		name, _ := s.Handshake().Auth["name"].(string)
		if name == "" {
			return errors.New("a name is needed")
		}
		s.SetData(name)
		return nil
	})
	// join answers with the room's name once the socket is in it.
	srv.OnEvent("join", server.Typed(func(s *server.Socket, room string) (string, error) {
		s.Join(room)
		return room, nil
	}))
	// say reaches everyone in the room but the sender.
	srv.OnEvent("say", server.TypedNoAck(func(s *server.Socket, m ChatMessage) {
		_ = s.To(m.Room).Emit("said", s.Data(), m.Text)
	}))
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close() // first: it ends the long-polls hs.Close would wait for

	// Two browsers: io(url, {auth: {name: "ada"}}), then emitWithAck("join", "lobby").
	ctx := context.Background()
	ada, _ := siotest.Connect(hs.URL, "/", map[string]any{"name": "ada"})
	bob, _ := siotest.Connect(hs.URL, "/", map[string]any{"name": "bob"})
	defer ada.Disconnect()
	defer bob.Disconnect()
	for _, c := range []*siotest.Socket{ada, bob} {
		if _, err := c.EmitWithAck(ctx, "join", "lobby"); err != nil {
			panic(err)
		}
	}
	_ = ada.Emit("say", ChatMessage{Room: "lobby", Text: "hello"})
	ev, _ := bob.Next(ctx)
	fmt.Println(ev.Name, ev.Args)
	// Output: said [ada hello]
}

// Authentication in a middleware: a client without a valid token gets
// connect_error with the error's message and data; one with a token
// connects, its user kept in its Data.
func ExampleServer_Use() {
	users := map[string]string{"s3cret": "ada"}
	srv, _ := server.New(server.Options{})
	srv.Use(func(s *server.Socket) error {
		token, _ := s.Handshake().Auth["token"].(string)
		user, ok := users[token]
		if !ok {
			return &server.ConnectError{Message: "not authorized", Data: map[string]any{"code": 401}}
		}
		s.SetData(user)
		return nil
	})
	srv.OnEvent("whoami", func(s *server.Socket, _ []any, ack server.Ack) {
		_ = ack(s.Data())
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()

	// io(url, {auth: {token: "guess"}}): the socket's connect_error handler
	// gets err.message and err.data.
	_, err := siotest.Connect(hs.URL, "/", map[string]any{"token": "guess"})
	var refused *siotest.ConnectError
	if errors.As(err, &refused) {
		fmt.Println("refused:", refused.Message, refused.Data)
	}
	c, err := siotest.Connect(hs.URL, "/", map[string]any{"token": "s3cret"})
	if err != nil {
		panic(err)
	}
	defer c.Disconnect()
	who, _ := c.EmitWithAck(context.Background(), "whoami")
	fmt.Println("whoami:", who[0])
	// Output:
	// refused: not authorized map[code:401]
	// whoami: ada
}

// Acknowledgements both ways, with a timeout: the server asks its client
// to confirm an order and waits at most 200 ms, then answers the order.
// The socket's context ends the wait at once if the client leaves.
func ExampleSocket_EmitWithAck() {
	srv, _ := server.New(server.Options{})
	srv.OnEvent("order", func(s *server.Socket, args []any, ack server.Ack) {
		ctx, cancel := context.WithTimeout(s.Context(), 200*time.Millisecond)
		defer cancel()
		answer, err := s.EmitWithAck(ctx, "confirm", args...)
		switch {
		case errors.Is(err, server.ErrAckTimeout):
			_ = ack("not confirmed in time")
		case err != nil: // the client left: no one to answer
		default:
			_ = ack("confirmed: " + fmt.Sprint(answer...))
		}
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()

	c, _ := siotest.Connect(hs.URL, "/", nil)
	defer c.Disconnect()
	ctx := context.Background()
	go func() {
		// socket.on("confirm", (item, callback) => ...): tea is confirmed,
		// cake never is.
		for {
			ev, err := c.Next(ctx)
			if err != nil {
				return
			}
			if ev.Name == "confirm" && ev.Args[0] == "tea" {
				_ = ev.Ack("yes")
			}
		}
	}()
	tea, _ := c.EmitWithAck(ctx, "order", "tea")
	cake, _ := c.EmitWithAck(ctx, "order", "cake")
	fmt.Println(tea...)
	fmt.Println(cake...)
	// Output:
	// confirmed: yes
	// not confirmed in time
}

// Receipt is what the typed "message" handler answers.
type Receipt struct {
	Room   string `json:"room"`
	Length int    `json:"length"`
}

// Typed events: the handler declares its argument's type and its answer's;
// an error, or an argument that does not decode, is answered with
// {"error": ...} (Options.ErrorAck chooses otherwise). AckAs types what a
// client answers.
func ExampleTyped() {
	srv, _ := server.New(server.Options{})
	srv.OnEvent("message", server.Typed(func(s *server.Socket, m ChatMessage) (Receipt, error) {
		if m.Text == "" {
			return Receipt{}, errors.New("empty message")
		}
		return Receipt{Room: m.Room, Length: len(m.Text)}, s.To(m.Room).Emit("message", m)
	}))
	rated := make(chan int, 1)
	srv.OnEvent("done", server.TypedNoAck(func(s *server.Socket, _ struct{}) {
		stars, err := server.AckAs[int](s.EmitWithAck(s.Context(), "rate us"))
		if err == nil {
			rated <- stars
		}
	}))
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()

	c, _ := siotest.Connect(hs.URL, "/", nil)
	defer c.Disconnect()
	ctx := context.Background()
	for _, arg := range []any{ChatMessage{Room: "lobby", Text: "hello"}, ChatMessage{Room: "lobby"}, "hello"} {
		answer, _ := c.EmitWithAck(ctx, "message", arg)
		fmt.Println(answer...)
	}
	_ = c.Emit("done")
	ev, _ := c.Next(ctx)
	_ = ev.Ack(5)
	fmt.Println(ev.Name+":", <-rated)
	// Output:
	// map[length:5 room:lobby]
	// map[error:empty message]
	// map[error:socket.io: argument 0: cannot decode string into server_test.ChatMessage]
	// rate us: 5
}

// A handler that waits without holding up its socket: Concurrent runs it
// on a goroutine of its own, so the same client's next events go on
// meanwhile. (Serial, the default, would answer ping only after.)
func ExampleHandlerMode() {
	srv, _ := server.New(server.Options{})
	release := make(chan struct{})
	srv.OnEvent("slow", func(s *server.Socket, _ []any, ack server.Ack) {
		<-release // a database, another client's answer...
		_ = ack("slow done")
	}, server.Concurrent)
	srv.OnEvent("ping", func(s *server.Socket, _ []any, ack server.Ack) {
		_ = ack("pong")
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()

	c, _ := siotest.Connect(hs.URL, "/", nil)
	defer c.Disconnect()
	ctx := context.Background()
	slow := make(chan []any)
	go func() {
		a, _ := c.EmitWithAck(ctx, "slow")
		slow <- a
	}()
	pong, _ := c.EmitWithAck(ctx, "ping")
	fmt.Println(pong...)
	close(release)
	fmt.Println(<-slow...)
	// Output:
	// pong
	// slow done
}

// Mounted beside the application's other routes, with CORS for the pages
// of another origin: the Engine.IO options carry it, as Node's cors
// option. With Options.ClientFiles it also serves /socket.io/socket.io.js.
func Example_mount() {
	srv, _ := server.New(server.Options{
		Engine: transports.Options{
			CORS: &transports.CORS{Origins: []string{"https://app.example"}, Credentials: true},
		},
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	mux.HandleFunc("GET /api/health", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer srv.Close()

	// A browser's preflight, from the allowed origin and from another.
	for _, origin := range []string{"https://app.example", "https://evil.example"} {
		req, _ := http.NewRequest("OPTIONS", hs.URL+"/socket.io/?EIO=4&transport=polling", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		res.Body.Close()
		fmt.Printf("%s: allowed %q\n", origin, res.Header.Get("Access-Control-Allow-Origin"))
	}
	res, _ := http.Get(hs.URL + "/api/health")
	res.Body.Close()
	fmt.Println("/api/health:", res.StatusCode)
	c, err := siotest.Connect(hs.URL, "/", nil)
	fmt.Println("socket.io:", err)
	c.Disconnect()
	// Output:
	// https://app.example: allowed "https://app.example"
	// https://evil.example: allowed ""
	// /api/health: 200
	// socket.io: <nil>
}

// Shutting down beside an http.Server: the Socket.IO server first. It
// disconnects every socket (without a DISCONNECT packet, so that clients
// reconnect, to another node) and answers the pending long-polls; then
// http.Server.Shutdown, which waits for active requests, returns at once
// instead of waiting out each long-poll (up to the ping interval, 25 s).
func ExampleServer_Shutdown() {
	srv, _ := server.New(server.Options{})
	srv.OnConnection(func(s *server.Socket) {
		s.OnDisconnect(func(reason string) { fmt.Println("disconnected:", reason) })
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := &http.Server{Handler: mux}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() { _ = hs.Serve(ln) }()
	c, _ := siotest.Connect("http://"+ln.Addr().String(), "/", nil) // its long-poll waits now

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println("socket.io:", srv.Shutdown(ctx))
	fmt.Println("http:", hs.Shutdown(ctx))
	_, err = c.Next(ctx)
	fmt.Println("client:", err)
	// Output:
	// disconnected: server shutting down
	// socket.io: <nil>
	// http: <nil>
	// client: siotest: connection closed
}

// Dynamic namespaces, one per room: with CleanupEmptyChildNamespaces each
// goes once its last socket leaves, instead of staying for good.
func ExampleServer_OfRegexp() {
	srv, _ := server.New(server.Options{CleanupEmptyChildNamespaces: true})
	rooms := srv.OfRegexp(regexp.MustCompile(`^/room-\d+$`))
	left := make(chan struct{})
	rooms.OnConnection(func(s *server.Socket) {
		s.OnDisconnect(func(string) { close(left) })
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()

	// A browser: io(url + "/room-7"), later socket.disconnect().
	c, err := siotest.Connect(hs.URL, "/room-7", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(srv.Namespace("/room-7") != nil)
	_ = c.Disconnect()
	<-left
	fmt.Println(srv.Namespace("/room-7") != nil)
	// Output:
	// true
	// false
}

// The parser alone: what a packet with a binary argument becomes on the
// wire, a text message with a placeholder and one binary attachment (the
// Engine.IO message type, 4, is added by the transport).
func ExampleJSONParser_Encode() {
	msgs, err := server.JSONParser{}.Encode(&server.Packet{
		Type: server.PacketEvent, Nsp: "/",
		Data: []any{"file", map[string]any{"name": "a.bin", "body": []byte{1, 2}}},
	})
	if err != nil {
		panic(err)
	}
	for _, m := range msgs {
		fmt.Printf("binary=%v %q\n", m.Binary, m.Data)
	}
	// Output:
	// binary=false "51-[\"file\",{\"body\":{\"_placeholder\":true,\"num\":0},\"name\":\"a.bin\"}]"
	// binary=true "\x01\x02"
}
