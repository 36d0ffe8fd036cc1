package redisnet

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/siogo/siogo/internal/redisping"
)

// SubConfig is what Subscriptions need of their adapter.
type SubConfig struct {
	// Name prefixes logs: "redis adapter", "redisstreams".
	Name string
	// URL is the adapter's, for logs (credentials hidden).
	URL string
	// Addr is the single server's host:port (the links' address, and what
	// logs name); unused on a cluster.
	Addr string
	// Sharded subscribes with SSUBSCRIBE, each channel on its slot's shard.
	Sharded bool
	// Cluster is the Redis Cluster, nil for a single server.
	Cluster *Cluster
	// Dial opens a subscription connection to addr (Addr for the single
	// server) whose reads may wait LinkTimeout.
	Dial func(addr string, readTimeout time.Duration) (redis.Conn, error)
	// Dispatch receives every message (pattern "" unless a pattern's).
	Dispatch func(channel, pattern string, data []byte)
	// HealthCheckInterval is how often a link is pinged; silence for three
	// of them means it is lost.
	HealthCheckInterval time.Duration
	// ErrNotConnected is what Ready wraps while a channel is not confirmed.
	ErrNotConnected error
	Log             *slog.Logger
	Counters        *Counters
}

// Subscriptions keep the node subscribed: the channels and patterns the
// adapters asked for, the links (subscription connections) that carry
// them, and a loop that reconciles the two whenever either changes. A link
// is one connection to one address: the single server, the home node of
// the classic mode on a cluster, or a shard's master in the sharded mode.
// Messages go from a link's reader straight to the adapters; the loop only
// moves subscriptions: after a subscribe, a lost link, a MOVED answer, or a
// slot moved (the server's own SUNSUBSCRIBE).
type Subscriptions struct {
	c SubConfig

	mu       sync.Mutex
	channels map[string]any // the handler of each, as Set was given it
	patterns map[string]any
	links    map[string]*link // by address
	known    map[string]bool  // channels subscribed once: a later subscribe is a resubscribe
	lastErr  error
	up       bool // every channel confirmed, as last logged
	// downSince is when the current outage began; warned tells that it
	// was logged: one warning per outage, the retries at debug level.
	downSince time.Time
	warned    bool

	// Backoffs: a failed address is not dialled again, nor asked to
	// subscribe again after an error, before its time; a failed reading
	// of the slot map delays everything. A shard in failover thus does not
	// hold back the subscriptions of the others.
	backoffs map[string]*backoff // by address
	global   backoff

	closed  bool
	kick    chan struct{}
	done    chan struct{}
	stopped chan struct{}
}

// link is one subscription connection. Its maps are guarded by
// subscriptions.mu: sent is what was asked of the server, confirmed what
// it acknowledged.
type link struct {
	addr                  string
	conn                  redis.Conn // nil while dialling
	wmu                   sync.Mutex // one writer at a time
	sent, psent           map[string]bool
	confirmed, pconfirmed map[string]bool
	retired               bool // dropped by the loop: its end is no loss
}

const (
	// HealthChannel is subscribed on every node: its confirmation tells
	// that the subscription works even before any namespace exists.
	HealthChannel = "siogo-health"
	minBackoff    = 100 * time.Millisecond
	// maxBackoff is low: redialling a refused port costs little, and a
	// Redis that restarts must be found again within a second, cross-node
	// delivery being down until then.
	maxBackoff = 500 * time.Millisecond
)

// backoff is an exponential backoff, from minBackoff to maxBackoff.
type backoff struct {
	next  time.Duration
	until time.Time
}

// fail pushes the backoff on and returns how long it holds.
func (b *backoff) fail(now time.Time) time.Duration {
	if b.next < minBackoff {
		b.next = minBackoff
	}
	d := b.next
	b.until = now.Add(d)
	if b.next *= 2; b.next > maxBackoff {
		b.next = maxBackoff
	}
	return d
}

func (b *backoff) wait(now time.Time) time.Duration {
	if b == nil {
		return 0
	}
	return max(0, b.until.Sub(now))
}

// soonest is the smaller positive of two waits.
func soonest(a, b time.Duration) time.Duration {
	if a == 0 || (b > 0 && b < a) {
		return b
	}
	return a
}

// NewSubscriptions starts the loop that keeps cfg's channels subscribed;
// Close stops it.
func NewSubscriptions(cfg SubConfig) *Subscriptions {
	s := &Subscriptions{}
	if cfg.Counters == nil {
		cfg.Counters = &Counters{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.HealthCheckInterval <= 0 {
		cfg.HealthCheckInterval = time.Second
	}
	if cfg.ErrNotConnected == nil {
		cfg.ErrNotConnected = errors.New(cfg.Name + ": not subscribed")
	}
	s.c = cfg
	s.channels = map[string]any{HealthChannel: nil}
	s.patterns = map[string]any{}
	s.links = map[string]*link{}
	s.known = map[string]bool{}
	s.backoffs = map[string]*backoff{}
	s.kick = make(chan struct{}, 1)
	s.done = make(chan struct{})
	s.stopped = make(chan struct{})
	go s.run()
	return s
}

// linkTimeout is how long a link may stay silent, pinged every
// HealthCheckInterval, before it is taken as lost.
func (s *Subscriptions) linkTimeout() time.Duration { return 3 * s.c.HealthCheckInterval }

func (s *Subscriptions) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Set subscribes channels and patterns for h (what Handler returns for
// them), or unsubscribes them when h is nil.
func (s *Subscriptions) Set(h any, channels, patterns []string) {
	s.mu.Lock()
	for _, ch := range channels {
		if h != nil {
			s.channels[ch] = h
		} else if ch != HealthChannel {
			delete(s.channels, ch)
			delete(s.known, ch)
		}
	}
	for _, p := range patterns {
		if h != nil {
			s.patterns[p] = h
		} else {
			delete(s.patterns, p)
		}
	}
	s.mu.Unlock()
	s.poke()
}

// Handler is what Set was given for channel, or for pattern if not "".
func (s *Subscriptions) Handler(channel, pattern string) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pattern != "" {
		return s.patterns[pattern]
	}
	return s.channels[channel]
}

// Ready is nil when every channel and pattern is confirmed on a link.
func (s *Subscriptions) Ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readyLocked() {
		return nil
	}
	if s.lastErr != nil {
		return fmt.Errorf("%w: %v", s.c.ErrNotConnected, s.lastErr)
	}
	return s.c.ErrNotConnected
}

func (s *Subscriptions) readyLocked() bool {
	if s.closed {
		return false
	}
outer:
	for ch := range s.channels {
		for _, l := range s.links {
			if l.confirmed[ch] {
				continue outer
			}
		}
		return false
	}
outerP:
	for p := range s.patterns {
		for _, l := range s.links {
			if l.pconfirmed[p] {
				continue outerP
			}
		}
		return false
	}
	return true
}

// Close stops the loop and every link; false if already closed.
func (s *Subscriptions) Close() bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.closed = true
	close(s.done)
	var conns []redis.Conn
	for _, l := range s.links {
		l.retired = true
		if l.conn != nil {
			conns = append(conns, l.conn)
		}
	}
	s.mu.Unlock()
	for _, conn := range conns {
		_ = conn.Close()
	}
	<-s.stopped
	return true
}

// run reconciles on every kick, and again after the backoff while
// something is missing.
func (s *Subscriptions) run() {
	defer close(s.stopped)
	var retry <-chan time.Time
	s.poke()
	for {
		select {
		case <-s.done:
			return
		case <-s.kick:
		case <-retry:
		}
		retry = nil
		if wait := s.reconcile(); wait > 0 {
			retry = time.After(wait)
		}
	}
}

// route is the address of a channel's link, and false while a cluster's
// map does not say.
func (s *Subscriptions) route(channel string) (string, bool) {
	if s.c.Cluster == nil {
		return s.c.Addr, true
	}
	addr := s.c.Cluster.Route(s.c.Sharded, channel)
	return addr, addr != ""
}

type linkPlan struct {
	l                        *link
	sub, unsub, psub, punsub []string
}

// reconcile brings the links in line with the channels; it returns how
// long to wait before trying again, 0 when all is in place.
func (s *Subscriptions) reconcile() time.Duration {
	now := time.Now()
	s.mu.Lock()
	wait := s.global.wait(now)
	s.mu.Unlock()
	if wait > 0 {
		return wait
	}
	if cl := s.c.Cluster; cl != nil && cl.IsStale() {
		if err := cl.Refresh(now); err != nil {
			s.mu.Lock()
			s.lastErr = err
			d := s.global.fail(now)
			s.mu.Unlock()
			s.c.Log.Warn(s.c.Name+": cannot read the cluster's slot map; retrying", "seeds", cl.target.Where(), "err", err, "in", d)
			return d
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0
	}
	var retry time.Duration
	want := map[string]map[string]bool{}
	pwant := map[string]map[string]bool{}
	for ch := range s.channels {
		addr, ok := s.route(ch)
		if !ok {
			retry = minBackoff
			continue
		}
		if want[addr] == nil {
			want[addr] = map[string]bool{}
		}
		want[addr][ch] = true
	}
	for p := range s.patterns {
		addr, ok := s.route(p) // patterns exist in the classic mode: the home node
		if !ok {
			retry = minBackoff
			continue
		}
		if pwant[addr] == nil {
			pwant[addr] = map[string]bool{}
		}
		pwant[addr][p] = true
	}
	var retire []redis.Conn
	for addr, l := range s.links {
		if want[addr] == nil && pwant[addr] == nil {
			l.retired = true
			delete(s.links, addr)
			if l.conn != nil {
				retire = append(retire, l.conn)
			}
		}
	}
	for _, m := range []map[string]map[string]bool{want, pwant} {
		for addr := range m {
			if w := s.backoffs[addr].wait(now); s.links[addr] == nil && w > 0 {
				retry = soonest(retry, w)
			} else if s.links[addr] == nil {
				l := &link{addr: addr, sent: map[string]bool{}, psent: map[string]bool{},
					confirmed: map[string]bool{}, pconfirmed: map[string]bool{}}
				s.links[addr] = l
				go s.serve(l)
			}
		}
	}
	var plans []linkPlan
	for addr, l := range s.links {
		if l.conn == nil {
			continue // it asks for everything once connected
		}
		if w := s.backoffs[addr].wait(now); w > 0 {
			retry = soonest(retry, w) // refused lately: ask again later
			continue
		}
		p := linkPlan{l: l}
		p.sub, p.unsub = s.diff(l.sent, want[addr])
		p.psub, p.punsub = s.diff(l.psent, pwant[addr])
		if len(p.sub)+len(p.unsub)+len(p.psub)+len(p.punsub) > 0 {
			plans = append(plans, p)
		}
	}
	s.mu.Unlock()
	for _, conn := range retire {
		_ = conn.Close()
	}
	for _, p := range plans {
		if err := s.send(p); err != nil {
			_ = p.l.conn.Close() // its reader reports the loss
		}
	}
	return retry
}

// diff updates sent to want and returns what to subscribe and unsubscribe.
// s.mu is held.
func (s *Subscriptions) diff(sent, want map[string]bool) (sub, unsub []string) {
	for ch := range want {
		if !sent[ch] {
			sent[ch] = true
			sub = append(sub, ch)
			if s.known[ch] {
				s.c.Counters.Resubscribes.Add(1)
			}
		}
	}
	for ch := range sent {
		if !want[ch] {
			delete(sent, ch)
			unsub = append(unsub, ch)
		}
	}
	return sub, unsub
}

// send writes a plan's commands. Sharded commands go one slot at a time:
// a cluster refuses channels of several slots in one SSUBSCRIBE.
func (s *Subscriptions) send(p linkPlan) error {
	l := p.l
	l.wmu.Lock()
	defer l.wmu.Unlock()
	cmd, ucmd := "SUBSCRIBE", "UNSUBSCRIBE"
	if s.c.Sharded {
		cmd, ucmd = "SSUBSCRIBE", "SUNSUBSCRIBE"
	}
	write := func(cmd string, names []string, bySlot bool) error {
		if len(names) == 0 {
			return nil
		}
		if !bySlot {
			return l.conn.Send(cmd, redis.Args{}.AddFlat(names)...)
		}
		groups := map[int][]string{}
		for _, n := range names {
			groups[KeySlot(n)] = append(groups[KeySlot(n)], n)
		}
		for _, g := range groups {
			if err := l.conn.Send(cmd, redis.Args{}.AddFlat(g)...); err != nil {
				return err
			}
		}
		return nil
	}
	sharded := s.c.Sharded
	// Unsubscribe first: a channel that moved away from this link and
	// came back is subscribed again after.
	for _, step := range []struct {
		cmd   string
		names []string
		slot  bool
	}{{ucmd, p.unsub, sharded}, {"PUNSUBSCRIBE", p.punsub, false}, {cmd, p.sub, sharded}, {"PSUBSCRIBE", p.psub, false}} {
		if err := write(step.cmd, step.names, step.slot); err != nil {
			return err
		}
	}
	return l.conn.Flush()
}

// failure pushes addr's backoff on and returns how long it holds.
func (s *Subscriptions) failure(addr string, err error) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastErr = err
	b := s.backoffs[addr]
	if b == nil {
		b = &backoff{}
		s.backoffs[addr] = b
	}
	return b.fail(time.Now())
}

// serve dials a link, then reads it until it breaks.
func (s *Subscriptions) serve(l *link) {
	conn, err := s.c.Dial(l.addr, s.linkTimeout())
	if err != nil {
		s.lost(l, err, false)
		return
	}
	s.mu.Lock()
	if l.retired || s.closed {
		s.mu.Unlock()
		_ = conn.Close()
		return
	}
	l.conn = conn
	s.mu.Unlock()
	s.poke()
	// redigo takes any read error as fatal, a timeout included, so the
	// link is checked by pings sent every HealthCheckInterval: silence for
	// three of them means the server is gone (or hung: a SIGSTOPped Redis
	// keeps its sockets open and answers nothing).
	defer redisping.Every(conn, &l.wmu, s.c.HealthCheckInterval)()
	for {
		reply, err := redis.ReceiveWithTimeout(conn, s.linkTimeout())
		if err != nil {
			var rerr redis.Error
			if errors.As(err, &rerr) {
				s.refused(l, rerr)
				continue
			}
			s.mu.Lock()
			wasUp := len(l.confirmed)+len(l.pconfirmed) > 0
			s.mu.Unlock()
			s.lost(l, err, wasUp)
			return
		}
		s.receive(l, reply)
	}
}

// receive handles one reply of a link. Replies are read raw: redigo's
// PubSubConn does not know sharded messages.
func (s *Subscriptions) receive(l *link, reply any) {
	v, _ := redis.Values(reply, nil)
	if len(v) == 0 {
		return
	}
	kind, _ := redis.String(v[0], nil)
	switch {
	case (kind == "message" || kind == "smessage") && len(v) == 3:
		ch, _ := redis.String(v[1], nil)
		data, _ := redis.Bytes(v[2], nil)
		s.c.Dispatch(ch, "", data)
	case kind == "pmessage" && len(v) == 4:
		pattern, _ := redis.String(v[1], nil)
		ch, _ := redis.String(v[2], nil)
		data, _ := redis.Bytes(v[3], nil)
		s.c.Dispatch(ch, pattern, data)
	case len(v) == 3 && strings.HasSuffix(kind, "subscribe"):
		name, _ := redis.String(v[1], nil)
		s.confirm(l, kind, name)
	}
}

// confirm records a (un)subscription the server acknowledged.
func (s *Subscriptions) confirm(l *link, kind, name string) {
	s.mu.Lock()
	moved := false
	switch kind {
	case "subscribe", "ssubscribe":
		l.confirmed[name] = true
		if name != HealthChannel {
			s.known[name] = true
		}
	case "psubscribe":
		l.pconfirmed[name] = true
	case "punsubscribe":
		delete(l.pconfirmed, name)
	case "unsubscribe", "sunsubscribe":
		delete(l.confirmed, name)
		// A channel still asked of this link was dropped by the server:
		// its slot moved to another shard.
		if kind == "sunsubscribe" && l.sent[name] {
			delete(l.sent, name)
			moved = true
		}
	}
	if kind != "unsubscribe" && kind != "sunsubscribe" && kind != "punsubscribe" {
		delete(s.backoffs, l.addr) // the address answers again
	}
	becameUp := !s.up && s.readyLocked()
	var downSince time.Time
	if becameUp {
		s.up, s.lastErr = true, nil
		s.global = backoff{}
		downSince, s.downSince, s.warned = s.downSince, time.Time{}, false
	}
	s.mu.Unlock()
	if becameUp && downSince.IsZero() {
		s.c.Log.Info(s.c.Name+": subscribed", "url", RedactURL(s.c.URL), "sharded", s.c.Sharded)
	} else if becameUp {
		s.c.Log.Warn(s.c.Name+": subscribed again; what other nodes published meanwhile was lost to this node",
			"url", RedactURL(s.c.URL), "down_for", time.Since(downSince).Round(time.Millisecond),
			"subscription_losses_total", s.c.Counters.SubscriptionLosses.Load())
	}
	if moved {
		s.c.Log.Info(s.c.Name+": channel moved to another shard", "channel", name)
		if s.c.Cluster != nil {
			s.c.Cluster.MarkStale()
		}
		s.poke()
	}
}

// refused handles an error answer on a link: MOVED for a channel of a slot
// another shard serves, CLUSTERDOWN while a failover runs. The channels not
// yet confirmed are asked again after a fresh slot map and the backoff.
func (s *Subscriptions) refused(l *link, rerr redis.Error) {
	if _, _, ok := Redirection(rerr); ok {
		s.c.Counters.Redirects.Add(1)
	}
	s.mu.Lock()
	for ch := range l.sent {
		if !l.confirmed[ch] {
			delete(l.sent, ch)
		}
	}
	for p := range l.psent {
		if !l.pconfirmed[p] {
			delete(l.psent, p)
		}
	}
	s.mu.Unlock()
	s.c.Log.Debug(s.c.Name+": a subscription was refused", "addr", l.addr, "err", rerr)
	if s.c.Cluster != nil {
		s.c.Cluster.MarkStale()
	}
	s.failure(l.addr, rerr)
	s.poke()
}

// lost handles a link that could not connect or broke.
func (s *Subscriptions) lost(l *link, err error, wasUp bool) {
	s.mu.Lock()
	if s.links[l.addr] == l {
		delete(s.links, l.addr)
	}
	if l.retired || s.closed {
		s.mu.Unlock()
		return
	}
	l.retired = true
	s.up = false
	if wasUp && s.downSince.IsZero() {
		s.downSince = time.Now()
	}
	warn := !s.warned
	s.warned = true
	s.mu.Unlock()
	d := s.failure(l.addr, err)
	if wasUp {
		s.c.Counters.SubscriptionLosses.Add(1)
	}
	if warn {
		s.c.Log.Warn(s.c.Name+": subscription lost; retrying", "addr", l.addr, "err", err, "in", d)
	} else {
		s.c.Log.Debug(s.c.Name+": subscription still down; retrying", "addr", l.addr, "err", err, "in", d)
	}
	if s.c.Cluster != nil {
		s.c.Cluster.Failed(l.addr)
	}
	s.poke()
}
