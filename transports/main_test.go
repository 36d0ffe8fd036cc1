package transports_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that every server the tests start (Server,
// HTTPServer, the WebSocket loop under them) stops all it started.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
