package admin

import (
	"context"
	"testing"
	"time"
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
