// Package netpoll is siogo's event loop: TCP connections served by a few
// epoll loops instead of a goroutine each, so that an idle connection
// costs a small struct and no goroutine, stack or buffer.
//
// siogo owns it because the foundation of a server has to be one whose
// invariants it can state and test, rather than fence from outside. They
// are:
//
//   - One owner per descriptor. Every connection belongs to one poller (an
//     epoll instance and its goroutine). Registration, every event, every
//     read and close(2) happen on that goroutine. Other goroutines only
//     write, under the connection's write lock; close(2) is taken under the
//     same lock and marks the connection closed, so a write can never reach
//     a number that was closed and given to another socket.
//   - Generations. Each registration carries its slot in the poller's table
//     and a generation in epoll_data (as Go's runtime poller tags its
//     descriptors); an event whose generation is not the slot's current one
//     belongs to a closed registration and is dropped. A reused descriptor
//     number never receives the old socket's events.
//   - Close-on-exec from birth. Accepted sockets come from
//     accept4(SOCK_NONBLOCK|SOCK_CLOEXEC), taken-over ones from
//     F_DUPFD_CLOEXEC, epoll and eventfd descriptors with their CLOEXEC
//     flags: a child process never holds a connection open.
//   - A panic stays with its connection. Every callback is recovered at its
//     call; the connection is closed with a *PanicError, logged and
//     counted, and the loop goes on.
//   - Every start has its stop. Loop.Close closes every connection (OnClose
//     once each), stops every poller and TLS handshake goroutine, and waits
//     for them.
//
// A poller with nothing to do parks in Go's own network poller, waiting on
// its epoll descriptor (readable when it holds events), rather than in a
// blocking epoll_wait that would hold a thread in a system call.
// Connections are registered edge-triggered for reads and writes once, so
// no epoll_ctl is needed for the rest of their life; an accepted
// connection goes to the poller with the fewest.
//
// Handlers get bytes (OnData) and the end (OnClose) on the loop; writes
// (Write, Writev) go out at once from the calling goroutine when nothing
// waits, and are buffered in pooled chunks otherwise, bounded by
// Options.MaxWriteBuffer. Timeouts live on a coarse per-loop timer wheel,
// not a timer per connection. TLS is Go's crypto/tls, used through its API
// only: the handshake runs on a short-lived goroutine, and records are then
// decrypted on the loop.
//
// On Linux the loop is epoll. Elsewhere (or built with the tag
// netpoll_portable) the same API runs on net.Conn with a goroutine per
// connection.
package netpoll
