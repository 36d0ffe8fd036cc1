package websocket

import (
	"testing"
	"time"
)

// TestNewThenClose closes servers at once after starting them, 30 rounds:
// nbio's Stop used to hang when it came before the pollers' goroutines
// had started their loops.
func TestNewThenClose(t *testing.T) {
	for i := 0; i < 30; i++ {
		s, err := NewServer(Config{})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { s.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: Close did not return in 10 s", i)
		}
	}
}
