//go:build linux && !netpoll_portable

package netpoll_test

import (
	"net"
	"testing"

	"github.com/siogo/siogo/internal/netpoll"
)

// TestResetWhilePaused: a peer that resets while reads are paused is
// reported at once, as a parked long-poll needs (on the epoll loop; the
// portable path learns it when reads resume).
func TestResetWhilePaused(t *testing.T) {
	l := newLoop(t, netpoll.Options{})
	r := newCloses()
	addr := serve(t, l, func(c *netpoll.Conn) netpoll.Handler {
		c.PauseReads()
		return echo(r)(c)
	})
	client := dial(t, addr)
	_, _ = client.Write([]byte("waits"))
	_ = client.(*net.TCPConn).SetLinger(0)
	client.Close()
	if err := r.next(t); err == nil {
		t.Fatal("OnClose: nil, want the reset")
	}
}
