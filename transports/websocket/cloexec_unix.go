//go:build unix

package websocket

import (
	"net"
	"os"
	"strconv"
	"syscall"
)

// closeOnExec marks the descriptor of an upgraded connection close-on-exec.
//
// nbio moves a hijacked connection to its loop on a dup(2) of the
// descriptor, and dup clears FD_CLOEXEC: every process the program started
// afterwards (os/exec) inherited each WebSocket open at that moment, for
// its whole life. Two failures followed. A server's close sent no FIN while
// such a child lived, so the client waited for a heartbeat to fail. And the
// socket stayed in nbio's epoll set after nbio closed its descriptor (epoll
// forgets a file only when its last descriptor closes), so that old
// connection's hang-up came back under its descriptor number, by then a
// fresh connection's, and nbio closed the fresh one: its client saw the
// open packet and then nothing. The caller holds syscall.ForkLock for
// reading from the dup to here, as the standard library does for the
// descriptors it creates.
func closeOnExec(c net.Conn) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) { syscall.CloseOnExec(int(fd)) })
}

// startEngine starts nbio's loop with its descriptors (an epoll and an
// eventfd per poller, made without O_CLOEXEC) marked close-on-exec, so that
// a child process inherits none of them.
func startEngine(start func() error) error {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	before := openFDs()
	if err := start(); err != nil {
		return err
	}
	if before == nil {
		return nil // no /proc: nothing to compare with
	}
	for fd := range openFDs() {
		if !before[fd] {
			syscall.CloseOnExec(fd)
		}
	}
	return nil
}

// openFDs lists the process's descriptors (but the one it reads them
// through), or nil where /proc/self/fd is not there.
func openFDs() map[int]bool {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil
	}
	self := int(d.Fd())
	fds := make(map[int]bool, len(names))
	for _, n := range names {
		if fd, err := strconv.Atoi(n); err == nil && fd != self {
			fds[fd] = true
		}
	}
	return fds
}
