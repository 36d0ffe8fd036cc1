package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/nodetest"
)

// TestLocalClusterStreams starts the streams variant of the local cluster
// (local-cluster.sh start streams): a socket.io-client behind nginx whose node is
// killed with SIGKILL comes back through nginx on another node with its id
// and rooms, and gets what was sent to its room meanwhile, once.
func TestLocalClusterStreams(t *testing.T) { streamsRecovery(t, "websocket") }

// TestSharedStreamsRecovery is TestLocalClusterStreams with shared
// sessions behind nginx round-robin, the client on polling: each of its
// requests may land on any node; its owner is killed, and it comes back,
// recovered, on another.
func TestSharedStreamsRecovery(t *testing.T) {
	streamsRecovery(t, "polling", "SIOGO_SESSIONS=shared")
}

func streamsRecovery(t *testing.T, transport string, extraEnv ...string) {
	dir := nodetest.Require(t)
	root := filepath.Dir(filepath.Dir(dir))
	script := filepath.Join(root, "deploy", "local-cluster.sh")
	state := t.TempDir()
	free := freePorts(t, 5)
	ports, nginxPort := free[:3], free[3]
	env := append(os.Environ(), "SIOGO_RECOVERY=1m", "SIOGO_TICK=1h",
		"CLUSTER_DIR="+state, fmt.Sprintf("NGINX_PORT=%d", nginxPort), fmt.Sprintf("REDIS_PORT=%d", free[4]),
		fmt.Sprintf("NODE_PORTS=%d %d %d", ports[0], ports[1], ports[2]))
	env = append(env, extraEnv...)
	run := func(arg ...string) error {
		cmd := exec.Command(script, arg...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			logs, _ := exec.Command("sh", "-c", "tail -n 20 "+state+"/logs/*").CombinedOutput()
			return fmt.Errorf("%s %s: %v\n%s\n%s", script, arg, err, out, logs)
		}
		return nil
	}
	err := run("start", "streams")
	t.Cleanup(func() {
		if err := run("stop"); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	c := nodetest.StartRemote(t)
	if transport == "polling" {
		// Round-robin: wait until every node can relay.
		for _, p := range ports {
			waitNodeReady(t, p)
		}
	}
	first := c.ConnectOver(fmt.Sprintf("http://127.0.0.1:%d", nginxPort), transport)
	c.Emit("join", "r")
	c.Emit("to", "r", "before")
	// Which node holds it: the one whose metrics count a socket.
	held := -1
	sockets := regexp.MustCompile(`(?m)^siogo_connected_sockets\{namespace="/"\} 1$`)
	for i, p := range ports {
		_, m := do(t, clientFrom(t, "127.0.0.1"), "GET", fmt.Sprintf("http://127.0.0.1:%d/metrics", p), "")
		if sockets.MatchString(m) {
			held = i
		}
	}
	if held < 0 {
		t.Fatal("no node holds the socket")
	}
	time.Sleep(400 * time.Millisecond) // its live session is written
	pid, _ := os.ReadFile(filepath.Join(state, fmt.Sprintf("siogo%d.pid", held+1)))
	n, _ := strconv.Atoi(strings.TrimSpace(string(pid)))
	if err := syscall.Kill(n, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Meanwhile, from a node that lives, to the room.
	other := ports[(held+1)%3]
	s := clientFrom(t, "127.0.0.1")
	base := fmt.Sprintf("http://127.0.0.1:%d/socket.io/?EIO=4&transport=polling", other)
	_, body := do(t, s, "GET", base, "")
	url := base + "&sid=" + sidRe.FindStringSubmatch(body)[1]
	do(t, s, "POST", url, "40")
	do(t, s, "GET", url, "")
	do(t, s, "POST", url, `42["to","r","meanwhile"]`)

	back := c.WaitConnect()
	if !back.Recovered || back.ID != first.ID {
		t.Fatalf("after SIGKILL of its node: %+v, was %+v", back, first)
	}
	var got []string
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(got, "meanwhile") && time.Now().Before(deadline) {
		for _, e := range c.Events() {
			got = append(got, fmt.Sprint(e[1]))
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.Emit("to", "r", "after")
	time.Sleep(200 * time.Millisecond)
	for _, e := range c.Events() {
		got = append(got, fmt.Sprint(e[1]))
	}
	if !slices.Equal(got, []string{"before", "meanwhile", "after"}) {
		t.Fatalf("events %q", got)
	}
}

// TestComposeStreams checks the streams variant of the compose file, as
// its header comment runs it.
func TestComposeStreams(t *testing.T) {
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Fatal("docker-compose is not installed: apt-get install -y docker-compose")
	}
	root := filepath.Dir(filepath.Dir(nodetest.Dir(t)))
	cmd := exec.Command("docker-compose", "-f", filepath.Join(root, "docker-compose.yml"), "config")
	cmd.Env = append(os.Environ(), "SIOGO_ADAPTER=redis-streams://redis:6379/0", "SIOGO_RECOVERY=2m")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "SIOGO_ADAPTER: redis-streams://redis:6379/0"); n != 3 {
		t.Errorf("%d nodes on the streams adapter, want 3:\n%s", n, out)
	}
	if n := strings.Count(string(out), "SIOGO_RECOVERY: 2m"); n != 3 {
		t.Errorf("%d nodes with recovery, want 3", n)
	}
}
