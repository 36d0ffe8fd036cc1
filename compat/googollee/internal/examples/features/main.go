// Command features is a program written the way googollee/go-socket.io's
// README, examples and issues use it: typed arguments (strings, numbers,
// structs, pointers, maps, raw JSON, binary), return values as the
// acknowledgement, emits with an acknowledgement callback, rooms,
// broadcasts, ForEach, namespaces, OnConnect refusing, ConnInitor and
// Context, RequestChecker, CORS, OnError and OnDisconnect's reasons. Only
// its import path says siogo. It listens on 127.0.0.1:$PORT.
package main

import (
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"

	socketio "github.com/siogo/siogo/compat/googollee"
	"github.com/siogo/siogo/compat/googollee/engineio"
	"github.com/siogo/siogo/compat/googollee/engineio/transport"
	"github.com/siogo/siogo/compat/googollee/engineio/transport/polling"
	"github.com/siogo/siogo/compat/googollee/engineio/transport/websocket"
)

// Message is the struct clients send and get back.
type Message struct {
	From  string   `json:"from"`
	Text  string   `json:"text"`
	Count int64    `json:"count"`
	Tags  []string `json:"tags,omitempty"`
}

var (
	mu      sync.Mutex
	reasons = map[string]string{} // OnDisconnect's reason, by conn id
	errs    []string
)

func main() {
	allowOriginFunc := func(r *http.Request) bool { return true }
	server := socketio.NewServer(&engineio.Options{
		Transports: []transport.Transport{
			&polling.Transport{CheckOrigin: allowOriginFunc},
			&websocket.Transport{CheckOrigin: allowOriginFunc},
		},
		RequestChecker: func(r *http.Request) (http.Header, error) {
			if r.URL.Query().Get("deny") != "" {
				return nil, errors.New("denied by RequestChecker")
			}
			h := http.Header{}
			h.Set("X-Checked", "yes")
			return h, nil
		},
		ConnInitor: func(r *http.Request, c engineio.Conn) {
			c.SetContext(map[string]string{"user": r.URL.Query().Get("user")})
		},
	})

	server.OnConnect("/", func(s socketio.Conn) error {
		u := s.URL()
		if u.Query().Get("refuse") != "" {
			return errors.New("refused at the root")
		}
		log.Println("connected:", s.ID(), s.RemoteAddr(), u.Path)
		s.Join("everyone")
		s.Emit("welcome", s.ID())
		return nil
	})

	server.OnEvent("/", "echo", func(s socketio.Conn, msg string) string {
		return msg
	})
	server.OnEvent("/", "struct", func(s socketio.Conn, m Message) Message {
		m.Count++
		m.Tags = append(m.Tags, "seen")
		return m
	})
	server.OnEvent("/", "pointer", func(s socketio.Conn, m *Message) string {
		return m.From + ":" + m.Text
	})
	server.OnEvent("/", "raw", func(s socketio.Conn, raw json.RawMessage) string {
		return string(raw)
	})
	server.OnEvent("/", "multi", func(s socketio.Conn, n int64, f float64, ok bool, m map[string]interface{}, rest []string) (int64, string, bool, int) {
		return n + 1, strings.Join(rest, ","), !ok, len(m)
	})
	server.OnEvent("/", "noreturn", func(s socketio.Conn, msg string) {
		s.Emit("noreturn:got", msg)
	})
	server.OnEvent("/", "binary", func(s socketio.Conn, b []byte) []byte {
		out := make([]byte, len(b))
		for i, c := range b {
			out[len(b)-1-i] = c
		}
		return out
	})
	server.OnEvent("/", "number", func(s socketio.Conn, n int) int {
		return n * 2
	})
	server.OnEvent("/", "panic", func(s socketio.Conn) string {
		panic("handler panicked")
	})

	// Server to client, with the acknowledgement as a callback.
	server.OnEvent("/", "ask", func(s socketio.Conn, q string) {
		s.Emit("question", q, func(answer string, n int) {
			s.Emit("answered", answer, n+1)
		})
	})

	// Context: ConnInitor's value, then SetContext.
	server.OnEvent("/", "whoami", func(s socketio.Conn) string {
		if m, ok := s.Context().(map[string]string); ok {
			return m["user"]
		}
		return "?"
	})
	server.OnEvent("/", "remember", func(s socketio.Conn, v string) {
		s.SetContext(map[string]string{"user": v})
	})

	// Rooms and broadcasts.
	server.OnEvent("/", "join", func(s socketio.Conn, room string) []string {
		s.Join(room)
		rooms := s.Rooms()
		sort.Strings(rooms)
		return rooms
	})
	server.OnEvent("/", "leave", func(s socketio.Conn, room string) int {
		s.Leave(room)
		return server.RoomLen("/", room)
	})
	server.OnEvent("/", "leaveall", func(s socketio.Conn) int {
		s.LeaveAll()
		return len(s.Rooms())
	})
	server.OnEvent("/", "to", func(s socketio.Conn, room string, m Message) bool {
		return server.BroadcastToRoom("/", room, "room", m)
	})
	server.OnEvent("/", "all", func(s socketio.Conn, msg string) bool {
		return server.BroadcastToNamespace("", "all", msg)
	})
	server.OnEvent("/", "roomlen", func(s socketio.Conn, room string) int {
		return server.RoomLen("", room)
	})
	server.OnEvent("/", "rooms", func(s socketio.Conn) []string {
		var out []string
		for _, r := range server.Rooms("/") {
			if !strings.HasPrefix(r, "r-") {
				continue
			}
			out = append(out, r)
		}
		sort.Strings(out)
		return out
	})
	server.OnEvent("/", "each", func(s socketio.Conn, room string) int {
		n := 0
		server.ForEach("/", room, func(c socketio.Conn) {
			n++
			c.Emit("each", room)
		})
		return n
	})
	server.OnEvent("/", "clear", func(s socketio.Conn, room string) int {
		server.ClearRoom("/", room)
		return server.RoomLen("/", room)
	})
	server.OnEvent("/", "count", func(s socketio.Conn) int {
		return server.Count()
	})

	// What the server saw.
	server.OnEvent("/", "reason", func(s socketio.Conn, id string) string {
		mu.Lock()
		defer mu.Unlock()
		return reasons[id]
	})
	server.OnEvent("/", "errors", func(s socketio.Conn) []string {
		mu.Lock()
		defer mu.Unlock()
		out := errs
		errs = nil
		return out
	})
	server.OnEvent("/", "close", func(s socketio.Conn) {
		s.Close()
	})

	server.OnError("/", func(s socketio.Conn, e error) {
		mu.Lock()
		errs = append(errs, e.Error())
		mu.Unlock()
		if s != nil {
			s.Emit("error:seen", e.Error())
		}
	})
	server.OnDisconnect("/", func(s socketio.Conn, reason string) {
		log.Println("closed", s.ID(), reason)
		mu.Lock()
		reasons[s.ID()] = reason
		mu.Unlock()
	})

	// A namespace of its own.
	server.OnConnect("/chat", func(s socketio.Conn) error {
		s.SetContext("chat")
		return nil
	})
	server.OnEvent("/chat", "msg", func(s socketio.Conn, msg string) string {
		return s.Namespace() + " " + s.Context().(string) + ": " + msg
	})
	server.OnEvent("/chat", "id", func(s socketio.Conn) string {
		return s.ID()
	})
	server.OnEvent("/", "id", func(s socketio.Conn) string {
		return s.ID()
	})

	// A namespace whose OnConnect refuses without a token.
	server.OnConnect("/private", func(s socketio.Conn) error {
		u := s.URL()
		if u.Query().Get("token") != "secret" {
			return errors.New("no entry")
		}
		return nil
	})
	server.OnEvent("/private", "secret", func(s socketio.Conn) string { return "42" })
	server.OnError("/private", func(s socketio.Conn, e error) {
		mu.Lock()
		errs = append(errs, "private: "+e.Error())
		mu.Unlock()
	})

	go func() {
		if err := server.Serve(); err != nil {
			log.Fatalf("socketio listen error: %s\n", err)
		}
	}()
	defer server.Close()

	http.Handle("/socket.io/", server)
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil))
}
