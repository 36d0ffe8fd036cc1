package redisstreams_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/nodetest"
	"github.com/siogo/siogo/internal/redistest"
	"github.com/siogo/siogo/internal/siotest"
	"github.com/siogo/siogo/server"
)

// proxy is the load balancer of the recovery tests: a TCP proxy whose
// backend the test switches, or empties to refuse connections.
type proxy struct {
	ln      net.Listener
	backend atomic.Value // string, host:port or ""
}

func startProxy(t *testing.T) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	p.backend.Store("")
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				to := p.backend.Load().(string)
				if to == "" {
					return
				}
				b, err := net.Dial("tcp", to)
				if err != nil {
					return
				}
				defer b.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(b, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, b); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	return p
}

func (p *proxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) to(base string) { p.backend.Store(strings.TrimPrefix(base, "http://")) }

// expectEvents checks the events received since the last call: their
// names and first argument, in order, each once, each with an offset (a
// stream entry id) as last argument.
func expectEvents(t *testing.T, r *nodetest.Remote, want ...string) {
	t.Helper()
	var got []string
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < len(want) && time.Now().Before(deadline) {
		for _, e := range r.Events() {
			offset, _ := e[len(e)-1].(string)
			if len(e) != 3 || !strings.Contains(offset, "-") {
				t.Fatalf("event %v: want [name, arg, offset]", e)
			}
			got = append(got, fmt.Sprint(e[0], " ", e[1]))
		}
		if len(got) < len(want) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(150 * time.Millisecond) // anything more would be a duplicate
	for _, e := range r.Events() {
		got = append(got, fmt.Sprint(e[0], " ", e[1]))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}

// demoish gives an in-process node the demo's handlers and the ones the
// recovery test looks at (Node's test node has the same).
func demoish(srv *server.Server) {
	srv.OnConnection(func(s *server.Socket) {
		s.On("message", func(args []any, ack server.Ack) {
			_ = s.Emit("message", args...)
			if ack != nil {
				ack(args...)
			}
		})
		s.On("broadcast", func(args []any, ack server.Ack) { _ = srv.Emit("broadcast", args...) })
		s.On("local", func(args []any, ack server.Ack) { _ = srv.Local().Emit("local", args...) })
		s.On("volatile", func(args []any, ack server.Ack) { _ = srv.Volatile().Emit("volatile", args...) })
		s.On("join", func(args []any, ack server.Ack) {
			s.Join(args[0].(string))
			ack(args[0])
		})
		s.On("to", func(args []any, ack server.Ack) {
			_ = srv.To(args[0].(string)).Emit("broadcast", args[1:]...)
			if ack != nil {
				ack()
			}
		})
		s.On("set-data", func(args []any, ack server.Ack) {
			s.SetData(map[string]any{"v": args[0]})
			ack()
		})
		s.On("get-data", func(args []any, ack server.Ack) {
			m, _ := s.Data().(map[string]any)
			ack(m["v"])
		})
		s.On("rooms", func(args []any, ack server.Ack) {
			rooms := s.Rooms()
			slices.Sort(rooms)
			ack(rooms)
		})
	})
}

// built is cmd/siogo, built once for the package's tests (TestMain removes
// its directory).
var built struct {
	once     sync.Once
	dir, bin string
	err      error
}

// siogoBinary builds cmd/siogo for the tests, once.
func siogoBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "siogo-bin-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "siogo")
		build := exec.Command("go", "build", "-o", built.bin, "github.com/siogo/siogo/cmd/siogo")
		if out, err := build.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// startSiogo runs the siogo program on a free port with args and returns
// its process and base URL once it is ready.
func startSiogo(t *testing.T, bin string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	root := filepath.Dir(filepath.Dir(nodetest.Dir(t)))
	cmd := exec.Command(bin, append([]string{"--addr", addr, "--client-dir", filepath.Join(root, "public", "node_modules")}, args...)...)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := httpGet(base + "/readyz"); code == 200 {
			return cmd, base
		}
		if time.Now().After(deadline) {
			t.Fatalf("siogo did not get ready: %s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRecoveryAcrossNodes: one client behind a load balancer, recovered
// by another node each time its node goes: from the siogo program killed
// with SIGKILL to a siogo node, from there to a Node.js node, and back.
// Each time it keeps its id, rooms and data, and gets every event sent to
// it meanwhile, from any node, once and in order.
func TestRecoveryAcrossNodes(t *testing.T) {
	rs := redistest.Start(t)
	recoveryAcrossNodes(t, "redis-streams://"+strings.TrimPrefix(rs.URL, "redis://"), rs.URL,
		map[string]any{"redis": rs.URL}, rs.URL)
}

// recoveryAcrossNodes is TestRecoveryAcrossNodes's body: the program
// with --adapter flag, a siogo node on goURL, Node's with nodeCfg (its
// driver's configuration), Redis's servers at redisURLs.
func recoveryAcrossNodes(t *testing.T, flag, goURL string, nodeCfg map[string]any, redisURLs ...string) {
	bin := siogoBinary(t)
	procA, urlA := startSiogo(t, bin, "--adapter", flag, "--recovery", "1m", "--tick", "1h")
	b := newNode(t, goURL, time.Minute)
	demoish(b.srv)
	nodeCfg["recovery"] = time.Minute.Milliseconds()
	urlN := startNodeServerWith(t, nodeCfg)
	fromNode := siotest.Dial(t, urlN) // sends what the Node node broadcasts
	fromNode.Connect()
	waitReaders(t, 3, redisURLs...)
	lb := startProxy(t)
	lb.to(urlA)
	c := nodetest.StartRemote(t)

	first := c.Connect(lb.URL())
	if first.Recovered {
		t.Fatal("recovered on the first connection")
	}
	if got := c.Emit("join", "r"); !slices.Equal(got, []any{"r"}) {
		t.Fatalf("join: %v", got)
	}
	c.Emit("to", "r", "e1")
	expectEvents(t, c, "broadcast e1")
	waitLiveAt(t, redisURLs, first.PID, "r") // the live session, in r

	// Node A dies without a word; events are sent while the client is away.
	lb.to("")
	if err := procA.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = b.srv.To("r").Emit("broadcast", "e2")
	fromNode.Send(`42["to","r","e3"]`)
	time.Sleep(200 * time.Millisecond)
	_ = b.srv.Emit("broadcast", "e4")
	_ = b.srv.To("elsewhere").Emit("broadcast", "not for it")
	lb.to(b.URL)
	back := c.WaitConnect()
	if !back.Recovered || back.ID != first.ID {
		t.Fatalf("after SIGKILL: %+v, was %+v", back, first)
	}
	expectEvents(t, c, "broadcast e2", "broadcast e3", "broadcast e4")
	if rooms := c.Emit("rooms"); !slices.Contains(rooms[0].([]any), "r") {
		t.Fatalf("rooms %v", rooms)
	}
	c.Emit("set-data", "precious")

	// From siogo to Node.js: the session siogo kept, read by Node.
	lb.to("")
	c.Cut()
	_ = b.srv.To("r").Emit("broadcast", "e5")
	fromNode.Send(`42["to","r","e6"]`)
	time.Sleep(200 * time.Millisecond)
	lb.to(urlN)
	back = c.WaitConnect()
	if !back.Recovered || back.ID != first.ID {
		t.Fatalf("on Node: %+v, was %+v", back, first)
	}
	expectEvents(t, c, "broadcast e5", "broadcast e6")
	if got := c.Emit("get-data"); !slices.Equal(got, []any{"precious"}) {
		t.Fatalf("data on Node: %v", got)
	}

	// And back: the session Node kept, read by siogo.
	lb.to("")
	c.Cut()
	fromNode.Send(`42["to","r","e7"]`)
	time.Sleep(100 * time.Millisecond)
	_ = b.srv.Emit("broadcast", "e8")
	lb.to(b.URL)
	back = c.WaitConnect()
	if !back.Recovered || back.ID != first.ID {
		t.Fatalf("back on siogo: %+v, was %+v", back, first)
	}
	expectEvents(t, c, "broadcast e7", "broadcast e8")
	if got := c.Emit("get-data"); !slices.Equal(got, []any{"precious"}) {
		t.Fatalf("data back on siogo: %v", got)
	}
	if rooms := c.Emit("rooms"); !slices.Contains(rooms[0].([]any), "r") || !slices.Contains(rooms[0].([]any), any(first.ID)) {
		t.Fatalf("rooms %v", rooms)
	}
	// Live again: one more, once.
	fromNode.Send(`42["broadcast","e9"]`)
	expectEvents(t, c, "broadcast e9")
}

func httpGet(url string) (int, string) {
	res, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestRecoveryUnderLoad cuts a client's connection, twice, while another
// node sends to its room every few milliseconds, and moves it between
// nodes: it sees every event once, in order.
func TestRecoveryUnderLoad(t *testing.T) {
	rs := redistest.Start(t)
	a, b, sender := newNode(t, rs.URL, time.Minute), newNode(t, rs.URL, time.Minute), newNode(t, rs.URL, time.Minute)
	demoish(a.srv)
	demoish(b.srv)
	lb := startProxy(t)
	lb.to(a.URL)
	c := nodetest.StartRemote(t)
	first := c.Connect(lb.URL())
	c.Emit("join", "r")
	const n = 300
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			_ = sender.srv.To("r").Emit("seq", i)
			time.Sleep(3 * time.Millisecond)
		}
	}()
	for _, to := range []*node{b, a} {
		time.Sleep(250 * time.Millisecond)
		lb.to(to.URL)
		c.Cut()
		if back := c.WaitConnect(); !back.Recovered || back.ID != first.ID {
			t.Fatalf("%+v, was %+v", back, first)
		}
	}
	<-done
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprint("seq ", i)
	}
	expectEvents(t, c, want...)
}

// TestOffsetsAsNode: with recovery on, the events a siogo node sends carry
// an offset exactly where a Node.js node's do: a socket's own emit and a
// broadcast, not an acknowledgement, a local or a volatile broadcast.
func TestOffsetsAsNode(t *testing.T) {
	rs := redistest.Start(t)
	g := newNode(t, rs.URL, time.Minute)
	demoish(g.srv)
	nodeURL := startNodeServer(t, rs.URL, time.Minute)
	waitReaders(t, 2, rs.URL)
	offset := regexp.MustCompile(`"\d+-\d+"`)
	var seen [2][]string
	for i, base := range []string{g.URL, nodeURL} {
		c := siotest.Dial(t, base)
		c.Connect()
		for _, p := range []string{`421["message","hi"]`, `42["message","no ack"]`, `42["local","l"]`, `42["volatile","v"]`, `42["broadcast","b"]`, `42["broadcast","end"]`} {
			c.Send(p)
		}
		deadline := time.After(10 * time.Second)
		for end := false; !end; {
			ch := make(chan []string, 1)
			go func() { ch <- c.Poll() }()
			select {
			case got := <-ch:
				for _, p := range got {
					if strings.HasPrefix(p, `42["broadcast","end"`) {
						end = true
						continue
					}
					seen[i] = append(seen[i], offset.ReplaceAllString(p, "OFFSET"))
				}
			case <-deadline:
				t.Fatalf("server %d: only %q", i, seen[i])
			}
		}
	}
	// The echo and its ack may come in either order (Node sends the ack
	// first, siogo the echo); a volatile event may be dropped on polling.
	want := []string{`42["broadcast","b",OFFSET]`, `42["local","l"]`, `42["message","hi",OFFSET]`, `42["message","no ack",OFFSET]`, `431["hi"]`}
	for i, who := range []string{"siogo", "Node"} {
		seen[i] = slices.DeleteFunc(seen[i], func(p string) bool { return p == `42["volatile","v"]` })
		slices.Sort(seen[i])
		if !slices.Equal(seen[i], want) {
			t.Errorf("%s sent %q, want %q", who, seen[i], want)
		}
	}
}
