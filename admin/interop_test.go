package admin_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"testing"
	"time"

	redisadapter "github.com/siogo/siogo/adapters/redis"
	"github.com/siogo/siogo/admin"
	"github.com/siogo/siogo/internal/nodetest"
	"github.com/siogo/siogo/internal/redistest"
	"github.com/siogo/siogo/server"
)

// TestNodeInterop puts a Node.js node instrumented by @socket.io/admin-ui
// itself beside a siogo node instrumented by this package, in one Redis
// cluster: each admin namespace sees both nodes' statistics and sockets
// (client ids and transports included), and steers the other's sockets.
func TestNodeInterop(t *testing.T) {
	dir := nodetest.Require(t)
	rs := redistest.Start(t)
	rc, err := redisadapter.NewClient(redisadapter.Options{URL: rs.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rc.Close() })
	url, _ := start(t, server.Options{NewAdapter: rc.NewAdapter}, admin.Options{NoAuth: true, ServerID: "siogo"})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	arg, _ := json.Marshal(map[string]any{"redis": rs.URL, "port": port, "serverId": "node-js"})
	cmd := exec.Command("node", "admin-node.js", string(arg))
	cmd.Dir = dir
	out, _ := cmd.StdoutPipe()
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "listening" {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("the Node server stopped: %s", stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the Node server did not start: %s", stderr.String())
	}
	drive(t, map[string]any{"url": url, "nodeUrl": fmt.Sprintf("http://127.0.0.1:%d", port), "case": "interop",
		"serverIds": []string{"siogo", "node-js"}})
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
