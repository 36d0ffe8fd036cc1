package main

import (
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"golang.org/x/crypto/bcrypt"

	"github.com/siogo/siogo/internal/redistest"
)

// buildSiogo builds the program, for what only its own process shows (its
// command line).
func buildSiogo(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "siogo")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestSecretsStayOut runs the program with a Redis password in --adapter
// and the Admin UI's hash, and looks where they could leak: the startup
// log and every later line, /readyz while Redis is down (it names the
// failing check, not the error with its addresses, and logs why once, not
// on every poll), --debug-addr's /debug/pprof/cmdline (gone), and the
// errors of a malformed --adapter, the program's and Go's url.Parse's.
func TestSecretsStayOut(t *testing.T) {
	const password = "s3cretPass-42"
	rs := redistest.Start(t)
	addUser := func() {
		rc, err := redis.Dial("tcp", "127.0.0.1:"+itoa(rs.Port))
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if _, err := rc.Do("ACL", "SETUSER", "siogo", "on", ">"+password, "~*", "&*", "+@all"); err != nil {
			t.Fatal(err)
		}
	}
	addUser()
	hash, err := bcrypt.GenerateFromPassword([]byte("admin secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	bin := buildSiogo(t)
	addr, debugAddr := freeAddr(t), freeAddr(t)
	adapter := "redis://siogo:" + password + "@127.0.0.1:" + itoa(rs.Port) + "/0"
	logs := &syncBuffer{}
	cmd := exec.Command(bin, "--addr", addr, "--adapter", adapter, "--debug-addr", debugAddr,
		"--admin-user", "admin", "--admin-password-hash", string(hash), "--client-dir", clientDir(t), "--shutdown-timeout", "2s")
	cmd.Stderr = logs
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
		if i > 200 {
			t.Fatalf("siogo did not listen: %s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitReady(t, base, 200) // the password is right

	if code, body := get(t, "http://"+debugAddr+"/debug/pprof/cmdline"); code != http.StatusNotFound || strings.Contains(body, password) {
		t.Errorf("/debug/pprof/cmdline: %d %q", code, body)
	}
	if code, body := get(t, "http://"+debugAddr+"/debug/pprof/"); code != 200 || strings.Contains(body, password) {
		t.Errorf("/debug/pprof/: %d", code)
	}

	rs.Kill()
	waitReady(t, base, 503)
	for i := 0; i < 30; i++ {
		if code, body := get(t, base+"/readyz"); code != 503 || body != "adapter not ready\n" {
			t.Fatalf("/readyz with Redis down: %d %q", code, body)
		}
	}
	if n := strings.Count(logs.String(), `msg="not ready"`); n != 1 {
		t.Errorf("31 polls of /readyz logged why %d times, want once:\n%s", n, logs.String())
	}
	rs.Restart()
	addUser() // a Redis restarted keeps no user
	waitReady(t, base, 200)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, logs.String())
	}
	out := logs.String()
	if !strings.Contains(out, "adapter=redis://siogo:xxxxx@127.0.0.1:") || !strings.Contains(out, `check=adapter`) {
		t.Errorf("logs lack the redacted adapter or the failing check:\n%s", out)
	}
	if strings.Contains(out, password) || strings.Contains(out, string(hash)) {
		t.Errorf("a secret in the logs:\n%s", out)
	}

	// A malformed --adapter: the program's error, and Go's url.Parse's
	// (which quotes the whole URL), met at the first dial.
	for _, bad := range []string{
		"redis:/siogo:" + password + "@127.0.0.1:1/0",
		"redis://siogo:" + password + "@127.0.0.1:bad/0",
	} {
		out := &syncBuffer{}
		cmd := exec.Command(bin, "--addr", freeAddr(t), "--adapter", bad, "--client-dir", clientDir(t))
		cmd.Stderr = out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		deadline := time.After(20 * time.Second)
	wait:
		for {
			select {
			case <-exited:
				break wait
			case <-deadline:
				t.Errorf("--adapter %s: neither an exit nor the URL's error in the log:\n%s", bad, out.String())
				break wait
			case <-time.After(50 * time.Millisecond):
				if strings.Contains(out.String(), "invalid port") {
					break wait
				}
			}
		}
		_ = cmd.Process.Kill()
		if s := out.String(); strings.Contains(s, password) || !strings.Contains(s, "xxxxx") {
			t.Errorf("--adapter %s:\n%s", bad, s)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
