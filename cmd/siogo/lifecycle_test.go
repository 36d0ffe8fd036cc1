package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"go.uber.org/goleak"
)

// TestRunErrorStops: run failing after the server was created (here the
// debug listener's address is taken) stops everything it started: no
// goroutine of the server, its loops or /ws outlives it.
func TestRunErrorStops(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg, err := parseConfig([]string{"--client-dir", clientDir(t), "--debug-addr", taken.Addr().String()}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	before := goleak.IgnoreCurrent()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := run(context.Background(), cfg, ln, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Fatal("run with a debug address in use: no error")
	}
	if err := goleak.Find(before); err != nil {
		t.Fatalf("left running after run's error: %v", err)
	}
}
