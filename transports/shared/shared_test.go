package shared_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siogo/siogo/adapters/cluster"
	"github.com/siogo/siogo/internal/nodetest"
	"github.com/siogo/siogo/transports"
	"github.com/siogo/siogo/transports/shared"
)

// node is an Engine.IO echo server sharing its sessions over a broker.
type node struct {
	sh  *shared.Sessions
	eng *transports.Server
	hs  *httptest.Server
	obs *observer

	mu      sync.Mutex
	reasons map[string]string
}

type observer struct {
	mu       sync.Mutex
	outcomes map[string]int // kind/outcome
	relaying atomic.Int64
}

func (o *observer) Forwarded(kind, outcome string, _ time.Duration) {
	o.mu.Lock()
	o.outcomes[kind+"/"+outcome]++
	o.mu.Unlock()
}

func (o *observer) Relaying(d int) { o.relaying.Add(int64(d)) }

func (o *observer) count(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.outcomes[key]
}

func startNode(t testing.TB, b cluster.Broker, opts transports.Options, sopts shared.Options) *node {
	t.Helper()
	n := &node{obs: &observer{outcomes: map[string]int{}}, reasons: map[string]string{}}
	sopts.Observer = n.obs
	sopts.Logger = slog.New(slog.DiscardHandler)
	sopts.PingInterval, sopts.PingTimeout, sopts.MaxHTTPBufferSize = opts.PingInterval, opts.PingTimeout, opts.MaxHTTPBufferSize
	sh, err := shared.New(b, sopts)
	if err != nil {
		t.Fatal(err)
	}
	opts.NewSessionID = sh.NewSessionID
	opts.OnSession = func(s *transports.Session) {
		s.OnMessage(func(data []byte, binary bool) {
			if !binary && string(data) == "close-me" {
				go s.Close()
				return
			}
			_ = s.Send(transports.Packet{Type: transports.PacketMessage, Data: bytes.Clone(data), Binary: binary})
		})
		s.OnClose(func(reason string) {
			n.mu.Lock()
			n.reasons[s.ID()] = reason
			n.mu.Unlock()
		})
	}
	eng, err := transports.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", sh.Handler(eng))
	n.sh, n.eng, n.hs = sh, eng, httptest.NewServer(mux)
	t.Cleanup(func() {
		n.hs.Close()
		_ = sh.Close()
		_ = eng.Close()
	})
	return n
}

func (n *node) reason(sid string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.reasons[sid]
}

// roundRobin is a balancer without affinity: each request, upgrades
// included, goes to the next backend.
func roundRobin(t *testing.T, nodes ...*node) string {
	var next atomic.Uint64
	targets := make([]*url.URL, len(nodes))
	for i, n := range nodes {
		targets[i], _ = url.Parse(n.hs.URL)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(targets[next.Add(1)%uint64(len(targets))])
			r.Out.Host = r.In.Host
		},
		FlushInterval: -1,
		ErrorLog:      nil,
	}
	hs := httptest.NewServer(rp)
	t.Cleanup(hs.Close)
	return hs.URL
}

var sidRe = regexp.MustCompile(`"sid":"([^"]+)"`)

func do(t *testing.T, method, u, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func opts() transports.Options {
	return transports.Options{PingInterval: 400 * time.Millisecond, PingTimeout: 5 * time.Second, MaxHTTPBufferSize: 20000}
}

// TestRelayedPolling: a session opened on one node is served by the other,
// as raw polling requests to it show: a POST, a poll, the errors of one
// node (413, unknown sid, a second pending poll).
func TestRelayedPolling(t *testing.T) {
	b := cluster.NewMemoryBroker()
	t.Cleanup(func() { _ = b.Close() })
	a, c := startNode(t, b, opts(), shared.Options{}), startNode(t, b, opts(), shared.Options{AckTimeout: 500 * time.Millisecond})
	clusterWait(t, func() bool { return a.sh.Ready() == nil && c.sh.Ready() == nil })
	_, open := do(t, "GET", a.hs.URL+"/engine.io/?EIO=4&transport=polling", "")
	m := sidRe.FindStringSubmatch(open)
	if m == nil || shared.Owner(m[1]) != a.sh.NodeID() {
		t.Fatalf("handshake: %q (node %s)", open, a.sh.NodeID())
	}
	sid := m[1]
	other := c.hs.URL + "/engine.io/?EIO=4&transport=polling&sid=" + sid
	if code, body := do(t, "POST", other, "4hello\x1ebAQID"); code != 200 || body != "ok" {
		t.Fatalf("relayed post: %d %q", code, body)
	}
	if code, body := do(t, "GET", other, ""); code != 200 || body != "4hello\x1ebAQID" {
		t.Fatalf("relayed poll: %d %q", code, body)
	}
	if c.obs.count("post/ok") != 1 || c.obs.count("poll/ok") != 1 {
		t.Errorf("observer: %v", c.obs.outcomes)
	}
	// A session nobody holds, named after a live node and after none.
	for _, bad := range []string{a.sh.NodeID() + ".nosuchsession", "zzzzzzzz.nosuchsession", "zz*#zzzz.nosuchsession"} {
		code, body := do(t, "GET", c.hs.URL+"/engine.io/?EIO=4&transport=polling&sid="+bad, "")
		if code != 400 || body != `{"code":1,"message":"Session ID unknown"}` {
			t.Fatalf("unknown sid %s: %d %q", bad, code, body)
		}
	}
	if c.obs.count("poll/timeout") != 1 {
		t.Errorf("a gone owner's request should count as a timeout: %v", c.obs.outcomes)
	}
	// Too large: the owner refuses it as its own, and closes the session.
	code, _ := do(t, "POST", other, "4"+strings.Repeat("x", 30000))
	if code != 413 {
		t.Fatalf("relayed oversized post: %d, want 413", code)
	}
	clusterWait(t, func() bool { return a.reason(sid) == transports.ReasonTransportError })

	// JSONP: the form-encoded POST and the script-wrapped poll, relayed.
	_, open = do(t, "GET", c.hs.URL+"/engine.io/?EIO=4&transport=polling&j=3", "")
	sid = sidRe.FindStringSubmatch(strings.ReplaceAll(open, `\"`, `"`))[1]
	if !strings.HasPrefix(open, "___eio[3](") || shared.Owner(sid) != c.sh.NodeID() {
		t.Fatalf("jsonp handshake: %q", open)
	}
	jsonp := a.hs.URL + "/engine.io/?EIO=4&transport=polling&j=3&sid=" + sid
	req, _ := http.NewRequest("POST", jsonp, strings.NewReader(url.Values{"d": {"4jsonp"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(rb) != "ok" {
		t.Fatalf("relayed jsonp post: %d %q", res.StatusCode, rb)
	}
	if code, body := do(t, "GET", jsonp, ""); code != 200 || body != `___eio[3]("4jsonp");` {
		t.Fatalf("relayed jsonp poll: %d %q", code, body)
	}
}

// clusterWait waits until cond holds, 10 s at most.
func clusterWait(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type clientReport struct {
	OK                bool     `json:"ok"`
	Error             string   `json:"error"`
	Steps             []string `json:"steps"`
	SID               string   `json:"sid"`
	ServerCloseReason string   `json:"serverCloseReason"`
	ClientCloseSID    string   `json:"clientCloseSid"`
	OverLimitSID      string   `json:"overLimitSid"`
}

// TestOfficialClientsRoundRobin runs engine.io-client 6 and 3 through a
// balancer that sends each request to the next of three nodes: polling,
// JSONP, WebSocket, and polling upgraded to WebSocket; echo of text and
// binary, order, the limit, an idle session over several heartbeats, a
// close from each side.
func TestOfficialClientsRoundRobin(t *testing.T) {
	nodetest.Require(t)
	b := cluster.NewMemoryBroker()
	t.Cleanup(func() { _ = b.Close() })
	o := opts()
	nodes := []*node{startNode(t, b, o, shared.Options{}), startNode(t, b, o, shared.Options{}), startNode(t, b, o, shared.Options{})}
	lb := roundRobin(t, nodes...)
	owner := func(sid string) *node {
		for _, n := range nodes {
			if n.sh.NodeID() == shared.Owner(sid) {
				return n
			}
		}
		t.Fatalf("sid %q names no node", sid)
		return nil
	}
	for _, version := range []int{6, 3} {
		for _, mode := range []string{"polling", "websocket", "upgrade"} {
			t.Run(fmt.Sprintf("v%d/%s", version, mode), func(t *testing.T) {
				t.Parallel()
				cfg := map[string]any{"url": lb, "version": version, "mode": mode, "limit": o.MaxHTTPBufferSize, "pingInterval": o.PingInterval.Milliseconds()}
				if mode == "jsonp" {
					cfg["mode"], cfg["jsonp"] = "polling", true
				}
				var rep clientReport
				nodetest.Run(t, 60*time.Second, "eio-client.js", cfg, &rep)
				if !rep.OK {
					t.Fatalf("client failed after %v: %s", rep.Steps, rep.Error)
				}
				if rep.ServerCloseReason != "transport close" {
					t.Errorf("client saw the server's close as %q", rep.ServerCloseReason)
				}
				clusterWait(t, func() bool { return owner(rep.SID).reason(rep.SID) == transports.ReasonForcedClose })
				clusterWait(t, func() bool {
					return owner(rep.ClientCloseSID).reason(rep.ClientCloseSID) == transports.ReasonTransportClose
				})
				clusterWait(t, func() bool {
					return owner(rep.OverLimitSID).reason(rep.OverLimitSID) == transports.ReasonTransportError
				})
			})
		}
	}
	t.Cleanup(func() {
		forwarded := 0
		for _, n := range nodes {
			n.obs.mu.Lock()
			for k, v := range n.obs.outcomes {
				if strings.HasSuffix(k, "/ok") {
					forwarded += v
				}
			}
			n.obs.mu.Unlock()
		}
		t.Logf("forwarded ok: %d", forwarded)
		for _, n := range nodes {
			t.Logf("%s %v", n.sh.NodeID(), n.obs.outcomes)
		}
		if forwarded == 0 {
			t.Error("nothing was relayed: the balancer did not spread the requests")
		}
	})
}

// TestOwnerDiesDuringPoll: a relayed poll waiting for packets when its
// owner dies fails once the owner has not answered the edge's probes for
// ProbeTimeout, not after the long bound.
func TestOwnerDiesDuringPoll(t *testing.T) {
	b := cluster.NewMemoryBroker()
	t.Cleanup(func() { _ = b.Close() })
	o := opts()
	o.PingInterval = 20 * time.Second
	fast := shared.Options{ProbeInterval: 100 * time.Millisecond, ProbeTimeout: 500 * time.Millisecond}
	a, c := startNode(t, b, o, fast), startNode(t, b, o, fast)
	_, open := do(t, "GET", a.hs.URL+"/engine.io/?EIO=4&transport=polling", "")
	sid := sidRe.FindStringSubmatch(open)[1]
	type result struct {
		code int
		body string
		took time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		res, err := http.Get(c.hs.URL + "/engine.io/?EIO=4&transport=polling&sid=" + sid)
		if err != nil {
			done <- result{code: -1, body: err.Error()}
			return
		}
		rb, _ := io.ReadAll(res.Body)
		res.Body.Close()
		done <- result{res.StatusCode, string(rb), time.Since(start)}
	}()
	// The poll waits on the owner, through the edge.
	clusterWait(t, func() bool { return a.sh.Serving() > 0 })
	_ = a.sh.Close()
	r := <-done
	if r.code != 400 || r.body != `{"code":1,"message":"Session ID unknown"}` {
		t.Fatalf("poll of a dead owner's session: %d %q", r.code, r.body)
	}
	if r.took > 5*time.Second {
		t.Errorf("the poll failed after %v", r.took)
	}
}

// TestDeadOwner: when the owner is gone, a relayed request fails within
// AckTimeout with the unknown-sid error, and a relayed WebSocket upgrade
// gets a single node's refusal.
func TestDeadOwner(t *testing.T) {
	b := cluster.NewMemoryBroker()
	t.Cleanup(func() { _ = b.Close() })
	a := startNode(t, b, opts(), shared.Options{AckTimeout: 300 * time.Millisecond})
	c := startNode(t, b, opts(), shared.Options{AckTimeout: 300 * time.Millisecond})
	_, open := do(t, "GET", a.hs.URL+"/engine.io/?EIO=4&transport=polling", "")
	sid := sidRe.FindStringSubmatch(open)[1]
	// The owner leaves the broker without a word, as a killed process.
	_ = a.sh.Close()
	start := time.Now()
	code, body := do(t, "GET", c.hs.URL+"/engine.io/?EIO=4&transport=polling&sid="+sid, "")
	if code != 400 || body != `{"code":1,"message":"Session ID unknown"}` {
		t.Fatalf("poll of a dead owner's session: %d %q", code, body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	req, _ := http.NewRequest("GET", c.hs.URL+"/engine.io/?EIO=4&transport=websocket&sid="+sid, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 400 || string(rb) != "Session ID unknown" {
		t.Fatalf("upgrade of a dead owner's session: %d %q", res.StatusCode, rb)
	}
	clusterWait(t, func() bool { return c.obs.relaying.Load() == 0 })
}

// TestRelayedUpgradeDrain: a WebSocket upgrade of a session owned by
// another node is served by the owner through the edge (the 101 and the
// probe cross the broker); Drain at the edge closes it, and the owner's
// session ends as a lost transport.
func TestRelayedUpgradeDrain(t *testing.T) {
	b := cluster.NewMemoryBroker()
	t.Cleanup(func() { _ = b.Close() })
	a, c := startNode(t, b, opts(), shared.Options{}), startNode(t, b, opts(), shared.Options{})
	_, open := do(t, "GET", a.hs.URL+"/engine.io/?EIO=4&transport=polling", "")
	sid := sidRe.FindStringSubmatch(open)[1]
	ws := dialWS(t, c.hs.URL, "/engine.io/?EIO=4&transport=websocket&sid="+sid)
	// The probe: the owner answers "3probe"; then the upgrade.
	ws.send("2probe")
	if got := ws.read(); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	ws.send("5")
	clusterWait(t, func() bool {
		return a.eng.Session(sid) != nil && a.eng.Session(sid).Transport() == transports.TransportWebSocket
	})
	if c.obs.relaying.Load() != 1 || c.obs.count("websocket/ok") != 1 {
		t.Fatalf("edge: relaying %d, %v", c.obs.relaying.Load(), c.obs.outcomes)
	}
	c.sh.Drain()
	if _, err := io.Copy(io.Discard, ws.br); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("after Drain the client's connection: %v", err)
	}
	clusterWait(t, func() bool {
		return a.reason(sid) == transports.ReasonTransportClose && a.obs.relaying.Load() == 0 && c.obs.relaying.Load() == 0
	})
}

// rawWS is a WebSocket client of text frames under 126 bytes.
type rawWS struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

func dialWS(t testing.TB, base, path string) *rawWS {
	t.Helper()
	host := strings.TrimPrefix(base, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path, host)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("Sec-Websocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("upgrade: %v %+v", err, res)
	}
	return &rawWS{t, conn, br}
}

func (c *rawWS) send(text string) {
	payload := []byte(text)
	key := []byte{1, 2, 3, 4}
	frame := []byte{0x81, 0x80 | byte(len(payload))}
	frame = append(frame, key...)
	for i, p := range payload {
		frame = append(frame, p^key[i%4])
	}
	if _, err := c.conn.Write(frame); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawWS) read() string {
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	h := make([]byte, 2)
	if _, err := io.ReadFull(c.br, h); err != nil {
		c.t.Fatal(err)
	}
	got := make([]byte, h[1]&0x7f)
	if _, err := io.ReadFull(c.br, got); err != nil {
		c.t.Fatal(err)
	}
	return string(got)
}
