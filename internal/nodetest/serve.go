package nodetest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// Serve starts `node script args...` in test/node, a server that prints
// "listening" once it accepts connections, and waits for that line; t
// fails with the script's stderr if it ends or stays silent for timeout.
// The process is killed when t ends; its pid is returned.
func Serve(t testing.TB, timeout time.Duration, script string, args ...string) int {
	t.Helper()
	dir := Require(t)
	cmd := exec.Command("node", append([]string{script}, args...)...)
	cmd.Dir = dir
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "listening" {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("nodetest: %s ended: %s", script, stderr.String())
		}
	case <-time.After(timeout):
		t.Fatalf("nodetest: %s did not listen within %v: %s", script, timeout, stderr.String())
	}
	return cmd.Process.Pid
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

// ServeNode starts a Node.js node of a test cluster: script (in test/node)
// with cfg as its JSON argument, "port" set to a free port. It returns the
// node's base URL and a function that kills it (SIGKILL: no goodbye to its
// cluster); it is killed when t ends anyway.
func ServeNode(t testing.TB, script string, cfg map[string]any) (url string, kill func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg["port"] = port
	arg, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pid := Serve(t, 20*time.Second, script, string(arg))
	return fmt.Sprintf("http://127.0.0.1:%d", port), func() {
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Kill()
		}
	}
}
