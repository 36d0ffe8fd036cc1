// Package cpuhog keeps every core busy for a test, with processes of its
// own, so that a test can prove it holds when its server, its clients and
// the rest of the machine compete for the CPU.
package cpuhog

import (
	"fmt"
	"os/exec"
	"runtime"
	"testing"
)

// Run starts n busy processes (n <= 0: one per core) and returns the
// function that stops them. They are shells spinning in a loop, not
// goroutines of this process: the Go scheduler does not see them, only the
// kernel's, as with any other busy program on the machine.
func Run(n int) (stop func(), err error) {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	var cmds []*exec.Cmd
	stop = func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
		cmds = nil
	}
	for i := 0; i < n; i++ {
		c := exec.Command("sh", "-c", "while :; do :; done")
		dieWithParent(c)
		if err := c.Start(); err != nil {
			stop()
			return nil, fmt.Errorf("cpuhog: %w", err)
		}
		cmds = append(cmds, c)
	}
	return stop, nil
}

// Start runs n busy processes (n <= 0: one per core) until t ends.
func Start(t testing.TB, n int) {
	t.Helper()
	stop, err := Run(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
}
