package redis_test

import (
	"context"
	"fmt"
	"github.com/siogo/siogo/internal/leaktest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siogo/siogo/adapters/adaptertest"
	"github.com/siogo/siogo/adapters/redis"
	"github.com/siogo/siogo/internal/redistest"
	"github.com/siogo/siogo/internal/siotest"
	"github.com/siogo/siogo/server"
)

// One Redis Cluster (three masters, a replica each) serves every cluster
// test of the package. The failover tests bring the killed master back as
// a replica, so the cluster stays whole.
var redisCluster = redistest.Shared{Options: redistest.ClusterOptions{Masters: 3, Replicas: 1}}

func sharedCluster(t *testing.T) *redistest.Cluster { return redisCluster.Get(t) }

func TestMain(m *testing.M) { leaktest.Main(m, redisCluster.Stop) }

func slotOf(t *testing.T, rc *redistest.Cluster, channel string) int {
	t.Helper()
	return redis.KeySlot(channel)
}

// TestClusterConformance runs the adapter suite over a Redis Cluster, in
// both modes, with a Node.js node on the redis package's cluster client;
// each test has channels of its own.
func TestClusterConformance(t *testing.T) {
	rc := sharedCluster(t)
	for _, sharded := range []bool{false, true} {
		t.Run(fmt.Sprintf("sharded=%v", sharded), func(t *testing.T) {
			adaptertest.Run(t, conformance(sharded, rc.URL, map[string]any{"cluster": rc.MasterURLs()}))
		})
	}
}

// TestClusterMixed runs siogo nodes and a Node.js node whose
// @socket.io/redis-adapter uses the redis package's cluster client, in the
// classic mode and in the sharded one: broadcasts, rooms on other shards,
// and the cluster calls cross both ways.
func TestClusterMixed(t *testing.T) {
	rc := sharedCluster(t)
	for _, sharded := range []bool{false, true} {
		t.Run(fmt.Sprintf("sharded=%v", sharded), func(t *testing.T) {
			a := newNodeWith(t, redis.Options{URL: rc.URL, Sharded: sharded})
			b := newNodeWith(t, redis.Options{URL: rc.URL, Sharded: sharded})
			nodeURL := startNodeServerWith(t, map[string]any{"cluster": rc.MasterURLs(), "sharded": sharded})
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
			cn.Send(`42["broadcast","from node"]`)
			for _, c := range []*siotest.Client{ca, cb, cn} {
				expect(t, c, `42["broadcast","from node"]`)
			}
			// Rooms whose channels live on other shards than the namespace's.
			roomB, roomN := roomOnOtherShard(t, rc, "b"), roomOnOtherShard(t, rc, "n")
			b.srv.Of("/").Socket(idb).Join(roomB)
			cn.Send(`42["join","` + roomN + `"]`)
			time.Sleep(300 * time.Millisecond)
			_ = a.srv.To(roomB).Emit("to-b")
			expect(t, cb, `42["to-b"]`)
			_ = a.srv.To(roomN).Emit("to-n")
			expect(t, cn, `42["to-n"]`)
			cn.Send(`42["to","` + roomB + `","from node"]`)
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
			a.srv.Of("/").OnServerSideEmit("ping-go", func(args []any, ack server.Ack) { ack("a: " + fmt.Sprint(args[0])) })
			b.srv.Of("/").OnServerSideEmit("ping-go", func(args []any, ack server.Ack) { ack("b: " + fmt.Sprint(args[0])) })
			cn.Send(`42["ask-go"]`)
			got := cn.Poll()
			if len(got) != 1 || !strings.Contains(got[0], `"a: from node"`) || !strings.Contains(got[0], `"b: from node"`) {
				t.Fatalf("Node's serverSideEmitWithAck: %q", got)
			}
			if st := a.rc.Stats(); st.PublishFailures != 0 {
				t.Errorf("publish failures on a healthy cluster: %+v", st)
			}
		})
	}
}

// roomOnOtherShard is a room name whose sharded channel (socket.io#/#room#)
// lives on another master than the namespace channel socket.io#/#.
func roomOnOtherShard(t *testing.T, rc *redistest.Cluster, tag string) string {
	t.Helper()
	home, err := rc.MasterOf(slotOf(t, rc, "socket.io#/#"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		room := fmt.Sprintf("room-%s-%d", tag, i)
		if m, err := rc.MasterOf(slotOf(t, rc, "socket.io#/#"+room+"#")); err == nil && m != home {
			return room
		}
	}
}

// TestClusterOrder sends bursts of broadcasts from one node, to everyone
// and to a room whose channel lives on another shard: each stream arrives
// in order on the other node, in both modes. (Node's classic adapter
// publishes each message through whichever node its cluster client picks,
// so one sender's messages may overtake each other there; siogo publishes
// all of a client's messages through one node in the classic mode, and a
// channel's through its shard in the sharded one.)
func TestClusterOrder(t *testing.T) {
	rc := sharedCluster(t)
	for _, sharded := range []bool{false, true} {
		t.Run(fmt.Sprintf("sharded=%v", sharded), func(t *testing.T) {
			a := newNodeWith(t, redis.Options{URL: rc.URL, Sharded: sharded})
			b := newNodeWith(t, redis.Options{URL: rc.URL, Sharded: sharded})
			cb := siotest.Dial(t, b.URL)
			idb := cb.Connect()
			room := roomOnOtherShard(t, rc, "order")
			b.srv.Of("/").Socket(idb).Join(room)
			waitFor(t, func() bool { return b.rc.Ready() == nil })
			const n = 300
			go func() {
				for i := 0; i < n; i++ {
					_ = a.srv.Emit("seq", i)
					_ = a.srv.To(room).Emit("room", i)
				}
			}()
			nextAll, nextRoom := 0, 0
			for nextAll < n || nextRoom < n {
				for _, p := range cb.Poll() {
					var i int
					switch {
					case strings.HasPrefix(p, `42["seq",`):
						fmt.Sscanf(p, `42["seq",%d]`, &i)
						if i != nextAll {
							t.Fatalf("to all: got %d, want %d", i, nextAll)
						}
						nextAll++
					case strings.HasPrefix(p, `42["room",`):
						fmt.Sscanf(p, `42["room",%d]`, &i)
						if i != nextRoom {
							t.Fatalf("to the room: got %d, want %d", i, nextRoom)
						}
						nextRoom++
					}
				}
			}
		})
	}
}

// receiveUntil has from emit a message to event every 100ms until c gets
// one, within d: the way to tell that delivery across nodes resumed.
func receiveUntil(t *testing.T, c *siotest.Client, d time.Duration, event string, emit func(i int)) {
	t.Helper()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				emit(i)
			}
		}
	}()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for _, p := range c.Poll() {
			if strings.HasPrefix(p, `42["`+event+`"`) {
				return
			}
		}
	}
	t.Fatalf("no %q came through within %v", event, d)
}

// TestClusterFailover kills (SIGKILL) the master that serves the namespace
// channel's slot, in the sharded mode, and that a classic-mode node uses
// as its home: the nodes go on serving, the replica is promoted, the
// subscriptions follow it, broadcasts across nodes resume, and the loss
// is counted. The killed master comes back as a replica afterwards.
func TestClusterFailover(t *testing.T) {
	rc := sharedCluster(t)
	slot := slotOf(t, rc, "socket.io#/#")
	victim, err := rc.MasterOf(slot)
	if err != nil {
		t.Fatal(err)
	}
	a := newNodeWith(t, redis.Options{URL: rc.URL, Sharded: true})
	b := newNodeWith(t, redis.Options{URL: rc.URL, Sharded: true})
	var c *node
	for i := 0; c == nil; i++ {
		n := newNodeWith(t, redis.Options{URL: rc.URL})
		if n.rc.HomeAddr() == victim {
			c = n
		} else if i > 30 {
			t.Fatal("no classic client chose the victim as its home")
		}
	}
	d := newNodeWith(t, redis.Options{URL: rc.URL})
	cb, cd := siotest.Dial(t, b.URL), siotest.Dial(t, d.URL)
	cb.Connect()
	cd.Connect()
	_ = a.srv.Emit("before")
	expect(t, cb, `42["before"]`)
	_ = c.srv.Emit("before")
	expect(t, cd, `42["before"]`)

	rc.Node(victim).Kill()
	t.Cleanup(func() {
		// Back as a replica of the promoted master, for the next tests.
		if err := rc.Node(victim).Restart(); err != nil {
			t.Error(err)
		}
		if err := rc.WaitOK(20 * time.Second); err != nil {
			t.Error(err)
		}
	})
	for i := 0; i < 3; i++ {
		_ = a.srv.Emit("during", i) // into a shard without a master: lost
		_ = c.srv.Emit("during", i)
	}
	if _, err := rc.WaitPromoted(slot, victim, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	receiveUntil(t, cb, 15*time.Second, "after", func(i int) { _ = a.srv.Emit("after", i) })
	receiveUntil(t, cd, 15*time.Second, "after", func(i int) { _ = c.srv.Emit("after", i) })
	for _, n := range []*node{a, b, c, d} {
		n.waitReady(t)
	}
	if st := a.rc.Stats(); st.PublishFailures == 0 {
		t.Errorf("the sharded publisher counted no loss: %+v", st)
	}
	if st := b.rc.Stats(); st.SubscriptionLosses == 0 || st.Resubscribes == 0 {
		t.Errorf("the sharded subscriber counted no lost link: %+v", st)
	}
	if st := c.rc.Stats(); st.SubscriptionLosses == 0 || c.rc.HomeAddr() == victim {
		t.Errorf("the classic node did not leave its dead home: %+v, home %s", st, c.rc.HomeAddr())
	}
	t.Logf("sharded publisher %+v; sharded subscriber %+v; classic %+v", a.rc.Stats(), b.rc.Stats(), c.rc.Stats())
}

// TestClusterSlotMove moves the slot of a room's channel to another master
// (CLUSTER SETSLOT, as redis-cli --cluster reshard does): the server drops
// the subscription (SUNSUBSCRIBE), siogo subscribes again on the new owner,
// and broadcasts to the room resume; a publisher with the old map follows
// MOVED.
func TestClusterSlotMove(t *testing.T) {
	rc := sharedCluster(t)
	a := newNodeWith(t, redis.Options{URL: rc.URL, Sharded: true})
	b := newNodeWith(t, redis.Options{URL: rc.URL, Sharded: true})
	cb := siotest.Dial(t, b.URL)
	idb := cb.Connect()
	room := roomOnOtherShard(t, rc, "move")
	slot := slotOf(t, rc, "socket.io#/#"+room+"#")
	b.srv.Of("/").Socket(idb).Join(room)
	waitFor(t, func() bool { return b.rc.Ready() == nil })
	_ = a.srv.To(room).Emit("before")
	expect(t, cb, `42["before"]`)

	from, _ := rc.MasterOf(slot)
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
	t.Cleanup(func() {
		if err := rc.MoveSlot(slot, from); err != nil {
			t.Error(err)
		}
	})
	receiveUntil(t, cb, 10*time.Second, "after", func(i int) { _ = a.srv.To(room).Emit("after", i) })
	if st := b.rc.Stats(); st.Resubscribes == 0 {
		t.Errorf("the subscriber did not subscribe again: %+v", st)
	}
	if st := a.rc.Stats(); st.Redirects == 0 {
		t.Errorf("the publisher followed no MOVED: %+v", st)
	}

	// A slot moved while no one here used it: B's map is stale when it
	// subscribes a room of that slot, and the old owner answers MOVED.
	var room2 string
	var slot2 int
	for i := 0; ; i++ {
		room2 = fmt.Sprintf("room-stale-%d", i)
		if slot2 = slotOf(t, rc, "socket.io#/#"+room2+"#"); slot2 != slot {
			break
		}
	}
	from2, _ := rc.MasterOf(slot2)
	var to2 string
	for _, m := range rc.Masters() {
		if m != from2 {
			to2 = m
			break
		}
	}
	if err := rc.MoveSlot(slot2, to2); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rc.MoveSlot(slot2, from2); err != nil {
			t.Error(err)
		}
	})
	redirects := b.rc.Stats().Redirects
	b.srv.Of("/").Socket(idb).Join(room2)
	receiveUntil(t, cb, 10*time.Second, "stale", func(i int) { _ = a.srv.To(room2).Emit("stale", i) })
	if st := b.rc.Stats(); st.Redirects == redirects {
		t.Errorf("the subscriber met no MOVED: %+v", st)
	}
	t.Logf("publisher %+v; subscriber %+v", a.rc.Stats(), b.rc.Stats())
}
