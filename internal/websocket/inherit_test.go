//go:build linux

package websocket

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestChildInheritsNoConnection: a process started while WebSockets are
// open (adopted from net/http, and upgraded on the loop's own HTTP server)
// gets none of siogo's descriptors, so a close still reaches the client at
// once. nbio's dup of the hijacked descriptor dropped its close-on-exec
// flag: a child kept the socket open (no FIN: the client waited for the
// heartbeat). siogo's loop takes every descriptor close-on-exec from
// birth (accept4, F_DUPFD_CLOEXEC, epoll_create1, eventfd).
func TestChildInheritsNoConnection(t *testing.T) {
	rec, addr := serve(t, Config{})
	c := dial(t, addr)
	conn := <-rec.conns
	lrec, laddr := serveLoop(t, Config{}, nil)
	lc := dial(t, laddr)
	lconn := <-lrec.conns

	ctx, cancel := context.WithCancel(context.Background())
	child := exec.CommandContext(ctx, "sleep", "60")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = child.Wait() })
	// Start has returned after the exec: these are what the child kept.
	dir := "/proc/" + strconv.Itoa(child.Process.Pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		link, _ := os.Readlink(dir + "/" + e.Name())
		if strings.HasPrefix(link, "socket:") || strings.HasPrefix(link, "anon_inode:") {
			t.Errorf("the child inherited descriptor %s (%s)", e.Name(), link)
		}
	}

	for i, p := range []struct {
		conn *Conn
		c    *client
	}{{conn, c}, {lconn, lc}} {
		_ = p.conn.Close(1000)
		if op, pl := p.c.read(); op != opClose || pl != "\x03\xe8" {
			t.Fatalf("connection %d: got opcode %d %q, want close 1000", i, op, pl)
		}
		_ = p.c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := p.c.br.ReadByte(); !errors.Is(err, io.EOF) {
			t.Fatalf("connection %d: after the close frame: %v, want EOF: a child process holds the socket", i, err)
		}
	}
}
