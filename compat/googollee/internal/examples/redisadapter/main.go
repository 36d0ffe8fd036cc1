// Command redisadapter is googollee/go-socket.io v1.7.0's
// _examples/redis-adapter re-typed with siogo's import path, on net/http
// instead of gin (siogo does not depend on gin), with the Redis address
// from $REDIS_ADDR and the port from $PORT, and with the broadcast of
// googollee's README ("Broadcast to All connected Client") so that two
// nodes have something to share.
package main

import (
	"log"
	"net/http"
	"os"

	socketio "github.com/siogo/siogo/compat/googollee"
)

func main() {
	server := socketio.NewServer(nil)

	_, err := server.Adapter(&socketio.RedisAdapterOptions{
		Addr:   os.Getenv("REDIS_ADDR"),
		Prefix: "socket.io",
	})
	if err != nil {
		log.Println("error:", err)
		return
	}

	server.OnConnect("/", func(s socketio.Conn) error {
		s.SetContext("")
		log.Println("connected:", s.ID())
		s.Join("bcast")
		return nil
	})

	server.OnEvent("/", "notice", func(s socketio.Conn, msg string) {
		log.Println("notice:", msg)
		s.Emit("reply", "have "+msg)
	})

	server.OnEvent("/", "join", func(s socketio.Conn, room string) string {
		s.Join(room)
		return room
	})

	server.OnEvent("/", "to", func(s socketio.Conn, room, msg string) bool {
		return server.BroadcastToRoom("", room, "room:msg", msg)
	})

	server.OnEvent("/", "shout", func(s socketio.Conn, msg string) bool {
		return server.BroadcastToRoom("", "bcast", "event:name", msg)
	})

	server.OnEvent("/", "count", func(s socketio.Conn, room string) int {
		return server.RoomLen("/", room)
	})

	server.OnEvent("/chat", "msg", func(s socketio.Conn, msg string) string {
		s.SetContext(msg)
		return "recv " + msg
	})

	server.OnError("/", func(s socketio.Conn, e error) {
		log.Println("meet error:", e)
	})

	server.OnDisconnect("/", func(s socketio.Conn, reason string) {
		log.Println("closed", reason)
	})

	go func() {
		if err := server.Serve(); err != nil {
			log.Fatalf("socketio listen error: %s\n", err)
		}
	}()
	defer server.Close()

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", server)
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), mux); err != nil {
		log.Fatal("failed run app: ", err)
	}
}
