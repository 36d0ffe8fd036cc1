package socketio

// EachFunc is called for each connection of a room by Server.ForEach.
type EachFunc func(Conn)

// Broadcast is googollee's interface of a room table, kept for programs
// that name it. The rooms of this package are siogo's adapter's (in
// memory, or Redis with Server.Adapter); nothing here returns a Broadcast.
type Broadcast interface {
	Join(room string, connection Conn)
	Leave(room string, connection Conn)
	LeaveAll(connection Conn)
	Clear(room string)
	Send(room, event string, args ...interface{})
	SendAll(event string, args ...interface{})
	ForEach(room string, f EachFunc)
	Len(room string) int
	Rooms(connection Conn) []string
}
