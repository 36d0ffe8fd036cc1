// Package httploop serves any http.Handler over HTTP/1.1 from siogo's
// event loop (internal/netpoll), with the parser and response writer of
// internal/http1: no goroutine and no buffer per idle connection, and a
// request answered after its handler returned (a long-poll parked with
// http1.Detacher) holds no goroutine either.
//
// What runs where:
//
//   - On the loop: reading, parsing, the timers, and the switch of a
//     connection to another protocol (a WebSocket stays on the same
//     netpoll.Conn: Upgraded.Switch).
//   - On a pool of goroutines kept between requests: the handlers, one
//     request at a time per connection. What a client sends ahead of the
//     answer (pipelining) waits in the parser, up to MaxHeaderBytes; then
//     reads pause until the answer is out.
//
// It bounds HTTP as Node 20's http server does: a head of 16 KiB (431), a
// head that has not arrived within HeadersTimeout (60 s, answered 408), a
// request whose body has not within RequestTimeout (300 s, 408), and an
// idle keep-alive connection closed after KeepAlive (5 s). A panic in a
// handler is logged and counted (Options.OnPanic), answered 500 when
// nothing was sent yet, and closes that connection only.
//
// TLS is Go's crypto/tls on the loop (Options.TLS): requests see r.TLS, and
// a WebSocket upgraded from one is decrypted on the loop too.
package httploop
