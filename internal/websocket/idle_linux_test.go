//go:build linux && !netpoll_portable

package websocket

import (
	"runtime"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/testcert"
)

// TestLoopTLSIdleGoroutines: idle WSS connections on the loop hold no
// goroutine.
func TestLoopTLSIdleGoroutines(t *testing.T) {
	cert := testcert.New(t)
	rec, addr := serveLoop(t, Config{}, cert)
	warm := dialTLS(t, addr, cert) // pools and pollers started
	<-rec.conns
	warm.send(opText, "w")
	warm.read()
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	const n = 100
	for range n {
		c := dialTLS(t, addr, cert)
		<-rec.conns
		c.send(opText, "hi")
		if _, p := c.read(); p != "hi" {
			t.Fatalf("echo %q", p)
		}
	}
	var after int
	for range 50 { // the handshakes' and workers' goroutines end
		time.Sleep(100 * time.Millisecond)
		if after = runtime.NumGoroutine(); after-before < n/10 {
			break
		}
	}
	if after-before >= n/10 {
		t.Fatalf("%d idle WSS connections: %d goroutines more", n, after-before)
	}
}
