package admin

import (
	"slices"

	"github.com/siogo/siogo/server"
)

// registerCommands adds the handlers of the UI's commands, those of the
// announced features only. Each acts on the sockets of a namespace, or of
// a room of it (the filter: a socket's id for one socket), on every node.
func (a *Admin) registerCommands(s *server.Socket) {
	has := func(f string) bool { return slices.Contains(a.features, f) }
	if has(FeatureEmit) {
		// emit(nsp, filter, event, ...args)
		s.On("emit", func(args []any, _ server.Ack) {
			if len(args) < 3 {
				return
			}
			ev, ok := args[2].(string)
			if !ok {
				return
			}
			if op := a.target(args[0], args[1]); op != nil {
				_ = op.Emit(ev, args[3:]...)
			}
		})
	}
	if has(FeatureJoin) {
		// join(nsp, room, filter)
		s.On("join", func(args []any, _ server.Ack) {
			if room, op := a.roomCommand(args); op != nil {
				_ = op.SocketsJoin(room)
			}
		})
	}
	if has(FeatureLeave) {
		// leave(nsp, room, filter)
		s.On("leave", func(args []any, _ server.Ack) {
			if room, op := a.roomCommand(args); op != nil {
				_ = op.SocketsLeave(room)
			}
		})
	}
	if has(FeatureDisconnect) {
		// _disconnect(nsp, close, filter)
		s.On("_disconnect", func(args []any, _ server.Ack) {
			if len(args) < 2 {
				return
			}
			closeConn, _ := args[1].(bool)
			var filter any
			if len(args) > 2 {
				filter = args[2]
			}
			if op := a.target(args[0], filter); op != nil {
				if closeConn {
					_ = op.CloseConnections()
				} else {
					_ = op.DisconnectSockets()
				}
			}
		})
	}
}

func (a *Admin) roomCommand(args []any) (string, *server.BroadcastOperator) {
	if len(args) < 2 {
		return "", nil
	}
	room, ok := args[1].(string)
	if !ok {
		return "", nil
	}
	var filter any
	if len(args) > 2 {
		filter = args[2]
	}
	return room, a.target(args[0], filter)
}

// target selects the sockets of namespace nsp, in room filter when it is
// a non-empty string. Unlike Node's io.of(nsp), an unknown namespace is
// not created: it has no socket to act on.
func (a *Admin) target(nsp, filter any) *server.BroadcastOperator {
	name, ok := nsp.(string)
	if !ok {
		return nil
	}
	n := a.srv.Namespace(name)
	if n == nil {
		return nil
	}
	if room, _ := filter.(string); room != "" {
		return n.In(room)
	}
	return n.To()
}
