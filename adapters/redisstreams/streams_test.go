package redisstreams_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/siogo/siogo/adapters/adaptertest"
	"github.com/siogo/siogo/adapters/cluster"
	"github.com/siogo/siogo/adapters/redisstreams"
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
	rc  *redisstreams.Client
	URL string
}

func newNode(t testing.TB, redisURL string, recovery time.Duration) *node {
	t.Helper()
	return newNodeWith(t, redisstreams.Options{URL: redisURL}, recovery)
}

func newNodeWith(t testing.TB, o redisstreams.Options, recovery time.Duration) *node {
	t.Helper()
	rc := newClient(t, o)
	opts := server.Options{NewAdapter: rc.NewAdapter}
	if recovery > 0 {
		opts.Recovery = &server.RecoveryOptions{MaxDisconnectionDuration: recovery}
	}
	n := clustertest.Start(t, opts, func() { _ = rc.Close() })
	return &node{srv: n.Srv, rc: rc, URL: n.URL}
}

// newClient connects a client, ready: reading the stream and subscribed.
// Its owner closes it.
func newClient(t testing.TB, o redisstreams.Options) *redisstreams.Client {
	t.Helper()
	o.RequestsTimeout, o.Logger = 2*time.Second, quiet
	rc, err := redisstreams.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return rc.Ready() == nil })
	return rc
}

func waitFor(t testing.TB, cond func() bool) { t.Helper(); clustertest.WaitFor(t, 5*time.Second, cond) }

var (
	poll   = clustertest.Poll
	expect = clustertest.Expect
)

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
	url, _ := nodetest.ServeNode(t, "node-streams-node.js", cfg)
	return url
}

// conformance is a fresh cluster for each test of the conformance suite:
// siogo nodes and a Node.js node with @socket.io/redis-streams-adapter 0.3
// (nodeCfg is its driver's configuration), on a Redis server of its own
// (redisURL ""), or with a stream, channels and keys of its own on the
// Redis at redisURL, whose servers are redisURLs.
func conformance(redisURL string, nodeCfg map[string]any, redisURLs []string) func(t *testing.T) adaptertest.Cluster {
	return func(t *testing.T) adaptertest.Cluster {
		url, urls, cfgBase, prefix := redisURL, redisURLs, nodeCfg, "socket.io"
		if url == "" {
			rs := redistest.Start(t)
			url, urls, cfgBase = rs.URL, []string{rs.URL}, map[string]any{"redis": rs.URL}
		} else {
			prefix = "sio-" + strings.ReplaceAll(t.Name(), "/", "-")
		}
		o := redisstreams.Options{URL: url, StreamName: prefix, ChannelPrefix: prefix,
			SessionKeyPrefix: prefix + ":session:", LiveKeyPrefix: prefix + ":live:"}
		return adaptertest.Cluster{
			Broker: func(t *testing.T) cluster.Broker {
				rc := newClient(t, o)
				t.Cleanup(func() { _ = rc.Close() })
				return rc
			},
			NodeJS: func(t *testing.T, _ cluster.Options, name string) (string, func()) {
				cfg := maps.Clone(cfgBase)
				cfg["name"], cfg["prefix"] = name, prefix
				url, kill := nodetest.ServeNode(t, "node-streams-node.js", cfg)
				// Node's reader starts at the stream's end once it is
				// connected, after its server listens.
				waitReaders(t, 1, urls...)
				return url, kill
			},
		}
	}
}

// TestConformance runs the adapter suite on two siogo nodes and a Node.js
// node with @socket.io/redis-streams-adapter 0.3 on one Redis, with the
// official client on each: broadcasts every way (binary, large), rooms,
// the cluster calls with their acks, the count of nodes, one order of
// broadcasts on every node, and recovery across nodes, under load too.
func TestConformance(t *testing.T) {
	adaptertest.Run(t, conformance("", nil, nil))
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
