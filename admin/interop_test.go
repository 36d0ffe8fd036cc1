package admin_test

import (
	"encoding/json"
	"fmt"
	"net"
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
	nodetest.Require(t)
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
	nodetest.Serve(t, 15*time.Second, "admin-node.js", string(arg))
	drive(t, map[string]any{"url": url, "nodeUrl": fmt.Sprintf("http://127.0.0.1:%d", port), "case": "interop",
		"serverIds": []string{"siogo", "node-js"}})
}
