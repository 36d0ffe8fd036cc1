package redis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siogo/siogo/adapters/redis"
	"github.com/siogo/siogo/internal/nodetest"
	"github.com/siogo/siogo/internal/redistest"
	"github.com/siogo/siogo/internal/siotest"
	"github.com/siogo/siogo/server"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// node is one siogo node of a test cluster.
type node struct {
	srv *server.Server
	rc  *redis.Client
	URL string
}

func newNode(t *testing.T, redisURL string) *node {
	t.Helper()
	return newNodeWith(t, redis.Options{URL: redisURL})
}

func newNodeWith(t *testing.T, opts redis.Options) *node {
	t.Helper()
	opts.RequestsTimeout, opts.Logger = 2*time.Second, quiet
	rc, err := redis.NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{NewAdapter: rc.NewAdapter, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		_ = srv.Close()
		hs.Close()
		_ = rc.Close()
	})
	n := &node{srv: srv, rc: rc, URL: hs.URL}
	n.waitReady(t)
	return n
}

func (n *node) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for n.rc.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not subscribed: %v", n.rc.Ready())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// expect polls until len(want) packets came, and compares them: Node's
// server may flush an event and its attachment in separate polls.
func expect(t *testing.T, c *siotest.Client, want ...string) {
	t.Helper()
	var got []string
	for len(got) < len(want) {
		got = append(got, c.Poll()...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestBroadcastAcrossNodes(t *testing.T) {
	rs := redistest.Start(t)
	a, b, c := newNode(t, rs.URL), newNode(t, rs.URL), newNode(t, rs.URL)
	ca, cb, cc := siotest.Dial(t, a.URL), siotest.Dial(t, b.URL), siotest.Dial(t, c.URL)
	ca.Connect()
	idb := cb.Connect()
	cc.Connect()
	if n, _ := a.srv.Of("/").Adapter().ServerCount(context.Background()); n != 3 {
		t.Fatalf("server count %d, want 3", n)
	}

	// Every client once, whichever node emits.
	_ = a.srv.Emit("hello", 1, map[string]any{"k": []byte{7}})
	for _, cl := range []*siotest.Client{ca, cb, cc} {
		expect(t, cl, `451-["hello",1,{"k":{"_placeholder":true,"num":0}}]`, "bBw==")
	}
	_ = b.srv.Emit("end")
	for _, cl := range []*siotest.Client{ca, cb, cc} {
		expect(t, cl, `42["end"]`)
	}

	// Rooms and except across nodes.
	b.srv.Of("/").Socket(idb).Join("r", "x")
	_ = a.srv.To("r").Emit("in-r")
	_ = a.srv.Except("x").Emit("not-x")
	expect(t, cb, `42["in-r"]`)
	expect(t, ca, `42["not-x"]`)
	expect(t, cc, `42["not-x"]`)
}

func TestClusterCalls(t *testing.T) {
	rs := redistest.Start(t)
	a, b := newNode(t, rs.URL), newNode(t, rs.URL)
	ca, cb := siotest.Dial(t, a.URL), siotest.Dial(t, b.URL)
	ida, idb := ca.Connect(), cb.Connect()
	ctx := context.Background()

	all, err := a.srv.Of("/").FetchSockets(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("fetchSockets: %d %v", len(all), err)
	}
	var remote *server.RemoteSocket
	for _, s := range all {
		if s.ID == idb {
			remote = s
		}
	}
	if remote == nil || remote.Handshake.Address != "127.0.0.1" || !slices.Contains(remote.Rooms, idb) {
		t.Fatalf("remote socket %+v", remote)
	}

	if err := a.srv.In(idb).SocketsJoin("club"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return slices.Contains(b.srv.Of("/").Socket(idb).Rooms(), "club") })
	got, _ := a.srv.In("club").FetchSockets(ctx)
	if len(got) != 1 || got[0].ID != idb {
		t.Fatalf("club: %+v", got)
	}
	if err := remote.Emit("direct", "hi"); err != nil {
		t.Fatal(err)
	}
	expect(t, cb, `42["direct","hi"]`)
	_ = a.srv.In("club").SocketsLeave("club")
	waitFor(t, func() bool { return !slices.Contains(b.srv.Of("/").Socket(idb).Rooms(), "club") })

	// Server-side emit with acks, each way.
	b.srv.Of("/").OnServerSideEmit("ping", func(args []any, ack server.Ack) { ack(fmt.Sprint("pong ", args[0])) })
	answers, err := a.srv.Of("/").ServerSideEmitWithAck(ctx, "ping", "a")
	if err != nil || !slices.Equal(answers, []any{"pong a"}) {
		t.Fatalf("server-side emit: %v %v", answers, err)
	}

	// Broadcast with acks from clients on both nodes.
	done := make(chan []any, 1)
	go func() {
		resp, err := a.srv.Of("/").Timeout(3*time.Second).EmitWithAck(ctx, "q")
		if err != nil {
			t.Errorf("broadcast with ack: %v", err)
		}
		done <- resp
	}()
	for _, cl := range []*siotest.Client{ca, cb} {
		p := cl.Poll()[0]
		id := p[2:strings.IndexByte(p, '[')]
		cl.Send("43" + id + `["answer"]`)
	}
	if resp := <-done; !slices.Equal(resp, []any{"answer", "answer"}) {
		t.Fatalf("acks %v", resp)
	}

	if err := a.srv.Except(ida).DisconnectSockets(); err != nil {
		t.Fatal(err)
	}
	expect(t, cb, "41")
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startNodeServer runs a Node.js socket.io server with the npm redis
// adapter and returns its base URL.
func startNodeServer(t *testing.T, redisURL string, sharded ...bool) string {
	t.Helper()
	return startNodeServerWith(t, map[string]any{"redis": redisURL, "sharded": len(sharded) > 0 && sharded[0]})
}

// startNodeServerWith runs node-cluster-node.js with cfg (its port added).
func startNodeServerWith(t *testing.T, cfg map[string]any) string {
	t.Helper()
	nodetest.Require(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg["port"] = port
	arg, _ := json.Marshal(cfg)
	nodetest.Serve(t, 15*time.Second, "node-cluster-node.js", string(arg))
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// TestMixedCluster puts a Node.js socket.io node with @socket.io/redis-
// adapter beside a siogo node: broadcasts, rooms and cluster calls cross
// both ways.
func TestMixedCluster(t *testing.T) {
	rs := redistest.Start(t)
	g := newNode(t, rs.URL)
	nodeURL := startNodeServer(t, rs.URL)
	cg, cn := siotest.Dial(t, g.URL), siotest.Dial(t, nodeURL)
	cg.Connect()
	idn := cn.Connect()
	waitFor(t, func() bool { n, _ := g.srv.Of("/").Adapter().ServerCount(context.Background()); return n == 2 })

	_ = g.srv.Emit("from-go", "x", 1.5, []byte{9})
	expect(t, cg, `451-["from-go","x",1.5,{"_placeholder":true,"num":0}]`, "bCQ==")
	expect(t, cn, `451-["from-go","x",1.5,{"_placeholder":true,"num":0}]`, "bCQ==")

	cn.Send(`42["broadcast","from-node"]`)
	expect(t, cg, `42["broadcast","from-node"]`)
	expect(t, cn, `42["broadcast","from-node"]`)

	all, err := g.srv.Of("/").FetchSockets(context.Background())
	if err != nil || len(all) != 2 {
		t.Fatalf("fetchSockets: %d %v", len(all), err)
	}
	if err := g.srv.In(idn).SocketsJoin("room-x"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	_ = g.srv.To("room-x").Emit("in-x")
	expect(t, cn, `42["in-x"]`)

	answers, err := g.srv.Of("/").ServerSideEmitWithAck(context.Background(), "ping-node", "go")
	if err != nil || !slices.Equal(answers, []any{"pong from node: go"}) {
		t.Fatalf("server-side emit to Node: %v %v", answers, err)
	}
	g.srv.Of("/").OnServerSideEmit("ping-go", func(args []any, ack server.Ack) { ack("pong from go: " + fmt.Sprint(args[0])) })
	cn.Send(`42["ask-go"]`)
	expect(t, cn, `42["go-answers",["pong from go: from node"]]`)

	cn.Send(`42["fetch"]`)
	got := cn.Poll()
	if len(got) != 1 || !strings.HasPrefix(got[0], `42["fetched",[`) || strings.Count(got[0], `"id"`) != 2 {
		t.Fatalf("Node's fetchSockets: %q", got)
	}
}

// TestEmitter publishes with @socket.io/redis-emitter and sees siogo's
// clients receive it, rooms included.
func TestEmitter(t *testing.T) {
	rs := redistest.Start(t)
	g := newNode(t, rs.URL)
	inRoom, outside := siotest.Dial(t, g.URL), siotest.Dial(t, g.URL)
	id := inRoom.Connect()
	outside.Connect()
	g.srv.Of("/").Socket(id).Join("r")
	var rep struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	nodetest.Run(t, 30*time.Second, "emitter.js", map[string]any{"redis": rs.URL}, &rep)
	if !rep.OK {
		t.Fatal(rep.Error)
	}
	all := `451-["news","to all",{"_placeholder":true,"num":0}]`
	var got []string
	for len(got) < 3 {
		got = append(got, inRoom.Poll()...)
	}
	if !slices.Equal(got, []string{all, "bAQID", `42["news","to room r"]`}) {
		t.Fatalf("in room: %q", got)
	}
	expect(t, outside, all, "bAQID")
	waitFor(t, func() bool { return slices.Contains(g.srv.Of("/").Socket(id).Rooms(), "joined-by-emitter") })
}

// TestRedisRestart kills Redis during a run: local delivery goes on, and
// cluster delivery resumes once Redis is back, without goroutine growth.
func TestRedisRestart(t *testing.T) {
	rs := redistest.Start(t)
	a, b := newNode(t, rs.URL), newNode(t, rs.URL)
	ca, cb := siotest.Dial(t, a.URL), siotest.Dial(t, b.URL)
	ca.Connect()
	cb.Connect()
	base := runtime.NumGoroutine()
	for round := 0; round < 3; round++ {
		rs.Kill()
		waitFor(t, func() bool { return a.rc.Ready() != nil })
		_ = a.srv.Emit("local", round)
		expect(t, ca, fmt.Sprintf(`42["local",%d]`, round))
		rs.Restart()
		a.waitReady(t)
		b.waitReady(t)
		_ = a.srv.Emit("again", round)
		expect(t, ca, fmt.Sprintf(`42["again",%d]`, round))
		expect(t, cb, fmt.Sprintf(`42["again",%d]`, round))
	}
	time.Sleep(200 * time.Millisecond)
	if n := runtime.NumGoroutine(); n > base+10 {
		t.Fatalf("goroutines grew from %d to %d across reconnects", base, n)
	}
}

// TestRedisDownAtStart starts a node while Redis is unreachable: it serves
// its own clients, and joins the cluster when Redis comes.
func TestRedisDownAtStart(t *testing.T) {
	rs := redistest.Start(t)
	rs.Kill()
	rc, err := redis.NewClient(redis.Options{URL: rs.URL, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	srv, err := server.New(server.Options{NewAdapter: rc.NewAdapter, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()
	if err := rc.Ready(); err == nil {
		t.Fatal("ready without Redis")
	}
	c := siotest.Dial(t, hs.URL)
	c.Connect()
	_ = srv.Emit("alone")
	expect(t, c, `42["alone"]`)
	rs.Restart()
	n := &node{srv: srv, rc: rc}
	n.waitReady(t)
	other := newNode(t, rs.URL)
	_ = other.srv.Emit("joined")
	expect(t, c, `42["joined"]`)
	if _, err := redis.NewClient(redis.Options{URL: "localhost:6379"}); err == nil {
		t.Fatal("a URL without redis:// accepted")
	}
}

// TestSharded runs the sharded mode (SSUBSCRIBE, SPUBLISH): two siogo nodes
// and a Node.js node with createShardedAdapter, the dynamic room channels
// included.
func TestSharded(t *testing.T) {
	rs := redistest.Start(t)
	a := newNodeWith(t, redis.Options{URL: rs.URL, Sharded: true})
	b := newNodeWith(t, redis.Options{URL: rs.URL, Sharded: true})
	nodeURL := startNodeServer(t, rs.URL, true)
	ca, cb, cn := siotest.Dial(t, a.URL), siotest.Dial(t, b.URL), siotest.Dial(t, nodeURL)
	ca.Connect()
	idb := cb.Connect()
	idn := cn.Connect()
	ctx := context.Background()
	waitFor(t, func() bool { n, _ := a.srv.Of("/").Adapter().ServerCount(ctx); return n == 3 })

	_ = a.srv.Emit("all", []byte{1})
	for _, c := range []*siotest.Client{ca, cb, cn} {
		expect(t, c, `451-["all",{"_placeholder":true,"num":0}]`, "bAQ==")
	}
	// A room on the siogo node and one on the Node node: dynamic channels.
	b.srv.Of("/").Socket(idb).Join("room-b")
	cn.Send(`42["join","room-n"]`)
	time.Sleep(300 * time.Millisecond)
	_ = a.srv.To("room-b").Emit("to-b")
	expect(t, cb, `42["to-b"]`)
	_ = a.srv.To("room-n").Emit("to-n")
	expect(t, cn, `42["to-n"]`)
	cn.Send(`42["to","room-b","from node"]`)
	expect(t, cb, `42["broadcast","from node"]`)

	all, err := a.srv.Of("/").FetchSockets(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("fetchSockets: %d %v", len(all), err)
	}
	if err := a.srv.In(idn).SocketsJoin("joined"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	_ = a.srv.To("joined").Emit("in-joined")
	expect(t, cn, `42["in-joined"]`)

	b.srv.Of("/").OnServerSideEmit("ping-node", func(args []any, ack server.Ack) { ack("pong from b") })
	answers, err := a.srv.Of("/").ServerSideEmitWithAck(ctx, "ping-node", "a")
	if err != nil || len(answers) != 2 || !slices.Contains(answers, any("pong from node: a")) || !slices.Contains(answers, any("pong from b")) {
		t.Fatalf("server-side emit: %v %v", answers, err)
	}
	done := make(chan []any, 1)
	go func() {
		resp, err := a.srv.Of("/").Timeout(3*time.Second).EmitWithAck(ctx, "q")
		if err != nil {
			t.Errorf("broadcast with ack: %v", err)
		}
		done <- resp
	}()
	for _, c := range []*siotest.Client{ca, cb, cn} {
		p := c.Poll()[0]
		id := p[2:strings.IndexByte(p, '[')]
		c.Send("43" + id + `["answer"]`)
	}
	if resp := <-done; len(resp) != 3 {
		t.Fatalf("acks %v", resp)
	}
}
