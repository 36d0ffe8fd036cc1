package server

import "github.com/siogo/siogo/transports"

// What layers built on this package need from a socket beyond Node's API,
// such as compat/googollee, whose connections are Engine.IO sessions and
// whose emits take their acknowledgement callback in line.

// Session is the Engine.IO session that carries the socket: its id, the
// handshake's address, header and URL, and Close for the whole connection.
func (s *Socket) Session() *transports.Session { return s.client.conn }

// EmitFunc sends an event and returns at once; f is called with the
// client's acknowledgement, or with ErrSocketClosed if the socket
// disconnects first. f runs on the connection's receiving goroutine: it
// must not block.
func (s *Socket) EmitFunc(f func(args []any, err error), event string, args ...any) error {
	id := s.nsp.NextAckID()
	s.registerAck(id, f)
	err := s.emit(&Packet{Type: PacketEvent, Nsp: s.nsp.name, ID: id, HasID: true, Data: eventData(event, args)}, false, false)
	if err != nil {
		s.takeAck(id)
	}
	return err
}
