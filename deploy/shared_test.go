package deploy

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/nodetest"
)

// sharedEnv runs the twin with --sessions shared behind nginx round-robin
// (deploy/nginx-roundrobin.conf) and a short heartbeat, so that a client
// of a killed node notices within seconds.
var sharedEnv = []string{"SIOGO_SESSIONS=shared", "SIOGO_PING_INTERVAL=2s", "SIOGO_PING_TIMEOUT=3s"}

var forwardedRe = regexp.MustCompile(`(?m)^siogo_forwarded_requests_total\{kind="([a-z]+)",outcome="([a-z]+)"\} (\S+)$`)

// forwarded sums a node's siogo_forwarded_requests_total by kind/outcome.
func forwarded(t *testing.T, port int) map[string]float64 {
	_, metrics := do(t, http.DefaultClient, "GET", fmt.Sprintf("http://127.0.0.1:%d/metrics", port), "")
	out := map[string]float64{}
	for _, m := range forwardedRe.FindAllStringSubmatch(metrics, -1) {
		v, _ := strconv.ParseFloat(m[3], 64)
		out[m[1]+"/"+m[2]] += v
	}
	return out
}

// TestSharedSessions starts the twin with shared sessions behind nginx
// round-robin (no ip_hash, no cookie) and runs the official clients
// through it:
//   - socket.io-client 4 and 2 over polling, WebSocket, and polling
//     upgraded: echo with ack, binary, a large message, a broadcast
//     across nodes, a room;
//   - engine.io-client 6 and 3 over raw Engine.IO is covered in
//     transports/shared; here a JSONP session's requests cross nodes;
//   - a node SIGKILLed under a stream of acknowledged broadcasts to
//     polling clients: its clients come back on the others within the
//     heartbeat, the others lose nothing.
func TestSharedSessions(t *testing.T) {
	lc := startLocal(t, "", sharedEnv...)
	for _, p := range lc.nodePorts {
		waitNodeReady(t, p)
	}
	nginx := fmt.Sprintf("http://127.0.0.1:%d", lc.nginxPort)
	node := func(i int) string { return fmt.Sprintf("http://127.0.0.1:%d", lc.nodePorts[i]) }
	dumpLogs := func(t *testing.T) {
		if t.Failed() {
			logs, _ := exec.Command("sh", "-c", "grep -h -i -e shared -e refused -e error -e warn "+lc.dir+"/logs/siogo*.log | tail -n 40; tail -n 10 "+lc.dir+"/logs/nginx.log").CombinedOutput()
			t.Logf("node logs:\n%s", logs)
		}
	}

	t.Run("clients", func(t *testing.T) {
		defer dumpLogs(t)
		for _, version := range []int{4, 2} {
			for _, transport := range []string{"polling", "websocket", "upgrade"} {
				var rep struct {
					OK    bool     `json:"ok"`
					Error string   `json:"error"`
					Steps []string `json:"steps"`
				}
				nodetest.Run(t, 60*time.Second, "demo-client.js", map[string]any{"url": nginx, "version": version, "transport": transport}, &rep)
				if !rep.OK {
					t.Errorf("socket.io-client %d over %s through round-robin nginx: after %v: %s", version, transport, rep.Steps, rep.Error)
				}
			}
		}
		total := map[string]float64{}
		for _, p := range lc.nodePorts {
			for k, v := range forwarded(t, p) {
				total[k] += v
			}
		}
		if total["poll/ok"] == 0 || total["post/ok"] == 0 || total["websocket/ok"] == 0 {
			t.Errorf("requests relayed between nodes: %v; want polls, posts and upgrades", total)
		}
		t.Logf("relayed: %v", total)
	})

	t.Run("browser", func(t *testing.T) {
		// The demo page in headless Chromium through the balancer, in its
		// three modes (socket.io-client 4 over WebSocket, over polling,
		// socket.io-client 2).
		defer dumpLogs(t)
		out := t.TempDir()
		for _, mode := range []string{"websocket", "polling", "legacy"} {
			var rep struct {
				OK    bool     `json:"ok"`
				Steps []string `json:"steps"`
				Error string   `json:"error"`
			}
			nodetest.Run(t, 90*time.Second, "browser.js", map[string]any{"url": nginx + "/", "mode": mode, "screenshot": out + "/" + mode + ".png"}, &rep)
			if !rep.OK {
				t.Errorf("demo page, %s mode, through round-robin nginx: after %v: %s", mode, rep.Steps, rep.Error)
			}
		}
	})

	t.Run("jsonp", func(t *testing.T) {
		// JSONP (socket.io-client 2 in old browsers) needs a page: its
		// requests are made here as such a page makes them.
		_, open := do(t, http.DefaultClient, "GET", nginx+"/socket.io/?EIO=3&transport=polling&j=0", "")
		m := regexp.MustCompile(`\\"sid\\":\\"([^\\]+)\\"`).FindStringSubmatch(open)
		if m == nil {
			t.Fatalf("jsonp handshake: %q", open)
		}
		u := nginx + "/socket.io/?EIO=3&transport=polling&j=0&sid=" + m[1]
		seen := map[string]bool{}
		for i := 0; i < 6; i++ {
			// Each request to the next node: the session is served by all.
			req, _ := http.NewRequest("POST", u, strings.NewReader("d="+urlEncode(`21:42["message","jsonp"]`)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("jsonp post %d: %d", i, res.StatusCode)
			}
			for !seen[strconv.Itoa(i)] {
				code, body := do(t, http.DefaultClient, "GET", u, "")
				if code != 200 || !strings.HasPrefix(body, "___eio[0](") {
					t.Fatalf("jsonp poll: %d %q", code, body)
				}
				if strings.Contains(body, `42[\"message\",\"jsonp\"]`) {
					seen[strconv.Itoa(i)] = true
				}
			}
		}
	})

	t.Run("SIGKILL", func(t *testing.T) {
		defer dumpLogs(t)
		// Polling clients through nginx: every request of theirs may land
		// on any node. The sender stays on node 1; node 3 dies.
		load := nodetest.StartLoad(t, nodetest.LoadConfig{URLs: []string{nginx}, PerURL: 30, SenderURL: node(0),
			IntervalMs: 50, Transports: []string{"polling"}, ReconnectionDelay: 500, ReconnectionDelayMax: 1000, SettleMs: 10000})
		if n := connectedClients(lc.nodePorts[2]); n < 1 {
			t.Fatalf("no client owned by node 3 (%v): the test would prove nothing", n)
		}
		time.Sleep(time.Second)
		killed := time.Now().UnixMilli()
		if err := lc.script("kill-node", "3"); err != nil {
			t.Fatal(err)
		}
		// The heartbeat (2 s + 3 s) and the reconnection delay.
		time.Sleep(8 * time.Second)
		rep := load.End()
		checkKilled(t, rep, killed, 5000+750+2000)
	})
}

// checkKilled judges a load run in which a node was SIGKILLed at killed
// (Unix ms): every client ends connected, those that were moved came back
// within backWithin ms, and the only broadcasts lost are those sent while
// a client was away, or crossing the killed node as it died (at most one
// per client); none was delivered twice.
func checkKilled(t *testing.T, rep *nodetest.LoadReport, killed, backWithin int64) {
	t.Helper()
	moved := 0
	var slowest int64
	for i, c := range rep.Clients {
		if !c.Connected {
			t.Errorf("client %d ended disconnected: connects %v, disconnects %v, last error %s", i, c.Connects, c.Disconnects, c.LastError)
			continue
		}
		if len(c.Disconnects) == 0 {
			continue
		}
		moved++
		back := c.Connects[len(c.Connects)-1] - killed
		slowest = max(slowest, back)
		// Noticed within the heartbeat (or the relay's probe), back after
		// the reconnection delay, with room for a loaded machine.
		if back > backWithin {
			t.Errorf("client %d came back %d ms after the kill", i, back)
		}
	}
	if moved == 0 {
		t.Error("no client was disconnected by the kill")
	}
	// A client owned by the killed node misses what was sent from
	// just before the kill until it is back; one whose poll's answer
	// was crossing the killed node (its edge) loses that answer, as
	// a connection cut mid-response loses it on one node. Nothing
	// else may be lost.
	inFlight := 0
	for i, seqs := range lostAcked(rep, 500) {
		c := rep.Clients[i]
		for _, seq := range seqs {
			var sent int64
			for _, a := range rep.Acks {
				if a[0] == seq {
					sent = a[1]
				}
			}
			switch {
			case len(c.Disconnects) > 0 && sent >= killed-1000 && sent <= c.Connects[len(c.Connects)-1]+500:
			case len(c.Disconnects) == 0 && sent >= killed-1000 && sent <= killed+500:
				inFlight++
			default:
				t.Errorf("client %d lost broadcast %d, sent %d ms after the kill", i, seq, sent-killed)
			}
		}
	}
	if inFlight > len(rep.Clients) {
		t.Errorf("%d broadcasts lost crossing the killed node, for %d clients", inFlight, len(rep.Clients))
	}
	if dup := duplicated(rep); len(dup) > 0 {
		t.Errorf("broadcasts delivered twice: %v", dup)
	}
	t.Logf("%d lost crossing the killed node as it died", inFlight)
	t.Logf("%d clients moved off the killed node, the last back %d ms after the kill; %d broadcasts, %d acked",
		moved, slowest, rep.Sent, len(rep.Acks))
}

// duplicated lists, per client, the broadcasts it got more than once.
func duplicated(rep *nodetest.LoadReport) map[int][]int64 {
	dup := map[int][]int64{}
	for i, c := range rep.Clients {
		seen := map[int64]bool{}
		for _, g := range c.Got {
			if seen[g[0]] {
				dup[i] = append(dup[i], g[0])
			}
			seen[g[0]] = true
		}
	}
	return dup
}

func urlEncode(s string) string {
	r := strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", "=", "%3D", " ", "+")
	return r.Replace(s)
}

// TestSharedLoad keeps polling clients connected through nginx
// round-robin to three nodes sharing sessions, under a stream of
// acknowledged broadcasts: none is lost or delivered twice. CI runs 60
// clients for 8 s; `make shared-long` runs 1,000 for a minute
// (SIOGO_SHARED_CLIENTS, SIOGO_SHARED_SECONDS, SIOGO_SHARED_INTERVAL_MS),
// and with SIOGO_SHARED_KILL node 3 is SIGKILLed half-way: its clients
// come back on the others, and nothing else is lost (checkKilled).
func TestSharedLoad(t *testing.T) {
	clients, seconds, interval := envInt(t, "SIOGO_SHARED_CLIENTS", 60), envInt(t, "SIOGO_SHARED_SECONDS", 8), envInt(t, "SIOGO_SHARED_INTERVAL_MS", 100)
	kill := os.Getenv("SIOGO_SHARED_KILL") != ""
	// Node's heartbeat (25 s, 20 s): a thousand clients in one Node.js
	// process on a shared machine would miss the short one of sharedEnv.
	lc := startLocal(t, "", "SIOGO_SESSIONS=shared")
	for _, p := range lc.nodePorts {
		waitNodeReady(t, p)
	}
	nginx := fmt.Sprintf("http://127.0.0.1:%d", lc.nginxPort)
	cfg := nodetest.LoadConfig{URLs: []string{nginx}, PerURL: clients, SenderURL: nginx,
		IntervalMs: interval, Transports: []string{"polling"}, SettleMs: 10000}
	if kill {
		// Node 3 dies half-way: the sender stays on node 1, the clients
		// come back soon after they notice.
		cfg.SenderURL = fmt.Sprintf("http://127.0.0.1:%d", lc.nodePorts[0])
		cfg.ReconnectionDelay, cfg.ReconnectionDelayMax = 500, 1000
	}
	started := time.Now()
	load := nodetest.StartLoad(t, cfg)
	t.Logf("%d polling clients connected through round-robin nginx in %v", clients, time.Since(started).Round(time.Millisecond))
	var killed int64
	if kill {
		time.Sleep(time.Duration(seconds) * time.Second / 2)
		killed = time.Now().UnixMilli()
		if err := lc.script("kill-node", "3"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(seconds) * time.Second / 2)
	} else {
		time.Sleep(time.Duration(seconds) * time.Second)
	}
	rep := load.End()
	// With SIOGO_LOG_LEVEL=debug the nodes log why each session closed.
	closed, _ := exec.Command("sh", "-c", "grep -h 'session closed' "+lc.dir+"/logs/siogo*.log | grep -o 'reason=\"[^\"]*\"' | sort | uniq -c").CombinedOutput()
	t.Logf("sessions closed on the nodes, by reason:\n%s", closed)
	if kill {
		// The relay gives up on a dead node within its probe (3 s); a
		// thousand clients reconnecting at once on a shared machine take
		// longer than the 30 of TestSharedSessions.
		checkKilled(t, rep, killed, 20000)
	} else {
		for i, c := range rep.Clients {
			if len(c.Disconnects) > 0 || !c.Connected {
				t.Errorf("client %d was disconnected: connects %v, disconnects %v, last error %s", i, c.Connects, c.Disconnects, c.LastError)
			}
		}
		if lost := lostAcked(rep, 1000); len(lost) > 0 {
			n := 0
			for _, l := range lost {
				n += len(l)
			}
			t.Errorf("%d acknowledged broadcasts lost, over %d clients: %v", n, len(lost), lost)
		}
		if dup := duplicated(rep); len(dup) > 0 {
			t.Errorf("broadcasts delivered twice: %v", dup)
		}
	}
	if len(rep.Acks) < rep.Sent-1 || rep.Sent == 0 {
		t.Errorf("%d of %d broadcasts acknowledged", len(rep.Acks), rep.Sent)
	}
	total := map[string]float64{}
	for i, p := range lc.nodePorts {
		if kill && i == 2 {
			continue
		}
		for k, v := range forwarded(t, p) {
			total[k] += v
		}
	}
	t.Logf("%d broadcasts to %d clients over %d s, %d acked; relayed requests: %v", rep.Sent, clients, seconds, len(rep.Acks), total)
	if failed := total["poll/timeout"] + total["post/timeout"] + total["poll/error"] + total["post/error"]; failed > 0 && !kill {
		t.Errorf("relayed requests failed: %v", total)
	}
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// TestComposeShared checks the round-robin variant of the compose file,
// as its header comment runs it.
func TestComposeShared(t *testing.T) {
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Fatal("docker-compose is not installed: apt-get install -y docker-compose")
	}
	root := filepath.Dir(filepath.Dir(nodetest.Dir(t)))
	config := func(env ...string) string {
		cmd := exec.Command("docker-compose", "-f", filepath.Join(root, "docker-compose.yml"), "config")
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "SIOGO_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker-compose config: %v\n%s", err, out)
		}
		return string(out)
	}
	out := config("SIOGO_SESSIONS=shared", "SIOGO_NGINX_CONF=nginx-roundrobin.conf")
	if n := strings.Count(out, "SIOGO_SESSIONS: shared"); n != 3 {
		t.Errorf("%d nodes with shared sessions, want 3:\n%s", n, out)
	}
	if !strings.Contains(out, "deploy/nginx-roundrobin.conf:/etc/nginx/nginx.conf") {
		t.Errorf("nginx does not mount the round-robin configuration:\n%s", out)
	}
	// By default: local sessions, the sticky configuration.
	out = config()
	if n := strings.Count(out, "SIOGO_SESSIONS: local"); n != 3 || !strings.Contains(out, "deploy/nginx.conf:/etc/nginx/nginx.conf") {
		t.Errorf("the default compose file: %d local nodes, or not the sticky nginx:\n%s", n, out)
	}
	// The round-robin configuration is the sticky one without its hash.
	rr, err := os.ReadFile(filepath.Join(root, "deploy", "nginx-roundrobin.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(rr), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "#") && (strings.Contains(line, "hash") || strings.HasPrefix(line, "sticky")) {
			t.Errorf("deploy/nginx-roundrobin.conf is sticky: %s", line)
		}
	}
}
