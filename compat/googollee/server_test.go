package socketio_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	socketio "github.com/siogo/siogo/compat/googollee"
	"github.com/siogo/siogo/compat/googollee/engineio"
	"github.com/siogo/siogo/compat/googollee/engineio/session"
)

// What a Conn tells of its connection, and the Server calls on a
// namespace without handlers.
func TestConnDetails(t *testing.T) {
	server := socketio.NewServer(&engineio.Options{
		SessionIDGenerator: &session.DefaultIDGenerator{ID: 100},
		ConnInitor: func(r *http.Request, c engineio.Conn) {
			c.SetContext("init:" + c.ID() + ":" + r.Header.Get("X-User"))
		},
	})
	got := make(chan []string, 4)
	server.OnConnect("/", func(s socketio.Conn) error {
		u := s.URL()
		got <- []string{s.ID(), s.Namespace(), s.Context().(string), u.Query().Get("EIO"),
			s.RemoteAddr().Network(), s.RemoteAddr().String(), s.LocalAddr().String(), s.RemoteHeader().Get("X-User")}
		return nil
	})
	server.OnConnect("/chat", func(s socketio.Conn) error {
		got <- []string{s.ID(), s.Namespace(), ctxString(s)}
		return nil
	})
	hs := httptest.NewServer(server)
	defer hs.Close()
	defer server.Close()

	req, _ := http.NewRequest("GET", hs.URL+"/socket.io/?EIO=4&transport=polling", nil)
	req.Header.Set("X-User", "ann")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 512)
	n, _ := res.Body.Read(body)
	res.Body.Close()
	if !strings.Contains(string(body[:n]), `"sid":"2t"`) { // 101 in base 36
		t.Fatalf("handshake %q: want the generator's id", body[:n])
	}
	c := &pollClient{url: hs.URL + "/socket.io/?EIO=4&transport=polling&sid=2t"}
	c.send("40")
	c.poll()
	root := <-got
	if root[0] != "2t" || root[1] != "/" || root[2] != "init:2t:ann" || root[3] != "4" || root[4] != "tcp" ||
		!strings.HasPrefix(root[5], "127.0.0.1:") || root[6] != hs.Listener.Addr().String() || root[7] != "ann" {
		t.Errorf("root conn: %q", root)
	}
	c.send("40/chat,")
	c.poll()
	if chat := <-got; chat[0] != "2t" || chat[1] != "/chat" || chat[2] != "" {
		t.Errorf("chat conn: %q (the same id; ConnInitor's context is the root's only)", chat)
	}

	if server.BroadcastToRoom("/nope", "r", "e") || server.RoomLen("/nope", "r") != -1 || server.Rooms("/nope") != nil ||
		server.ClearRoom("/nope", "r") || server.ForEach("/nope", "r", func(socketio.Conn) {}) {
		t.Error("a namespace without handlers answered")
	}
	if !server.BroadcastToRoom("", "r", "e") || server.RoomLen("", "2t") != 1 {
		t.Error(`"" is not the root namespace`)
	}
	if n := server.Count(); n != 1 {
		t.Errorf("Count %d", n)
	}
}

func ctxString(s socketio.Conn) string {
	v, _ := s.Context().(string)
	return v
}

// A handler registered after a client connected reaches it, as in
// googollee, where handlers are looked up per event; replacing a handler
// does not double it.
func TestLateOnEvent(t *testing.T) {
	server := socketio.NewServer(nil)
	server.OnConnect("/", func(s socketio.Conn) error { return nil })
	hs := httptest.NewServer(server)
	defer hs.Close()
	defer server.Close()
	c := dial(hs.URL)
	c.send("40")
	c.poll()
	server.OnEvent("/", "late", func(s socketio.Conn) string { return "one" })
	server.OnEvent("/", "late", func(s socketio.Conn) string { return "two" })
	c.send(`421["late"]`)
	if got := c.poll(); got != `431["two"]` {
		t.Errorf("late handler: %q", got)
	}
}

// JSONP, for browsers without XHR2: googollee served it, and so does
// siogo, under socket.io-client 2's protocol.
func TestJSONP(t *testing.T) {
	server := socketio.NewServer(nil)
	server.OnConnect("/", func(s socketio.Conn) error { return nil })
	hs := httptest.NewServer(server)
	defer hs.Close()
	defer server.Close()
	body := request("GET", hs.URL+"/socket.io/?EIO=3&transport=polling&j=0", "")
	if !strings.HasPrefix(body, `___eio[0]("`) || !strings.Contains(body, `\"sid\":`) {
		t.Errorf("JSONP handshake: %q", body)
	}
}
