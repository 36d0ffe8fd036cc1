package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestEmbeddedBuild runs `make build` and starts the one file it makes in
// an empty directory: it serves the demo page, the client bundles and the
// Admin UI with no folder beside it. (GOFLAGS=-race makes the build share
// the compiled packages of this test run; it is the same target.)
func TestEmbeddedBuild(t *testing.T) {
	for _, tool := range []string{"make", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: apt-get install -y make nodejs npm", tool)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "siogo")
	build := exec.Command("make", "build", "OUT="+bin)
	build.Dir = repoRoot(t)
	build.Env = append(os.Environ(), "GOFLAGS=-race")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("the build left %d files beside the binary", len(entries))
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--addr", addr, "--admin-user", "admin", "--admin-password-hash", adminHash(t))
	cmd.Dir = dir
	var logs syncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	base := "http://" + addr
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if i == 100 {
			t.Fatalf("the embedded binary did not listen: %s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	check := func(path, want string) string {
		t.Helper()
		code, body := get(t, base+path)
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("GET %s: %d, %d bytes, want %q in it\n%s", path, code, len(body), want, logs.String())
		}
		return body
	}
	check("/", "siogo demo")
	check("/socket.io/socket.io.js", "Socket.IO v4")
	check("/socket.io/socket.io.min.js", "Socket.IO v4")
	check("/vendor/socket.io-client-2/socket.io.js", "io")
	page := check("/admin/", "Socket.IO Admin UI")
	if !strings.Contains(page, "server_url") {
		t.Error("the Admin UI page does not fill in the server's address")
	}
	for _, ref := range regexp.MustCompile(`(?:src|href)="((?:js|css)/[^"]+)"`).FindAllStringSubmatch(page, -1) {
		check("/admin/"+ref[1], "")
	}
	if !strings.Contains(logs.String(), "embedded=true") {
		t.Errorf("the binary does not say it serves its embedded assets: %s", logs.String())
	}
}
