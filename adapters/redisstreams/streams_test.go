package redisstreams_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/siogo/siogo/adapters/redisstreams"
	"github.com/siogo/siogo/internal/nodetest"
	"github.com/siogo/siogo/internal/redistest"
	"github.com/siogo/siogo/internal/siotest"
	"github.com/siogo/siogo/server"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// node is one siogo node of a test cluster.
type node struct {
	srv *server.Server
	rc  *redisstreams.Client
	URL string
}

func newNode(t testing.TB, redisURL string, recovery time.Duration) *node {
	t.Helper()
	return newNodeWith(t, redisstreams.Options{URL: redisURL}, recovery)
}

func newNodeWith(t testing.TB, o redisstreams.Options, recovery time.Duration) *node {
	t.Helper()
	o.RequestsTimeout, o.Logger = 2*time.Second, quiet
	rc, err := redisstreams.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	opts := server.Options{NewAdapter: rc.NewAdapter, Logger: quiet}
	if recovery > 0 {
		opts.Recovery = &server.RecoveryOptions{MaxDisconnectionDuration: recovery}
	}
	srv, err := server.New(opts)
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
	waitFor(t, func() bool { return rc.Ready() == nil })
	return n
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// poll is c.Poll, failing the test after 10 s without a packet.
func poll(t *testing.T, c *siotest.Client) []string {
	t.Helper()
	ch := make(chan []string, 1)
	go func() { ch <- c.Poll() }()
	select {
	case p := <-ch:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no packet in 10 s")
		return nil
	}
}

// expect polls until len(want) packets came, and compares them; a poll
// that brings nothing in 10 s fails the test.
func expect(t *testing.T, c *siotest.Client, want ...string) {
	t.Helper()
	var got []string
	for len(got) < len(want) {
		ch := make(chan []string, 1)
		go func() { ch <- c.Poll() }()
		select {
		case p := <-ch:
			got = append(got, p...)
		case <-time.After(10 * time.Second):
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// waitReaders waits until n connections are blocked in XREAD on the
// servers at redisURLs: Node's adapter reads from "$" once its reading
// connections are up, after its server listens, and would miss what came
// before.
func waitReaders(t *testing.T, n int, redisURLs ...string) {
	t.Helper()
	var conns []redis.Conn
	for _, u := range redisURLs {
		conn, err := redis.DialURL(u)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conns = append(conns, conn)
	}
	waitFor(t, func() bool {
		count := 0
		for _, conn := range conns {
			list, _ := redis.String(conn.Do("CLIENT", "LIST"))
			count += strings.Count(list, "cmd=xread")
		}
		return count >= n
	})
}

// startNodeServer runs a Node.js socket.io server with the npm streams
// adapter and returns its base URL.
func startNodeServer(t *testing.T, redisURL string, recovery time.Duration) string {
	t.Helper()
	return startNodeServerWith(t, map[string]any{"redis": redisURL, "recovery": recovery.Milliseconds()})
}

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
	nodetest.Serve(t, 15*time.Second, "node-streams-node.js", string(arg))
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// TestMixedCluster runs two siogo nodes and a Node.js node with
// @socket.io/redis-streams-adapter on one Redis: broadcasts (binary
// included), rooms and every cluster call cross every way.
func TestMixedCluster(t *testing.T) {
	rs := redistest.Start(t)
	mixedCluster(t, rs.URL, map[string]any{"redis": rs.URL}, rs.URL)
}

// mixedCluster is TestMixedCluster's body: siogo's nodes on goURL, Node's
// with nodeCfg (its driver's configuration), Redis's servers at
// redisURLs.
func mixedCluster(t *testing.T, goURL string, nodeCfg map[string]any, redisURLs ...string) {
	a, b := newNode(t, goURL, 0), newNode(t, goURL, 0)
	nodeURL := startNodeServerWith(t, nodeCfg)
	ca, cb, cn := siotest.Dial(t, a.URL), siotest.Dial(t, b.URL), siotest.Dial(t, nodeURL)
	ida := ca.Connect()
	idb := cb.Connect()
	idn := cn.Connect()
	ctx := context.Background()
	waitFor(t, func() bool { n, _ := a.srv.Of("/").Adapter().ServerCount(ctx); return n == 3 })
	waitReaders(t, 3, redisURLs...)
	all3 := []*siotest.Client{ca, cb, cn}

	// Broadcasts from each kind of node, binary as base64 msgpack.
	_ = a.srv.Emit("hello", 1, map[string]any{"k": []byte{7}})
	for _, c := range all3 {
		expect(t, c, `451-["hello",1,{"k":{"_placeholder":true,"num":0}}]`, "bBw==")
	}
	cn.Send(`42["broadcast","from-node"]`)
	for _, c := range all3 {
		expect(t, c, `42["broadcast","from-node"]`)
	}
	cn.Send(`42["count"]`)
	expect(t, cn, `42["counted",3]`)

	// Rooms and except across nodes.
	b.srv.Of("/").Socket(idb).Join("r", "x")
	cn.Send(`42["join","r"]`)
	time.Sleep(100 * time.Millisecond)
	_ = a.srv.To("r").Emit("in-r")
	_ = a.srv.Except("x").Emit("not-x")
	expect(t, cb, `42["in-r"]`)
	expect(t, cn, `42["in-r"]`, `42["not-x"]`)
	expect(t, ca, `42["not-x"]`)
	cn.Send(`42["to","x","from node to x"]`)
	expect(t, cb, `42["broadcast","from node to x"]`)

	// FetchSockets, from siogo and from Node.
	all, err := a.srv.Of("/").FetchSockets(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("fetchSockets: %d %v", len(all), err)
	}
	var remote *server.RemoteSocket
	for _, s := range all {
		if s.ID == idn {
			remote = s
		}
	}
	if remote == nil || remote.Handshake.Address == "" || !slices.Contains(remote.Rooms, "r") {
		t.Fatalf("Node's socket as fetched: %+v", remote)
	}
	cn.Send(`42["fetch"]`)
	got := poll(t, cn)
	if len(got) != 1 || !strings.HasPrefix(got[0], `42["fetched",[`) || strings.Count(got[0], `"id"`) != 3 {
		t.Fatalf("Node's fetchSockets: %q", got)
	}

	// SocketsJoin, SocketsLeave, from siogo to Node's and siogo's sockets,
	// and from Node.
	if err := a.srv.In(idn).SocketsJoin("club"); err != nil {
		t.Fatal(err)
	}
	if err := a.srv.In(idb).SocketsJoin("club"); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(b.srv.Of("/").Socket(idb).Rooms(), "club") {
		waitFor(t, func() bool { return slices.Contains(b.srv.Of("/").Socket(idb).Rooms(), "club") })
	}
	time.Sleep(100 * time.Millisecond)
	_ = a.srv.To("club").Emit("in-club")
	expect(t, cb, `42["in-club"]`)
	expect(t, cn, `42["in-club"]`)
	_ = a.srv.In("club").SocketsLeave("club")
	waitFor(t, func() bool { return !slices.Contains(b.srv.Of("/").Socket(idb).Rooms(), "club") })
	cn.Send(`42["join-all","everyone"]`)
	waitFor(t, func() bool { return slices.Contains(a.srv.Of("/").Socket(ida).Rooms(), "everyone") })

	// Server-side emit with acks, each way.
	b.srv.Of("/").OnServerSideEmit("ping-node", func(args []any, ack server.Ack) { ack("pong from b") })
	answers, err := a.srv.Of("/").ServerSideEmitWithAck(ctx, "ping-node", "a")
	if err != nil || len(answers) != 2 || !slices.Contains(answers, any("pong from node: a")) || !slices.Contains(answers, any("pong from b")) {
		t.Fatalf("server-side emit: %v %v", answers, err)
	}
	for _, n := range []*node{a, b} {
		n.srv.Of("/").OnServerSideEmit("ping-go", func(args []any, ack server.Ack) { ack("pong from go: " + fmt.Sprint(args[0])) })
	}
	cn.Send(`42["ask-go"]`)
	expect(t, cn, `42["go-answers",["pong from go: from node","pong from go: from node"]]`)

	// Broadcast with acks from clients on every node, asked by siogo, then
	// by Node.
	done := make(chan []any, 1)
	go func() {
		resp, err := a.srv.Of("/").Timeout(3*time.Second).EmitWithAck(ctx, "q")
		if err != nil {
			t.Errorf("broadcast with ack: %v", err)
		}
		done <- resp
	}()
	answer := func() {
		for _, c := range all3 {
			p := poll(t, c)[0]
			id := p[2:strings.IndexByte(p, '[')]
			c.Send("43" + id + `["answer"]`)
		}
	}
	answer()
	if resp := <-done; !slices.Equal(resp, []any{"answer", "answer", "answer"}) {
		t.Fatalf("acks %v", resp)
	}
	cn.Send(`42["ask-acks"]`)
	answer()
	expect(t, cn, `42["acks",3]`)

	// DisconnectSockets from siogo reaches Node's socket; from Node, siogo's.
	if err := a.srv.In(idn).DisconnectSockets(); err != nil {
		t.Fatal(err)
	}
	expect(t, cn, "41")
	cn2 := siotest.Dial(t, nodeURL)
	cn2.Connect()
	cn2.Send(`42["kick","x"]`)
	expect(t, cb, "41")
}

// TestEntriesAsNodeWritesThem reads the stream: the fields and their
// encodings are those of Node's adapter.
func TestEntriesAsNodeWritesThem(t *testing.T) {
	rs := redistest.Start(t)
	a := newNode(t, rs.URL, time.Minute)
	_ = a.srv.To("r").Emit("text", "é<>")
	_ = a.srv.Emit("bin", []byte{1, 2})
	conn, err := redis.DialURL(rs.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	v, err := redis.Values(conn.Do("XRANGE", "socket.io", "-", "+"))
	if err != nil || len(v) != 2 {
		t.Fatalf("XRANGE: %v %v", v, err)
	}
	fields := func(i int) map[string]string {
		e, _ := redis.Values(v[i], nil)
		m, _ := redis.StringMap(e[1], nil)
		return m
	}
	f := fields(0)
	if f["nsp"] != "/" || f["type"] != "3" || len(f["uid"]) != 16 ||
		f["data"] != `{"opts":{"except":[],"flags":{},"rooms":["r"]},"packet":{"data":["text","é<>"],"nsp":"/","type":2}}` {
		t.Fatalf("entry %q", f)
	}
	if f := fields(1); strings.HasPrefix(f["data"], "{") || f["data"] == "" {
		t.Fatalf("binary entry not base64 msgpack: %q", f)
	}
}

// TestShardedStreams: several streams (Node's streamCount) and sharded
// pub/sub for requests (useShardedPubSub), with a Node.js node.
func TestShardedStreams(t *testing.T) {
	rs := redistest.Start(t)
	conn, err := redis.DialURL(rs.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	shardedStreams(t, rs.URL, map[string]any{"redis": rs.URL}, 4, []string{rs.URL}, func(stream string) (int, error) {
		return redis.Int(conn.Do("XLEN", stream))
	})
}

// shardedStreams is TestShardedStreams's body: siogo's node on goURL,
// Node's with nodeCfg (its driver's configuration), readers connections
// in XREAD in all on Redis's servers at redisURLs; xlen counts a stream's
// entries.
func shardedStreams(t *testing.T, goURL string, nodeCfg map[string]any, readers int, redisURLs []string, xlen func(stream string) (int, error)) {
	a := newNodeWith(t, redisstreams.Options{URL: goURL, StreamCount: 3, Sharded: true}, 0)
	nodeCfg["streamCount"], nodeCfg["sharded"] = 3, true
	nodeURL := startNodeServerWith(t, nodeCfg)
	ca, cn := siotest.Dial(t, a.URL), siotest.Dial(t, nodeURL)
	ca.Connect()
	cn.Connect()
	ctx := context.Background()
	waitFor(t, func() bool { n, _ := a.srv.Of("/").Adapter().ServerCount(ctx); return n == 2 })
	waitReaders(t, readers, redisURLs...)
	_ = a.srv.Emit("from-go", []byte{5})
	for _, c := range []*siotest.Client{ca, cn} {
		expect(t, c, `451-["from-go",{"_placeholder":true,"num":0}]`, "bBQ==")
	}
	cn.Send(`42["broadcast","from-node"]`)
	for _, c := range []*siotest.Client{ca, cn} {
		expect(t, c, `42["broadcast","from-node"]`)
	}
	all, err := a.srv.Of("/").FetchSockets(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("fetchSockets: %d %v", len(all), err)
	}
	answers, err := a.srv.Of("/").ServerSideEmitWithAck(ctx, "ping-node", "a")
	if err != nil || !slices.Equal(answers, []any{"pong from node: a"}) {
		t.Fatalf("server-side emit: %v %v", answers, err)
	}
	if n, err := xlen("socket.io-2"); err != nil || n < 2 {
		t.Fatalf("stream socket.io-2 (hashCode(\"/\") %% 3): %d entries, %v", n, err)
	}
}

// TestRedisRestart kills Redis: each node serves its own clients at once,
// and the cluster works again once Redis is back, the readers going on
// from where they were.
func TestRedisRestart(t *testing.T) {
	rs := redistest.Start(t)
	a, b := newNode(t, rs.URL, 0), newNode(t, rs.URL, 0)
	ca, cb := siotest.Dial(t, a.URL), siotest.Dial(t, b.URL)
	ca.Connect()
	cb.Connect()
	for round := 0; round < 2; round++ {
		rs.Kill()
		waitFor(t, func() bool { return a.rc.Ready() != nil })
		_ = a.srv.Emit("local", round)
		expect(t, ca, fmt.Sprintf(`42["local",%d]`, round))
		rs.Restart()
		waitFor(t, func() bool { return a.rc.Ready() == nil && b.rc.Ready() == nil })
		_ = a.srv.Emit("again", round)
		expect(t, ca, fmt.Sprintf(`42["again",%d]`, round))
		expect(t, cb, fmt.Sprintf(`42["again",%d]`, round))
	}
}
