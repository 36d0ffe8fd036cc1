package transports_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siogo/siogo/transports"
)

// TestHTTPServerAcceptWhileClosing is TestCloseWhileUpgrading
// (transports/websocket) for the connections transports.HTTPServer
// accepts itself: the server closes connections off the event loop (a
// handler that hijacks and closes, and each answer to Connection: close)
// while half the clients reset theirs at once, so that the poller holds
// an event for a socket whose number a fresh accept may get. Every
// client that asked for /ok must get its answer: a fresh connection
// closed by an event meant for the old socket fails the test.
func TestHTTPServerAcceptWhileClosing(t *testing.T) {
	if os.Getenv("SIOGO_NO_SETTLE") != "" {
		transports.SetSettleAccepts(false)
		defer transports.SetSettleAccepts(true)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			http.Error(w, "no hijacker", http.StatusInternalServerError)
			return
		}
		c, _, err := hj.Hijack()
		if err == nil {
			_ = c.Close() // off the event loop
		}
	})
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := transports.NewHTTPServer(mux, transports.HTTPServerOptions{})
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		<-served
	}()
	addr := ln.Addr().String()

	cycles := 6000
	if n, err := strconv.Atoi(os.Getenv("SIOGO_ACCEPT_CYCLES")); err == nil {
		cycles = n
	}
	const workers = 16
	var next, lost atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first []string
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(cycles); i = next.Add(1) {
				if err := acceptCycle(addr, i); err != nil {
					lost.Add(1)
					mu.Lock()
					if len(first) < 5 {
						first = append(first, fmt.Sprintf("cycle %d: %v", i, err))
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	n, waited := transports.SettleStats(hs)
	t.Logf("%d accepts waited for a barrier, %v in all", n, waited)
	if n := lost.Load(); n > 0 {
		t.Errorf("%d of %d fresh connections lost their answer; first: %s", n, cycles/2, strings.Join(first, "; "))
	}
}

// acceptCycle: odd cycles ask for /close and reset the connection at
// once; even ones ask for /ok and must read it.
func acceptCycle(addr string, i int64) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil // the listener's backlog under load: not what is tested
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if i%2 == 1 {
		fmt.Fprintf(conn, "GET /close HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		_ = conn.(*net.TCPConn).SetLinger(0) // a reset, not a FIN
		return nil
	}
	fmt.Fprintf(conn, "GET /ok HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", addr)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || string(b) != "ok" {
		return fmt.Errorf("body %q, %v", b, err)
	}
	return nil
}
