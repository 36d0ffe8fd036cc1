package httploop_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/siogo/siogo/internal/httploop"
)

// Serving a mux on the event loop, then shutting it down gracefully.
func Example() {
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello") })
	s := httploop.New(mux, httploop.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go s.Serve(ln)
	defer s.Shutdown(context.Background())

	res, err := http.Get("http://" + ln.Addr().String() + "/hello")
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Println(res.Status, string(b), res.Header.Get("Keep-Alive"))
	// Output: 200 OK hello timeout=5
}
