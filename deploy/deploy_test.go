// Package deploy holds the cluster's deployment files; its test starts the
// local twin of docker-compose.yml (deploy/local-cluster.sh) and checks the
// compose file.
package deploy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/nodetest"
)

var sidRe = regexp.MustCompile(`"sid":"([^"]+)"`)

// clientFrom is an HTTP client whose connections leave from ip; its idle
// connections close with t.
func clientFrom(t *testing.T, ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: 40 * time.Second, Transport: tr}
}

func do(t *testing.T, c *http.Client, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// localCluster is a running deploy/local-cluster.sh.
type localCluster struct {
	nodePorts []int
	nginxPort int
	// script runs deploy/local-cluster.sh with the cluster's environment.
	script func(args ...string) error
	dir    string // CLUSTER_DIR: logs in dir/logs
}

// startLocal runs deploy/local-cluster.sh start with variant ("" or
// redis-cluster) and extra environment, and stops it with t.
func startLocal(t *testing.T, variant string, extraEnv ...string) localCluster {
	t.Helper()
	dir := nodetest.Require(t)
	root := filepath.Dir(filepath.Dir(dir))
	script := filepath.Join(root, "deploy", "local-cluster.sh")
	var (
		lc  localCluster
		run func(args ...string) error
	)
	// Ports are chosen free, then bound by other processes: another test
	// may take one in between, so a failed start is retried once with
	// fresh ports.
	for attempt := 1; ; attempt++ {
		state := t.TempDir()
		free := freePorts(t, 11)
		lc = localCluster{nodePorts: free[:3], nginxPort: free[3], dir: state}
		env := append(os.Environ(), extraEnv...)
		env = append(env,
			"CLUSTER_DIR="+state, fmt.Sprintf("NGINX_PORT=%d", lc.nginxPort), fmt.Sprintf("REDIS_PORT=%d", free[4]),
			fmt.Sprintf("NODE_PORTS=%d %d %d", free[0], free[1], free[2]),
			fmt.Sprintf("REDIS_CLUSTER_PORTS=%d %d %d", free[5], free[6], free[7]),
			fmt.Sprintf("REDIS_CLUSTER_BUS_PORTS=%d %d %d", free[8], free[9], free[10]))
		run = func(args ...string) error {
			cmd := exec.Command(script, args...)
			cmd.Env = env
			if out, err := cmd.CombinedOutput(); err != nil {
				logs, _ := exec.Command("sh", "-c", "tail -n 20 "+state+"/logs/*").CombinedOutput()
				return fmt.Errorf("%s %v: %v\n%s\n%s", script, args, err, out, logs)
			}
			return nil
		}
		args := []string{"start"}
		if variant != "" {
			args = append(args, variant)
		}
		err := run(args...)
		if err == nil {
			break
		}
		_ = run("stop")
		if attempt == 2 {
			t.Fatal(err)
		}
		t.Logf("first start failed, retrying: %v", err)
	}
	lc.script = run
	t.Cleanup(func() {
		if err := run("stop"); err != nil {
			t.Error(err)
		}
	})
	return lc
}

// TestLocalCluster starts redis-server, three siogo nodes and nginx with
// deploy/nginx.conf: polling sessions from several client addresses keep
// their node through nginx, spread over nodes, and a broadcast reaches all.
func TestLocalCluster(t *testing.T) {
	lc := startLocal(t, "")
	ports, nginxPort := lc.nodePorts, lc.nginxPort
	base := fmt.Sprintf("http://127.0.0.1:%d", nginxPort)

	type session struct {
		c   *http.Client
		url string
	}
	var sessions []session
	// Twelve client addresses: nginx's consistent hash places the nodes by
	// their addresses, whose ports are random here, so with five all of
	// them landed on one node about one run in thirty.
	for i := 2; i <= 13; i++ {
		c := clientFrom(t, fmt.Sprintf("127.0.0.%d", i))
		_, body := do(t, c, "GET", base+"/socket.io/?EIO=4&transport=polling", "")
		m := sidRe.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("handshake through nginx: %q", body)
		}
		s := session{c, base + "/socket.io/?EIO=4&transport=polling&sid=" + m[1]}
		// Each request must reach the node that holds the session.
		if code, body := do(t, c, "POST", s.url, "40"); code != 200 || body != "ok" {
			t.Fatalf("post through nginx: %d %q", code, body)
		}
		if code, body := do(t, c, "GET", s.url, ""); code != 200 || !strings.HasPrefix(body, "40{") {
			t.Fatalf("poll through nginx: %d %q", code, body)
		}
		sessions = append(sessions, s)
	}
	// A broadcast from one client reaches every client, on every node.
	if code, _ := do(t, sessions[0].c, "POST", sessions[0].url, `42["broadcast","hello cluster"]`); code != 200 {
		t.Fatalf("post: %d", code)
	}
	for i, s := range sessions {
		for {
			code, body := do(t, s.c, "GET", s.url, "")
			if code != 200 {
				t.Fatalf("session %d lost its node: %d %q", i, code, body)
			}
			if strings.Contains(body, `42["broadcast","hello cluster"]`) {
				break
			}
		}
	}
	// The sessions spread over more than one node.
	used := 0
	for _, p := range ports {
		_, metrics := do(t, http.DefaultClient, "GET", fmt.Sprintf("http://127.0.0.1:%d/metrics", p), "")
		if regexp.MustCompile(`(?m)^siogo_handshakes_total\{protocol="4",transport="polling"\} [1-9]`).MatchString(metrics) {
			used++
		}
	}
	if used < 2 {
		t.Errorf("all sessions went to %d node(s)", used)
	}
	// WebSocket through nginx: the plain /ws echo.
	var rep struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	nodetest.Run(t, 30*time.Second, "ws-client.js", map[string]any{"url": fmt.Sprintf("ws://127.0.0.1:%d/ws", nginxPort)}, &rep)
	if !rep.OK {
		t.Fatalf("/ws through nginx: %s", rep.Error)
	}
}

// TestComposeFile checks docker-compose.yml with Debian's docker-compose
// (no container engine runs here; deploy/local-cluster.sh is its twin).
func TestComposeFile(t *testing.T) {
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Fatal("docker-compose is not installed: apt-get install -y docker-compose")
	}
	root := filepath.Dir(filepath.Dir(nodetest.Dir(t)))
	config := func(env []string, args ...string) string {
		t.Helper()
		cmd := exec.Command("docker-compose", append([]string{"-f", filepath.Join(root, "docker-compose.yml")}, args...)...)
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "SIOGO_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker-compose %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := config(nil, "config")
	for _, want := range []string{"siogo1", "siogo2", "siogo3", "redis", "nginx", "SIOGO_ADAPTER: redis://redis:6379/0"} {
		if !strings.Contains(out, want) {
			t.Errorf("the compose file lacks %q", want)
		}
	}
	// The Redis Cluster variant: its profile and the adapter's URL.
	cluster := "redis-cluster://redis-c1:6379,redis-c2:6379,redis-c3:6379"
	out = config([]string{"SIOGO_ADAPTER=" + cluster, "SIOGO_REDIS_SHARDED=true"}, "--profile", "redis-cluster", "config")
	for _, want := range []string{"redis-c1:", "redis-c2:", "redis-c3:", "redis-cluster-init:", "--cluster create",
		"cluster-enabled", "SIOGO_ADAPTER: " + cluster, `SIOGO_REDIS_SHARDED: "true"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the redis-cluster profile lacks %q", want)
		}
	}
	// docker-compose 1.29 lists every service in config; the profile is
	// what keeps the four out of a plain `up`.
	if n := strings.Count(out, "profiles:\n    - redis-cluster\n"); n != 4 {
		t.Errorf("%d services in the redis-cluster profile, want 4", n)
	}
}

// TestLocalRedisCluster starts the Redis Cluster variant of the twin
// (local-cluster.sh start redis-cluster) in the sharded mode: the nodes
// get ready on the three masters and a broadcast crosses them through nginx.
func TestLocalRedisCluster(t *testing.T) {
	lc := startLocal(t, "redis-cluster", "SIOGO_REDIS_SHARDED=true")
	for _, p := range lc.nodePorts {
		deadline := time.Now().Add(15 * time.Second)
		for {
			code, body := do(t, http.DefaultClient, "GET", fmt.Sprintf("http://127.0.0.1:%d/readyz", p), "")
			if code == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d not ready: %d %s", p, code, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", lc.nginxPort)
	type session struct {
		c   *http.Client
		url string
	}
	var sessions []session
	for i := 2; i <= 5; i++ {
		c := clientFrom(t, fmt.Sprintf("127.0.0.%d", i))
		_, body := do(t, c, "GET", base+"/socket.io/?EIO=4&transport=polling", "")
		m := sidRe.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("handshake through nginx: %q", body)
		}
		s := session{c, base + "/socket.io/?EIO=4&transport=polling&sid=" + m[1]}
		do(t, c, "POST", s.url, "40")
		do(t, c, "GET", s.url, "")
		sessions = append(sessions, s)
	}
	do(t, sessions[0].c, "POST", sessions[0].url, `42["broadcast","over the cluster"]`)
	for i, s := range sessions {
		for {
			code, body := do(t, s.c, "GET", s.url, "")
			if code != 200 {
				t.Fatalf("session %d: %d %q", i, code, body)
			}
			if strings.Contains(body, `42["broadcast","over the cluster"]`) {
				break
			}
		}
	}
	_, metrics := do(t, http.DefaultClient, "GET", fmt.Sprintf("http://127.0.0.1:%d/metrics", lc.nodePorts[0]), "")
	if !strings.Contains(metrics, "siogo_redis_publish_failures_total 0") {
		t.Errorf("metrics: %s", metrics)
	}
}

// freePorts returns n distinct free ports: the listeners stay open until
// all are chosen, so that none is handed out twice.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}
