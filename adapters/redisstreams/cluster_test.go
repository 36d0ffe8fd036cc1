package redisstreams_test

import (
	"context"
	"fmt"
	"github.com/siogo/siogo/internal/leaktest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/siogo/siogo/adapters/adaptertest"
	"github.com/siogo/siogo/adapters/redisstreams"
	"github.com/siogo/siogo/internal/redisnet"
	"github.com/siogo/siogo/internal/redistest"
	"github.com/siogo/siogo/internal/siotest"
)

// One Redis Cluster (three masters, a replica each) serves every cluster
// test of the package. The failover test runs last and brings the killed
// master back as a replica.
var redisCluster = redistest.Shared{Options: redistest.ClusterOptions{Masters: 3, Replicas: 1}}

func TestMain(m *testing.M) {
	leaktest.Main(m, redisCluster.Stop, func() {
		if built.dir != "" {
			_ = os.RemoveAll(built.dir)
		}
	})
}

// TestClusterConformance runs the adapter suite over a Redis Cluster: two
// siogo nodes and a Node.js node with @socket.io/redis-streams-adapter on
// the redis package's createCluster, each test with a stream and channels
// of its own.
func TestClusterConformance(t *testing.T) {
	rc := redisCluster.Get(t)
	adaptertest.Run(t, conformance(rc.URL, map[string]any{"cluster": rc.MasterURLs()}, rc.LiveURLs()))
}

// TestClusterRecovery runs TestRecoveryAcrossNodes over a Redis Cluster:
// the program with --adapter redis-streams-cluster:// killed, its client
// recovered by a siogo node, then by a Node.js node on a cluster client,
// and back, each time with its id, rooms, data and every missed event
// once and in order; the session keys live on other shards than the
// stream.
func TestClusterRecovery(t *testing.T) {
	rc := redisCluster.Get(t)
	recoveryAcrossNodes(t, "redis-streams-cluster://"+strings.TrimPrefix(rc.URL, "redis-cluster://"), rc.URL,
		map[string]any{"cluster": rc.MasterURLs()}, rc.LiveURLs()...)
}

// TestClusterStreamsSharded: Node's streamCount spreads the streams over
// the shards, each read on its own connection, and sharded pub/sub puts
// each request channel on its shard; with a Node.js node.
func TestClusterStreamsSharded(t *testing.T) {
	rc := redisCluster.Get(t)
	slots := map[int]bool{}
	for i := range 3 {
		slots[redisnet.KeySlot(fmt.Sprint("socket.io-", i))] = true
	}
	if len(slots) != 3 {
		t.Fatalf("the streams share slots: %v", slots)
	}
	// Node's three readers, and siogo's: one per stream, as Node's.
	shardedStreams(t, rc.URL, map[string]any{"cluster": rc.MasterURLs()}, 6, rc.LiveURLs(), func(stream string) (int, error) {
		owner, err := rc.MasterOf(redisnet.KeySlot(stream))
		if err != nil {
			return 0, err
		}
		return redis.Int(rc.Do(owner, "XLEN", stream))
	})
}

// broadcastSeq broadcasts seq i from a every 5ms until stop is closed,
// and gathers what c receives; stopped then sends "end" and returns
// what was sent and seen, in order, once c got it.
func broadcastSeq(t *testing.T, a *node, c *siotest.Client) (stopped func() (sent int, seen []int), last func() (int, int)) {
	var (
		mu    sync.Mutex
		seen  []int
		sentN atomic.Int64
	)
	stop, done, polled := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			_ = a.srv.Emit("seq", i)
			sentN.Store(int64(i + 1))
		}
	}()
	go func() {
		defer close(polled)
		for {
			ps := c.Poll()
			mu.Lock()
			for _, p := range ps {
				var n int
				if _, err := fmt.Sscanf(p, `42["seq",%d]`, &n); err == nil {
					seen = append(seen, n)
				}
			}
			mu.Unlock()
			if slices.Contains(ps, `42["end"]`) {
				return
			}
		}
	}()
	last = func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) == 0 {
			return int(sentN.Load()), -1
		}
		return int(sentN.Load()), seen[len(seen)-1]
	}
	stopped = func() (int, []int) {
		close(stop)
		<-done
		_ = a.srv.Emit("end")
		select {
		case <-polled:
		case <-time.After(10 * time.Second):
			t.Fatal("the last broadcast did not come")
		}
		mu.Lock()
		defer mu.Unlock()
		for i := 1; i < len(seen); i++ {
			if seen[i] <= seen[i-1] {
				t.Errorf("out of order or twice: %d after %d", seen[i], seen[i-1])
				break
			}
		}
		return int(sentN.Load()), slices.Clone(seen)
	}
	return stopped, last
}

// TestClusterSlotMoved moves the stream's slot, its entries with it, to
// another master while a node broadcasts (redis-cli --cluster reshard's
// steps): writes follow ASK then MOVED, the readers move to the new
// owner and go on from the last entry, and nothing is lost or doubled.
func TestClusterSlotMoved(t *testing.T) {
	rc := redisCluster.Get(t)
	o := redisstreams.Options{URL: rc.URL, BlockTime: time.Second}
	a, b := newNodeWith(t, o, 0), newNodeWith(t, o, 0)
	cb := siotest.Dial(t, b.URL)
	cb.Connect()
	stopped, last := broadcastSeq(t, a, cb)
	time.Sleep(200 * time.Millisecond)
	slot := redisnet.KeySlot("socket.io")
	from, err := rc.MasterOf(slot)
	if err != nil {
		t.Fatal(err)
	}
	var to string
	for _, m := range rc.Masters() {
		if m != from {
			to = m
			break
		}
	}
	if err := rc.MoveSlot(slot, to); err != nil {
		t.Fatal(err)
	}
	at, _ := last()
	waitForIn(t, 15*time.Second, func() bool { _, seen := last(); return seen > at+20 })
	sent, seen := stopped()
	sa, sb := a.rc.Stats(), b.rc.Stats()
	t.Logf("slot %d moved from %s to %s; sent %d, seen by b %d; a %+v; b %+v", slot, from, to, sent, len(seen), sa, sb)
	if len(seen) != sent {
		t.Errorf("%d broadcasts sent, %d received", sent, len(seen))
	}
	if sa.Redirects == 0 && sb.Redirects == 0 {
		t.Errorf("no MOVED or ASK followed: a %+v, b %+v", sa, sb)
	}
}

// TestClusterFailover kills the master of the stream's slot while a node
// broadcasts: its replica is promoted, the readers and the subscriptions
// move to it, broadcasting and reading resume on both nodes, nothing
// crashes, and the losses are counted.
func TestClusterFailover(t *testing.T) {
	rc := redisCluster.Get(t)
	a, b := newNode(t, rc.URL, 0), newNode(t, rc.URL, 0)
	cb := siotest.Dial(t, b.URL)
	cb.Connect()
	ctx := context.Background()
	waitFor(t, func() bool { n, _ := a.srv.Of("/").Adapter().ServerCount(ctx); return n == 2 })
	stopped, last := broadcastSeq(t, a, cb)
	time.Sleep(300 * time.Millisecond)
	dead, promoted, err := rc.Failover(redisnet.KeySlot("socket.io"), 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Reads resume on both nodes: a's broadcasts come back to b.
	at, _ := last()
	waitForIn(t, 20*time.Second, func() bool { _, seen := last(); return seen > at+20 })
	waitForIn(t, 10*time.Second, func() bool { return a.rc.Ready() == nil && b.rc.Ready() == nil })
	sent, seen := stopped()
	lost := sent - len(seen)
	sa, sb := a.rc.Stats(), b.rc.Stats()
	t.Logf("master %s killed, %s promoted; sent %d, lost to b %d; a %+v; b %+v", dead, promoted, sent, lost, sa, sb)
	if sa.ReaderLosses == 0 || sb.ReaderLosses == 0 || sa.TopologyRefreshes < 2 {
		t.Errorf("the failover is not counted: a %+v, b %+v", sa, sb)
	}
	if lost > 0 && sa.PublishFailures == 0 {
		t.Errorf("%d broadcasts lost to b, none counted on a: %+v", lost, sa)
	}
	// Afterwards, the cluster works as before.
	ca := siotest.Dial(t, a.URL)
	ca.Connect()
	_ = b.srv.Emit("after")
	expect(t, ca, `42["after"]`)
	// The killed master comes back, as a replica.
	if nd := rc.Node(dead); nd != nil {
		if err := nd.Restart(); err != nil {
			t.Fatal(err)
		}
	}
}

func waitForIn(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
