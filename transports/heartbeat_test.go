package transports

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestHeartbeats: sessions' timers on the shared heap fire once each, not
// before their deadline, after any number of resets; stopped ones never.
func TestHeartbeats(t *testing.T) {
	srv := &Server{}
	const n = 300
	var (
		mu    sync.Mutex
		fired = map[*Session]time.Duration{}
	)
	sessions := make([]*Session, n)
	want := make([]time.Duration, n)
	for i := range sessions {
		sessions[i] = &Session{srv: srv}
	}
	// The timers call onTimer; here a stand-in records when.
	h := &srv.heartbeats
	onFire = func(s *Session) {
		mu.Lock()
		fired[s] = time.Since(clockStart)
		mu.Unlock()
	}
	defer func() { onFire = nil }()
	for round := 0; round < 3; round++ {
		for i, s := range sessions {
			// At least 300ms: a timer due at once would fire before the
			// loop below stops it, which stop cannot undo (CI saw it).
			d := 300*time.Millisecond + time.Duration(rand.IntN(200))*time.Millisecond
			want[i] = time.Since(clockStart) + d
			h.arm(s, d)
		}
	}
	for i := 0; i < n; i += 3 {
		h.stop(sessions[i])
	}
	time.Sleep(900 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for i, s := range sessions {
		at, ok := fired[s]
		switch {
		case i%3 == 0 && ok:
			t.Errorf("session %d stopped, fired", i)
		case i%3 != 0 && !ok:
			t.Errorf("session %d never fired", i)
		case ok && at < want[i]:
			t.Errorf("session %d fired %v early", i, want[i]-at)
		}
	}
	if len(h.heap) != 0 {
		t.Errorf("%d left in the heap", len(h.heap))
	}
}
