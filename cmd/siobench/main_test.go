package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/nodetest"
	"github.com/siogo/siogo/internal/testcert"
	"github.com/siogo/siogo/internal/websocket"
	"github.com/siogo/siogo/server"
	"github.com/siogo/siogo/transports"
)

// startSiogo serves the demo contract's `message` and `broadcast`, and a
// fast tick, in this process.
func startSiogo(t *testing.T) string {
	t.Helper()
	return serveSiogo(t, nil)
}

// serveSiogo is startSiogo, over TLS (transports.HTTPServer's, Go's
// crypto/tls on the loop) when cert is given.
func serveSiogo(t *testing.T, cert *testcert.Cert) string {
	t.Helper()
	srv, err := server.New(server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv.OnConnection(func(s *server.Socket) {
		s.On("message", func(args []any, ack server.Ack) {
			_ = s.Emit("message", args...)
			if ack != nil {
				ack(args...)
			}
		})
		s.On("broadcast", func(args []any, ack server.Ack) {
			_ = srv.Emit("broadcast", args...)
			if ack != nil {
				ack()
			}
		})
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tk.C:
				_ = srv.Local().Emit("timestamp", now.UnixMilli())
			}
		}
	}()
	ws, err := websocket.NewServer(websocket.Config{Compression: true})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) { _, _ = ws.Upgrade(w, r, nil, plainEcho{}) })
	stopApp := func() {
		ws.Close()
		cancel()
		sctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		_ = srv.Shutdown(sctx)
	}
	if cert != nil {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		hs := transports.NewHTTPServer(mux, transports.HTTPServerOptions{TLS: &tls.Config{Certificates: []tls.Certificate{cert.TLS}}})
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = hs.Serve(ln)
		}()
		t.Cleanup(func() {
			stopApp()
			_ = hs.Close()
			<-done
		})
		return "https://" + ln.Addr().String()
	}
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		stopApp()
		ts.Close()
	})
	return ts.URL
}

// TestScenariosOverTLS: https:// and wss:// against siogo's own TLS, the
// server's certificate verified against --ca, on WebSocket and on polling
// upgraded to it.
func TestScenariosOverTLS(t *testing.T) {
	cert := testcert.New(t)
	certFile, _ := cert.Files(t)
	url := serveSiogo(t, cert)
	pid := strconv.Itoa(os.Getpid())
	for _, tc := range []struct{ scheme, transport string }{{"https", transportWebSocket}, {"wss", transportUpgrade}} {
		t.Run(tc.scheme+"-"+tc.transport, func(t *testing.T) {
			u := tc.scheme + strings.TrimPrefix(url, "https")
			args := append([]string{"-url", u, "-ca", certFile, "-pid", pid, "-transport", tc.transport}, small...)
			names := []string{"conns", "echo", "handshakes"}
			if tc.transport == transportWebSocket {
				names = append(names, "polling", "wsecho")
			}
			checkResults(t, runJSON(t, append(args, names...)...), names, 20, true)
		})
	}
	t.Run("untrusted", func(t *testing.T) {
		var out, errb bytes.Buffer
		run(context.Background(), append([]string{"-url", url, "-json"}, append(small, "conns")...), &out, &errb)
		if !strings.Contains(out.String(), `"connect_errors":20`) && !strings.Contains(errb.String(), "certificate") {
			t.Errorf("a server whose certificate is not trusted: %s %s", out.String(), errb.String())
		}
	})
}

// plainEcho is the contract's /ws: each message sent back as it came.
type plainEcho struct{}

func (plainEcho) OnMessage(c *websocket.Conn, binary bool, data []byte) {
	_ = c.WriteFrames(websocket.Frame{Binary: binary, Data: data})
}

func (plainEcho) OnClose(*websocket.Conn, error) {}

// small is every scenario at a scale for tests.
var small = []string{"-n", "20", "-rate", "0", "-hold", "300ms", "-c", "4", "-p", "2", "-duration", "400ms", "-k", "3", "-bps", "20", "-wait", "3s", "-quiet"}

// runJSON runs siobench and decodes its JSON objects by scenario.
func runJSON(t *testing.T, args ...string) map[string]map[string]any {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if code := run(ctx, append([]string{"-json"}, args...), &stdout, &stderr); code != 0 {
		t.Fatalf("siobench %v: exit %d\n%s", args, code, stderr.String())
	}
	out := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		out[m["scenario"].(string)] = m
	}
	if t.Failed() || stderr.Len() > 0 {
		t.Logf("stderr: %s", stderr.String())
	}
	return out
}

// checkResults asserts what every healthy run shows.
func checkResults(t *testing.T, res map[string]map[string]any, want []string, n int, withProc bool) {
	t.Helper()
	for _, name := range want {
		r, ok := res[name]
		if !ok {
			t.Errorf("%s: no result", name)
			continue
		}
		for _, k := range []string{"errors", "connect_errors", "lost"} {
			v, ok := r[k]
			if !ok || v.(float64) == 0 {
				continue
			}
			// About one WebSocket handshake in 5,000 to 10,000 against siogo
			// ends in EOF or a reset (none against Node): a server bug,
			// told in bench/README.md; the loops here must not hide more.
			if (name == "handshakes" || name == "churn") && v.(float64) <= r["connections"].(float64)/100 {
				t.Logf("%s: %s = %v of %v", name, k, v, r["connections"])
				continue
			}
			t.Errorf("%s: %s = %v", name, k, v)
		}
		switch name {
		case "conns", "polling":
			if r["connections"].(float64) != float64(n) {
				t.Errorf("%s: %v connections held, want %d", name, r["connections"], n)
			}
			if withProc {
				if _, ok := r["memory_per_conn_kb"]; !ok {
					t.Errorf("%s: no memory figure: %v", name, r)
				}
			}
			// The test server ticks every 100 ms, the hold is 300 ms.
			if mx, _ := r["ticks_per_client_max"].(float64); mx < 1 {
				t.Errorf("%s: no client got a tick: %v", name, r)
			}
			if wo, _ := r["clients_without_ticks"].(float64); wo > 0 {
				if name == "conns" && r["transport"] == transportWebSocket {
					t.Errorf("%s: %v clients got no tick in 300 ms: %v", name, wo, r)
				} else {
					t.Logf("%s: %v clients got no tick in 300 ms", name, wo)
				}
			}
		case "wsecho":
			if r["echoes"].(float64) < 1 || r["clients"].(float64) != 4 {
				t.Errorf("wsecho: %v", r)
			}
		case "echo":
			if r["acks"].(float64) < 1 {
				t.Errorf("echo: no acks: %v", r)
			}
			if _, ok := r["latency_p99_ms"]; !ok {
				t.Errorf("echo: no latency: %v", r)
			}
			if withProc {
				if _, ok := r["cpu_per_ack_us"]; !ok {
					t.Errorf("echo: no CPU figure: %v", r)
				}
			}
		case "fanout":
			if r["delivered"].(float64) != float64(n*3) {
				t.Errorf("fanout: %v delivered, want %d", r["delivered"], n*3)
			}
			if _, ok := r["latency_hist_ms"]; !ok {
				t.Errorf("fanout: no distribution")
			}
		case "handshakes", "churn":
			if r["connections"].(float64) < 1 {
				t.Errorf("%s: no connections: %v", name, r)
			}
		}
	}
}

func TestScenariosAgainstSiogo(t *testing.T) {
	url := startSiogo(t)
	pid := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		eio, transport string
	}{
		{"4", transportWebSocket},
		{"4", transportPolling},
		{"4", transportUpgrade},
		{"3", transportWebSocket},
		{"3", transportPolling},
		{"3", transportUpgrade},
	} {
		t.Run("eio"+tc.eio+"-"+tc.transport, func(t *testing.T) {
			args := append([]string{"-url", url, "-pid", pid, "-eio", tc.eio, "-transport", tc.transport}, small...)
			names := []string{"conns", "echo", "fanout", "handshakes", "churn"}
			if tc.transport == transportWebSocket && tc.eio == "4" {
				names = append(names, "polling", "wsecho")
			}
			res := runJSON(t, append(args, names...)...)
			checkResults(t, res, names, 20, true)
		})
	}
}

func TestMinimalHeadersAndTable(t *testing.T) {
	url := startSiogo(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"-url", url, "-headers", "minimal", "-sources", "0"}, append(small, "conns")...), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !regexp.MustCompile(`(?m)^conns +connections +20$`).MatchString(stdout.String()) {
		t.Errorf("table:\n%s", stdout.String())
	}
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{{}, {"nope"}, {"-eio", "5", "conns"}, {"-transport", "x", "conns"}, {"-url", "ftp://x", "conns"}, {"-pid", "999999999", "conns"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// TestScenariosAgainstNode aims siobench at Node's socket.io 4 running the
// demo contract (test/node/demo-server.js), Engine.IO 4 and 3.
func TestScenariosAgainstNode(t *testing.T) {
	dir := nodetest.Require(t)
	url, pid := startNode(t, dir)
	for _, tc := range []struct{ eio, transport string }{{"4", transportWebSocket}, {"3", transportPolling}} {
		t.Run("eio"+tc.eio+"-"+tc.transport, func(t *testing.T) {
			args := append([]string{"-url", url, "-pid", strconv.Itoa(pid), "-eio", tc.eio, "-transport", tc.transport}, small...)
			names := []string{"conns", "echo", "fanout", "churn"}
			if tc.eio == "4" {
				names = append(names, "wsecho")
			}
			checkResults(t, runJSON(t, append(args, names...)...), names, 20, true)
		})
	}
}

// startNode starts test/node/demo-server.js on a free port.
func startNode(t *testing.T, dir string) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	pid := nodetest.Serve(t, 20*time.Second, "demo-server.js", addr, "200")
	return "http://" + addr, pid
}

func TestHistogram(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct{ q, want float64 }{{0.5, 500}, {0.99, 990}, {1, 1000}} {
		if got := h.Quantile(c.q); got < c.want || got > c.want*1.04 {
			t.Errorf("q%.2f = %.1f ms, want %.0f within 4%%", c.q, got, c.want)
		}
	}
	var n float64
	for _, b := range h.Buckets() {
		n += b[1]
	}
	if n != 1000 {
		t.Errorf("buckets hold %v", n)
	}
	for us := int64(0); us < 1<<20; us = us*3/2 + 1 {
		i := bucketOf(us)
		if us > bucketUpper(i) || (i > 0 && us <= bucketUpper(i-1)) {
			t.Fatalf("%d us in bucket %d of (%d, %d]", us, i, bucketUpper(i-1), bucketUpper(i))
		}
	}
}

func TestPayloadV3(t *testing.T) {
	c := &Client{d: &Dialer{EIO: 3}}
	b := c.encodePayload("42[\"message\",\"é\"]", "2")
	if string(b) != "17:42[\"message\",\"é\"]1:2" {
		t.Fatalf("encode: %q", b)
	}
	pkts, err := c.decodePayload(b)
	if err != nil || len(pkts) != 2 || string(pkts[0]) != "42[\"message\",\"é\"]" || string(pkts[1]) != "2" {
		t.Fatalf("decode: %q %v", pkts, err)
	}
	if _, err := c.decodePayload([]byte("x:1")); err == nil {
		t.Error("bad payload accepted")
	}
}

// TestProgress: without -quiet, each phase draws its bar on stderr.
func TestProgress(t *testing.T) {
	url := startSiogo(t)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-url", url, "-n", "5", "-hold", "100ms", "conns"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"conns: connecting", "[==============================] 5/5", "conns: holding"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

// TestMarks: with -marks, each scenario tells on a line of its own when
// its measured phase begins, after its ramp.
func TestMarks(t *testing.T) {
	url := startSiogo(t)
	var stdout, stderr bytes.Buffer
	names := []string{"conns", "echo", "fanout", "handshakes", "wsecho"}
	args := append([]string{"-url", url, "-marks", "-json"}, append(small, names...)...)
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, n := range names {
		if !strings.Contains(stderr.String(), "\nsiobench: measuring "+n+"\n") {
			t.Errorf("no mark for %s in:\n%s", n, stderr.String())
		}
	}
}

// TestSoak runs the soak scenario for a few seconds: churn with vanishing
// clients, echoes and broadcasts, nothing lost, and the CSV sampled.
func TestSoak(t *testing.T) {
	url := startSiogo(t)
	csvPath := filepath.Join(t.TempDir(), "soak.csv")
	res := runJSON(t, "-url", url, "-n", "30", "-rate", "0", "-duration", "4s", "-quiet",
		"-pid", strconv.Itoa(os.Getpid()), "-soak-csv", csvPath,
		"-churn-rate", "10", "-vanish", "0.5", "-vanish-for", "1s", "-echo-rate", "20", "-soak-bps", "5", "soak")
	r := res["soak"]
	if r == nil {
		t.Fatalf("no soak result: %v", res)
	}
	for _, k := range []string{"errors", "disconnects", "echoes_lost", "broadcasts_lost", "broadcasts_duplicated"} {
		if r[k].(float64) != 0 {
			t.Errorf("%s = %v", k, r[k])
		}
	}
	for _, k := range []string{"leaves", "vanished", "echoes", "broadcasts", "broadcasts_delivered"} {
		if r[k].(float64) < 1 {
			t.Errorf("%s = %v, want some", k, r[k])
		}
	}
	if r["connects"].(float64) <= 30 || r["clients"].(float64) != 30 {
		t.Errorf("connects %v, clients %v", r["connects"], r["clients"])
	}
	b, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "t_s,rss_kb,goroutines,fds,") {
		t.Fatalf("CSV:\n%s", b)
	}
	if f := strings.Split(lines[len(lines)-1], ","); len(f) != 19 || f[1] == "-1" || f[3] == "-1" {
		t.Errorf("last sample %q: want 19 fields with RSS and files", lines[len(lines)-1])
	}
}
