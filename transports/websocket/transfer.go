package websocket

import (
	"net"
	"syscall"

	"github.com/lesismal/nbio"
)

// TransferConn moves c to an nbio connection, for an event loop to serve,
// with its descriptor close-on-exec; an *nbio.Conn is returned as it is.
//
// nbio takes a net.Conn on a dup(2) of its descriptor, which clears
// FD_CLOEXEC, so every process started later would inherit the socket
// (see closeOnExec). Whoever hands connections to nbio goes through here.
func TransferConn(c net.Conn) (*nbio.Conn, error) {
	if nbc, ok := c.(*nbio.Conn); ok {
		return nbc, nil
	}
	// No fork between nbio's dup of the descriptor and closeOnExec.
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	nbc, err := nbio.NBConn(c)
	if err != nil {
		return nil, err
	}
	closeOnExec(nbc)
	return nbc, nil
}

// StartEngine runs start, an nbio engine's Start, with the descriptors it
// makes (an epoll and an eventfd per poller) marked close-on-exec.
func StartEngine(start func() error) error { return startEngine(start) }
