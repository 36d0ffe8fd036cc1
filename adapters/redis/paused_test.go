package redis_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/siogo/siogo/adapters/redis"
	"github.com/siogo/siogo/internal/redistest"
	"github.com/siogo/siogo/internal/siotest"
)

// TestRedisPaused hangs Redis (SIGSTOP: its sockets stay open, nothing
// answers): broadcasts are delivered here at once and never wait on Redis,
// a small publish queue drops and counts what does not fit, both nodes
// stop being ready within three health intervals, and once Redis answers
// again cross-node delivery resumes.
func TestRedisPaused(t *testing.T) {
	rs := redistest.Start(t)
	opts := redis.Options{URL: rs.URL, PublishQueue: 8, PublishTimeout: 300 * time.Millisecond, HealthCheckInterval: 200 * time.Millisecond}
	a, b := newNodeWith(t, opts), newNodeWith(t, opts)
	ca, cb := siotest.Dial(t, a.URL), siotest.Dial(t, b.URL)
	ca.Connect()
	cb.Connect()
	_ = a.srv.Emit("before")
	expect(t, ca, `42["before"]`)
	expect(t, cb, `42["before"]`)

	rs.Pause()
	paused := time.Now()
	var slowest time.Duration
	for i := 0; i < 50; i++ {
		began := time.Now()
		if err := a.srv.Emit("local", i); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(began))
		expect(t, ca, fmt.Sprintf(`42["local",%d]`, i))
	}
	// An Emit is local delivery and a queue append: microseconds, far from
	// the publish timeout a wait on Redis would cost.
	if slowest >= opts.PublishTimeout {
		t.Errorf("an Emit took %v with Redis hung: it waited on Redis", slowest)
	}
	waitFor(t, func() bool { return a.rc.Ready() != nil && b.rc.Ready() != nil })
	if d := time.Since(paused); d > 3*time.Second {
		t.Errorf("the hung Redis was noticed after %v, want about 3 health intervals (600ms)", d)
	}
	st := a.rc.Stats()
	if st.PublishDropped == 0 || st.PublishDropped+st.PublishFailures < 40 {
		t.Errorf("50 broadcasts into a queue of 8 with Redis hung: %+v", st)
	}

	rs.Resume()
	a.waitReady(t)
	b.waitReady(t)
	// Ready means this node's links answer; the subscription on the other
	// node may still be re-established a moment later, so a publish can be
	// lost in between (and is counted). Send again until one crosses, within
	// a bound, rather than wait forever on a single one.
	done := make(chan struct{})
	defer close(done)
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			_ = a.srv.Emit("after")
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	deadline := time.AfterFunc(10*time.Second, func() { t.Error("no broadcast crossed within 10s of Redis answering again") })
	defer deadline.Stop()
	for {
		if got := cb.Poll(); slices.Contains(got, `42["after"]`) {
			break
		}
	}
}
