package redisstreams_test

import (
	"encoding/base64"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/siogo/siogo/internal/mpack"
	"github.com/siogo/siogo/internal/nodetest"
	"github.com/siogo/siogo/internal/redistest"
)

// The tests of "a session restores once, and never while it is connected"
// (README, The Redis Streams adapter): official clients, siogo programs,
// in-process siogo nodes and a Node.js node on one Redis.

// keys reads the Redis keys these tests look at.
type keys struct {
	t    *testing.T
	conn redis.Conn
}

func redisKeys(t *testing.T, rs *redistest.Server) *keys {
	t.Helper()
	conn, err := rs.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &keys{t, conn}
}

// kept tells whether the session Node's way (sio:session:<pid>) is there.
func (k *keys) kept(pid string) bool {
	k.t.Helper()
	n, err := redis.Int(k.conn.Do("EXISTS", "sio:session:"+pid))
	if err != nil {
		k.t.Fatal(err)
	}
	return n == 1
}

// liveOwner is the uid of the adapter whose live copy of pid is there,
// "" if none, and its state (L or T).
func (k *keys) liveOwner(pid string) (uid, state string) {
	k.t.Helper()
	v, err := redis.String(k.conn.Do("GET", "sio:live:s:"+pid))
	if err == redis.ErrNil {
		return "", ""
	}
	if err != nil {
		k.t.Fatal(err)
	}
	f := strings.Fields(v)
	return f[0], f[1]
}

// waitLive waits until pid's live copy is a session that another adapter
// than not wrote, in rooms, and returns that adapter's uid. A copy is as
// of its last write (within 200 ms of a room change): one read before
// the last join would restore a session without that room.
func (k *keys) waitLive(pid, not string, rooms ...string) string {
	k.t.Helper()
	var uid string
	waitFor(k.t, func() bool {
		v, err := redis.String(k.conn.Do("GET", "sio:live:s:"+pid))
		if err == redis.ErrNil {
			return false
		}
		if err != nil {
			k.t.Fatal(err)
		}
		var ok bool
		uid, ok = liveIn(v, rooms)
		return ok && uid != not
	})
	return uid
}

// liveIn reads a live copy ("<uid> L <base64 msgpack session> <nsp>"): its
// writer, and whether it is a session in every one of rooms.
func liveIn(v string, rooms []string) (uid string, ok bool) {
	f := strings.Fields(v)
	if len(f) < 3 || f[1] != "L" {
		return "", false
	}
	b, err := base64.StdEncoding.DecodeString(f[2])
	if err != nil {
		return "", false
	}
	m, err := mpack.Decode(b)
	if err != nil {
		return "", false
	}
	in, _ := m.(map[string]any)["rooms"].([]any)
	for _, r := range rooms {
		if !slices.Contains(in, any(r)) {
			return "", false
		}
	}
	return f[0], true
}

// waitLiveAt is waitLive for a Redis whose servers are urls (a Redis
// Cluster's: the key's owner answers, the others say MOVED).
func waitLiveAt(t *testing.T, urls []string, pid string, rooms ...string) {
	t.Helper()
	var conns []redis.Conn
	for _, u := range urls {
		conn, err := redis.DialURL(u)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conns = append(conns, conn)
	}
	waitFor(t, func() bool {
		for _, conn := range conns {
			if v, err := redis.String(conn.Do("GET", "sio:live:s:"+pid)); err == nil {
				_, ok := liveIn(v, rooms)
				return ok
			}
		}
		return false
	})
}

// lastOffset sends an event to room r through c and returns the offset it
// arrives with: what a client echoes to restore its session.
func lastOffset(t *testing.T, c *nodetest.Remote, tag string) string {
	t.Helper()
	c.Emit("to", "r", tag)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range c.Events() {
			if len(e) == 3 && e[1] == tag {
				return e[2].(string)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not come back", tag)
	return ""
}

// present connects a new official client to url presenting pid and
// offset, as a second client with a stolen id (or the same one twice)
// would, and returns what it got. Such a client has the session when it
// gets its id: its Recovered stays false (socket.io-client compares the
// pid with one it had itself).
func present(t *testing.T, url, pid, offset string) nodetest.Connected {
	t.Helper()
	return nodetest.StartRemote(t).ConnectAuth(url, map[string]any{"pid": pid, "offset": offset})
}

// refusedAt checks that a client presenting first's session at each url
// gets a new session, not first's.
func refusedAt(t *testing.T, first nodetest.Connected, offset string, urls ...string) {
	t.Helper()
	for _, u := range urls {
		if got := present(t, u, first.PID, offset); got.ID == first.ID {
			t.Errorf("a second client presenting the session at %s restored it: %+v", u, got)
		}
	}
}

// TestSessionRestoresOnce is issue 17's case: two siogo programs on
// redis-streams:// with recovery; a client cut off from A comes back on B,
// recovered, and then its session is gone from sio:session:<pid>, as with
// a Node.js node, and restores nowhere else: not while it is connected on
// A (from the live copy A keeps), not after it moved to B, on neither
// node. The client itself stays one socket, and gets its events once.
func TestSessionRestoresOnce(t *testing.T) {
	rs := redistest.Start(t)
	k := redisKeys(t, rs)
	bin := siogoBinary(t)
	flag := "redis-streams://" + strings.TrimPrefix(rs.URL, "redis://")
	_, urlA := startSiogo(t, bin, "--adapter", flag, "--recovery", "1m", "--tick", "1h")
	_, urlB := startSiogo(t, bin, "--adapter", flag, "--recovery", "1m", "--tick", "1h")
	lb := startProxy(t)
	lb.to(urlA)
	c := nodetest.StartRemote(t)
	first := c.Connect(lb.URL())
	if first.PID == "" || first.Recovered {
		t.Fatalf("first connection %+v", first)
	}
	c.Emit("join", "r")
	offset := lastOffset(t, c, "e1")
	uidA := k.waitLive(first.PID, "", "r")

	// Connected on A: its live copy restores nowhere.
	refusedAt(t, first, offset, urlB, urlA)

	// Cut off from A, back on B: recovered, and the session is gone.
	lb.to(urlB)
	c.Cut()
	back := c.WaitConnect()
	if !back.Recovered || back.ID != first.ID {
		t.Fatalf("back on B: %+v, was %+v", back, first)
	}
	if k.kept(first.PID) {
		t.Fatal("sio:session:<pid> is still in Redis after B restored it")
	}
	k.waitLive(first.PID, uidA, "r") // B's live copy
	offset = lastOffset(t, c, "e2")
	refusedAt(t, first, offset, urlA, urlB)
	if k.kept(first.PID) {
		t.Fatal("sio:session:<pid> came back")
	}
	// Still one socket, in its room, getting each event once.
	c.Emit("to", "r", "e3")
	expectEvents(t, c, "broadcast e3")
	if d := c.Disconnects(); len(d) != 1 {
		t.Errorf("disconnections %q, want the one cut", d)
	}
}

// TestSessionTakenOnceAfterKill: the node holding a client is killed
// (SIGKILL): its live copy is the session now, and when two clients
// present it at once on two other nodes, one gets it; the client itself,
// coming back after them, does not.
func TestSessionTakenOnceAfterKill(t *testing.T) {
	rs := redistest.Start(t)
	k := redisKeys(t, rs)
	bin := siogoBinary(t)
	procA, urlA := startSiogo(t, bin, "--adapter", "redis-streams://"+strings.TrimPrefix(rs.URL, "redis://"), "--recovery", "1m", "--tick", "1h")
	b, cnode := newNode(t, rs.URL, time.Minute), newNode(t, rs.URL, time.Minute)
	demoish(b.srv)
	demoish(cnode.srv)
	lb := startProxy(t)
	lb.to(urlA)
	c := nodetest.StartRemote(t)
	first := c.Connect(lb.URL())
	c.Emit("join", "r")
	offset := lastOffset(t, c, "e1")
	k.waitLive(first.PID, "", "r")
	lb.to("")
	if err := procA.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_, _ = procA.Process.Wait()

	two := []*nodetest.Remote{nodetest.StartRemote(t), nodetest.StartRemote(t)}
	got := make([]nodetest.Connected, 2)
	var wg sync.WaitGroup
	for i, u := range []string{b.URL, cnode.URL} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = two[i].ConnectAuth(u, map[string]any{"pid": first.PID, "offset": offset})
		}()
	}
	wg.Wait()
	winners := 0
	for i, g := range got {
		if g.ID == first.ID {
			winners++
			_ = b.srv.To("r").Emit("broadcast", "to the winner")
			expectEvents(t, two[i], "broadcast to the winner")
		}
	}
	if winners != 1 {
		t.Fatalf("%d of two clients presenting one session at once restored it: %+v", winners, got)
	}
	lb.to(b.URL)
	if back := c.WaitConnect(); back.Recovered || back.ID == first.ID {
		t.Errorf("the session restored twice: %+v", back)
	}
	if k.kept(first.PID) {
		t.Error("sio:session:<pid> is in Redis")
	}
}

// TestSessionNotResurrected: a node hung (SIGSTOP) longer than its lease
// counts as gone, and a client presenting its socket's session elsewhere
// gets it; when the node wakes, it finds its copy taken: it disconnects
// its own socket (which reconnects to no copy of the session) and writes
// neither a live copy nor a disconnected socket's session back.
func TestSessionNotResurrected(t *testing.T) {
	rs := redistest.Start(t)
	k := redisKeys(t, rs)
	bin := siogoBinary(t)
	procA, urlA := startSiogo(t, bin, "--adapter", "redis-streams://"+strings.TrimPrefix(rs.URL, "redis://"), "--recovery", "1m", "--tick", "1h")
	b := newNode(t, rs.URL, time.Minute)
	demoish(b.srv)
	c := nodetest.StartRemote(t)
	first := c.Connect(urlA)
	c.Emit("join", "r")
	offset := lastOffset(t, c, "e1")
	// The copy A writes after the join: a hang before it would restore
	// the session out of r (issue of this test's earlier form).
	uidA := k.waitLive(first.PID, "", "r")
	// While A runs, its copy is its own.
	refusedAt(t, first, offset, b.URL)

	if err := procA.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = procA.Process.Signal(syscall.SIGCONT) }()
	waitForIn(t, 20*time.Second, func() bool {
		n, _ := redis.Int(k.conn.Do("EXISTS", "sio:live:n:"+uidA))
		return n == 0
	})
	other := nodetest.StartRemote(t)
	if got := other.ConnectAuth(b.URL, map[string]any{"pid": first.PID, "offset": offset}); got.ID != first.ID {
		t.Fatalf("the session of a node hung past its lease: %+v", got)
	}
	if err := procA.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	var reasons []string
	waitForIn(t, 10*time.Second, func() bool {
		reasons = append(reasons, c.Disconnects()...)
		return len(reasons) > 0
	})
	if !slices.Equal(reasons, []string{"io server disconnect"}) {
		t.Errorf("A's copy of the socket went with %q, want a server disconnect", reasons)
	}
	if uid, _ := k.liveOwner(first.PID); uid == uidA {
		t.Error("A wrote its live copy back")
	}
	if k.kept(first.PID) {
		t.Error("A kept the session it lost")
	}
	refusedAt(t, first, offset, urlA, b.URL)
	_ = b.srv.To("r").Emit("broadcast", "once")
	expectEvents(t, other, "broadcast once")
}

// TestSessionRestoresOnceWithNode: the same with a Node.js node
// (@socket.io/redis-streams-adapter) and a siogo node: whichever restores
// a session takes it (Node with GET and DEL in a MULTI), and neither
// restores one connected on the other, Node because it reads no live
// copy, siogo because their owner is alive.
func TestSessionRestoresOnceWithNode(t *testing.T) {
	rs := redistest.Start(t)
	k := redisKeys(t, rs)
	g := newNode(t, rs.URL, time.Minute)
	demoish(g.srv)
	urlN := startNodeServer(t, rs.URL, time.Minute)
	waitReaders(t, 2, rs.URL)
	lb := startProxy(t)
	lb.to(urlN)
	c := nodetest.StartRemote(t)
	first := c.Connect(lb.URL())
	c.Emit("join", "r")
	offset := lastOffset(t, c, "e1")
	refusedAt(t, first, offset, g.URL)

	// From Node to siogo.
	lb.to(g.URL)
	c.Cut()
	if back := c.WaitConnect(); !back.Recovered || back.ID != first.ID {
		t.Fatalf("on siogo: %+v, was %+v", back, first)
	}
	if k.kept(first.PID) {
		t.Fatal("sio:session:<pid> is still in Redis after siogo restored it")
	}
	k.waitLive(first.PID, "", "r")
	offset = lastOffset(t, c, "e2")
	refusedAt(t, first, offset, urlN, g.URL)

	// From siogo to Node: siogo drops its live copy before it keeps the
	// session, which Node takes.
	lb.to(urlN)
	c.Cut()
	if back := c.WaitConnect(); !back.Recovered || back.ID != first.ID {
		t.Fatalf("on Node: %+v, was %+v", back, first)
	}
	if k.kept(first.PID) {
		t.Error("sio:session:<pid> is still in Redis after Node restored it")
	}
	if uid, state := k.liveOwner(first.PID); uid != "" {
		t.Errorf("siogo's live copy is still there: %s %s", uid, state)
	}
	offset = lastOffset(t, c, "e3")
	refusedAt(t, first, offset, g.URL, urlN)
}
