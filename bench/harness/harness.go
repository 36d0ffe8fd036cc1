// Package harness is what the side-by-side bench (bench/compare) and the
// soak (bench/soak) both need to start, watch and stop the servers they
// measure, and to say on what machine they ran. It is a module of its
// own, as they are, so that their plotting library stays out of siogo's
// go.mod.
package harness

import (
	"bufio"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Stop sends cmd's process SIGTERM and waits for it, at most grace before
// it is killed.
func Stop(cmd *exec.Cmd, grace time.Duration) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// WaitHealthy waits, 30 s at most, until http://addr/healthz answers 200.
func WaitHealthy(addr string) error {
	for i := 0; i < 300; i++ {
		res, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("nothing healthy on %s after 30 s", addr)
}

// FreePort is a TCP port of 127.0.0.1 free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// MustFreePort is FreePort for a program: it exits if there is none.
func MustFreePort() int {
	port, err := FreePort()
	if err != nil {
		log.Fatal(err)
	}
	return port
}

// RaiseFileLimit raises the soft limit of open files to the hard one (the
// processes started from here inherit it), and fails if that is fewer
// than need: each server, and the loader, holds every client in one
// process.
func RaiseFileLimit(need uint64) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return err
		}
	}
	if l.Cur < need {
		return fmt.Errorf("%d open files are needed per process and the limit is %d: raise the hard limit (ulimit -Hn %d as root, LimitNOFILE= for a systemd unit, --ulimit nofile=%d for docker)", need, l.Cur, need, need)
	}
	return nil
}

// FileLimit is the open-files limit, "soft (hard hard)".
func FileLimit() string {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return "?"
	}
	return fmt.Sprintf("%d (hard %d)", l.Cur, l.Max)
}

// CPUModel is the machine's processors, "2 × AMD EPYC ...".
func CPUModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	model, n := "", 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name":
			model = strings.TrimSpace(v)
		case "processor":
			n++
		}
	}
	return fmt.Sprintf("%d × %s", n, model)
}

// LoadAvg is the load average over 1, 5 and 15 minutes, "?" if unknown.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
