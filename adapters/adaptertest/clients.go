package adaptertest

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

//go:embed clients.js
var clientsJS []byte

// NodeModulesEnv names the variable that points the suite at a
// node_modules holding socket.io-client 4, for a module other than siogo's
// (whose test/node it finds by itself).
const NodeModulesEnv = "SIOGO_NODE_MODULES"

// clients is a Node.js process holding official socket.io-client sockets,
// each known by a name, steered one command at a time.
type clients struct {
	t   testing.TB
	mu  sync.Mutex
	in  io.WriteCloser
	out *bufio.Scanner
	err *lockedBuffer
}

// nodeModules finds the node_modules with the official client: the
// variable NodeModulesEnv, or test/node/node_modules above the working
// directory (siogo's own).
func nodeModules(t testing.TB) string {
	t.Helper()
	if d := os.Getenv(NodeModulesEnv); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "test", "node", "node_modules")
		}
		if filepath.Dir(d) == d {
			t.Fatalf("adaptertest: no go.mod above %s; set %s to a node_modules with socket.io-client 4", wd, NodeModulesEnv)
		}
	}
}

func startClients(t testing.TB) *clients {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("adaptertest: node is not installed: install Node.js 20 (apt-get install -y nodejs npm), then run: cd test/node && npm ci")
	}
	nm := nodeModules(t)
	_, e1 := os.Stat(filepath.Join(nm, "sio-client-v4"))
	_, e2 := os.Stat(filepath.Join(nm, "socket.io-client"))
	if e1 != nil && e2 != nil {
		t.Fatalf("adaptertest: socket.io-client is not installed in %s: run: cd %s && npm ci", nm, filepath.Dir(nm))
	}
	script := filepath.Join(t.TempDir(), "clients.js")
	if err := os.WriteFile(script, clientsJS, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nm)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	c := &clients{t: t, in: in, out: bufio.NewScanner(out), err: &lockedBuffer{}}
	c.out.Buffer(nil, 16<<20)
	cmd.Stderr = c.err
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return c
}

// do sends one command and decodes its answer into out; an error answer
// fails t.
func (c *clients) do(t testing.TB, cmd map[string]any, out any) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	b, err := json.Marshal(toWire(cmd))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.in.Write(append(b, '\n')); err != nil {
		t.Fatalf("adaptertest clients: %v %s", err, c.err)
	}
	if !c.out.Scan() {
		t.Fatalf("adaptertest clients stopped: %s", c.err)
	}
	var e struct{ Error string }
	_ = json.Unmarshal(c.out.Bytes(), &e)
	if e.Error != "" {
		t.Fatalf("adaptertest clients, %v: %s", cmd["op"], e.Error)
	}
	if out != nil {
		if err := json.Unmarshal(c.out.Bytes(), out); err != nil {
			t.Fatalf("adaptertest clients answered %q: %v", c.out.Bytes(), err)
		}
	}
}

// toWire writes []byte as {"$bin": base64}, as clients.js reads it.
func toWire(v any) any {
	switch x := v.(type) {
	case []byte:
		return map[string]any{"$bin": base64.StdEncoding.EncodeToString(x)}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toWire(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = toWire(e)
		}
		return out
	}
	return v
}

// fromWire reads {"$bin": base64} back as []byte.
func fromWire(v any) any {
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			x[i] = fromWire(e)
		}
	case map[string]any:
		if s, ok := x["$bin"].(string); ok && len(x) == 1 {
			b, err := base64.StdEncoding.DecodeString(s)
			if err == nil {
				return b
			}
		}
		for k, e := range x {
			x[k] = fromWire(e)
		}
	}
	return v
}

// connect opens socket name on url (WebSocket) and returns its id.
func (c *clients) connect(t testing.TB, name, url string) string {
	t.Helper()
	var r struct{ ID string }
	c.do(t, map[string]any{"op": "connect", "name": name, "url": url}, &r)
	return r.ID
}

// connectMoving opens socket name on url, reconnecting by itself
// (connection state recovery), and returns its id.
func (c *clients) connectMoving(t testing.TB, name, url string) string {
	t.Helper()
	var r struct{ ID string }
	c.do(t, map[string]any{"op": "connect", "name": name, "url": url, "reconnect": true}, &r)
	return r.ID
}

// waitConnect waits for the next connection of socket name: its id, and
// whether its state was recovered.
func (c *clients) waitConnect(t testing.TB, name string) (string, bool) {
	t.Helper()
	var r struct {
		ID        string
		Recovered bool
	}
	c.do(t, map[string]any{"op": "wait-connect", "name": name}, &r)
	return r.ID, r.Recovered
}

// emit emits args from socket name and returns the arguments of the ack.
func (c *clients) emit(t testing.TB, name string, args ...any) []any {
	t.Helper()
	var r struct{ Ack []any }
	c.do(t, map[string]any{"op": "emit", "name": name, "args": args}, &r)
	return fromWire(r.Ack).([]any)
}

// next returns the arguments of the next event of socket name not yet
// taken, waiting for it 10 s at most.
func (c *clients) next(t testing.TB, name, event string) []any {
	t.Helper()
	var r struct{ Args []any }
	c.do(t, map[string]any{"op": "next", "name": name, "event": event}, &r)
	return fromWire(r.Args).([]any)
}

// pending counts the events of socket name received and not taken.
func (c *clients) pending(t testing.TB, name, event string) int {
	t.Helper()
	var r struct{ Count int }
	c.do(t, map[string]any{"op": "none", "name": name, "event": event}, &r)
	return r.Count
}

// answer makes socket name acknowledge event with args from now on.
func (c *clients) answer(t testing.TB, name, event string, args ...any) {
	t.Helper()
	c.do(t, map[string]any{"op": "answer", "name": name, "event": event, "with": args}, nil)
}

// disconnected waits until socket name is disconnected and returns why.
func (c *clients) disconnected(t testing.TB, name string) string {
	t.Helper()
	var r struct{ Reason string }
	c.do(t, map[string]any{"op": "disconnected", "name": name}, &r)
	return r.Reason
}

// lockedBuffer is stderr written by exec's copier while a failing test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
