package socketio_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"time"

	socketio "github.com/siogo/siogo/compat/googollee"
	"github.com/siogo/siogo/compat/googollee/engineio"
	"github.com/siogo/siogo/compat/googollee/engineio/transport"
	"github.com/siogo/siogo/compat/googollee/engineio/transport/polling"
	"github.com/siogo/siogo/compat/googollee/engineio/transport/websocket"
)

// A googollee program: only the import path is siogo's. The client here
// speaks protocol 5 (socket.io-client 3 and 4) by hand over long-polling,
// which googollee could not serve.
func Example() {
	server := socketio.NewServer(nil)
	server.OnConnect("/", func(s socketio.Conn) error {
		s.SetContext("")
		return nil
	})
	server.OnEvent("/", "notice", func(s socketio.Conn, msg string) string {
		return "have " + msg // the acknowledgement
	})
	go server.Serve()
	defer server.Close()
	hs := httptest.NewServer(server)
	defer hs.Close()

	c := dial(hs.URL)
	c.send("40")
	fmt.Println(strings.HasPrefix(c.poll(), "40{\"sid\":"))
	c.send(`421["notice","hello"]`) // event with ack id 1
	fmt.Println(c.poll())
	// Output:
	// true
	// 431["have hello"]
}

// Handlers take the types they declare: JSON arguments are decoded into
// them, as googollee does, and what they return is the acknowledgement.
func ExampleServer_OnEvent() {
	type Message struct {
		From string `json:"from"`
		Text string `json:"text"`
	}
	server := socketio.NewServer(nil)
	server.OnEvent("/", "post", func(s socketio.Conn, m Message, urgent bool) (string, int) {
		return m.From + " says " + m.Text, len(m.Text)
	})
	defer server.Close()
	hs := httptest.NewServer(server)
	defer hs.Close()

	c := dial(hs.URL)
	c.send("40")
	c.poll()
	c.send(`427["post",{"from":"ann","text":"hi"},true]`)
	fmt.Println(c.poll())
	// Output: 437["ann says hi",2]
}

// A func as Emit's last argument receives the client's acknowledgement.
func ExampleConn_Emit() {
	server := socketio.NewServer(nil)
	server.OnConnect("/", func(s socketio.Conn) error {
		s.Emit("question", "ready?", func(answer string) {
			log.Println(s.ID(), "answered", answer)
		})
		return nil
	})
	http.Handle("/socket.io/", server)
}

// engineio.Options as googollee's examples set them: both transports,
// any origin.
func ExampleNewServer() {
	allowOriginFunc := func(r *http.Request) bool { return true }
	server := socketio.NewServer(&engineio.Options{
		PingInterval: 25 * time.Second,
		Transports: []transport.Transport{
			&polling.Transport{CheckOrigin: allowOriginFunc},
			&websocket.Transport{CheckOrigin: allowOriginFunc},
		},
		ConnInitor: func(r *http.Request, c engineio.Conn) {
			c.SetContext(r.URL.Query().Get("user")) // the root Conn's Context
		},
	})
	defer server.Close()
	http.Handle("/socket.io/", server)
}

// Adapter shares rooms and broadcasts through Redis in the protocol of
// Node's @socket.io/redis-adapter: every node of the cluster must run
// siogo (or Node.js), not an old googollee build.
func ExampleServer_Adapter() {
	server := socketio.NewServer(nil)
	if _, err := server.Adapter(&socketio.RedisAdapterOptions{Addr: "127.0.0.1:6379"}); err != nil {
		log.Fatal("error:", err)
	}
	server.OnConnect("/", func(s socketio.Conn) error {
		s.Join("bcast")
		return nil
	})
	server.BroadcastToRoom("/", "bcast", "event:name", "to every node")
}

// pollClient is a protocol-5 long-polling client, enough for examples.
type pollClient struct{ url string }

var sidRe = regexp.MustCompile(`"sid":"([^"]+)"`)

func dial(base string) *pollClient {
	body := request("GET", base+"/socket.io/?EIO=4&transport=polling", "")
	return &pollClient{url: base + "/socket.io/?EIO=4&transport=polling&sid=" + sidRe.FindStringSubmatch(body)[1]}
}

// send posts one Engine.IO packet: 4 (message) and the Socket.IO packet.
func (c *pollClient) send(pkt string) { request("POST", c.url, pkt) }

func (c *pollClient) poll() string { return request("GET", c.url, "") }

func request(method, url, body string) string {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}
