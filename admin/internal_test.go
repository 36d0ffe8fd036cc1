package admin

import (
	"bytes"
	"context"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/siogo/siogo/server"
)

func TestMemoryStoreBounds(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryStore(time.Hour, 3)
	for _, id := range []string{"a", "b", "c", "d"} {
		if err := m.SaveSession(ctx, id); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if ok, _ := m.SessionExists(ctx, "a"); ok {
		t.Error("the oldest session stayed past the bound")
	}
	for _, id := range []string{"b", "c", "d"} {
		if ok, _ := m.SessionExists(ctx, id); !ok {
			t.Errorf("session %s lost", id)
		}
	}
	short := NewMemoryStore(time.Millisecond, 0)
	_ = short.SaveSession(ctx, "x")
	time.Sleep(5 * time.Millisecond)
	if ok, _ := short.SessionExists(ctx, "x"); ok {
		t.Error("an expired session is still accepted")
	}
}

func TestEventBuffer(t *testing.T) {
	b := newEventBuffer()
	b.push("rawConnection", "", 1)
	b.push("rawConnection", "", 2)
	b.push("rawDisconnection", "transport close", 1)
	got := b.take()
	if len(got) != 2 {
		t.Fatalf("%v", got)
	}
	first := got[0].(map[string]any)
	if first["type"] != "rawConnection" || first["count"] != 3 || first["subType"] != nil {
		t.Errorf("%v", first)
	}
	if second := got[1].(map[string]any); second["subType"] != "transport close" {
		t.Errorf("%v", second)
	}
	if len(b.take()) != 0 {
		t.Error("take did not clear")
	}
	for i := 0; i < maxBuckets+10; i++ {
		b.push("rawDisconnection", string(rune('a'+i%26))+string(rune(i)), 1)
	}
	if n := len(b.take()); n != maxBuckets {
		t.Errorf("%d buckets, bound %d", n, maxBuckets)
	}
}

// TestCheckPasswordTellsNothing: a wrong username costs a bcrypt check as
// a wrong password does, against a hash of the same cost, so that the
// time of a refusal does not tell whether the username was right (the
// username was compared first: 2 ms when wrong, 52 ms when right).
func TestCheckPasswordTellsNothing(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost+1)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := Instrument(srv, Options{Auth: &BasicAuth{Username: "admin", PasswordHash: string(hash)}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if cost, _ := bcrypt.Cost(a.decoy); cost != bcrypt.MinCost+1 {
		t.Errorf("the decoy's cost is %d, the hash's %d", cost, bcrypt.MinCost+1)
	}
	var checked [][]byte
	compareHash = func(h, p []byte) error {
		checked = append(checked, h)
		return bcrypt.CompareHashAndPassword(h, p)
	}
	defer func() { compareHash = bcrypt.CompareHashAndPassword }()
	for _, c := range []struct {
		user, pass string
		ok         bool
		against    []byte
	}{
		{"admin", "s3cret", true, hash},
		{"admin", "wrong", false, hash},
		{"nobody", "s3cret", false, a.decoy},
		{"admi", "", false, a.decoy},
		{"", "", false, a.decoy},
	} {
		checked = nil
		if got := a.checkPassword(c.user, c.pass); got != c.ok {
			t.Errorf("%q/%q: %v", c.user, c.pass, got)
		}
		if len(checked) != 1 || !bytes.Equal(checked[0], c.against) {
			t.Errorf("%q/%q: %d bcrypt checks", c.user, c.pass, len(checked))
		}
	}
}

func TestFailuresTable(t *testing.T) {
	f := newFailures[string](time.Minute, 3)
	t0 := time.Unix(1000, 0)
	for i, k := range []string{"a", "a", "b", "c"} {
		f.add(k, t0.Add(time.Duration(i)*time.Second))
	}
	if n, until := f.count("a", t0.Add(10*time.Second)); n != 2 || !until.Equal(t0.Add(time.Minute)) {
		t.Errorf("a: %d until %v", n, until)
	}
	// Full: the oldest window (a's) goes for a newcomer.
	f.add("d", t0.Add(20*time.Second))
	if n, _ := f.count("a", t0.Add(20*time.Second)); n != 0 || f.len() != 3 {
		t.Errorf("a kept past the bound: %d, %d keys", n, f.len())
	}
	// A window ends a minute after its first failure.
	if n, _ := f.count("b", t0.Add(62*time.Second)); n != 0 {
		t.Errorf("b's window did not end: %d", n)
	}
	if f.add("b", t0.Add(62*time.Second)) != 1 {
		t.Error("a new window does not start at one")
	}
	f.sweep(t0.Add(200 * time.Second))
	if f.len() != 0 {
		t.Errorf("%d keys after the sweep", f.len())
	}
}
