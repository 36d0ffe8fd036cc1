package websocket

import (
	"testing"
	"time"
)

// TestNewThenClose closes servers at once after starting them, 30 rounds,
// half of them with their event loop started: Close must return, having
// stopped all it started (goleak, TestMain).
func TestNewThenClose(t *testing.T) {
	for i := 0; i < 30; i++ {
		s, err := NewServer(Config{})
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			if _, err := s.eventLoop(); err != nil {
				t.Fatal(err)
			}
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
