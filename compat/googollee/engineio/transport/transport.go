// Package transport holds the Transport interface of googollee/go-socket.io
// v1.7.0's engineio/transport: what engineio.Options.Transports lists.
package transport

// Transport names a transport that engineio.Options allows. siogo serves
// "polling" and "websocket" itself; a Transport of another name is
// ignored, with a log line.
type Transport interface {
	Name() string
}
