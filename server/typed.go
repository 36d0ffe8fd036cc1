package server

// Typed events: a handler that declares the types of its argument and of
// its answer, decoded and encoded by siogo, beside the untyped Handler.
// They are SocketHandlers, so they go wherever one goes (Server.OnEvent,
// Namespace.OnEvent, Socket.OnEvent) with the same HandlerOptions.

// Typed makes a handler of an event with one argument, decoded into In,
// and an answer: f's Out is the acknowledgement's one argument, or, when f
// returns an error, the client receives what Options.ErrorAck makes of it
// (by default {"error": err.Error()}). A client whose argument does not
// decode gets the same for an *ArgumentError, and f is not called. In may
// be any type encoding/json decodes into (a struct by its json tags,
// []byte for binary); a missing argument leaves In's zero value, as null
// does. More arguments than one are left out: DecodeArgs reads several.
//
//	type Message struct {
//		Room string `json:"room"`
//		Text string `json:"text"`
//	}
//
//	srv.OnEvent("message", server.Typed(func(s *server.Socket, m Message) (int, error) {
//		if m.Text == "" {
//			return 0, errors.New("empty message")
//		}
//		return len(m.Text), s.To(m.Room).Emit("message", m)
//	}))
func Typed[In, Out any](f func(s *Socket, in In) (Out, error)) SocketHandler {
	return func(s *Socket, args []any, ack Ack) {
		var in In
		if err := decodeFirst(args, &in); err != nil {
			s.failEvent(ack, err)
			return
		}
		out, err := f(s, in)
		switch {
		case err != nil:
			s.failEvent(ack, err)
		case ack != nil:
			_ = ack(out)
		}
	}
}

// TypedNoAck makes a handler of an event with one argument, decoded into
// In, and no answer. A client whose argument does not decode is told by
// Options.ErrorAck if it waits for an answer, and f is not called.
//
//	srv.OnEvent("typing", server.TypedNoAck(func(s *server.Socket, room string) {
//		_ = s.To(room).Emit("typing", s.ID())
//	}))
func TypedNoAck[In any](f func(s *Socket, in In)) SocketHandler {
	return func(s *Socket, args []any, ack Ack) {
		var in In
		if err := decodeFirst(args, &in); err != nil {
			s.failEvent(ack, err)
			return
		}
		f(s, in)
	}
}

func decodeFirst(args []any, dst any) error {
	var v any
	if len(args) > 0 {
		v = args[0]
	}
	return decodeArg(0, v, dst)
}

// AckAs decodes the first argument of an acknowledgement into T; it takes
// what EmitWithAck returns, and returns its error as it is:
//
//	type Receipt struct {
//		Read bool `json:"read"`
//	}
//	r, err := server.AckAs[Receipt](s.EmitWithAck(ctx, "deliver", msg))
//
// A missing argument gives T's zero value; one that does not decode, an
// *ArgumentError.
func AckAs[T any](args []any, err error) (T, error) {
	var out T
	if err != nil {
		return out, err
	}
	return out, decodeFirst(args, &out)
}

// AcksAs decodes the answers of a broadcast's EmitWithAck (the first
// argument of each client's acknowledgement) into Ts. When the wait ended
// first it returns the answers that came with the wait's error; an answer
// that does not decode is an *ArgumentError whose Index is its position.
//
//	votes, err := server.AcksAs[int](srv.Timeout(5*time.Second).EmitWithAck(ctx, "vote"))
func AcksAs[T any](answers []any, err error) ([]T, error) {
	out := make([]T, len(answers))
	for i, a := range answers {
		if derr := decodeArg(i, a, &out[i]); derr != nil {
			return out[:i], derr
		}
	}
	return out, err
}
