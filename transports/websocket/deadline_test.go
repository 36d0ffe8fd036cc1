package websocket

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// TestClearReadDeadlineSetLate plays the order that closed WebSockets 120 s
// after their accept: the handler clears the connection's read deadline,
// then nbhttp's accepting loop sets its keep-alive deadline. A connection
// marked Handing keeps no deadline once Handed; one that is not (the
// control) is closed by the late deadline, as before the fix.
func TestClearReadDeadlineSetLate(t *testing.T) {
	s, err := NewServer(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	for _, marked := range []bool{true, false} {
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		raw, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		nbc, err := TransferConn(raw)
		if err != nil {
			t.Fatal(err)
		}
		if marked {
			Handing(nbc) // the listener, as it hands nbc over
		}
		if err := s.engine.AddTransferredConn(nbc); err != nil {
			t.Fatal(err)
		}
		ClearReadDeadline(nbc)                                          // the handler: upgraded
		_ = nbc.SetReadDeadline(time.Now().Add(100 * time.Millisecond)) // the accepting loop, late
		if marked {
			Handed(nbc) // the listener's next Accept
		}
		_ = client.SetReadDeadline(time.Now().Add(600 * time.Millisecond))
		_, err = client.Read(make([]byte, 1))
		timedOut := errors.Is(err, os.ErrDeadlineExceeded)
		switch {
		case marked && !timedOut:
			t.Errorf("marked Handing: the late deadline closed the connection (%v)", err)
		case !marked && !errors.Is(err, io.EOF):
			t.Errorf("control: want the late deadline to close the connection (EOF), got %v", err)
		}
		_ = client.Close()
		_ = nbc.Close()
	}
	if n := countHanding(); n != 0 {
		t.Errorf("%d connections left in the handing registry", n)
	}
}

func countHanding() int {
	handingMu.Lock()
	defer handingMu.Unlock()
	return len(handing)
}
