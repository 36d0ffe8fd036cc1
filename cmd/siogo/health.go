package main

import (
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// readyLogEvery is how often at most /readyz logs why a check fails,
// while it goes on failing: a balancer polls it every second or so.
const readyLogEvery = 30 * time.Second

// readiness answers /readyz: 503 while draining or while the adapter's
// check fails, naming the check but not why; the why (an error that
// names internal addresses) goes to the log, at most once per
// readyLogEvery while the failure lasts, and once when it ends.
func readiness(draining *atomic.Bool, adapterReady func() error, log *slog.Logger) http.HandlerFunc {
	rl := &rateLog{every: readyLogEvery, now: time.Now}
	return func(w http.ResponseWriter, _ *http.Request) {
		if draining.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		if err := adapterReady(); err != nil {
			rl.failed(log, "adapter", err)
			http.Error(w, "adapter not ready", http.StatusServiceUnavailable)
			return
		}
		rl.ok(log, "adapter")
		_, _ = w.Write([]byte("ok\n"))
	}
}

// rateLog logs a failing check's reason at most once per every, with the
// count of the failures it did not log.
type rateLog struct {
	every time.Duration
	now   func() time.Time

	mu         sync.Mutex
	failing    bool
	last       time.Time
	suppressed int
}

func (l *rateLog) failed(log *slog.Logger, check string, err error) {
	l.mu.Lock()
	now := l.now()
	if l.failing && now.Sub(l.last) < l.every {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	repeated := l.suppressed
	l.failing, l.last, l.suppressed = true, now, 0
	l.mu.Unlock()
	log.Warn("not ready", "check", check, "err", err, "unlogged_failures", repeated)
}

func (l *rateLog) ok(log *slog.Logger, check string) {
	l.mu.Lock()
	was := l.failing
	l.failing, l.suppressed = false, 0
	l.mu.Unlock()
	if was {
		log.Info("ready again", "check", check)
	}
}
