// Package server is a Socket.IO server: namespaces, sockets, rooms,
// events and acknowledgements, middleware and broadcasts, with the
// semantics of the Node.js socket.io 4 server, so that the official
// socket.io-client (4, and 2) cannot tell them apart. A Server is an
// http.Handler; this program is a whole chat:
//
//	package main
//
//	import (
//		"context"
//		"log"
//		"net/http"
//		"os"
//		"os/signal"
//		"syscall"
//		"time"
//
//		"github.com/siogo/siogo/server"
//	)
//
//	type Message struct {
//		Room string `json:"room"`
//		Text string `json:"text"`
//	}
//
//	func main() {
//		srv, err := server.New(server.Options{
//			// Served at /socket.io/socket.io.js, as Node does (npm i socket.io-client).
//			ClientFiles: os.DirFS("node_modules/socket.io-client/dist"),
//		})
//		if err != nil {
//			log.Fatal(err)
//		}
//		srv.OnConnection(func(s *server.Socket) {
//			log.Println("connected", s.ID())
//			s.OnDisconnect(func(reason string) { log.Println(s.ID(), "left:", reason) })
//		})
//		srv.OnEvent("join", server.Typed(func(s *server.Socket, room string) (string, error) {
//			s.Join(room)
//			return room, nil // the client's acknowledgement
//		}))
//		srv.OnEvent("say", server.TypedNoAck(func(s *server.Socket, m Message) {
//			_ = s.To(m.Room).Emit("said", s.ID(), m.Text) // the room, the sender left out
//		}))
//
//		mux := http.NewServeMux()
//		mux.Handle("/socket.io/", srv)
//		mux.Handle("/", http.FileServer(http.Dir("public")))
//		hs := &http.Server{Addr: ":3000", Handler: mux}
//		go func() {
//			if err := hs.ListenAndServe(); err != http.ErrServerClosed {
//				log.Fatal(err)
//			}
//		}()
//
//		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//		defer stop()
//		<-ctx.Done()
//		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
//		defer cancel()
//		_ = srv.Shutdown(ctx) // first: it answers the long-polls hs.Shutdown would wait for
//		_ = hs.Shutdown(ctx)
//	}
//
// and in the page:
//
//	<script src="/socket.io/socket.io.js"></script>
//	<script>
//	  const socket = io();
//	  socket.emit("join", "lobby", (room) => socket.emit("say", { room, text: "hello" }));
//	  socket.on("said", (id, text) => console.log(id, text));
//	</script>
//
// # Events and acknowledgements
//
// A handler receives the client's arguments and, when the client asked for
// an answer, an Ack. Untyped handlers take the values the parser made (nil,
// bool, float64, string, []byte for binary, []any, map[string]any):
//
//	s.On("message", func(args []any, ack server.Ack) { ... })                 // one socket's
//	srv.OnEvent("message", func(s *server.Socket, args []any, ack server.Ack) { ... }) // every socket's
//
// Namespace.OnEvent (Server.OnEvent for "/") keeps one handler for all
// sockets, where Socket.On inside OnConnection keeps one per socket: the
// cheaper of the two for many idle connections.
//
// Typed handlers (Typed, TypedNoAck) declare the types of their argument and
// of their answer: siogo decodes by encoding/json's rules (structs by their
// json tags, []byte for binary), and answers a client whose arguments do not
// decode, or whose handler returned an error or panicked, with what
// Options.ErrorAck makes of it ({"error": message} by default). DecodeArgs
// reads several arguments at once; AckAs and AcksAs type what clients
// answer to EmitWithAck.
//
// # Waiting in a handler
//
// The handlers of a socket's events start in the order the client sent
// them. A Serial handler (the default) runs alone: the socket's next events
// wait for it. A Concurrent one runs on a goroutine of its own and holds up
// nothing, as in Node, where an awaiting handler does not; choose per
// handler (an option of On, Once and OnEvent) or per namespace
// (Namespace.SetHandlerMode, Options.HandlerMode):
//
//	srv.OnEvent("receipts", waitForReceipts, server.Concurrent)
//
// Anything that waits takes a context: EmitWithAck, FetchSockets,
// ServerSideEmit. A context that ends at its deadline gives an error
// matching ErrAckTimeout, one cancelled gives context.Canceled with its
// cause. Socket.Context ends when the socket disconnects, its cause a
// *DisconnectError with the reason: what a handler starts for a socket
// stops with it. When a client disconnects, whether it cut the connection
// or sent a DISCONNECT, the socket's waits end at once with ErrSocketClosed,
// and it leaves its rooms, whatever its handlers are doing.
//
// # Rooms and broadcasts
//
// Socket.Join and Leave manage a socket's rooms; To, In and Except select
// the recipients of a broadcast, Local, Volatile, Compress and Timeout
// qualify it, and Emit or EmitWithAck send it, encoded once for all:
//
//	srv.To("room1").Except("muted").Emit("news", item)
//	answers, err := srv.Timeout(5*time.Second).EmitWithAck(ctx, "vote")
//
// FetchSockets, SocketsJoin, SocketsLeave, DisconnectSockets,
// CloseConnections and ServerSideEmit act on every node of a cluster,
// through the Adapter (in memory by default; adapters/redis and
// adapters/redisstreams for Redis).
//
// # Namespaces and middleware
//
// Server.Of returns a namespace, OfRegexp and OfFunc declare dynamic ones.
// A Middleware runs before a socket joins; its error refuses it, and the
// client's connect_error carries the message and a *ConnectError's data.
//
// # Protocols
//
// Clients of socket.io-client 4 (protocol 5 over Engine.IO 4) and 2
// (protocol 4 over Engine.IO 3) are both accepted; Node accepts the latter
// only with allowEIO3, siogo by default (see transports.Options.DisableEIO3).
// MsgpackParser speaks socket.io-msgpack-parser; Options.Recovery turns on
// connection state recovery.
package server
