package main

import (
	"context"
	"time"

	"github.com/siogo/siogo/server"
)

// The demo application of demo-contract.md, written only against the
// library's public API: the example to copy.

// demo sets the handlers of namespace "/" and sends the timestamp every
// tick until ctx ends.
func demo(ctx context.Context, srv *server.Server, tick time.Duration) {
	// Handlers of the namespace, not of each socket (s.On inside
	// OnConnection): one closure for all sockets, so that an idle socket
	// holds none (bench/README.md, "Memory per idle client").
	//
	// Echo to the sender alone, and acknowledge with the same arguments.
	srv.OnEvent("message", func(s *server.Socket, args []any, ack server.Ack) {
		_ = s.Emit("message", args...)
		if ack != nil {
			ack(args...)
		}
	})
	// To every socket of "/" on every node, the sender included.
	srv.OnEvent("broadcast", func(s *server.Socket, args []any, ack server.Ack) {
		_ = srv.Emit("broadcast", args...)
		if ack != nil {
			ack()
		}
	})
	srv.OnEvent("join", func(s *server.Socket, args []any, ack server.Ack) {
		room, ok := roomArg(args)
		if !ok {
			return
		}
		s.Join(room)
		if ack != nil {
			ack(room)
		}
	})
	srv.OnEvent("leave", func(s *server.Socket, args []any, ack server.Ack) {
		room, ok := roomArg(args)
		if !ok {
			return
		}
		s.Leave(room)
		if ack != nil {
			ack(room)
		}
	})
	srv.OnEvent("to", func(s *server.Socket, args []any, ack server.Ack) {
		room, ok := roomArg(args)
		if !ok {
			return
		}
		_ = srv.To(room).Emit("broadcast", args[1:]...)
		if ack != nil {
			ack()
		}
	})
	go func() {
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				// The tick is node-local: each node times its own clients.
				_ = srv.Of("/").Local().Emit("timestamp", now.UnixMilli())
			}
		}
	}()
}

func roomArg(args []any) (string, bool) {
	if len(args) == 0 {
		return "", false
	}
	room, ok := args[0].(string)
	return room, ok
}
