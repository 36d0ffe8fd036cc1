// Package redisnet is the way to Redis both Redis adapters share: a Redis
// Cluster's slot map with a pool per node and commands routed by slot
// (MOVED and ASK followed, the map read again after a failure), and the
// subscription links that keep a node subscribed to its channels on a
// single server or across a cluster's shards. It is siogo's own layer on
// top of gomodule/redigo, which speaks to one server.
package redisnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/siogo/siogo/internal/redact"
)

// Counters count what the cluster layer and the links did to keep going.
type Counters struct {
	Redirects, Refreshes, SubscriptionLosses, Resubscribes atomic.Uint64
}

// Cluster is the way to a Redis Cluster on top of redigo: the slot map read
// with CLUSTER SLOTS, a pool per node, MOVED and ASK followed, and the node
// of the classic mode. redigo speaks to one server; this is the rest.
type Cluster struct {
	name    string        // for errors: "redis adapter", "redisstreams"
	timeout time.Duration // of one command
	ctr     *Counters
	target  *Target
	seeds   []string

	refreshMu sync.Mutex // one CLUSTER SLOTS at a time

	mu          sync.Mutex
	topo        *topology // nil until read
	stale       bool
	lastRefresh time.Time
	pools       map[string]*redis.Pool
	// home is the node of the classic mode: every PUBLISH and SUBSCRIBE
	// of this client goes there, so that one sender's messages reach the
	// others in order (PUBLISH crosses the cluster bus from that node).
	home  string
	avoid string // the last home that failed
	// down holds nodes that just failed to answer, until when publishing
	// skips them: a node gone from the network costs one connect timeout,
	// not one per message.
	down map[string]time.Time
}

// downFor is how long a node that failed is skipped by publish.
const downFor = time.Second

// downRefresh is how old a slot map a command meeting a node down trusts.
const downRefresh = 100 * time.Millisecond

// topology is one reading of the slot map.
type topology struct {
	owner   [NumSlots]string // master address per slot, "" if none
	masters []string
	nodes   []string // masters and replicas
}

// ErrNodeDown is what a command meets on a node that failed less than a
// second ago.
var ErrNodeDown = errors.New("redis: cluster node down")

func (cl *Cluster) isDown(addr string) bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	until, ok := cl.down[addr]
	return ok && time.Now().Before(until)
}

// ErrNoOwner is what a command meets while the slot map names no node for
// its key or channel.
var ErrNoOwner = errors.New("redis: no cluster node is known to serve this key or channel")

// NewCluster is the way to the Redis Cluster of t (a redis-cluster:// or
// rediss-cluster:// URL: see ParseURL); timeout bounds each command; ctr
// receives the counts (a fresh one if nil). It does not connect: the slot
// map is read on first use, from any of t's seeds.
func NewCluster(t *Target, timeout time.Duration, ctr *Counters) *Cluster {
	if ctr == nil {
		ctr = &Counters{}
	}
	return &Cluster{name: t.Name, timeout: timeout, ctr: ctr, target: t, seeds: t.Addrs,
		pools: map[string]*redis.Pool{}, stale: true, down: map[string]time.Time{}}
}

// Dial connects to one node with readTimeout, TLS and credentials as the
// URL says.
func (cl *Cluster) Dial(addr string, readTimeout time.Duration) (redis.Conn, error) {
	return cl.target.Dial(addr, readTimeout)
}

func (cl *Cluster) Pool(addr string) *redis.Pool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	p := cl.pools[addr]
	if p == nil {
		p = NewPool(func() (redis.Conn, error) { return cl.Dial(addr, 5*time.Second) })
		p.MaxIdle = 4
		cl.pools[addr] = p
	}
	return p
}

func (cl *Cluster) Close() error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, p := range cl.pools {
		_ = p.Close()
	}
	cl.pools = map[string]*redis.Pool{}
	return nil
}

func (cl *Cluster) MarkStale() {
	cl.mu.Lock()
	cl.stale = true
	cl.mu.Unlock()
}

func (cl *Cluster) IsStale() bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.stale || cl.topo == nil
}

// Failed tells that addr did not answer: read the map again, and in the
// classic mode choose another home.
func (cl *Cluster) Failed(addr string) {
	cl.mu.Lock()
	cl.stale = true
	cl.down[addr] = time.Now().Add(downFor)
	if cl.home == addr {
		cl.home, cl.avoid = "", addr
	}
	cl.mu.Unlock()
}

// Refresh reads the slot map unless it was read after since; concurrent
// callers share one reading.
func (cl *Cluster) Refresh(since time.Time) error {
	cl.refreshMu.Lock()
	defer cl.refreshMu.Unlock()
	cl.mu.Lock()
	if cl.lastRefresh.After(since) && !cl.stale && cl.topo != nil {
		cl.mu.Unlock()
		return nil
	}
	var candidates []string
	if cl.topo != nil {
		candidates = append(candidates, cl.topo.nodes...)
		rand.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })
	}
	cl.mu.Unlock()
	candidates = append(candidates, cl.seeds...)
	var lastErr error
	seen := map[string]bool{}
	for _, addr := range candidates {
		if seen[addr] {
			continue
		}
		seen[addr] = true
		t, err := cl.readSlots(addr)
		if err != nil {
			lastErr = err
			continue
		}
		cl.ctr.Refreshes.Add(1)
		cl.mu.Lock()
		cl.topo, cl.stale, cl.lastRefresh = t, false, time.Now()
		for a, until := range cl.down {
			if time.Now().After(until) {
				delete(cl.down, a)
			}
		}
		if cl.home != "" && !slices.Contains(t.masters, cl.home) {
			cl.home = "" // no longer a master: choose again
		}
		cl.mu.Unlock()
		return nil
	}
	return fmt.Errorf("%s: no cluster node answered CLUSTER SLOTS: %w", cl.name, lastErr)
}

// readSlots asks addr for CLUSTER SLOTS: [start, end, [host, port, id],
// replicas...] per range.
func (cl *Cluster) readSlots(addr string) (*topology, error) {
	conn, err := cl.Dial(addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	v, err := redis.Values(conn.Do("CLUSTER", "SLOTS"))
	if err != nil {
		return nil, err
	}
	queriedHost, _, _ := net.SplitHostPort(addr)
	t := &topology{}
	seen := map[string]bool{}
	nodeAddr := func(v any) string {
		n, _ := redis.Values(v, nil)
		if len(n) < 2 {
			return ""
		}
		host, _ := redis.String(n[0], nil)
		port, _ := redis.Int(n[1], nil)
		if host == "" || host == "?" {
			host = queriedHost // a node that does not know its own address
		}
		return net.JoinHostPort(host, strconv.Itoa(port))
	}
	for _, e := range v {
		r, _ := redis.Values(e, nil)
		if len(r) < 3 {
			continue
		}
		lo, _ := redis.Int(r[0], nil)
		hi, _ := redis.Int(r[1], nil)
		m := nodeAddr(r[2])
		if m == "" || lo < 0 || hi >= NumSlots || lo > hi {
			continue
		}
		for s := lo; s <= hi; s++ {
			t.owner[s] = m
		}
		if !seen[m] {
			seen[m] = true
			t.masters = append(t.masters, m)
			t.nodes = append(t.nodes, m)
		}
		for _, rep := range r[3:] {
			if a := nodeAddr(rep); a != "" && !seen[a] {
				seen[a] = true
				t.nodes = append(t.nodes, a)
			}
		}
	}
	if len(t.masters) == 0 {
		return nil, fmt.Errorf("%s: %s serves no slot: not a cluster?", cl.name, addr)
	}
	return t, nil
}

// Route is where channel lives: the owner of its slot in the sharded mode,
// the home node in the classic one. "" while unknown.
func (cl *Cluster) Route(sharded bool, channel string) string {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.topo == nil {
		return ""
	}
	if sharded {
		return cl.topo.owner[KeySlot(channel)]
	}
	if cl.home == "" {
		var choices []string
		for _, m := range cl.topo.masters {
			if m != cl.avoid {
				choices = append(choices, m)
			}
		}
		if len(choices) == 0 {
			choices = cl.topo.masters
		}
		cl.home = choices[rand.N(len(choices))]
	}
	return cl.home
}

// Redirection parses MOVED and ASK answers.
func Redirection(err error) (addr string, ask, ok bool) {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return "", false, false
	}
	f := strings.Fields(string(rerr))
	if len(f) == 3 && (f[0] == "MOVED" || f[0] == "ASK") {
		return f[2], f[0] == "ASK", true
	}
	return "", false, false
}

// Publish runs cmd (PUBLISH or SPUBLISH) on the node of channel: see Run.
func (cl *Cluster) Publish(cmd, channel string, msg []byte) error {
	sharded := cmd == "SPUBLISH"
	_, err := cl.run(func() string { return cl.Route(sharded, channel) }, func(conn redis.Conn) (any, error) {
		return redis.DoWithTimeout(conn, cl.timeout, cmd, channel, msg)
	})
	return err
}

// Do runs one command on the master of key's slot: see Run.
func (cl *Cluster) Do(key, cmd string, args ...any) (any, error) {
	return cl.Run(key, func(conn redis.Conn) (any, error) {
		return redis.DoWithTimeout(conn, cl.timeout, cmd, args...)
	})
}

// Run calls fn with a connection to the master of key's slot, following a
// redirection, or after a failure reading the map again, three tries in
// all. fn's commands must all touch key's slot; the first error answer
// of a pipeline (redigo's Do) tells the redirection.
func (cl *Cluster) Run(key string, fn func(redis.Conn) (any, error)) (any, error) {
	return cl.run(func() string { return cl.Route(true, key) }, fn)
}

// Owner is the master of key's slot, "" while unknown.
func (cl *Cluster) Owner(key string) string { return cl.Route(true, key) }

// retryable tells the error answers of a cluster that is changing.
func retryable(rerr redis.Error) bool {
	for _, p := range []string{"CLUSTERDOWN", "TRYAGAIN", "LOADING", "MASTERDOWN", "READONLY"} {
		if strings.HasPrefix(string(rerr), p) {
			return true
		}
	}
	return false
}

func (cl *Cluster) run(route func() string, fn func(redis.Conn) (any, error)) (any, error) {
	var (
		lastErr error
		addr    string
		asking  bool
	)
	for try := 0; try < 3; try++ {
		start := time.Now()
		if addr == "" {
			if cl.IsStale() {
				_ = cl.Refresh(start)
			}
			if addr = route(); addr == "" {
				lastErr = ErrNoOwner
				cl.MarkStale()
				continue
			}
		}
		if cl.isDown(addr) {
			lastErr = fmt.Errorf("%s: %s failed less than %v ago: %w", cl.name, addr, downFor, ErrNodeDown)
			// A map read less than downRefresh ago will do: while a master
			// is failed over, every command would read it again.
			if cl.Refresh(start.Add(-downRefresh)) == nil && route() != addr {
				addr, asking = "", false
				continue
			}
			break
		}
		conn := cl.Pool(addr).Get()
		var (
			reply any
			err   error
		)
		if asking {
			_, err = redis.DoWithTimeout(conn, cl.timeout, "ASKING")
		}
		if err == nil {
			reply, err = fn(conn)
		}
		conn.Close()
		if err == nil {
			return reply, nil
		}
		lastErr = err
		if to, ask, ok := Redirection(err); ok {
			cl.ctr.Redirects.Add(1)
			if !ask {
				cl.MarkStale()
			}
			addr, asking = to, ask
			continue
		}
		var rerr redis.Error
		if errors.As(err, &rerr) {
			if !retryable(rerr) {
				return reply, err
			}
			cl.MarkStale() // CLUSTERDOWN, TRYAGAIN: the map is changing
		} else {
			cl.Failed(addr) // a node gone: another home, or the promoted replica
		}
		_ = cl.Refresh(start)
		addr, asking = "", false
	}
	return nil, lastErr
}

// numSubMaxAge is how old a slot map numSub trusts: nodes added to the
// cluster show up in the count within that time.
const numSubMaxAge = 30 * time.Second

// NumSub sums PUBSUB NUMSUB (or SHARDNUMSUB) over every known node.
func (cl *Cluster) NumSub(sub, channel string) (int, error) {
	now := time.Now()
	cl.mu.Lock()
	old := cl.stale || cl.topo == nil || now.Sub(cl.lastRefresh) > numSubMaxAge
	cl.mu.Unlock()
	if old {
		_ = cl.Refresh(now.Add(-numSubMaxAge))
	}
	cl.mu.Lock()
	var nodes []string
	if cl.topo != nil {
		nodes = append(nodes, cl.topo.nodes...)
	}
	cl.mu.Unlock()
	if len(nodes) == 0 {
		nodes = cl.seeds
	}
	total, answered := 0, 0
	var lastErr error
	for _, addr := range nodes {
		conn := cl.Pool(addr).Get()
		n, err := NumSubOn(conn, cl.timeout, sub, channel)
		conn.Close()
		if err != nil {
			lastErr = err
			continue
		}
		total += n
		answered++
	}
	if answered == 0 {
		return 0, lastErr
	}
	return total, nil
}

// NumSubOn asks conn, with a deadline: a hung Redis delays ServerCount
// (and the cluster calls that need it) that long, no more.
func NumSubOn(conn redis.Conn, timeout time.Duration, sub, channel string) (int, error) {
	v, err := redis.Values(redis.DoWithTimeout(conn, timeout, "PUBSUB", sub, channel))
	if err != nil {
		return 0, fmt.Errorf("PUBSUB %s: %w", sub, err)
	}
	if len(v) != 2 {
		return 0, fmt.Errorf("PUBSUB %s answered %v", sub, v)
	}
	return redis.Int(v[1], nil)
}

// Home is the node of the classic mode, "" if none yet.
func (cl *Cluster) Home() string {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.home
}

// NewPool is a pool of connections dialled by dial, with the limits both
// adapters use.
func NewPool(dial func() (redis.Conn, error)) *redis.Pool {
	return &redis.Pool{
		MaxIdle:     8,
		MaxActive:   64,
		Wait:        false,
		IdleTimeout: 4 * time.Minute,
		Dial:        dial,
		TestOnBorrow: func(conn redis.Conn, t time.Time) error {
			if time.Since(t) < time.Minute {
				return nil
			}
			_, err := conn.Do("PING")
			return err
		},
	}
}

// RedactURL hides a URL's credentials, for logs (redact.URL).
func RedactURL(u string) string { return redact.URL(u) }
