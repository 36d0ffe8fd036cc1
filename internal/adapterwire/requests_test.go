package adapterwire

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/siogo/siogo/server"
)

var errTimedOut = errors.New("timed out")

// A request completes once every node answered; later answers are dropped.
func TestRequestsAnswered(t *testing.T) {
	r := NewRequests()
	p := &Pending{Expected: 2}
	err := r.Wait(context.Background(), "id", p, func() error {
		go func() {
			r.Answer(server.NewMemoryAdapter(nil), "id", []any{map[string]any{"id": "a"}, "junk"}, nil, false)
			r.Answer(server.NewMemoryAdapter(nil), "other", []any{map[string]any{"id": "x"}}, nil, false)
			r.Answer(server.NewMemoryAdapter(nil), "id", nil, "reply", true)
			r.Answer(server.NewMemoryAdapter(nil), "id", []any{map[string]any{"id": "late"}}, nil, false)
		}()
		return nil
	}, time.Minute, func(int, int) error { return errTimedOut })
	if err != nil || len(p.Sockets) != 1 || p.Sockets[0].ID != "a" || len(p.Answers) != 1 || p.Answers[0] != "reply" {
		t.Fatalf("%v %+v", err, p)
	}
}

// On the timeout, the adapter's error gets the count of answers.
func TestRequestsTimeout(t *testing.T) {
	r := NewRequests()
	p := &Pending{Expected: 3}
	var got [2]int
	err := r.Wait(context.Background(), "id", p, func() error {
		r.Answer(server.NewMemoryAdapter(nil), "id", nil, 1, true)
		return nil
	}, 10*time.Millisecond, func(answered, expected int) error {
		got = [2]int{answered, expected}
		return errTimedOut
	})
	if err != errTimedOut || got != [2]int{1, 3} {
		t.Fatalf("%v %v", err, got)
	}
	r.Answer(server.NewMemoryAdapter(nil), "id", nil, 2, true) // after the end: dropped
	if len(p.Answers) != 1 {
		t.Fatal(p.Answers)
	}
}

func TestRequestsPublishErrorAndContext(t *testing.T) {
	r := NewRequests()
	boom := errors.New("boom")
	if err := r.Wait(context.Background(), "a", &Pending{Expected: 1}, func() error { return boom }, time.Minute, nil); err != boom {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Wait(ctx, "b", &Pending{Expected: 1}, func() error { return nil }, time.Minute, nil); err != context.Canceled {
		t.Fatal(err)
	}
}

// A broadcast's acks are kept for its timeout, then forgotten.
func TestAcks(t *testing.T) {
	r := NewRequests()
	var n int
	r.AddAck("id", func(c int) { n = c }, func([]any) {}, 20*time.Millisecond)
	ap := r.Ack("id")
	if ap == nil || r.Ack("other") != nil {
		t.Fatal("ack not found")
	}
	ap.ClientCount(4)
	if n != 4 {
		t.Fatal(n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Ack("id") != nil {
		if time.Now().After(deadline) {
			t.Fatal("ack kept after its timeout")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOnceAck(t *testing.T) {
	var got []any
	ack := OnceAck(func(arg any) { got = append(got, arg) })
	ack("a", "b")
	ack("c")
	if len(got) != 1 || got[0] != "a" {
		t.Fatal(got)
	}
	ack = OnceAck(func(arg any) { got = append(got, arg) })
	ack()
	if len(got) != 2 || got[1] != nil || FirstArg(nil) != nil {
		t.Fatal(got)
	}
}
