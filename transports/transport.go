package transports

// transport is what a session sees of the connection carrying it, as
// engine.io's Socket sees its Transport: the session (session.go) keeps the
// id, the heartbeat, the packets waiting and the close; each transport
// (polling.go, websocket.go) how packets reach the client. The upgrade
// (upgrade.go) swaps the polling transport for a WebSocket one.
type transport interface {
	// name is TransportPolling or TransportWebSocket.
	name() string
	// send hands pkts to the client after what was sent before: written
	// at once, or queued for the next poll. With volatile it sends them
	// only if they can leave at once, and reports whether it did. The
	// session's writeMu and mu are held, the session open; send releases
	// mu (the lock taken once per packet sent, broadcasts' hot path).
	send(pkts []Packet, volatile bool) (bool, error)
	// limitInbound applies a bound on what the client sends set by
	// Session.LimitInbound (0: MaxHTTPBufferSize alone).
	limitInbound(max int)
	// closing is told that the session closes in mode; it reports whether
	// the session can be forgotten at once (the client has nothing left
	// to fetch). s.mu is held.
	closing(mode closeMode) (final bool)
	// close releases the transport's connection, s.mu not held.
	close()
	// after runs f on the worker that delivered the message being handled
	// once it returns (Session.Run), or reports false: the session then
	// starts a goroutine.
	after(f func()) bool
	// flush sends at once what the transport holds back (Session.Flush).
	flush()
}
