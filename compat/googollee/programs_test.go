package socketio_test

import (
	"bytes"
	"fmt"
	"github.com/siogo/siogo/internal/leaktest"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/nodetest"
	"github.com/siogo/siogo/internal/redistest"
)

// The programs of internal/examples are googollee/go-socket.io programs
// with siogo's import path: these tests build them with the go command,
// run them, and drive them with the official clients, 4 and 2, over each
// transport.

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	leaktest.Main(m, func() {
		if buildDir != "" {
			_ = os.RemoveAll(buildDir)
		}
	})
}

// program returns the path of the built example program name.
func program(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "googollee-examples-")
		if buildErr != nil {
			return
		}
		goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goCmd); err != nil {
			goCmd = "go"
		}
		cmd := exec.Command(goCmd, "build", "-o", buildDir+string(filepath.Separator), "./internal/examples/...")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = fmt.Errorf("go build ./internal/examples/...: %v\n%s", err, out.Bytes())
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, name)
}

// syncBuffer collects a program's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type running struct {
	URL string
	out *syncBuffer
}

// waitLog waits until the program printed want.
func (r *running) waitLog(t *testing.T, want string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if strings.Contains(r.out.String(), want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("the program did not print %q; it printed:\n%s", want, r.out.String())
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start runs an example program on a free port until the test ends.
func start(t *testing.T, name string, env ...string) *running {
	t.Helper()
	bin := program(t, name)
	port := freePort(t)
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), append(env, "PORT="+strconv.Itoa(port))...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s printed:\n%s", name, out.String())
		}
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if i == 200 {
			t.Fatalf("%s does not listen on %s:\n%s", name, addr, out.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
	return &running{URL: "http://" + addr, out: out}
}

type clientReport struct {
	OK                bool     `json:"ok"`
	Steps             []string `json:"steps"`
	Error             string   `json:"error"`
	ByeReason         string   `json:"byeReason"`
	CloseClientReason string   `json:"closeClientReason"`
}

func drive(t *testing.T, cfg map[string]any) clientReport {
	t.Helper()
	var rep clientReport
	nodetest.Run(t, 30*time.Second, "googollee-client.js", cfg, &rep)
	if !rep.OK {
		t.Fatalf("client: %s (steps %v)", rep.Error, rep.Steps)
	}
	return rep
}

var clientModes = []struct {
	version   int
	transport string
}{
	{4, "websocket"}, {4, "polling"}, {4, "upgrade"},
	{2, "websocket"}, {2, "polling"}, {2, "upgrade"},
}

// TestDefaultHTTPProgram: googollee's own example, unchanged but for its
// import path, serves socket.io-client 4 (which googollee never could)
// and 2.
func TestDefaultHTTPProgram(t *testing.T) {
	app := start(t, "defaulthttp")
	for _, m := range clientModes {
		t.Run(fmt.Sprintf("v%d-%s", m.version, m.transport), func(t *testing.T) {
			rep := drive(t, map[string]any{"program": "defaulthttp", "url": app.URL, "version": m.version, "transport": m.transport})
			if rep.ByeReason != "transport close" {
				t.Errorf("after bye the client saw %q, want transport close (it reconnects, as with googollee)", rep.ByeReason)
			}
		})
	}
	app.waitLog(t, "notice: hello")
	app.waitLog(t, "closed forced close")

	// No CheckOrigin: no CORS header for polling, and gorilla's
	// same-origin rule for WebSocket, as googollee's defaults.
	t.Run("origin", func(t *testing.T) {
		req, _ := http.NewRequest("GET", app.URL+"/socket.io/?EIO=4&transport=polling", nil)
		req.Header.Set("Origin", "http://elsewhere.example")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("polling from another origin: %d, CORS %q", res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
		}
		for origin, want := range map[string]int{"http://elsewhere.example": 403, app.URL: 101} {
			req, _ := http.NewRequest("GET", app.URL+"/socket.io/?EIO=4&transport=websocket", nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != want {
				t.Errorf("websocket from %s: %d, want %d", origin, res.StatusCode, want)
			}
		}
	})
}

// TestFeaturesProgram drives a program that uses the API the way
// googollee's README and issues show: typed arguments, acks as return
// values, ack callbacks, rooms, broadcasts, namespaces, contexts, errors.
func TestFeaturesProgram(t *testing.T) {
	app := start(t, "features")
	for _, m := range clientModes {
		if m.transport == "upgrade" && m.version == 2 {
			continue // the default-http test covers it
		}
		t.Run(fmt.Sprintf("v%d-%s", m.version, m.transport), func(t *testing.T) {
			rep := drive(t, map[string]any{"program": "features", "url": app.URL, "version": m.version, "transport": m.transport})
			if rep.CloseClientReason != "transport close" {
				t.Errorf("Conn.Close: the client saw %q, want transport close", rep.CloseClientReason)
			}
		})
	}

	t.Run("RequestChecker", func(t *testing.T) {
		res, err := http.Get(app.URL + "/socket.io/?EIO=4&transport=polling&deny=1")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadGateway {
			t.Errorf("refused request: %d, want 502 as googollee", res.StatusCode)
		}
		req, _ := http.NewRequest("GET", app.URL+"/socket.io/?EIO=4&transport=polling", nil)
		req.Header.Set("Origin", "http://elsewhere.example")
		res, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("X-Checked") != "yes" {
			t.Errorf("handshake: %d, X-Checked %q", res.StatusCode, res.Header.Get("X-Checked"))
		}
		if res.Header.Get("Access-Control-Allow-Origin") != "http://elsewhere.example" || res.Header.Get("Access-Control-Allow-Credentials") != "true" {
			t.Errorf("CheckOrigin: CORS headers %v", res.Header)
		}
		req, _ = http.NewRequest("OPTIONS", app.URL+"/socket.io/?EIO=4&transport=polling", nil)
		req.Header.Set("Origin", "http://elsewhere.example")
		res, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("Access-Control-Allow-Headers") != "Content-Type" {
			t.Errorf("preflight: %d %v", res.StatusCode, res.Header)
		}
	})
}

// TestRedisAdapterProgram runs googollee's redis-adapter example twice
// against a real Redis: a broadcast, a room and RoomLen cross the nodes.
func TestRedisAdapterProgram(t *testing.T) {
	rs := redistest.Start(t)
	redisAddr := "REDIS_ADDR=127.0.0.1:" + strconv.Itoa(rs.Port)
	n1 := start(t, "redisadapter", redisAddr)
	n2 := start(t, "redisadapter", redisAddr)
	for _, m := range []struct {
		version   int
		transport string
	}{{4, "websocket"}, {2, "polling"}} {
		t.Run(fmt.Sprintf("v%d-%s", m.version, m.transport), func(t *testing.T) {
			drive(t, map[string]any{"program": "redisadapter", "url": n1.URL, "url2": n2.URL, "version": m.version, "transport": m.transport})
		})
	}
}
