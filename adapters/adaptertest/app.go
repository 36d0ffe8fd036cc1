package adaptertest

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/siogo/siogo/server"
)

// install sets up on srv the conformance application, which every node of
// a test cluster runs (a Node.js node, test/node/conformance-app.js): each
// event does one thing through the cluster and acknowledges its result.
func install(srv *server.Server, name string) {
	ctx := context.Background()
	nsp := srv.Of("/")
	// The events that only reply, and the ones that use the cluster.
	on := func(event string, h func(s *server.Socket, args []any) []any) {
		srv.OnEvent(event, func(s *server.Socket, args []any, ack server.Ack) {
			out := h(s, args)
			if ack != nil {
				ack(out...)
			}
		})
	}
	str := func(args []any, i int) string {
		if i < len(args) {
			s, _ := args[i].(string)
			return s
		}
		return ""
	}
	// target: a room or a socket's id, or every socket when empty.
	target := func(args []any) *server.BroadcastOperator {
		if id := str(args, 0); id != "" {
			return srv.In(id)
		}
		return srv.In()
	}
	on("broadcast", func(_ *server.Socket, args []any) []any { _ = srv.Emit("broadcast", args...); return nil })
	on("to", func(_ *server.Socket, args []any) []any {
		_ = srv.To(str(args, 0)).Emit("broadcast", args[1:]...)
		return nil
	})
	on("except", func(_ *server.Socket, args []any) []any {
		_ = srv.Except(str(args, 0)).Emit("broadcast", args[1:]...)
		return nil
	})
	on("local", func(_ *server.Socket, args []any) []any { _ = srv.Local().Emit("local", args...); return nil })
	on("join", func(s *server.Socket, args []any) []any { s.Join(str(args, 0)); return []any{str(args, 0)} })
	on("leave", func(s *server.Socket, args []any) []any { s.Leave(str(args, 0)); return []any{str(args, 0)} })
	on("rooms", func(s *server.Socket, _ []any) []any { r := s.Rooms(); slices.Sort(r); return []any{r} })
	on("fetch", func(_ *server.Socket, args []any) []any {
		sockets, err := target(args).FetchSockets(ctx)
		if err != nil {
			return []any{"error: " + err.Error()}
		}
		out := []any{}
		for _, s := range sockets {
			rooms := slices.Clone(s.Rooms)
			slices.Sort(rooms)
			out = append(out, map[string]any{"id": s.ID, "rooms": rooms, "address": s.Handshake.Address})
		}
		return []any{out}
	})
	on("sockets-join", func(_ *server.Socket, args []any) []any { _ = target(args).SocketsJoin(str(args, 1)); return nil })
	on("sockets-leave", func(_ *server.Socket, args []any) []any { _ = target(args).SocketsLeave(str(args, 1)); return nil })
	on("kick", func(_ *server.Socket, args []any) []any { _ = target(args).DisconnectSockets(); return nil })
	on("count", func(_ *server.Socket, _ []any) []any {
		n, err := nsp.Adapter().ServerCount(ctx)
		if err != nil {
			return []any{"error: " + err.Error()}
		}
		return []any{n}
	})
	on("ask", func(_ *server.Socket, args []any) []any {
		answers, err := nsp.ServerSideEmitWithAck(ctx, "ping", args[:1]...)
		if err != nil {
			return []any{"error: " + err.Error()}
		}
		out := make([]string, 0, len(answers))
		for _, a := range answers {
			out = append(out, fmt.Sprint(a))
		}
		slices.Sort(out)
		return []any{out}
	})
	on("tell", func(_ *server.Socket, args []any) []any { _ = nsp.ServerSideEmit(ctx, "told", args[:1]...); return nil })
	on("acks", func(_ *server.Socket, _ []any) []any {
		answers, err := srv.Timeout(5*time.Second).EmitWithAck(ctx, "q")
		if err != nil {
			return []any{"error: " + err.Error()}
		}
		return []any{answers}
	})
	nsp.OnServerSideEmit("ping", func(args []any, ack server.Ack) {
		if ack != nil {
			ack(fmt.Sprintf("pong from %s: %v", name, args[0]))
		}
	})
	nsp.OnServerSideEmit("told", func(args []any, _ server.Ack) { _ = srv.Local().Emit("told", name, args[0]) })
}
