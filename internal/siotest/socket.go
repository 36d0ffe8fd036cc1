package siotest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Socket is a Socket.IO client (protocol 5, over long-polling) that speaks
// as an application does: events and acknowledgements both ways, a
// namespace, an auth payload. It stands in for socket.io-client in
// examples and tests that have no browser at hand. Arguments are JSON:
// binary attachments are not supported.
type Socket struct {
	// ID is the socket's id, from the server's CONNECT.
	ID string

	poll   *Polling
	prefix string // the namespace's part of each packet: "" or "/chat,"

	mu     sync.Mutex
	acks   map[uint64]chan []any
	nextID uint64
	events []Event
	wake   chan struct{} // closed and replaced when an event comes or the socket ends
	err    error         // why the socket ended, once it has
}

// Event is an event the server sent.
type Event struct {
	Name string
	Args []any
	ack  func(args ...any) error
}

// Ack answers the event when the server waits for an answer; otherwise it
// does nothing.
func (e Event) Ack(args ...any) error {
	if e.ack == nil {
		return nil
	}
	return e.ack(args...)
}

// ConnectError is the server's refusal of a connection (connect_error).
type ConnectError struct {
	Message string
	Data    any
}

func (e *ConnectError) Error() string { return "siotest: connection refused: " + e.Message }

// ErrConnClosed is what a Socket returns once its connection has ended.
var ErrConnClosed = errors.New("siotest: connection closed")

var pollClient = &http.Client{Timeout: 40 * time.Second}

// Connect opens a connection to the server at base (http://host:port, path
// /socket.io/) and joins namespace nsp ("/" for the root one) with auth
// (nil for none).
func Connect(base, nsp string, auth any) (*Socket, error) {
	body, err := do(pollClient, "GET", base+"/socket.io/?EIO=4&transport=polling", "")
	if err != nil {
		return nil, err
	}
	m := sidRe.FindStringSubmatch(body)
	if m == nil {
		return nil, fmt.Errorf("siotest: handshake answered %q", body)
	}
	s := &Socket{
		poll: &Polling{HTTP: pollClient, URL: base + "/socket.io/?EIO=4&transport=polling&sid=" + m[1], SID: m[1]},
		acks: map[uint64]chan []any{},
		wake: make(chan struct{}),
	}
	if nsp != "" && nsp != "/" {
		s.prefix = nsp + ","
	}
	connect := "40" + s.prefix
	if auth != nil {
		b, err := json.Marshal(auth)
		if err != nil {
			return nil, err
		}
		connect += string(b)
	}
	if err := s.poll.Send(connect); err != nil {
		return nil, err
	}
	got, err := s.poll.Poll()
	if err != nil {
		return nil, err
	}
	var answer struct {
		SID     string `json:"sid"`
		Message string `json:"message"`
		Data    any    `json:"data"`
	}
	switch first := got[0]; {
	case strings.HasPrefix(first, "40"+s.prefix+"{"):
		_ = json.Unmarshal([]byte(first[len("40"+s.prefix):]), &answer)
		s.ID = answer.SID
	case strings.HasPrefix(first, "44"+s.prefix+"{"):
		_ = json.Unmarshal([]byte(first[len("44"+s.prefix):]), &answer)
		_ = s.poll.Send("1")
		return nil, &ConnectError{Message: answer.Message, Data: answer.Data}
	default:
		return nil, fmt.Errorf("siotest: connect answered %q", got)
	}
	for _, p := range got[1:] {
		s.handle(p)
	}
	go s.run()
	return s, nil
}

// run polls until the connection ends.
func (s *Socket) run() {
	for {
		pkts, err := s.poll.Poll()
		if err != nil {
			s.end(err)
			return
		}
		for _, p := range pkts {
			if !s.handle(p) {
				return
			}
		}
	}
}

// handle takes one packet; it reports false once the connection ended.
func (s *Socket) handle(p string) bool {
	switch {
	case p == "6": // noop
		return true
	case len(p) < 2 || p[0] != '4':
		// A close packet, or an error body: the session is gone.
		s.end(ErrConnClosed)
		return false
	}
	typ, rest := p[1], p[2:]
	if strings.HasPrefix(rest, "/") {
		nsp, after, _ := strings.Cut(rest, ",")
		if nsp+"," != s.prefix {
			return true
		}
		rest = after
	} else if s.prefix != "" {
		return true
	}
	digits := 0
	for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' {
		digits++
	}
	id, hasID := uint64(0), digits > 0
	if hasID {
		id, _ = strconv.ParseUint(rest[:digits], 10, 64)
	}
	var data []any
	_ = json.Unmarshal([]byte(rest[digits:]), &data)
	switch typ {
	case '2': // EVENT
		if len(data) == 0 {
			return true
		}
		name, _ := data[0].(string)
		ev := Event{Name: name, Args: data[1:]}
		if hasID {
			ev.ack = func(args ...any) error {
				if args == nil {
					args = []any{}
				}
				return s.send("3", strconv.FormatUint(id, 10), args)
			}
		}
		s.mu.Lock()
		s.events = append(s.events, ev)
		s.signal()
		s.mu.Unlock()
	case '3': // ACK
		s.mu.Lock()
		ch := s.acks[id]
		delete(s.acks, id)
		s.mu.Unlock()
		if ch != nil {
			ch <- data
		}
	case '1': // DISCONNECT
		s.end(fmt.Errorf("%w: server namespace disconnect", ErrConnClosed))
		return false
	}
	return true
}

// signal wakes the waiters; s.mu is held.
func (s *Socket) signal() {
	close(s.wake)
	s.wake = make(chan struct{})
}

func (s *Socket) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
		s.signal()
	}
}

func (s *Socket) send(typ, id string, data []any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	return s.poll.Send("4" + typ + s.prefix + id + string(b))
}

// Emit sends an event.
func (s *Socket) Emit(event string, args ...any) error {
	return s.send("2", "", append([]any{event}, args...))
}

// EmitWithAck sends an event and waits for the server's acknowledgement,
// or for ctx; it fails once the connection has ended.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) ([]any, error) {
	ch := make(chan []any, 1)
	s.mu.Lock()
	id := s.nextID
	s.nextID++
	s.acks[id] = ch
	s.mu.Unlock()
	if err := s.send("2", strconv.FormatUint(id, 10), append([]any{event}, args...)); err != nil {
		return nil, err
	}
	for {
		s.mu.Lock()
		err, wake := s.err, s.wake
		s.mu.Unlock()
		select {
		case a := <-ch:
			return a, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		default:
		}
		if err != nil {
			return nil, err // the connection ended before the answer
		}
		select {
		case a := <-ch:
			return a, nil
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Next returns the next event the server sent, or the error that ended
// the connection once every event before was taken.
func (s *Socket) Next(ctx context.Context) (Event, error) {
	for {
		s.mu.Lock()
		if len(s.events) > 0 {
			ev := s.events[0]
			s.events = s.events[1:]
			s.mu.Unlock()
			return ev, nil
		}
		err, wake := s.err, s.wake
		s.mu.Unlock()
		if err != nil {
			return Event{}, err
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// Disconnect leaves the namespace (a DISCONNECT packet) and closes the
// connection, as socket.io-client's disconnect() does for its last socket.
func (s *Socket) Disconnect() error {
	err := s.poll.Send("41" + s.prefix)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close closes the connection (an Engine.IO close packet).
func (s *Socket) Close() error {
	s.mu.Lock()
	done := s.err != nil
	s.mu.Unlock()
	if done {
		return nil
	}
	return s.poll.Send("1")
}
