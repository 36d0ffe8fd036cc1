package http1

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the tests' servers leave no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
