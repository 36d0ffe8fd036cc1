//go:build unix

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

// TestChildInheritsNoConnection: a process started while a WebSocket is
// open gets none of siogo's descriptors, so a close still reaches the
// client at once. nbio's dup of the hijacked descriptor dropped its
// close-on-exec flag; a child kept the socket open (no FIN: the client
// waited for the heartbeat), and the socket kept reporting its hang-up to
// nbio's epoll under a number a fresh connection reused, which nbio then
// closed. That was the "first exchange stalls under load" of the official
// clients' tests, whose drivers are such children.
func TestChildInheritsNoConnection(t *testing.T) {
	rec, addr := serve(t, Config{})
	c := dial(t, addr)
	conn := <-rec.conns

	ctx, cancel := context.WithCancel(context.Background())
	child := exec.CommandContext(ctx, "sleep", "60")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = child.Wait() })
	// Start has returned after the exec: these are what the child kept.
	dir := "/proc/" + strconv.Itoa(child.Process.Pid) + "/fd"
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			link, _ := os.Readlink(dir + "/" + e.Name())
			if strings.HasPrefix(link, "socket:") || strings.HasPrefix(link, "anon_inode:") {
				t.Errorf("the child inherited descriptor %s (%s)", e.Name(), link)
			}
		}
	}

	_ = conn.Close(1000)
	if op, p := c.read(); op != opClose || p != "\x03\xe8" {
		t.Fatalf("got opcode %d %q, want close 1000", op, p)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the close frame: %v, want EOF: a child process holds the socket", err)
	}

}
