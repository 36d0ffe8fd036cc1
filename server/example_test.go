package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"time"

	"github.com/siogo/siogo/server"
)

// poller is the least of a protocol-5 client over long-polling, enough to
// show what travels on the wire.
type poller struct{ url string }

func (p poller) get() string {
	res, err := http.Get(p.url)
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

func (p poller) post(body string) {
	res, err := http.Post(p.url, "text/plain", strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	res.Body.Close()
}

func dial(base string) poller {
	p := poller{base + "/socket.io/?EIO=4&transport=polling"}
	sid := regexp.MustCompile(`"sid":"([^"]+)"`).FindStringSubmatch(p.get())[1]
	return poller{p.url + "&sid=" + sid}
}

// The demo contract's echo: a message comes back to its sender, and is
// acknowledged with the same arguments when the client asks.
func ExampleNew() {
	srv, err := server.New(server.Options{})
	if err != nil {
		panic(err)
	}
	srv.OnConnection(func(s *server.Socket) {
		s.On("message", func(args []any, ack server.Ack) {
			s.Emit("message", args...)
			if ack != nil {
				ack(args...)
			}
		})
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()

	c := dial(hs.URL)
	c.post("40")
	fmt.Println(c.get()[:3]) // 40{"sid":"..."}
	c.post(`421["message","hi",{"n":1}]`)
	fmt.Printf("%q\n", c.get()) // two packets in one poll, joined by \x1e

	c.post("1") // the client closes; Shutdown has no poll to wait for
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	// Output:
	// 40{
	// "42[\"message\",\"hi\",{\"n\":1}]\x1e431[\"hi\",{\"n\":1}]"
}

// A middleware refuses a connection; the client gets the error packet.
func ExampleServer_Use() {
	srv, _ := server.New(server.Options{})
	srv.Use(func(s *server.Socket) error {
		if s.Handshake().Auth["token"] != "secret" {
			return &server.ConnectError{Message: "not authorized", Data: map[string]any{"code": 401}}
		}
		return nil
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()

	c := dial(hs.URL)
	c.post(`40{"token":"guess"}`)
	fmt.Println(c.get())
	// Output: 44{"message":"not authorized","data":{"code":401}}
}

// Rooms and the broadcast operator: a socket joins a room, and a broadcast
// to that room reaches it, encoded once for all its members.
func ExampleServer_To() {
	srv, _ := server.New(server.Options{})
	joined := make(chan struct{})
	srv.OnConnection(func(s *server.Socket) {
		s.Join("news")
		close(joined)
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()

	c := dial(hs.URL)
	c.post("40")
	c.get() // the CONNECT answer
	<-joined
	srv.To("news").Except("muted").Emit("headline", "siogo ships")
	fmt.Println(c.get())
	// Output: 42["headline","siogo ships"]
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
