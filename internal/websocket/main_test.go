package websocket

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that every Server the tests start stops all it started
// (its loop, flushers, workers and reading goroutines), and so do the HTTP
// servers beside it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
