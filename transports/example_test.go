package transports_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"time"

	"github.com/siogo/siogo/transports"
)

// An Engine.IO echo server, spoken to over raw long-polling as a client would.
func ExampleNewServer() {
	srv, err := transports.NewServer(transports.Options{
		OnSession: func(s *transports.Session) {
			s.OnMessage(func(data []byte, binary bool) {
				// data is valid only during the call.
				s.Send(transports.Packet{Type: transports.PacketMessage, Data: bytes.Clone(data), Binary: binary})
			})
		},
	})
	if err != nil {
		panic(err)
	}
	defer srv.Shutdown(context.Background())
	hs := httptest.NewServer(srv)
	defer hs.Close()

	get := func(url string) string {
		res, err := http.Get(url)
		if err != nil {
			panic(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	open := get(hs.URL + "/engine.io/?EIO=4&transport=polling")
	sid := regexp.MustCompile(`"sid":"([^"]+)"`).FindStringSubmatch(open)[1]
	fmt.Println(open[:1], strings.Contains(open, `"upgrades":["websocket"]`))

	url := hs.URL + "/engine.io/?EIO=4&transport=polling&sid=" + sid
	res, err := http.Post(url, "text/plain", strings.NewReader("4hello\x1ebAQID"))
	if err != nil {
		panic(err)
	}
	res.Body.Close()
	fmt.Printf("%q\n", get(url))

	// The client closes the session: Shutdown then has nothing to wait for.
	res, err = http.Post(url, "text/plain", strings.NewReader("1"))
	if err != nil {
		panic(err)
	}
	res.Body.Close()
	// Output:
	// 0 true
	// "4hello\x1ebAQID"
}

// A protocol-4 payload: text packets as they are, binary ones as 'b' and
// base64, joined by the record separator.
func ExampleEncodePayloadV4() {
	b := transports.EncodePayloadV4(nil, []transports.Packet{
		{Type: transports.PacketMessage, Data: []byte("hello")},
		{Type: transports.PacketMessage, Data: []byte{1, 2, 3}, Binary: true},
		{Type: transports.PacketPing},
	})
	fmt.Printf("%q\n", b)
	// Output: "4hello\x1ebAQID\x1e2"
}

func ExampleDecodePayloadV4() {
	pkts, err := transports.DecodePayloadV4([]byte("4hello\x1ebAQID"), 100)
	if err != nil {
		panic(err)
	}
	for _, p := range pkts {
		fmt.Println(p.Type == transports.PacketMessage, p.Binary, p.Data)
	}
	// Output:
	// true false [104 101 108 108 111]
	// true true [1 2 3]
}

// A protocol-3 string payload prefixes each packet with its length in
// UTF-16 code units.
func ExampleEncodeStringPayloadV3() {
	b := transports.EncodeStringPayloadV3(nil, []transports.Packet{
		{Type: transports.PacketMessage, Data: []byte("héllo")},
		{Type: transports.PacketMessage, Data: []byte{1, 2, 3}, Binary: true},
	})
	fmt.Printf("%s\n", b)
	// Output: 6:4héllo6:b4AQID
}

// A server whose waiting polls hold no goroutine: the mux is served by an
// HTTPServer. The GET parks until the message comes, then is answered.
func ExampleHTTPServer() {
	sess := make(chan *transports.Session, 1)
	srv, err := transports.NewServer(transports.Options{OnSession: func(s *transports.Session) { sess <- s }})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	hs := transports.NewHTTPServer(mux, transports.HTTPServerOptions{})
	go hs.Serve(ln)
	defer hs.Shutdown(context.Background())
	defer srv.Close()
	base := "http://" + ln.Addr().String() + "/engine.io/?EIO=4&transport=polling"

	res, err := http.Get(base)
	if err != nil {
		panic(err)
	}
	res.Body.Close()
	s := <-sess
	go func() {
		time.Sleep(50 * time.Millisecond) // the GET below is parked by now
		s.Send(transports.Packet{Type: transports.PacketMessage, Data: []byte("hello")})
	}()
	res, err = http.Get(base + "&sid=" + s.ID())
	if err != nil {
		panic(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Println(string(b))
	// Output: 4hello
}

// An application's own endpoint beside Engine.IO counted in the same
// bounds: past MaxSessionsPerAddr, its request gets the 429 a handshake
// would.
func ExampleServer_Admit() {
	srv, err := transports.NewServer(transports.Options{MaxSessionsPerAddr: 1})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	own := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release, err := srv.Admit(r)
		if err != nil {
			err.(*transports.RequestError).ServeHTTP(w, r)
			return
		}
		defer release() // when the connection ends; here, the request
		_, _ = io.WriteString(w, "welcome\n")
	})
	first := httptest.NewRequest("GET", "/own", nil)
	release, _ := srv.Admit(first) // one connection of 192.0.2.1 held
	defer release()
	w := httptest.NewRecorder()
	own.ServeHTTP(w, httptest.NewRequest("GET", "/own", nil))
	fmt.Println(w.Code, w.Body.String())
	// Output: 429 {"code":3,"message":"Too many connections from this address"}
}
