// Package nodetest runs the official JavaScript clients from test/node for
// siogo's integration tests. A missing Node.js or missing npm packages fail
// the test with the command that installs them; they never skip it.
package nodetest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Dir is the absolute path of test/node, where the clients are installed.
func Dir(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "test", "node")
		}
		if filepath.Dir(d) == d {
			t.Fatal("nodetest: no go.mod above " + wd)
		}
	}
}

// Require fails t unless node and the npm packages of test/node are there.
func Require(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("nodetest: node is not installed: install Node.js 20 (apt-get install -y nodejs npm), then run: cd test/node && npm ci")
	}
	dir := Dir(t)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "eio-client-v6")); err != nil {
		t.Fatalf("nodetest: the JavaScript clients are not installed: run: cd %s && npm ci", dir)
	}
	return dir
}

// Run runs `node script arg` in test/node, arg given as JSON, and decodes
// the last line of its output as JSON into out. A non-zero exit fails t
// with the script's output.
func Run(t testing.TB, timeout time.Duration, script string, arg, out any) {
	t.Helper()
	dir := Require(t)
	a, err := json.Marshal(arg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script, string(a))
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	lines := bytes.Split(bytes.TrimSpace(stdout.Bytes()), []byte("\n"))
	last := lines[len(lines)-1]
	if out != nil && len(last) > 0 && last[0] == '{' {
		// A driver that failed still reports: let the caller read it and
		// add what the server knows.
		if jerr := json.Unmarshal(last, out); jerr == nil {
			if err != nil {
				t.Logf("node %s %s: %v\nstderr: %s", script, a, err, stderr.Bytes())
			}
			return
		}
	}
	if err != nil {
		t.Fatalf("node %s %s: %v\nstdout: %s\nstderr: %s", script, a, err, stdout.Bytes(), stderr.Bytes())
	}
	if out != nil {
		if err := json.Unmarshal(last, out); err != nil {
			t.Fatalf("node %s: bad report %q: %v\nstderr: %s", script, last, err, stderr.Bytes())
		}
	}
}
