// Package adaptertest is the conformance suite of siogo's adapter
// contract (package adapters/cluster): every broker runs it, and passes it
// before it is called an adapter.
//
//	func TestConformance(t *testing.T) {
//		adaptertest.Run(t, func(t *testing.T) adaptertest.Cluster {
//			bus := cluster.NewMemoryBroker() // a fresh, empty cluster
//			return adaptertest.Cluster{Broker: func(t *testing.T) cluster.Broker { return bus }}
//		})
//	}
//
// Each test starts a fresh cluster of two siogo nodes on the broker, and a
// Node.js node when the broker has a Node counterpart (Cluster.NodeJS),
// with one client on each node: the official socket.io-client 4, in a
// Node.js process the suite steers. Every node runs one application (app.go
// for siogo's, test/node/conformance-app.js for Node's), so each test runs
// from every node: broadcasts (text, binary, large), rooms and exceptions,
// Local, the count of nodes, FetchSockets, SocketsJoin and SocketsLeave,
// DisconnectSockets, ServerSideEmit with and without acknowledgements (a
// burst handled in order), broadcasts with acknowledgements, heartbeats (a
// node that dies is dropped from the count, one that closes at once),
// broadcasts from every node at once (in one order everywhere with a
// cluster.Log), and with a cluster.SessionStore a client that moves from
// node to node and gets every event once and in order, while its new
// node's broker is behind and while another node sends to it every 2 ms.
//
// The suite needs node and socket.io-client 4: in siogo's repository, run
// npm ci in test/node; elsewhere, point SIOGO_NODE_MODULES at a
// node_modules that holds socket.io-client.
package adaptertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siogo/siogo/adapters/cluster"
	"github.com/siogo/siogo/server"
)

// Cluster is what the suite needs of a broker: connections for siogo
// nodes, and optionally a way to start a Node.js node of the same cluster.
type Cluster struct {
	// Broker returns the broker of one more siogo node of the cluster: a
	// connection of its own, or one Broker shared by every node of a
	// process (as MemoryBroker). Closing it when t ends is the caller's
	// job; the suite closes the node's server, whose adapter says goodbye.
	Broker func(t *testing.T) cluster.Broker
	// NodeJS, when set, starts a Node.js socket.io 4 server of the same
	// cluster with the broker's Node.js adapter, with the heartbeat of o,
	// running test/node/conformance-app.js's install(io, name); it returns
	// the server's base URL and a function that kills the process.
	NodeJS func(t *testing.T, o cluster.Options, name string) (url string, kill func())
}

// Options is the cluster.Options of the suite's nodes: heartbeats short
// enough that a dead node is dropped within seconds.
var Options = cluster.Options{
	HeartbeatInterval: 250 * time.Millisecond,
	HeartbeatTimeout:  2 * time.Second,
	RequestsTimeout:   5 * time.Second,
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Run runs the suite; newCluster makes a fresh, empty cluster for each
// test (a new MemoryBroker, a channel prefix of its own...).
func Run(t *testing.T, newCluster func(t *testing.T) Cluster) {
	c := startClients(t)
	tests := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"ServerCount", testServerCount},
		{"Broadcast", testBroadcast},
		{"BroadcastBinaryAndLarge", testBroadcastBinaryAndLarge},
		{"Rooms", testRooms},
		{"Local", testLocal},
		{"FetchSockets", testFetchSockets},
		{"SocketsJoinLeave", testSocketsJoinLeave},
		{"DisconnectSockets", testDisconnectSockets},
		{"ServerSideEmit", testServerSideEmit},
		{"BroadcastWithAck", testBroadcastWithAck},
		{"Heartbeat", testHeartbeat},
		{"Order", testOrder},
		{"Recovery", testRecovery},
		{"RecoveryUnderLoad", testRecoveryUnderLoad},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, newCluster(t), c)
			tc.fn(t, h)
		})
	}
}

// node is one node of a test cluster, and the name of its client.
type node struct {
	name   string // the node's, and its client's socket
	url    string
	id     string // its client's socket id
	srv    *server.Server
	nodeJS bool
	store  bool   // its broker is a cluster.SessionStore
	log    bool   // its broker is a cluster.Log
	kill   func() // the process dies: no goodbye
	close  func() // the server closes
	broker *cutBroker
}

type harness struct {
	cl    Cluster
	c     *clients
	nodes []*node
	seq   int
}

// cutBroker is a node's broker that can be cut off, as the node of a
// killed process (nothing goes out, nothing comes in), or paused, as a
// node whose reader fell behind (what comes in waits). The adapter finds
// the broker's optional parts through Unwrap.
type cutBroker struct {
	cluster.Broker
	mu     sync.Mutex
	cut    bool
	paused chan struct{} // closed on resume; nil when not paused
	unsubs []func()
}

// Unwrap implements cluster.Wrapper.
func (b *cutBroker) Unwrap() cluster.Broker { return b.Broker }

// kill cuts the node off; its subscriptions end, as its connections would.
func (b *cutBroker) kill() {
	b.mu.Lock()
	b.cut = true
	unsubs := b.unsubs
	b.unsubs = nil
	b.mu.Unlock()
	b.resume()
	for _, u := range unsubs {
		u()
	}
}

// pause holds what the broker hands the node until resume.
func (b *cutBroker) pause() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.paused == nil {
		b.paused = make(chan struct{})
	}
}

func (b *cutBroker) resume() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.paused != nil {
		close(b.paused)
		b.paused = nil
	}
}

var errCut = errors.New("adaptertest: node killed")

func (b *cutBroker) isCut() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.cut }

func (b *cutBroker) Publish(ctx context.Context, m *cluster.Message) (string, error) {
	if b.isCut() {
		return "", errCut
	}
	return b.Broker.Publish(ctx, m)
}

func (b *cutBroker) PublishResponse(ctx context.Context, to string, m *cluster.Message) error {
	if b.isCut() {
		return errCut
	}
	return b.Broker.PublishResponse(ctx, to, m)
}

func (b *cutBroker) Subscribe(nsp, uid string, h cluster.Handler) (func(), error) {
	unsub, err := b.Broker.Subscribe(nsp, uid, func(m *cluster.Message, offset string) {
		b.mu.Lock()
		paused := b.paused
		b.mu.Unlock()
		if paused != nil {
			<-paused
		}
		if !b.isCut() {
			h(m, offset)
		}
	})
	if err == nil {
		b.mu.Lock()
		b.unsubs = append(b.unsubs, unsub)
		b.mu.Unlock()
	}
	return unsub, err
}

func newGoNode(t *testing.T, cl Cluster, name string) *node {
	t.Helper()
	return newGoNodeWith(t, cl, name, nil)
}

// newGoNodeWith starts a siogo node with connection state recovery when
// recovery is not nil.
func newGoNodeWith(t *testing.T, cl Cluster, name string, recovery *server.RecoveryOptions) *node {
	t.Helper()
	b := &cutBroker{Broker: cl.Broker(t)}
	_, isStore := b.Broker.(cluster.SessionStore)
	_, isLog := b.Broker.(cluster.Log)
	o := Options
	o.Logger = quiet
	srv, err := server.New(server.Options{NewAdapter: cluster.NewAdapter(b, o), Logger: quiet, Recovery: recovery})
	if err != nil {
		t.Fatal(err)
	}
	install(srv, name)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := httptest.NewServer(mux)
	var once sync.Once
	closeAll := func() {
		once.Do(func() {
			_ = srv.Close()
			hs.Close()
		})
	}
	t.Cleanup(closeAll)
	return &node{name: name, url: hs.URL, srv: srv, store: isStore, log: isLog, close: closeAll, kill: b.kill, broker: b}
}

// start makes a cluster of two siogo nodes (a, b) and a Node.js node (n)
// when there is one, connects a client to each, and waits until every
// node counts every other.
func start(t *testing.T, cl Cluster, c *clients) *harness {
	t.Helper()
	h := &harness{cl: cl, c: c}
	if cl.NodeJS != nil {
		// First: Node's socket.io 4.8 never calls its adapter's init, so a
		// Node.js node announces itself only when it publishes, and the
		// first thing it publishes is its answer to a later node's
		// INITIAL_HEARTBEAT.
		url, kill := cl.NodeJS(t, Options, "n")
		h.nodes = append(h.nodes, &node{name: "n", url: url, nodeJS: true, kill: kill, close: kill})
	}
	h.nodes = append(h.nodes, newGoNode(t, cl, "a"), newGoNode(t, cl, "b"))
	prefix := strings.ReplaceAll(t.Name(), "/", "-")
	for _, n := range h.nodes {
		n.name = prefix + "-" + n.name
		n.id = c.connect(t, n.name, n.url)
	}
	h.waitCount(t, h.nodes, len(h.nodes))
	return h
}

// waitCount waits until every node of nodes counts want nodes.
func (h *harness) waitCount(t *testing.T, nodes []*node, want int) {
	t.Helper()
	deadline := time.Now().Add(3*Options.HeartbeatTimeout + 5*time.Second)
	for _, n := range nodes {
		for {
			got := h.c.emit(t, n.name, "count")
			if len(got) == 1 && reflect.DeepEqual(got[0], float64(want)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s counts %v nodes, want %d", n.name, got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// sentinel broadcasts a fresh marker from n and waits until every client
// got it: whatever n sent before has arrived where it was going.
func (h *harness) sentinel(t *testing.T, from *node) {
	t.Helper()
	h.seq++
	mark := fmt.Sprintf("sentinel-%d", h.seq)
	h.c.emit(t, from.name, "broadcast", mark)
	for _, n := range h.nodes {
		if got := h.c.next(t, n.name, "broadcast"); !reflect.DeepEqual(got, []any{mark}) {
			t.Fatalf("%s got %v before the sentinel %s of %s", n.name, got, mark, from.name)
		}
	}
}

// reachable waits until a broadcast to room reaches n's client: with a
// broker that subscribes a room's channel on the nodes that have it
// (Node's sharded Redis adapter), that comes a moment after the join.
// The probes go under an event of their own, which no test counts.
func (h *harness) reachable(t *testing.T, n *node, room string) {
	t.Helper()
	sender := h.goNodes()[0]
	deadline := time.Now().Add(10 * time.Second)
	for {
		_ = sender.srv.To(room).Emit("probe")
		for range 5 {
			if h.c.pending(t, n.name, "probe") > 0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			t.Fatalf("broadcasts to %s do not reach %s", room, n.name)
		}
	}
}

func expectEvent(t *testing.T, h *harness, n *node, event string, want ...any) {
	t.Helper()
	if got := h.c.next(t, n.name, event); !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: %s %#v, want %#v", n.name, event, got, want)
	}
}

func testServerCount(t *testing.T, h *harness) {
	for _, n := range h.nodes {
		if got := h.c.emit(t, n.name, "count"); !reflect.DeepEqual(got, []any{float64(len(h.nodes))}) {
			t.Errorf("%s counts %v", n.name, got)
		}
	}
}

func testBroadcast(t *testing.T, h *harness) {
	for _, from := range h.nodes {
		arg := map[string]any{"from": from.name, "n": 1.5, "list": []any{"x", nil, true}}
		h.c.emit(t, from.name, "broadcast", "text", arg)
		for _, n := range h.nodes {
			expectEvent(t, h, n, "broadcast", "text", arg)
		}
	}
}

func testBroadcastBinaryAndLarge(t *testing.T, h *harness) {
	large := strings.Repeat("é-large-", 2000) // over Postgres's 8000-byte NOTIFY threshold
	for _, from := range h.nodes {
		bin := map[string]any{"blob": []byte{0, 1, 2, 255}, "from": from.name}
		h.c.emit(t, from.name, "broadcast", "binary", bin, []byte("raw"))
		for _, n := range h.nodes {
			expectEvent(t, h, n, "broadcast", "binary", bin, []byte("raw"))
		}
		h.c.emit(t, from.name, "broadcast", "large", large)
		for _, n := range h.nodes {
			expectEvent(t, h, n, "broadcast", "large", large)
		}
	}
}

func testRooms(t *testing.T, h *harness) {
	// Every node but the last (a siogo node) has its client in room r: a
	// Node.js node's too, whose room a sharded broker gives a channel.
	in, out := h.nodes[:len(h.nodes)-1], h.nodes[len(h.nodes)-1]
	for _, n := range in {
		h.c.emit(t, n.name, "join", "r")
		h.reachable(t, n, "r")
	}
	for _, from := range h.nodes {
		h.c.emit(t, from.name, "to", "r", "to-r", from.name)
		for _, n := range in {
			expectEvent(t, h, n, "broadcast", "to-r", from.name)
		}
		h.c.emit(t, from.name, "except", "r", "except-r", from.name)
		expectEvent(t, h, out, "broadcast", "except-r", from.name)
		// The last node's client got nothing for r, the others nothing
		// but r's.
		h.sentinel(t, from)
	}
	// To a socket's own room, on another node.
	for _, from := range h.nodes {
		for _, to := range h.nodes {
			h.c.emit(t, from.name, "to", to.id, "to-id", from.name)
			expectEvent(t, h, to, "broadcast", "to-id", from.name)
		}
		h.sentinel(t, from)
	}
}

func testLocal(t *testing.T, h *harness) {
	for _, from := range h.nodes {
		h.c.emit(t, from.name, "local", "here", from.name)
		expectEvent(t, h, from, "local", "here", from.name)
		h.sentinel(t, from)
		for _, n := range h.nodes {
			if k := h.c.pending(t, n.name, "local"); k != 0 {
				t.Fatalf("%s got %d local events of %s", n.name, k, from.name)
			}
		}
	}
}

type fetched struct {
	ID      string   `json:"id"`
	Rooms   []string `json:"rooms"`
	Address string   `json:"address"`
}

func fetch(t *testing.T, h *harness, from *node, room string) []fetched {
	t.Helper()
	var arg any
	if room != "" {
		arg = room
	}
	got := h.c.emit(t, from.name, "fetch", arg)
	list, ok := got[0].([]any)
	if !ok {
		t.Fatalf("%s fetchSockets: %v", from.name, got)
	}
	out := make([]fetched, 0, len(list))
	for _, e := range list {
		m, _ := e.(map[string]any)
		f := fetched{}
		f.ID, _ = m["id"].(string)
		f.Address, _ = m["address"].(string)
		for _, r := range m["rooms"].([]any) {
			f.Rooms = append(f.Rooms, r.(string))
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b fetched) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func testFetchSockets(t *testing.T, h *harness) {
	last := h.nodes[len(h.nodes)-1]
	h.c.emit(t, last.name, "join", "f")
	var all []string
	for _, n := range h.nodes {
		all = append(all, n.id)
	}
	slices.Sort(all)
	for _, from := range h.nodes {
		got := fetch(t, h, from, "")
		var ids []string
		for _, f := range got {
			ids = append(ids, f.ID)
			if f.Address == "" || !slices.Contains(f.Rooms, f.ID) {
				t.Errorf("%s fetched %+v: no address or own room", from.name, f)
			}
		}
		if !slices.Equal(ids, all) {
			t.Fatalf("%s fetched %v, want %v", from.name, ids, all)
		}
		inF := fetch(t, h, from, "f")
		want := []string{"f", last.id}
		slices.Sort(want)
		if len(inF) != 1 || inF[0].ID != last.id || !slices.Equal(inF[0].Rooms, want) {
			t.Fatalf("%s fetched in f: %+v", from.name, inF)
		}
	}
}

// waitRooms waits until n's client is in room (or out of it).
func waitRooms(t *testing.T, h *harness, n *node, room string, in bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := h.c.emit(t, n.name, "rooms")
		rooms, _ := got[0].([]any)
		if slices.Contains(rooms, any(room)) == in {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s in rooms %v; want in %s: %v", n.name, rooms, room, in)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testSocketsJoinLeave(t *testing.T, h *harness) {
	for _, from := range h.nodes {
		for _, to := range h.nodes {
			room := "club-" + from.name
			h.c.emit(t, from.name, "sockets-join", to.id, room)
			waitRooms(t, h, to, room, true)
			h.reachable(t, to, room)
			h.c.emit(t, from.name, "to", room, "in-club")
			expectEvent(t, h, to, "broadcast", "in-club")
			h.c.emit(t, from.name, "sockets-leave", to.id, room)
			waitRooms(t, h, to, room, false)
		}
	}
	// Every socket, from one call.
	h.c.emit(t, h.nodes[0].name, "sockets-join", nil, "everyone")
	for _, n := range h.nodes {
		waitRooms(t, h, n, "everyone", true)
	}
}

func testDisconnectSockets(t *testing.T, h *harness) {
	for _, from := range h.nodes {
		for _, to := range h.nodes {
			if to == from {
				continue
			}
			h.seq++
			name := fmt.Sprintf("%s-kicked-%d", to.name, h.seq)
			id := h.c.connect(t, name, to.url)
			h.c.emit(t, from.name, "kick", id)
			if reason := h.c.disconnected(t, name); reason != "io server disconnect" {
				t.Fatalf("%s kicked by %s: %q", name, from.name, reason)
			}
		}
	}
	// The others stay.
	for _, n := range h.nodes {
		h.c.emit(t, n.name, "rooms")
	}
}

func testServerSideEmit(t *testing.T, h *harness) {
	for _, from := range h.nodes {
		var want []any
		for _, n := range h.nodes {
			if n != from {
				want = append(want, fmt.Sprintf("pong from %s: hi %s", shortName(n), from.name))
			}
		}
		sortAny(want)
		got := h.c.emit(t, from.name, "ask", "hi "+from.name)
		if !reflect.DeepEqual(got, []any{want}) {
			t.Fatalf("%s asked: %v, want %v", from.name, got, want)
		}
		h.c.emit(t, from.name, "tell", "hey "+from.name)
		for _, n := range h.nodes {
			if n != from {
				expectEvent(t, h, n, "told", shortName(n), "hey "+from.name)
			}
		}
	}
	// A burst is handled everywhere in the order it was sent.
	for _, from := range h.goNodes() {
		const burst = 20
		for i := range burst {
			_ = from.srv.Of("/").ServerSideEmit(context.Background(), "told", fmt.Sprint(from.name, " ", i))
		}
		for _, n := range h.nodes {
			if n == from {
				continue
			}
			for i := range burst {
				expectEvent(t, h, n, "told", shortName(n), fmt.Sprint(from.name, " ", i))
			}
		}
	}
}

// shortName is the name a node was started with (a, b, n).
func shortName(n *node) string { return n.name[strings.LastIndexByte(n.name, '-')+1:] }

func testBroadcastWithAck(t *testing.T, h *harness) {
	var want []any
	for _, n := range h.nodes {
		h.c.answer(t, n.name, "q", "ok "+shortName(n))
		want = append(want, "ok "+shortName(n))
	}
	sortAny(want)
	for _, from := range h.nodes {
		got := h.c.emit(t, from.name, "acks")
		answers, ok := got[0].([]any)
		if !ok {
			t.Fatalf("%s: acks %v", from.name, got)
		}
		sortAny(answers)
		if !reflect.DeepEqual(answers, want) {
			t.Fatalf("%s: acks %v, want %v", from.name, answers, want)
		}
	}
}

func sortAny(s []any) {
	slices.SortFunc(s, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
}

func testHeartbeat(t *testing.T, h *harness) {
	// A node whose server closes says goodbye: dropped at once, well
	// before the heartbeat timeout.
	c := newGoNode(t, h.cl, "c")
	c.name = h.nodes[0].name[:strings.LastIndexByte(h.nodes[0].name, '-')+1] + "c"
	c.id = h.c.connect(t, c.name, c.url)
	h.waitCount(t, append(slices.Clone(h.nodes), c), len(h.nodes)+1)
	began := time.Now()
	c.close()
	h.waitCount(t, h.nodes, len(h.nodes))
	if d := time.Since(began); d >= Options.HeartbeatTimeout {
		t.Errorf("a closed node was dropped after %v, not at once", d)
	}
	// A node dies without a word (Node's process killed, or a siogo
	// node's broker cut off): the others drop it once it has been silent
	// for the heartbeat timeout.
	h.nodes[0].kill()
	h.waitCount(t, h.nodes[1:], len(h.nodes)-1)
}

// goNodes are the siogo nodes of h.
func (h *harness) goNodes() []*node {
	var out []*node
	for _, n := range h.nodes {
		if !n.nodeJS {
			out = append(out, n)
		}
	}
	return out
}

// testOrder: the siogo nodes broadcast at once; every client gets each
// node's broadcasts in the order it sent them, and with a Log broker,
// every client (a Node.js node's included) gets them all in one order,
// the log's.
func testOrder(t *testing.T, h *harness) {
	const each = 40
	senders := h.goNodes()
	var wg sync.WaitGroup
	for _, n := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				_ = n.srv.Emit("seq", shortName(n), i)
			}
		}()
	}
	wg.Wait()
	var first []string
	for _, n := range h.nodes {
		next := map[string]int{}
		var got []string
		for range each * len(senders) {
			ev := h.c.next(t, n.name, "seq")
			from, _ := ev[0].(string)
			i, _ := ev[1].(float64)
			if int(i) != next[from] {
				t.Fatalf("%s got %s's %v after %d of them", n.name, from, i, next[from])
			}
			next[from]++
			got = append(got, fmt.Sprint(from, i))
		}
		if !senders[0].log {
			continue
		}
		if first == nil {
			first = got
		} else if !slices.Equal(got, first) {
			t.Fatalf("%s got the broadcasts in another order than %s:\n%v\n%v", n.name, h.nodes[0].name, got, first)
		}
	}
}

// recoveryNodes starts two siogo nodes with connection state recovery, and
// a client of the first behind a proxy that can move it to the second;
// nil when the broker is not a SessionStore.
func recoveryNodes(t *testing.T, h *harness) (a, b *node, p *proxy, client, id string) {
	rec := &server.RecoveryOptions{MaxDisconnectionDuration: time.Minute}
	a = newGoNodeWith(t, h.cl, "ra", rec)
	if !a.store {
		t.Log("the broker is not a cluster.SessionStore: recovery stays on each node")
		return nil, nil, nil, "", ""
	}
	b = newGoNodeWith(t, h.cl, "rb", rec)
	for _, n := range []*node{a, b} {
		n.name = h.nodes[0].name[:strings.LastIndexByte(h.nodes[0].name, '-')+1] + n.name
	}
	p = startProxy(t, strings.TrimPrefix(a.url, "http://"))
	client = a.name + "-client"
	id = h.c.connectMoving(t, client, p.url())
	return a, b, p, client, id
}

// moveClient cuts the client off its node (from) and lets it come back to
// to, once from has seen it go; it returns the id it comes back with.
func moveClient(t *testing.T, h *harness, p *proxy, client, id string, from, to *node, meanwhile func()) string {
	t.Helper()
	p.cut()
	deadline := time.Now().Add(10 * time.Second)
	for from.srv.Of("/").Socket(id) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the socket stayed connected on its node")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if meanwhile != nil {
		meanwhile()
	}
	p.moveTo(strings.TrimPrefix(to.url, "http://"))
	got, recovered := h.c.waitConnect(t, client)
	if got != id || !recovered {
		t.Fatalf("back on %s as %s (recovered %v), want %s recovered", to.name, got, recovered, id)
	}
	return got
}

// testRecovery: with a broker that is a SessionStore, a client whose node
// is lost comes back on another node with its id, rooms and data, and
// gets the events broadcast to it meanwhile, from either node, once and in
// order; also when that node's broker hands it those events only after it
// came back (its reader was behind). Other brokers keep sessions per node,
// as the in-memory adapter, which package server's tests prove.
func testRecovery(t *testing.T, h *harness) {
	a, b, p, name, id := recoveryNodes(t, h)
	if a == nil {
		return
	}
	h.c.emit(t, name, "join", "room1")
	a.srv.Of("/").Socket(id).SetData(map[string]any{"k": "v"})
	_ = b.srv.To("room1").Emit("live", 1)
	live := h.c.next(t, name, "live")
	if len(live) != 2 || live[0] != float64(1) {
		t.Fatalf("live event %v: want its offset after the argument", live)
	}
	// The node is lost to the client; meanwhile both nodes broadcast.
	moveClient(t, h, p, name, id, a, b, func() {
		_ = a.srv.To("room1").Emit("missed", "from a")
		_ = b.srv.Emit("missed", "from b")
		_ = b.srv.To("elsewhere").Emit("missed", "not for it")
	})
	for _, want := range []string{"from a", "from b"} {
		if ev := h.c.next(t, name, "missed"); len(ev) != 2 || ev[0] != want {
			t.Fatalf("missed event %v, want [%q offset]", ev, want)
		}
	}
	waitRooms(t, h, &node{name: name}, "room1", true)
	s := b.srv.Of("/").Socket(id)
	if s == nil || !reflect.DeepEqual(s.Data(), map[string]any{"k": "v"}) {
		t.Fatalf("restored socket %v", s)
	}
	_ = a.srv.To("room1").Emit("after")
	h.c.next(t, name, "after")

	// Back to a, whose broker holds what it read meanwhile: a reads the
	// events from the log as the client comes back, and leaves the client
	// out when its broker hands them over.
	moveClient(t, h, p, name, id, b, a, func() {
		a.broker.pause()
		_ = b.srv.To("room1").Emit("missed", "held 1")
		_ = b.srv.Emit("missed", "held 2")
	})
	for _, want := range []string{"held 1", "held 2"} {
		if ev := h.c.next(t, name, "missed"); len(ev) != 2 || ev[0] != want {
			t.Fatalf("missed event %v, want [%q offset]", ev, want)
		}
	}
	a.broker.resume()
	_ = b.srv.To("room1").Emit("after")
	h.c.next(t, name, "after")
	if k := h.c.pending(t, name, "missed"); k != 0 {
		t.Fatalf("%d more missed events", k)
	}
}

// testRecoveryUnderLoad: a node sends to a room every few milliseconds
// while the client in it moves from node to node; it gets each event
// once, in order.
func testRecoveryUnderLoad(t *testing.T, h *harness) {
	a, b, p, name, id := recoveryNodes(t, h)
	if a == nil {
		return
	}
	h.c.emit(t, name, "join", "load")
	sender := h.goNodes()[0]
	const n = 300
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			_ = sender.srv.To("load").Emit("seq", i)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	from, to := a, b
	for range 2 {
		time.Sleep(150 * time.Millisecond)
		moveClient(t, h, p, name, id, from, to, nil)
		from, to = to, from
	}
	<-done
	for i := range n {
		if ev := h.c.next(t, name, "seq"); len(ev) != 2 || ev[0] != float64(i) {
			t.Fatalf("event %d: %v", i, ev)
		}
	}
	_ = sender.srv.To("load").Emit("end")
	h.c.next(t, name, "end")
	if k := h.c.pending(t, name, "seq"); k != 0 {
		t.Fatalf("%d events twice", k)
	}
}
