package transports

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// limiter applies the per-address bounds of Options: sessions open at
// once and handshakes per second, for each remote address.
type limiter struct {
	maxSessions int
	rate        float64 // handshakes per second; 0: no bound
	burst       float64
	trusted     []netip.Prefix
	now         func() time.Time

	mu        sync.Mutex
	sessions  map[netip.Addr]int
	buckets   map[netip.Addr]*bucket
	lastSweep time.Time
}

// bucket is a token bucket: tokens as of at.
type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(o Options) *limiter {
	l := &limiter{
		maxSessions: o.MaxSessionsPerAddr,
		rate:        o.MaxHandshakesPerSecondPerAddr,
		trusted:     o.TrustedProxies,
		now:         time.Now,
		sessions:    map[netip.Addr]int{},
		buckets:     map[netip.Addr]*bucket{},
	}
	// As many handshakes at once as one second brings, and at least one.
	l.burst = math.Max(1, math.Ceil(l.rate))
	return l
}

func (l *limiter) enabled() bool { return l.maxSessions > 0 || l.rate > 0 }

// Refusals of the per-address limits: 429 and the Node body's shape.
var (
	errTooManySessions   = &RequestError{Code: CodeBadRequest, Message: "Too many connections from this address", Status: http.StatusTooManyRequests}
	errTooManyHandshakes = &RequestError{Code: CodeBadRequest, Message: "Too many handshakes from this address", Status: http.StatusTooManyRequests}
)

// admit counts a new session of addr in, or says which bound refuses it.
func (l *limiter) admit(addr netip.Addr) *RequestError {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.maxSessions > 0 && l.sessions[addr] >= l.maxSessions {
		return errTooManySessions
	}
	if l.rate > 0 {
		now := l.now()
		l.sweep(now)
		b := l.buckets[addr]
		if b == nil {
			b = &bucket{tokens: l.burst, at: now}
			l.buckets[addr] = b
		}
		b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
		b.at = now
		if b.tokens < 1 {
			return errTooManyHandshakes
		}
		b.tokens--
	}
	if l.maxSessions > 0 {
		l.sessions[addr]++
	}
	return nil
}

// release counts a session of addr out.
func (l *limiter) release(addr netip.Addr) {
	if l.maxSessions <= 0 {
		return
	}
	l.mu.Lock()
	if n := l.sessions[addr] - 1; n > 0 {
		l.sessions[addr] = n
	} else {
		delete(l.sessions, addr)
	}
	l.mu.Unlock()
}

// sweep forgets, at most once a second, the buckets full again: the table
// holds only the addresses that handshook within the last burst/rate
// seconds. l.mu is held.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < time.Second {
		return
	}
	l.lastSweep = now
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for a, b := range l.buckets {
		if now.Sub(b.at) >= full {
			delete(l.buckets, a)
		}
	}
}

// clientAddr is the address the limits apply to: the peer's, or, when the
// peer is a trusted proxy, the last address of X-Forwarded-For that is not
// one (each proxy appends the address it got the request from). An
// X-Forwarded-For from anyone else is ignored: a client could write any.
func (l *limiter) clientAddr(r *http.Request) netip.Addr {
	peer := remoteIP(r.RemoteAddr)
	if !l.isTrusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	addr := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: trust nothing before it
		}
		addr = a.Unmap()
		if !l.isTrusted(addr) {
			break
		}
	}
	return addr
}

func (l *limiter) isTrusted(a netip.Addr) bool {
	for _, p := range l.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func remoteIP(remoteAddr string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}
