package nodetest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"testing"
)

// Remote is a socket.io-client 4 socket in a Node.js process that the test
// steers one command at a time (test/node/sio-remote.js): for tests where
// the client must live across the servers' failures.
type Remote struct {
	t   testing.TB
	in  io.WriteCloser
	out *bufio.Scanner
	err *bytes.Buffer
}

// StartRemote starts the driver; it stops with t.
func StartRemote(t testing.TB) *Remote {
	t.Helper()
	dir := Require(t)
	cmd := exec.Command("node", "sio-remote.js")
	cmd.Dir = dir
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	r := &Remote{t: t, in: in, out: bufio.NewScanner(out), err: &bytes.Buffer{}}
	r.out.Buffer(nil, 1<<20)
	cmd.Stderr = r.err
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return r
}

// Do sends one command and decodes its answer into out (if not nil); an
// error answer fails t.
func (r *Remote) Do(cmd map[string]any, out any) {
	r.t.Helper()
	b, _ := json.Marshal(cmd)
	if _, err := r.in.Write(append(b, '\n')); err != nil {
		r.t.Fatalf("sio-remote: %v %s", err, r.err)
	}
	if !r.out.Scan() {
		r.t.Fatalf("sio-remote stopped: %s", r.err)
	}
	var e struct{ Error string }
	_ = json.Unmarshal(r.out.Bytes(), &e)
	if e.Error != "" {
		r.t.Fatalf("sio-remote, %v: %s", cmd, e.Error)
	}
	if out != nil {
		if err := json.Unmarshal(r.out.Bytes(), out); err != nil {
			r.t.Fatalf("sio-remote answered %q: %v", r.out.Bytes(), err)
		}
	}
}

// Connected is a connection of the remote socket.
type Connected struct {
	ID        string `json:"id"`
	Recovered bool   `json:"recovered"`
	PID       string `json:"pid"` // the private id that would restore the session
}

// Connect opens the socket on url (WebSocket only) and waits for it.
func (r *Remote) Connect(url string) Connected {
	r.t.Helper()
	var c Connected
	r.Do(map[string]any{"op": "connect", "url": url}, &c)
	return c
}

// ConnectAuth is Connect with auth sent in the CONNECT packet: with
// {"pid": .., "offset": ..} the socket presents a session to restore, as
// a reconnecting client does.
func (r *Remote) ConnectAuth(url string, auth map[string]any) Connected {
	r.t.Helper()
	var c Connected
	r.Do(map[string]any{"op": "connect", "url": url, "auth": auth}, &c)
	return c
}

// Disconnects returns the reasons of the socket's disconnections since the
// last call ("io server disconnect" for a server's DISCONNECT).
func (r *Remote) Disconnects() []string {
	r.t.Helper()
	var d struct{ Reasons []string }
	r.Do(map[string]any{"op": "disconnects"}, &d)
	return d.Reasons
}

// ConnectOver is Connect over one transport, "websocket" or "polling".
func (r *Remote) ConnectOver(url, transport string) Connected {
	r.t.Helper()
	var c Connected
	r.Do(map[string]any{"op": "connect", "url": url, "transport": transport}, &c)
	return c
}

// Send emits args without an acknowledgement.
func (r *Remote) Send(args ...any) {
	r.t.Helper()
	r.Do(map[string]any{"op": "send", "args": args}, nil)
}

// Answer makes the socket acknowledge each later event named event with
// args.
func (r *Remote) Answer(event string, args ...any) {
	r.t.Helper()
	r.Do(map[string]any{"op": "answer", "event": event, "args": args}, nil)
}

// WaitEvent waits for an event named event (one not waited for yet, and
// not returned by Events) and returns its arguments.
func (r *Remote) WaitEvent(event string) []any {
	r.t.Helper()
	var a struct{ Args []any }
	r.Do(map[string]any{"op": "wait-event", "event": event}, &a)
	return a.Args
}

// Disconnect calls socket.disconnect(): the client sends a DISCONNECT
// packet and does not reconnect.
func (r *Remote) Disconnect() { r.t.Helper(); r.Do(map[string]any{"op": "disconnect"}, nil) }

// WaitConnect waits for the socket's next connection.
func (r *Remote) WaitConnect() Connected {
	r.t.Helper()
	var c Connected
	r.Do(map[string]any{"op": "wait-connect"}, &c)
	return c
}

// Emit emits args with an acknowledgement and returns its arguments.
func (r *Remote) Emit(args ...any) []any {
	r.t.Helper()
	var a struct{ Ack []any }
	r.Do(map[string]any{"op": "emit", "args": args}, &a)
	return a.Ack
}

// Cut closes the connection under the socket, which then reconnects.
func (r *Remote) Cut() { r.t.Helper(); r.Do(map[string]any{"op": "cut"}, nil) }

// Events returns the events received since the last call, "timestamp"
// left out, each as [name, args...].
func (r *Remote) Events() [][]any {
	r.t.Helper()
	var ev struct{ Events [][]any }
	r.Do(map[string]any{"op": "events"}, &ev)
	return ev.Events
}
