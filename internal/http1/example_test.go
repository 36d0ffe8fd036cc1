package http1_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"

	"github.com/siogo/siogo/internal/http1"
)

// conn is what an event loop would give a Response: here, a buffer.
type conn struct {
	out        bytes.Buffer
	closeAfter bool
}

func (c *conn) Write(b []byte) (int, error)  { return c.out.Write(b) }
func (c *conn) ResponseDone(closeAfter bool) { c.closeAfter = closeAfter }

// A request arrives in two reads, split anywhere; the handler's answer
// leaves in one write.
func Example() {
	p := http1.NewParser(nil) // Node's bounds
	p.RemoteAddr = "192.0.2.7:50000"
	c := &conn{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		fmt.Fprintf(w, "%s %s from %s: %s", r.Method, r.URL.Query().Get("sid"), r.RemoteAddr, body)
	})

	for _, read := range []string{
		"POST /socket.io/?EIO=4&transport=polling&sid=abc HTTP/1.1\r\nHost: local",
		"host\r\nContent-Length: 5\r\n\r\n4hey!",
	} {
		if err := p.Feed([]byte(read)); err != nil {
			c.out.Write(http1.ErrorResponse(err)) // then close
			return
		}
		r, err := p.Next()
		if err != nil || r == nil {
			continue // more bytes needed
		}
		w := http1.NewResponse(c, r, nil)
		handler.ServeHTTP(w, r)
		w.End()
		p.Done() // keep-alive: ready for the next request
	}

	res, _ := http.ReadResponse(bufio.NewReader(&c.out), nil)
	body, _ := io.ReadAll(res.Body)
	fmt.Println(res.Status, res.ContentLength, res.Header.Get("Keep-Alive"))
	fmt.Println(string(body))
	// Output:
	// 200 OK 36 timeout=5
	// POST abc from 192.0.2.7:50000: 4hey!
}

// A request whose head is over 16 KiB gets Node's 431.
func ExampleErrorResponse() {
	p := http1.NewParser(nil)
	err := p.Feed([]byte("GET / HTTP/1.1\r\nCookie: " + string(bytes.Repeat([]byte("a"), 20000))))
	fmt.Printf("%q\n", http1.ErrorResponse(err))
	// Output:
	// "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n"
}

// A long-poll with nothing to send yet detaches: the handler returns at
// once, and the answer is written when a packet comes.
func ExampleDetacher() {
	p := http1.NewParser(nil)
	p.Feed([]byte("GET /socket.io/?EIO=4&transport=polling&sid=abc HTTP/1.1\r\nHost: localhost\r\n\r\n"))
	r, _ := p.Next()
	c := &conn{}
	w := http1.NewResponse(c, r, nil)

	var parked http1.Detacher
	http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, ok := w.(http1.Detacher); ok && d.Detach(func() { /* the client left */ }) == nil {
			parked = d
			return
		}
		// Under another server: wait here for a packet instead.
	}).ServeHTTP(w, r)
	w.End() // nothing is sent: the response is detached
	fmt.Println("sent while parked:", c.out.Len())

	// Later, a packet for the session.
	parked.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	io.WriteString(parked, "42[\"news\"]")
	parked.Finish()
	res, _ := http.ReadResponse(bufio.NewReader(&c.out), nil)
	body, _ := io.ReadAll(res.Body)
	fmt.Println(res.Status, string(body))
	// Output:
	// sent while parked: 0
	// 200 OK 42["news"]
}
