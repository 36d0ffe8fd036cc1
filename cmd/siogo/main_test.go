package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/siogo/siogo/internal/nodetest"
	"github.com/siogo/siogo/internal/redistest"
	"github.com/siogo/siogo/internal/siotest"
)

// repoRoot is the module's root directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	return filepath.Dir(filepath.Dir(nodetest.Dir(t))) // <root>/test/node
}

// clientDir is where public/package.json's bundles are installed; a test
// that serves the page fails, with the command to run, when they are not.
func clientDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "public", "node_modules")
	if _, err := os.Stat(filepath.Join(dir, "socket.io-client", "dist", "socket.io.js")); err != nil {
		t.Fatalf("the page's client bundles are not installed: run: cd %s && npm ci", filepath.Join(repoRoot(t), "public"))
	}
	return dir
}

// start runs the program in-process with args and returns its base URL.
func start(t *testing.T, args ...string) string {
	t.Helper()
	return startLogged(t, slog.New(slog.NewTextHandler(io.Discard, nil)), args...)
}

// startLogged is start with the program's logs going to log.
func startLogged(t *testing.T, log *slog.Logger, args ...string) string {
	t.Helper()
	cfg, err := parseConfig(append([]string{"--client-dir", clientDir(t)}, args...), func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, ln, log) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestBrowser drives the demo page in headless Chromium in its three
// modes, and writes a screenshot of each to test/output; the modes that
// long-poll run on the event-loop HTTP server (--http-engine loop) too.
func TestBrowser(t *testing.T) {
	nodetest.Require(t)
	out := filepath.Join(repoRoot(t), "test", "output")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, engine := range []string{"net", "loop"} {
		base := start(t, "--tick", "300ms", "--http-engine", engine)
		modes := []string{"websocket", "polling", "legacy"}
		if engine == "loop" {
			modes = modes[1:]
		}
		for _, mode := range modes {
			t.Run(engine+"/"+mode, func(t *testing.T) {
				name := "demo-" + mode + ".png"
				if engine != "net" {
					name = "demo-" + mode + "-" + engine + ".png"
				}
				shot := filepath.Join(out, name)
				var rep struct {
					OK        bool     `json:"ok"`
					Steps     []string `json:"steps"`
					Error     string   `json:"error"`
					Transport string   `json:"transport"`
				}
				nodetest.Run(t, 90*time.Second, "browser.js", map[string]any{"url": base + "/", "mode": mode, "screenshot": shot}, &rep)
				if !rep.OK {
					t.Fatalf("after %v: %s", rep.Steps, rep.Error)
				}
				if st, err := os.Stat(shot); err != nil || st.Size() == 0 {
					t.Fatalf("no screenshot: %v", err)
				}
				t.Logf("screenshot: %s", shot)
			})
		}
	}
}

// TestPlainWebSocket runs Node's ws client on /ws, through heartbeats
// that it answers as any WebSocket client does.
func TestPlainWebSocket(t *testing.T) {
	base := start(t, "--tick", "100ms", "--ping-interval", "50ms", "--ping-timeout", "100ms")
	var rep struct {
		OK    bool     `json:"ok"`
		Steps []string `json:"steps"`
		Error string   `json:"error"`
	}
	nodetest.Run(t, 30*time.Second, "ws-client.js", map[string]any{"url": "ws" + strings.TrimPrefix(base, "http") + "/ws"}, &rep)
	if !rep.OK {
		t.Fatalf("after %v: %s", rep.Steps, rep.Error)
	}
}

var sidRe = regexp.MustCompile(`"sid":"([^"]+)"`)

// TestMetrics scrapes /metrics, parses it, and sees the values move as a
// client connects and talks.
func TestMetrics(t *testing.T) {
	base := start(t)
	scrape := func() map[string]float64 {
		t.Helper()
		_, body := get(t, base+"/metrics")
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("parsing /metrics: %v", err)
		}
		out := map[string]float64{}
		for name, f := range families {
			for _, m := range f.GetMetric() {
				key := name
				for _, l := range m.GetLabel() {
					key += fmt.Sprintf(",%s=%s", l.GetName(), l.GetValue())
				}
				switch {
				case m.Gauge != nil:
					out[key] = m.GetGauge().GetValue()
				case m.Counter != nil:
					out[key] = m.GetCounter().GetValue()
				}
			}
		}
		return out
	}
	before := scrape()
	_, body := get(t, base+"/socket.io/?EIO=4&transport=polling")
	url := base + "/socket.io/?EIO=4&transport=polling&sid=" + sidRe.FindStringSubmatch(body)[1]
	if res, err := http.Post(url, "text/plain", strings.NewReader("40\x1e42[\"message\",\"hi\"]")); err != nil {
		t.Fatal(err)
	} else {
		res.Body.Close()
	}
	_, _ = get(t, url)
	get(t, base+"/socket.io/?EIO=4&transport=nope")
	after := scrape()
	for key, want := range map[string]float64{
		"siogo_connected_clients,protocol=4,transport=polling": 1,
		"siogo_handshakes_total,protocol=4,transport=polling":  1,
		"siogo_handshake_errors_total,code=0":                  1,
		"siogo_connected_sockets,namespace=/":                  1,
	} {
		if got := after[key] - before[key]; got != want {
			t.Errorf("%s moved by %v, want %v", key, got, want)
		}
	}
	for _, key := range []string{"siogo_packets_in_total", "siogo_bytes_in_total", "siogo_packets_out_total", "siogo_bytes_out_total"} {
		if after[key] <= before[key] {
			t.Errorf("%s did not move: %v -> %v", key, before[key], after[key])
		}
	}
	if _, ok := after["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
}

// TestRedisAdapterFlag runs two programs on one Redis: /readyz follows the
// subscription, and a broadcast crosses from one node to the other.
func TestRedisAdapterFlag(t *testing.T) {
	rs := redistest.Start(t)
	a := start(t, "--adapter", rs.URL)
	b := start(t, "--adapter", rs.URL)
	for _, base := range []string{a, b} {
		waitReady(t, base, 200)
	}
	ca, cb := siotest.Dial(t, a), siotest.Dial(t, b)
	ca.Connect()
	cb.Connect()
	ca.Send(`42["broadcast","across"]`)
	for _, c := range []*siotest.Client{ca, cb} {
		for {
			got := c.Poll()
			if slices.Contains(got, `42["broadcast","across"]`) {
				break
			}
		}
	}
	rs.Kill()
	waitReady(t, a, 503)
	rs.Restart()
	waitReady(t, a, 200)
}

// TestRedisClusterFlag runs programs with --adapter redis-cluster://, in
// the classic and the sharded mode, on a Redis Cluster of three masters:
// they get ready, a broadcast crosses, and /metrics has the adapter's
// counters of losses.
func TestRedisClusterFlag(t *testing.T) {
	rc := redistest.StartCluster(t, redistest.ClusterOptions{Masters: 3})
	for _, mode := range [][]string{nil, {"--redis-sharded"}} {
		a := start(t, append([]string{"--adapter", rc.URL, "--shutdown-timeout", "1s"}, mode...)...)
		b := start(t, append([]string{"--adapter", rc.URL, "--shutdown-timeout", "1s"}, mode...)...)
		for _, base := range []string{a, b} {
			waitReady(t, base, 200)
		}
		ca, cb := siotest.Dial(t, a), siotest.Dial(t, b)
		ca.Connect()
		cb.Connect()
		ca.Send(`42["broadcast","across",` + fmt.Sprint(len(mode)) + `]`)
		for _, c := range []*siotest.Client{ca, cb} {
			for !slices.Contains(c.Poll(), `42["broadcast","across",`+fmt.Sprint(len(mode))+`]`) {
			}
		}
		_, metrics := get(t, a+"/metrics")
		if !regexp.MustCompile(`(?m)^siogo_redis_publish_failures_total 0$`).MatchString(metrics) ||
			!strings.Contains(metrics, "siogo_redis_topology_refreshes_total") {
			t.Errorf("/metrics lacks the adapter's counters:\n%s", metrics)
		}
	}
	if _, err := parseConfig([]string{"--adapter", "redis-cluster://"}, func(string) string { return "" }, io.Discard); err != nil {
		t.Fatal(err)
	}
	cfg, _ := parseConfig([]string{"--adapter", "redis-cluster://nohost"}, func(string) string { return "" }, io.Discard)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	if err := run(context.Background(), cfg, ln, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Error("a cluster URL without host:port accepted")
	}
	// The streams adapter on a cluster: the same form; its runs are in
	// adapters/redisstreams (TestClusterRecovery).
	cfg, _ = parseConfig([]string{"--adapter", "redis-streams-cluster://nohost"}, func(string) string { return "" }, io.Discard)
	if err := run(context.Background(), cfg, ln, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil ||
		!strings.Contains(err.Error(), "redisstreams") {
		t.Errorf("a streams cluster URL without host:port: %v", err)
	}
}

func waitReady(t *testing.T, base string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _ := get(t, base+"/readyz")
		if code == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/readyz stayed %d, want %d", base, code, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestHealth(t *testing.T) {
	base := start(t)
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz: %d", code)
	}
	if code, body := get(t, base+"/socket.io/socket.io.min.js"); code != 200 || !strings.Contains(body, "io") {
		t.Fatalf("client bundle: %d", code)
	}
	if code, body := get(t, base+"/"); code != 200 || !strings.Contains(body, "<title>siogo demo</title>") {
		t.Fatalf("page: %d", code)
	}
}

// TestSIGTERM runs the built program with connected clients, sends
// SIGTERM, and sees it disconnect them and exit cleanly within its
// deadline.
func TestSIGTERM(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "siogo")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--addr", addr, "--shutdown-timeout", "3s", "--client-dir", clientDir(t))
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	base := "http://" + addr
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if i > 100 {
			t.Fatalf("siogo did not listen: %s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, body := get(t, base+"/socket.io/?EIO=4&transport=polling")
	url := base + "/socket.io/?EIO=4&transport=polling&sid=" + sidRe.FindStringSubmatch(body)[1]
	res, err := http.Post(url, "text/plain", strings.NewReader("40"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	get(t, url) // the CONNECT answer
	polled := make(chan string, 1)
	go func() {
		for {
			_, b := get(t, url)
			if b != "2" && !strings.HasPrefix(b, "42[\"timestamp\"") {
				polled <- b
				return
			}
		}
	}()
	time.Sleep(200 * time.Millisecond)
	begin := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-polled:
		if b != "1" {
			t.Errorf("the pending poll got %q, want the close packet", b)
		}
	case <-time.After(5 * time.Second):
		t.Error("the client was not disconnected")
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, logs.String())
		}
	case <-time.After(6 * time.Second):
		t.Fatalf("siogo did not exit within its deadline\n%s", logs.String())
	}
	if d := time.Since(begin); d > 4*time.Second {
		t.Errorf("shutdown took %v, deadline 3s", d)
	}
	if !strings.Contains(logs.String(), "siogo stopped") {
		t.Errorf("logs: %s", logs.String())
	}
}

func TestConfig(t *testing.T) {
	env := map[string]string{"SIOGO_ADDR": ":4000", "SIOGO_TICK": "1s", "SIOGO_PING_INTERVAL": "5s"}
	cfg, err := parseConfig([]string{"--tick", "2s"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":4000" || cfg.Tick != 2*time.Second || cfg.PingInterval != 5*time.Second || cfg.Path != "/socket.io/" {
		t.Fatalf("config %+v", cfg)
	}
	var help bytes.Buffer
	_, err = parseConfig([]string{"--help"}, func(string) string { return "" }, &help)
	if err == nil || !strings.Contains(help.String(), "--max-connections (SIOGO_MAX_CONNECTIONS") {
		t.Fatalf("help: %v %s", err, help.String())
	}
	cfg, err = parseConfig([]string{"--max-connections-per-ip", "10", "--max-handshakes-per-ip", "2.5", "--trusted-proxies", "10.0.0.0/8, 127.0.0.1,::1"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConnectionsPerIP != 10 || cfg.MaxHandshakesPerIP != 2.5 || fmt.Sprint(cfg.TrustedProxies) != "[10.0.0.0/8 127.0.0.1/32 ::1/128]" {
		t.Fatalf("per-address flags: %+v", cfg)
	}
	for _, bad := range [][]string{{"--tls-cert", "x"}, {"--path", "nope"}, {"--tick", "0s"}, {"extra"}, {"--trusted-proxies", "10.0.0.0/33"}, {"--trusted-proxies", "proxy.local"}, {"--max-handshakes-per-ip", "-1"}} {
		if _, err := parseConfig(bad, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if _, err := parseConfig(nil, func(k string) string { return map[string]string{"SIOGO_TICK": "soon"}[k] }, io.Discard); err == nil {
		t.Error("a bad environment value accepted")
	}
}

// rawWS is a WebSocket client that writes frames byte by byte, for what
// only bytes show.
type rawWS struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func dialRawWS(t *testing.T, base, path string) *rawWS {
	t.Helper()
	host := strings.TrimPrefix(base, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path, host)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", err, res)
	}
	return &rawWS{t, conn, br}
}

// send writes one final frame of opcode op (< 126 bytes), masked or not.
func (c *rawWS) send(op byte, masked bool, payload string) {
	p := []byte(payload)
	b := []byte{0x80 | op, byte(len(p))}
	if masked {
		key := []byte{0xa1, 0x07, 0x5c, 0xe2}
		for i := range p {
			p[i] ^= key[i%4]
		}
		b[1] |= 0x80
		b = append(b, key...)
	}
	if _, err := c.conn.Write(append(b, p...)); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next frame's opcode and payload (< 126 bytes).
func (c *rawWS) read() (byte, string) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	h := make([]byte, 2)
	if _, err := io.ReadFull(c.br, h); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	p := make([]byte, h[1]&0x7f)
	if _, err := io.ReadFull(c.br, p); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return h[0] & 0x0f, string(p)
}

// TestPlainWebSocketFrames: on /ws an empty text message comes back as an
// empty text message, in order with the others, and an unmasked client
// frame (RFC 6455 section 5.1) closes the connection with 1002, as Node's
// ws does.
func TestPlainWebSocketFrames(t *testing.T) {
	base := start(t, "--tick", "1h")
	t.Run("empty", func(t *testing.T) {
		c := dialRawWS(t, base, "/ws")
		for _, m := range []string{"a", "", "b"} {
			c.send(1, true, m)
		}
		c.send(2, true, "")
		for _, want := range []struct {
			op byte
			p  string
		}{{1, "a"}, {1, ""}, {1, "b"}, {2, ""}} {
			if op, p := c.read(); op != want.op || p != want.p {
				t.Fatalf("got opcode %d %q, want %d %q", op, p, want.op, want.p)
			}
		}
	})
	t.Run("unmasked", func(t *testing.T) {
		c := dialRawWS(t, base, "/ws")
		c.send(1, false, "unmasked")
		if op, p := c.read(); op != 8 || !strings.HasPrefix(p, "\x03\xea") {
			t.Fatalf("after an unmasked frame: opcode %d %q, want close 1002", op, p)
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.br.Read(make([]byte, 1)); err == nil {
			t.Fatalf("connection still open after the close (%d more bytes)", n)
		}
	})
}
