package redisnet

import "testing"

func TestKeySlot(t *testing.T) {
	if got := crc16("123456789"); got != 0x31c3 {
		t.Fatalf("crc16 check value %#x, want 0x31c3", got)
	}
	for _, tc := range []struct {
		key  string
		slot int
	}{
		// Values from CLUSTER KEYSLOT of redis-server 7.
		{"foo", 12182},
		{"bar", 5061},
		{"", 0},
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"foo{}{bar}", 8363},
		{"foo{{bar}}zap", 4015},
		{"foo{bar}{zap}", 5061},
		{"socket.io#/#", 13868},
	} {
		if got := KeySlot(tc.key); got != tc.slot {
			t.Errorf("KeySlot(%q) = %d, want %d", tc.key, got, tc.slot)
		}
	}
}

func FuzzKeySlot(f *testing.F) {
	f.Add("socket.io#/#room#")
	f.Add("{")
	f.Add("a{b}")
	f.Fuzz(func(t *testing.T, key string) {
		if s := KeySlot(key); s < 0 || s >= NumSlots {
			t.Fatalf("slot %d", s)
		}
	})
}

func BenchmarkKeySlot(b *testing.B) {
	for b.Loop() {
		KeySlot("socket.io#/chat#some-room-name#")
	}
}
