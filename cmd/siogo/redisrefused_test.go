package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/redistest"
	"github.com/siogo/siogo/internal/testcert"
)

// buildProgram builds cmd/siogo for a test that runs it as a process.
func buildProgram(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "siogo")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// getNoFail is a GET whose failure is status 0.
func getNoFail(url string) (int, string) {
	res, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestRedisRefused: the program refuses to start, with an error that
// names the address and not the password, when Redis refuses its first
// connection for a reason retrying cannot mend: a wrong password, a
// database index the server does not have, a certificate that does not
// verify, a server that is not a cluster; in every adapter form.
func TestRedisRefused(t *testing.T) {
	bin := buildProgram(t)
	rs := redistest.StartWith(t, redistest.Options{Password: "right-pass"})
	cert := testcert.New(t)
	tlsRS := redistest.StartWith(t, redistest.Options{TLS: cert})
	other, _ := testcert.New(t).Files(t) // trusts another authority
	for _, tc := range []struct {
		args []string
		why  string
		addr string
	}{
		{[]string{"--adapter", "redis://:wrong-pass@" + rs.Addr + "/0"}, "authentication failed", rs.Addr},
		{[]string{"--adapter", "redis://" + rs.Addr + "/0"}, "authentication failed", rs.Addr}, // NOAUTH
		{[]string{"--adapter", "redis-streams://:wrong-pass@" + rs.Addr + "/0"}, "authentication failed", rs.Addr},
		{[]string{"--adapter", "redis://:right-pass@" + rs.Addr + "/99"}, "database refused", rs.Addr},
		{[]string{"--adapter", "redis-streams://:right-pass@" + rs.Addr + "/99"}, "database refused", rs.Addr},
		{[]string{"--adapter", "redis-cluster://:right-pass@" + rs.Addr}, "not a Redis Cluster", rs.Addr},
		{[]string{"--adapter", "redis-streams-cluster://:wrong-pass@127.0.0.1:1," + rs.Addr}, "authentication failed", rs.Addr},
		{[]string{"--adapter", "rediss://" + tlsRS.Addr + "/0", "--redis-ca-file", other}, "TLS certificate not trusted", tlsRS.Addr},
		{[]string{"--adapter", "rediss-streams-cluster://" + tlsRS.Addr, "--redis-ca-file", other}, "TLS certificate not trusted", tlsRS.Addr},
	} {
		cmd := exec.Command(bin, append([]string{"--addr", "127.0.0.1:0"}, tc.args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Errorf("%v: exit %v, want a failure\n%s", tc.args, err, out.String())
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("%v: still running after 15 s\n%s", tc.args, out.String())
			continue
		}
		logs := out.String()
		if !strings.Contains(logs, tc.why) || !strings.Contains(logs, tc.addr) {
			t.Errorf("%v: the error does not say %q at %s:\n%s", tc.args, tc.why, tc.addr, logs)
		}
		if strings.Contains(logs, "pass@") || strings.Contains(logs, "wrong-pass") || strings.Contains(logs, "right-pass") {
			t.Errorf("%v: the password is in the logs:\n%s", tc.args, logs)
		}
	}
}

// TestRedisUnreachableAtStart: an unreachable Redis is no reason to
// refuse: the program serves, /readyz says 503, and each log line of the
// retries names the address it tries (it said addr="").
func TestRedisUnreachableAtStart(t *testing.T) {
	bin := buildProgram(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String() // closed below: nothing listens there
	ln.Close()
	for _, adapter := range []string{"redis://" + down + "/0", "redis-streams://" + down + "/0", "redis-cluster://" + down, "redis-streams-cluster://" + down} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cmd := exec.Command(bin, "--addr", addr, "--adapter", adapter, "--shutdown-timeout", "1s")
		var logs syncBuffer
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		base := "http://" + addr
		deadline := time.Now().Add(10 * time.Second)
		for {
			if code, _ := getNoFail(base + "/healthz"); code == 200 {
				break
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("%s: the program did not serve:\n%s", adapter, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		waitReady(t, base, 503)
		// Until the retries have logged, for each of the adapter's connections.
		for deadline := time.Now().Add(5 * time.Second); strings.Count(logs.String(), "retrying") < 2 && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		out := logs.String()
		if strings.Contains(out, `addr=""`) || !strings.Contains(out, down) || strings.Count(out, "retrying") < 2 {
			t.Errorf("%s: the retries do not name %s:\n%s", adapter, down, out)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "retrying") && !strings.Contains(line, down) {
				t.Errorf("%s: a retry that does not name %s: %s", adapter, down, line)
			}
		}
	}
}
