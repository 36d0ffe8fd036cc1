package redis_test

import (
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siogo/siogo/adapters/adaptertest"
	"github.com/siogo/siogo/adapters/cluster"
	"github.com/siogo/siogo/adapters/redis"
	"github.com/siogo/siogo/internal/clustertest"
	"github.com/siogo/siogo/internal/nodetest"
	"github.com/siogo/siogo/internal/redistest"
	"github.com/siogo/siogo/internal/siotest"
	"github.com/siogo/siogo/server"
)

var quiet = clustertest.Quiet

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
	rc := newClient(t, opts)
	n := clustertest.Start(t, server.Options{NewAdapter: rc.NewAdapter}, func() { _ = rc.Close() })
	return &node{srv: n.Srv, rc: rc, URL: n.URL}
}

// newClient connects a client, subscribed; its owner closes it.
func newClient(t *testing.T, opts redis.Options) *redis.Client {
	t.Helper()
	opts.RequestsTimeout, opts.Logger = 2*time.Second, quiet
	rc, err := redis.NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, rc)
	return rc
}

func waitReady(t *testing.T, rc *redis.Client) {
	t.Helper()
	clustertest.WaitFor(t, 10*time.Second, func() bool { return rc.Ready() == nil })
}

func (n *node) waitReady(t *testing.T) { t.Helper(); waitReady(t, n.rc) }

func waitFor(t *testing.T, cond func() bool) { t.Helper(); clustertest.WaitFor(t, 5*time.Second, cond) }

var expect = clustertest.Expect

// startNodeServer runs a Node.js socket.io server with the npm redis
// adapter and returns its base URL.
func startNodeServer(t *testing.T, redisURL string, sharded ...bool) string {
	t.Helper()
	return startNodeServerWith(t, map[string]any{"redis": redisURL, "sharded": len(sharded) > 0 && sharded[0]})
}

// startNodeServerWith runs node-cluster-node.js with cfg.
func startNodeServerWith(t *testing.T, cfg map[string]any) string {
	t.Helper()
	url, _ := nodetest.ServeNode(t, "node-cluster-node.js", cfg)
	return url
}

// conformance is a fresh cluster for each test of the conformance suite:
// siogo nodes and a Node.js node with @socket.io/redis-adapter 8, in the
// classic mode or the sharded one, on a Redis server of its own (redisURL
// ""), or with channels of their own on the Redis at redisURL (nodeCfg
// then says how Node's client reaches it).
func conformance(sharded bool, redisURL string, nodeCfg map[string]any) func(t *testing.T) adaptertest.Cluster {
	return func(t *testing.T) adaptertest.Cluster {
		url, cfgBase, prefix := redisURL, nodeCfg, "socket.io"
		if url == "" {
			rs := redistest.Start(t)
			url, cfgBase = rs.URL, map[string]any{"redis": rs.URL}
		} else {
			prefix = "sio-" + strings.ReplaceAll(t.Name(), "/", "-")
		}
		return adaptertest.Cluster{
			Broker: func(t *testing.T) cluster.Broker {
				rc := newClient(t, redis.Options{URL: url, Prefix: prefix, Sharded: sharded})
				t.Cleanup(func() { _ = rc.Close() })
				return rc
			},
			NodeJS: func(t *testing.T, _ cluster.Options, name string) (string, func()) {
				cfg := maps.Clone(cfgBase)
				cfg["name"], cfg["prefix"], cfg["sharded"] = name, prefix, sharded
				return nodetest.ServeNode(t, "node-cluster-node.js", cfg)
			},
		}
	}
}

// TestConformance runs the adapter suite in the classic mode: two siogo
// nodes and a Node.js node with @socket.io/redis-adapter's createAdapter
// on one Redis, with the official client on each: broadcasts every way
// (binary, large), rooms on their channels, the cluster calls and their
// acks through the request and response channels, the count of nodes.
func TestConformance(t *testing.T) {
	adaptertest.Run(t, conformance(false, "", nil))
}

// TestConformanceSharded runs the suite in the sharded mode, with Node's
// createShardedAdapter: a room with a socket on a node, Node's included,
// has a channel that node subscribes.
func TestConformanceSharded(t *testing.T) {
	adaptertest.Run(t, conformance(true, "", nil))
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
	n := clustertest.Start(t, server.Options{NewAdapter: rc.NewAdapter}, func() { _ = rc.Close() })
	if err := rc.Ready(); err == nil {
		t.Fatal("ready without Redis")
	}
	c := siotest.Dial(t, n.URL)
	c.Connect()
	_ = n.Srv.Emit("alone")
	expect(t, c, `42["alone"]`)
	rs.Restart()
	waitReady(t, rc)
	other := newNode(t, rs.URL)
	_ = other.srv.Emit("joined")
	expect(t, c, `42["joined"]`)
	if _, err := redis.NewClient(redis.Options{URL: "localhost:6379"}); err == nil {
		t.Fatal("a URL without redis:// accepted")
	}
}
