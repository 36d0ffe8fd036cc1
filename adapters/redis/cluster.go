package redis

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
)

// cluster is the way to a Redis Cluster on top of redigo: the slot map read
// with CLUSTER SLOTS, a pool per node, MOVED and ASK followed, and the node
// of the classic mode. redigo speaks to one server; this is the rest.
type cluster struct {
	c                  *Client
	seeds              []string
	username, password string

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

// topology is one reading of the slot map.
type topology struct {
	owner   [numSlots]string // master address per slot, "" if none
	masters []string
	nodes   []string // masters and replicas
}

var errNodeDown = errors.New("redis adapter: cluster node down")

func (cl *cluster) isDown(addr string) bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	until, ok := cl.down[addr]
	return ok && time.Now().Before(until)
}

var errNoOwner = errors.New("redis adapter: no cluster node is known to serve this channel")

// newCluster parses redis-cluster://[user:password@]h1:p1,h2:p2[/0].
func newCluster(c *Client, raw string) (*cluster, error) {
	rest := strings.TrimPrefix(raw, "redis-cluster://")
	cl := &cluster{c: c, pools: map[string]*redis.Pool{}, stale: true, down: map[string]time.Time{}}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		u, err := url.Parse("redis://" + rest[:at+1] + "x")
		if err != nil || u.User == nil {
			return nil, fmt.Errorf("redis adapter: bad credentials in %q", redactURL(raw))
		}
		cl.username = u.User.Username()
		cl.password, _ = u.User.Password()
		if cl.password == "" {
			cl.username, cl.password = "", cl.username // redis://:pass@ and redis://pass@ alike
		}
		rest = rest[at+1:]
	}
	hosts, db, _ := strings.Cut(rest, "/")
	if db != "" && db != "0" {
		return nil, fmt.Errorf("redis adapter: a Redis Cluster has database 0 only, not %q", db)
	}
	for _, h := range strings.Split(hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(h); err != nil || port == "" {
			return nil, fmt.Errorf("redis adapter: %q in %q is not host:port", h, redactURL(raw))
		}
		cl.seeds = append(cl.seeds, h)
	}
	if len(cl.seeds) == 0 {
		return nil, fmt.Errorf("redis adapter: %q names no node", redactURL(raw))
	}
	return cl, nil
}

// dial connects to one node with readTimeout.
func (cl *cluster) dial(addr string, readTimeout time.Duration) (redis.Conn, error) {
	opts := []redis.DialOption{redis.DialConnectTimeout(2 * time.Second), redis.DialWriteTimeout(5 * time.Second)}
	if readTimeout > 0 {
		opts = append(opts, redis.DialReadTimeout(readTimeout))
	}
	if cl.password != "" {
		opts = append(opts, redis.DialPassword(cl.password))
		if cl.username != "" {
			opts = append(opts, redis.DialUsername(cl.username))
		}
	}
	return redis.Dial("tcp", addr, opts...)
}

func (cl *cluster) pool(addr string) *redis.Pool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	p := cl.pools[addr]
	if p == nil {
		p = newPool(func() (redis.Conn, error) { return cl.dial(addr, 5*time.Second) })
		p.MaxIdle = 4
		cl.pools[addr] = p
	}
	return p
}

func (cl *cluster) close() error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, p := range cl.pools {
		_ = p.Close()
	}
	cl.pools = map[string]*redis.Pool{}
	return nil
}

func (cl *cluster) markStale() {
	cl.mu.Lock()
	cl.stale = true
	cl.mu.Unlock()
}

func (cl *cluster) isStale() bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.stale || cl.topo == nil
}

// failed tells that addr did not answer: read the map again, and in the
// classic mode choose another home.
func (cl *cluster) failed(addr string) {
	cl.mu.Lock()
	cl.stale = true
	cl.down[addr] = time.Now().Add(downFor)
	if cl.home == addr {
		cl.home, cl.avoid = "", addr
	}
	cl.mu.Unlock()
}

// refresh reads the slot map unless it was read after since; concurrent
// callers share one reading.
func (cl *cluster) refresh(since time.Time) error {
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
		cl.c.st.refreshes.Add(1)
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
	return fmt.Errorf("redis adapter: no cluster node answered CLUSTER SLOTS: %w", lastErr)
}

// readSlots asks addr for CLUSTER SLOTS: [start, end, [host, port, id],
// replicas...] per range.
func (cl *cluster) readSlots(addr string) (*topology, error) {
	conn, err := cl.dial(addr, 2*time.Second)
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
		if m == "" || lo < 0 || hi >= numSlots || lo > hi {
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
		return nil, fmt.Errorf("redis adapter: %s serves no slot: not a cluster?", addr)
	}
	return t, nil
}

// route is where channel lives: the owner of its slot in the sharded mode,
// the home node in the classic one. "" while unknown.
func (cl *cluster) route(sharded bool, channel string) string {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.topo == nil {
		return ""
	}
	if sharded {
		return cl.topo.owner[keySlot(channel)]
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

// redirection parses MOVED and ASK answers.
func redirection(err error) (addr string, ask, ok bool) {
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

// publish runs cmd (PUBLISH or SPUBLISH) on the node of channel, following
// a redirection, or after a failure reading the map again, three tries in
// all.
func (cl *cluster) publish(cmd, channel string, msg []byte) error {
	sharded := cmd == "SPUBLISH"
	var (
		lastErr error
		addr    string
		asking  bool
	)
	for try := 0; try < 3; try++ {
		start := time.Now()
		if addr == "" {
			if cl.isStale() {
				_ = cl.refresh(start)
			}
			if addr = cl.route(sharded, channel); addr == "" {
				lastErr = errNoOwner
				cl.markStale()
				continue
			}
		}
		if cl.isDown(addr) {
			lastErr = fmt.Errorf("redis adapter: %s failed less than %v ago: %w", addr, downFor, errNodeDown)
			if cl.refresh(start) == nil && cl.route(sharded, channel) != addr {
				addr, asking = "", false
				continue
			}
			break
		}
		conn := cl.pool(addr).Get()
		var err error
		if asking {
			_, err = redis.DoWithTimeout(conn, cl.c.opts.PublishTimeout, "ASKING")
		}
		if err == nil {
			_, err = redis.DoWithTimeout(conn, cl.c.opts.PublishTimeout, cmd, channel, msg)
		}
		conn.Close()
		if err == nil {
			return nil
		}
		lastErr = err
		if to, ask, ok := redirection(err); ok {
			cl.c.st.redirects.Add(1)
			if !ask {
				cl.markStale()
			}
			addr, asking = to, ask
			continue
		}
		var rerr redis.Error
		if errors.As(err, &rerr) {
			cl.markStale() // CLUSTERDOWN, TRYAGAIN: the map is changing
		} else {
			cl.failed(addr) // a node gone: another home, or the promoted replica
		}
		_ = cl.refresh(start)
		addr, asking = "", false
	}
	return lastErr
}

// numSubMaxAge is how old a slot map numSub trusts: nodes added to the
// cluster show up in the count within that time.
const numSubMaxAge = 30 * time.Second

// numSub sums PUBSUB NUMSUB (or SHARDNUMSUB) over every known node.
func (cl *cluster) numSub(sub, channel string) (int, error) {
	now := time.Now()
	cl.mu.Lock()
	old := cl.stale || cl.topo == nil || now.Sub(cl.lastRefresh) > numSubMaxAge
	cl.mu.Unlock()
	if old {
		_ = cl.refresh(now.Add(-numSubMaxAge))
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
		conn := cl.pool(addr).Get()
		n, err := numSubOn(conn, cl.c.opts.PublishTimeout, sub, channel)
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
