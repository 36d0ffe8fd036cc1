// Package http1 is the part of an event-loop HTTP/1.1 server that needs
// no I/O: a Parser fed the bytes of a connection as the loop reads them,
// which hands out complete *http.Request values, and a Response, the
// http.ResponseWriter that turns a handler's answer into one write.
//
// The loop owns the connection and its timers; this package owns the
// protocol:
//
//	p := http1.NewParser(cfg)              // one per connection, no buffer while idle
//	p.RemoteAddr = addr
//	// on each read:
//	if err := p.Feed(b); err != nil {     // b may be reused at once
//		write(http1.ErrorResponse(err))   // Node's 400, 413 or 431, then close
//		close()
//	}
//	r, err := p.Next()                     // nil, nil: more bytes needed
//	if p.WantsContinue() {
//		write([]byte(http1.Continue100))
//	}
//	w := http1.NewResponse(conn, r, cfg)   // conn: an http1.Conn
//	handler.ServeHTTP(w, r)
//	w.End()                                // conn.ResponseDone(closeAfter) follows
//	// in ResponseDone: close, or p.Done() and p.Next() again
//
// # Bounds
//
// As Node 20 bounds them, each in Config: the head (request line and
// headers) at 16 KiB, answered 431; 2000 header lines, 431; a body at
// MaxBodyBytes, 413; chunk extensions at 16 KiB, 413. A request being
// answered holds the parser: what the client sends next is kept up to
// MaxHeaderBytes, and Full tells the loop to stop reading.
//
// # Strictness
//
// Where net/http's ReadRequest and Node's llhttp differ, the parser takes
// the stricter side (400 unless said otherwise):
//
//   - Refused by both: a bare LF or CR, obs-fold, control bytes in a value,
//     a space before the colon, Content-Length with Transfer-Encoding
//     (net/http drops the Content-Length), two different Content-Lengths,
//     a Transfer-Encoding other than chunked, bad chunk sizes.
//   - Refused as Node refuses and net/http accepts: two equal
//     Content-Lengths, a chunk size followed by spaces, a method Node does
//     not know (or in lower case), non-ASCII bytes in the target.
//   - Refused as net/http refuses and Node accepts: several Host headers,
//     a Host with bytes outside a host name, "gzip, chunked", a target
//     that is not a path, an http(s) URL or OPTIONS *, HTTP/2.0 and
//     HTTP/0.9 request lines, two spaces in the request line, an invalid
//     percent-escape.
//   - Refused by neither but here: Transfer-Encoding in HTTP/1.0 (RFC 9112
//     6.1), more than 2000 headers (Node drops the extra ones), a head over
//     16 KiB of raw bytes (Node counts only the URL, names and values, and
//     accepts any amount of whitespace or empty lines around them), more
//     than 16 hex digits in a chunk size.
//   - Accepted as Node accepts and net/http refuses: empty lines before the
//     request line (RFC 9112 2.2).
//   - An Expect other than 100-continue: 417, then close (Node answers 417
//     and keeps the connection). CONNECT: closed without an answer, as Node
//     does with no 'connect' listener.
//
// # Requests
//
// A request is built as net/http's server builds it (canonical header
// names, Host moved to r.Host, Transfer-Encoding to r.TransferEncoding,
// Close by the HTTP/1.0 and 1.1 rules) and shares no memory with the
// bytes it was read from: its URL and header values are strings of their
// own size, common names and values are constants, so a request kept by a
// parked poll keeps only what it holds. The body is read in full before
// the request is handed out.
//
// # Responses
//
// A Response sends head and body in one Write when the body fits
// Config.StreamThreshold, with Content-Length, Date and Node's
// "Connection: keep-alive" and "Keep-Alive: timeout=5". A larger body, or
// a Flush, streams (chunked unless the handler set Content-Length; to
// close for HTTP/1.0). As net/http does, it sniffs a missing
// Content-Type, drops header names that are not tokens, and turns control
// bytes in values into spaces, so no header can split the response. A
// handler leaves the request-response cycle through two escape hatches
// the server implements: Detacher (answer later, for long-polls) and
// Upgrader (take the connection, for WebSocket).
package http1
