package admin

import (
	"sync"
	"time"
)

// LoginLimits bound the attempts to log in with BasicAuth, which Node's
// instrument leaves unbounded. A zero field takes its default, a negative
// one turns its bound off. The counts are this node's: in a cluster each
// node counts the attempts it receives.
type LoginLimits struct {
	// PerConnection is how many refused logins one connection may make:
	// the last refusal closes it. Default 3 (the UI opens a connection
	// per attempt).
	PerConnection int
	// PerAddress is how many failed logins (a username or a password
	// given, and wrong) one client address may make within Window; past
	// it, every login from that address is refused
	// (ErrTooManyFailures), right or wrong, until the window that began
	// with its first failure ends. A session id the UI was given still
	// logs in. The address is transports.Session.ClientAddr: the peer's,
	// or the client's that a trusted proxy names (behind a proxy that is
	// not trusted, every client shares the proxy's address). Default 10.
	PerAddress int
	// Window is the time over which PerAddress counts. Default 15 minutes.
	Window time.Duration
	// Addresses bounds the addresses remembered, and the connections: past
	// it, the one whose window began first is forgotten. Default 10000,
	// for a negative value too.
	Addresses int
	// MaxPayload bounds, in bytes, what a connection that asks to log in
	// may send until it is logged in: each message, and those that wait
	// for the password's check, together (transports.Session.LimitInbound);
	// past it the connection closes. The login itself is a few dozen
	// bytes. A connection refused keeps the bound, for its other
	// namespaces too (the UI uses a connection of its own). Default 8192.
	MaxPayload int
}

func (l LoginLimits) withDefaults() LoginLimits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.PerConnection, 3)
	def(&l.PerAddress, 10)
	if l.Addresses <= 0 {
		l.Addresses = 10000
	}
	def(&l.MaxPayload, 8192)
	if l.Window <= 0 {
		l.Window = 15 * time.Minute
	}
	return l
}

// failures counts failures per key over a window that begins with the
// key's first failure, for at most cap keys.
type failures[K comparable] struct {
	window time.Duration
	cap    int

	mu sync.Mutex
	m  map[K]*failure
}

type failure struct {
	n     int
	start time.Time
}

func newFailures[K comparable](window time.Duration, cap int) *failures[K] {
	return &failures[K]{window: window, cap: cap, m: map[K]*failure{}}
}

// count is k's failures within its window, and when that window ends.
func (f *failures[K]) count(k K, now time.Time) (int, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.m[k]
	if e == nil || now.Sub(e.start) >= f.window {
		return 0, time.Time{}
	}
	return e.n, e.start.Add(f.window)
}

// add counts a failure of k and returns its failures within the window.
func (f *failures[K]) add(k K, now time.Time) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.m[k]
	if e != nil && now.Sub(e.start) >= f.window {
		e = nil
	}
	if e == nil {
		if len(f.m) >= f.cap {
			f.sweepLocked(now)
		}
		if len(f.m) >= f.cap {
			f.evictOldestLocked()
		}
		e = &failure{start: now}
		f.m[k] = e
	}
	e.n++
	return e.n
}

// forget drops k's failures (a login that succeeded).
func (f *failures[K]) forget(k K) {
	f.mu.Lock()
	delete(f.m, k)
	f.mu.Unlock()
}

// sweep drops the keys whose window has ended.
func (f *failures[K]) sweep(now time.Time) {
	f.mu.Lock()
	f.sweepLocked(now)
	f.mu.Unlock()
}

func (f *failures[K]) sweepLocked(now time.Time) {
	for k, e := range f.m {
		if now.Sub(e.start) >= f.window {
			delete(f.m, k)
		}
	}
}

func (f *failures[K]) evictOldestLocked() {
	var (
		oldest K
		first  time.Time
		found  bool
	)
	for k, e := range f.m {
		if !found || e.start.Before(first) {
			oldest, first, found = k, e.start, true
		}
	}
	if found {
		delete(f.m, oldest)
	}
}

func (f *failures[K]) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.m)
}
