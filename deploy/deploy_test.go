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

// clientFrom is an HTTP client whose connections leave from ip.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 40 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}}
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

// TestLocalCluster starts redis-server, three siogo nodes and nginx with
// deploy/nginx.conf: polling sessions from several client addresses keep
// their node through nginx, spread over nodes, and a broadcast reaches all.
func TestLocalCluster(t *testing.T) {
	dir := nodetest.Require(t)
	root := filepath.Dir(filepath.Dir(dir))
	script := filepath.Join(root, "deploy", "local-cluster.sh")
	var (
		ports     []int
		nginxPort int
		run       func(arg string) error
	)
	// Ports are chosen free, then bound by other processes: another test
	// may take one in between, so a failed start is retried once with
	// fresh ports.
	for attempt := 1; ; attempt++ {
		state := t.TempDir()
		free := freePorts(t, 5)
		ports, nginxPort = free[:3], free[3]
		env := append(os.Environ(),
			"CLUSTER_DIR="+state, fmt.Sprintf("NGINX_PORT=%d", nginxPort), fmt.Sprintf("REDIS_PORT=%d", free[4]),
			fmt.Sprintf("NODE_PORTS=%d %d %d", ports[0], ports[1], ports[2]))
		run = func(arg string) error {
			cmd := exec.Command(script, arg)
			cmd.Env = env
			if out, err := cmd.CombinedOutput(); err != nil {
				logs, _ := exec.Command("sh", "-c", "tail -n 20 "+state+"/logs/*").CombinedOutput()
				return fmt.Errorf("%s %s: %v\n%s\n%s", script, arg, err, out, logs)
			}
			return nil
		}
		err := run("start")
		if err == nil {
			break
		}
		_ = run("stop")
		if attempt == 2 {
			t.Fatal(err)
		}
		t.Logf("first start failed, retrying: %v", err)
	}
	t.Cleanup(func() {
		if err := run("stop"); err != nil {
			t.Error(err)
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", nginxPort)

	type session struct {
		c   *http.Client
		url string
	}
	var sessions []session
	for i := 2; i <= 6; i++ {
		c := clientFrom(fmt.Sprintf("127.0.0.%d", i))
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
	cmd := exec.Command("docker-compose", "-f", filepath.Join(root, "docker-compose.yml"), "config")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	for _, want := range []string{"siogo1", "siogo2", "siogo3", "redis", "nginx", "SIOGO_ADAPTER: redis://redis:6379/0"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the compose file lacks %q", want)
		}
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
