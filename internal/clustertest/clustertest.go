// Package clustertest is the scaffolding the cluster adapters' tests
// share beside the conformance suite (adapters/adaptertest): a siogo node
// on a test HTTP server, waiting for a condition, and the packets a raw
// polling client (internal/siotest) receives.
package clustertest

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/siotest"
	"github.com/siogo/siogo/server"
)

// Quiet is a logger that logs nothing.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Node is a siogo node of a test cluster.
type Node struct {
	Srv *server.Server
	URL string // its base URL
}

// Start serves a server with opts (a quiet logger unless it has one) on
// /socket.io/ of a test HTTP server; both close when t ends, then
// closeAfter runs (the adapter's client, say).
func Start(t testing.TB, opts server.Options, closeAfter func()) *Node {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = Quiet
	}
	srv, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		_ = srv.Close()
		hs.Close()
		if closeAfter != nil {
			closeAfter()
		}
	})
	return &Node{Srv: srv, URL: hs.URL}
}

// WaitFor waits until cond holds, d at most.
func WaitFor(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Poll is c.Poll, failing t after 10 s without a packet.
func Poll(t testing.TB, c *siotest.Client) []string {
	t.Helper()
	ch := make(chan []string, 1)
	go func() { ch <- c.Poll() }()
	select {
	case p := <-ch:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no packet in 10 s")
		return nil
	}
}

// Expect polls until len(want) packets came, and compares them (a server
// may flush an event and its attachment in separate polls); a poll that
// brings nothing in 10 s fails t.
func Expect(t testing.TB, c *siotest.Client, want ...string) {
	t.Helper()
	var got []string
	for len(got) < len(want) {
		ch := make(chan []string, 1)
		go func() { ch <- c.Poll() }()
		select {
		case p := <-ch:
			got = append(got, p...)
		case <-time.After(10 * time.Second):
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
