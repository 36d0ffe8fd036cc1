// Package leaktest is the leak check of every test binary that starts a
// server, a program or a connection: after the tests and the package's
// own clean-up, no goroutine of theirs may still run.
package leaktest

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Main runs the tests, then each clean-up in order (stopping what the
// package shares between its tests, such as a redis-server), then fails
// the binary if a goroutine outlived them. Use it as the package's
// TestMain: func TestMain(m *testing.M) { leaktest.Main(m) }.
func Main(m *testing.M, cleanups ...func()) {
	code := m.Run()
	for _, c := range cleanups {
		c()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "leaktest: goroutines outlived the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
