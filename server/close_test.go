package server_test

import (
	"testing"
	"time"

	"github.com/siogo/siogo/server"
)

// TestNewThenClose closes each server as soon as it is made, 30 rounds.
// nbio's Engine.Stop used to hang here (about every round): it could come
// before the event loop's goroutine had begun, which then never ended.
// siogo's own loop starts with the first connection that needs it, and
// Close waits for whatever was started.
func TestNewThenClose(t *testing.T) {
	for i := 0; i < 30; i++ {
		srv, err := server.New(server.Options{})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- srv.Close() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: %v", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: Close did not return in 10 s", i)
		}
	}
}
