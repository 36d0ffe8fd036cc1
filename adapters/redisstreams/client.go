// Package redisstreams is the Socket.IO adapter of Node's
// @socket.io/redis-streams-adapter 0.3, wire-compatible with it: siogo and
// Node.js nodes serve one cluster. Broadcasts and room changes go through a
// Redis stream (XADD ... MAXLEN ~, read with XREAD BLOCK by every node),
// requests and their answers through pub/sub, and connection state
// recovery crosses nodes: a disconnected socket's session is kept in Redis
// (sio:session:<pid>), and the offsets clients echo are the stream's entry
// ids, so a client may come back to any node.
//
//	rc, err := redisstreams.NewClient(redisstreams.Options{URL: "redis://localhost:6379/0"})
//	srv, err := server.New(server.Options{NewAdapter: rc.NewAdapter,
//		Recovery: &server.RecoveryOptions{MaxDisconnectionDuration: 2 * time.Minute}})
//
// A Client is a broker of siogo's adapter contract (adapters/cluster):
// NewAdapter is cluster.NewAdapter over it. The stream is the contract's
// Log: local delivery follows it (a node delivers its own broadcasts when
// it reads them back, in the stream's order, so that every node, and a
// client that comes back to another node, sees one order), and the Client
// is the SessionStore that makes recovery cross nodes. When Redis is
// unreachable a node delivers its own broadcasts at once and serves its own
// clients; the client reconnects with backoff and reads on from where it
// stopped.
//
// On a Redis Cluster (a redis-cluster:// URL) it does what Node's adapter
// does with a cluster client (the redis package's createCluster, or
// ioredis's Cluster): each stream is one key, written (XADD) and read
// (XREAD, XRANGE) on the master of its slot, one reading connection per
// stream, since the streams of a StreamCount hash to different slots and
// one XREAD may name keys of one slot only; a session key is written, and
// taken (MULTI GET DEL), on the master of its own slot. Requests go by
// PUBLISH through one node (the cluster bus carries them to every node),
// or with Sharded by SPUBLISH to the shard of their channel, each channel
// subscribed on its shard. The slot map is read with CLUSTER SLOTS, MOVED
// and ASK are followed, and when a master dies and its replica is
// promoted the readers and the subscriptions move to it and go on from the
// last entry read; Stats counts what was lost meanwhile. A namespace's
// broadcasts stay in order, since they all go into one stream.
//
// rediss:// and rediss-cluster:// are the TLS twins of redis:// and
// redis-cluster://; Options.TLSConfig sets the roots, client certificate
// and server name. A Redis that answers but refuses the first connection
// (credentials, database, TLS) makes NewClient return a *RefusedError; an
// unreachable one is retried.
package redisstreams

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/siogo/siogo/adapters/cluster"
	"github.com/siogo/siogo/internal/redisnet"
	"github.com/siogo/siogo/server"
)

// Options configure a Client. The zero value of each field is Node's
// default.
type Options struct {
	// URL of the Redis server, redis://[user:password@]host:port[/db], or
	// of a Redis Cluster, redis-cluster://[user:password@]h1:p1,h2:p2,...
	// (some of its nodes; the others are discovered); rediss:// and
	// rediss-cluster:// for TLS.
	URL string
	// TLSConfig configures the TLS of a rediss URL: RootCAs (nil: the
	// system's), Certificates for a Redis that asks for a client
	// certificate, ServerName when the certificate names another host than
	// the URL (or than the addresses a cluster announces). Ignored by a
	// redis:// URL.
	TLSConfig *tls.Config
	// StreamName is the stream's name. Default "socket.io".
	StreamName string
	// StreamCount spreads namespaces over this many streams, name-i, by a
	// hash of the namespace's name, as Node's streamCount. Default 1.
	StreamCount int
	// ChannelPrefix is the prefix of the pub/sub channels of requests and
	// answers. Default "socket.io".
	ChannelPrefix string
	// MaxLen is the approximate length the stream is trimmed to
	// (XADD MAXLEN ~). Default 10000.
	MaxLen int
	// ReadCount is the most entries one XREAD returns. Default 100.
	ReadCount int
	// BlockTime is how long one XREAD waits. Default 5s.
	BlockTime time.Duration
	// SessionKeyPrefix prefixes the keys of recovery sessions. Default
	// "sio:session:".
	SessionKeyPrefix string
	// LiveKeyPrefix prefixes the keys of siogo's live sessions (see
	// NoLiveSessions): LiveKeyPrefix+"s:"+pid, and each node's lease,
	// LiveKeyPrefix+"n:"+uid. Neither it nor SessionKeyPrefix may begin
	// with the other, since Node's nodes read SessionKeyPrefix+pid for any
	// pid a client sends. Default "sio:live:".
	LiveKeyPrefix string
	// Sharded uses sharded pub/sub (SSUBSCRIBE, SPUBLISH) for requests, as
	// Node's useShardedPubSub.
	Sharded bool
	// OnlyPlaintext writes entries as JSON even when they hold binary, as
	// Node's onlyPlaintext; binary then travels as JSON would write it.
	OnlyPlaintext bool
	// RequestsTimeout bounds the wait for other nodes' answers. Default 5s.
	RequestsTimeout time.Duration
	// NoLiveSessions turns off what siogo adds to Node's adapter: the
	// session of each connected socket kept in Redis, refreshed every
	// quarter of the recovery window and soon after it joins or leaves a
	// room, so that its clients recover on another node even after this
	// node was killed. Node keeps a session only when a socket disconnects.
	// Another node restores from such a live copy only once this node is
	// gone (its subscription closed, or its lease not renewed for 10 s),
	// and only once; see the package's README section.
	NoLiveSessions bool
	// HealthCheckInterval is how often the subscription is checked with a
	// PING; silent for three intervals it is taken as lost, and Ready
	// reports it. Default 1s.
	HealthCheckInterval time.Duration
	// Logger receives the adapter's logs. Default slog.Default().
	Logger *slog.Logger
}

// ErrNotConnected is what Ready reports while a stream reader or the
// subscription is down.
var ErrNotConnected = errors.New("redisstreams: not connected to Redis")

// RefusedError is what NewClient returns when Redis answered its first
// connection but refused it for a reason retrying cannot mend: the
// credentials, a database index it does not have, a certificate that does
// not verify, a server that does not speak TLS, a cluster URL for a server
// that is not one. It names the address, never the password.
type RefusedError = redisnet.RefusedError

// Client is one node's connection to Redis: a pool for commands (a pool
// per node on a cluster), connections blocked in XREAD (one for every
// stream on a single server, one per stream on a cluster), subscription
// links; all the node's namespace adapters share them.
type Client struct {
	opts       Options
	tg         *redisnet.Target
	pool       *redis.Pool       // a single server
	cl         *redisnet.Cluster // a Redis Cluster, or nil
	subs       *redisnet.Subscriptions
	log        *slog.Logger
	st         stats
	newAdapter func(*server.Namespace) server.Adapter

	mu       sync.Mutex
	nsps     map[string]*nspState // by namespace
	last     map[string]streamID  // each stream's last entry applied
	started  map[string]bool      // streams whose reader knows where they were
	early    map[string]bool      // own entries (earlyKey) applied before their reader started
	readers  []*reader
	byStream map[string]*reader
	closed   bool
	done     chan struct{}
	wg       sync.WaitGroup
}

// reader is one connection blocked in XREAD on some streams. Its fields
// are guarded by Client.mu.
type reader struct {
	streams []string
	conn    redis.Conn
	err     error
}

// Stats counts what a Client lost or did to keep going: the figures to
// watch when Redis fails over or goes away.
type Stats struct {
	// PublishFailures are entries (XADD) and requests (PUBLISH) this node
	// could not hand to Redis: the other nodes never get them; its own
	// broadcasts were delivered here at once.
	PublishFailures uint64
	// ReaderLosses are stream readers that broke after being up. A reader
	// goes on from the last entry it applied, so nothing is lost to it
	// unless the stream was trimmed past it meanwhile, or a promoted
	// replica had not received the last entries of its master.
	ReaderLosses uint64
	// SubscriptionLosses are subscription links that broke after being up:
	// requests published until they came back are lost to this node.
	SubscriptionLosses uint64
	// Resubscribes are channels subscribed again after a loss or a
	// failover.
	Resubscribes uint64
	// Redirects are MOVED and ASK answers followed on a cluster.
	Redirects uint64
	// TopologyRefreshes are reads of a cluster's slot map (CLUSTER SLOTS).
	TopologyRefreshes uint64
}

type stats struct {
	publishFailures, readerLosses atomic.Uint64
	net                           redisnet.Counters
}

// Stats returns the counters since NewClient.
func (c *Client) Stats() Stats {
	return Stats{
		PublishFailures:    c.st.publishFailures.Load(),
		ReaderLosses:       c.st.readerLosses.Load(),
		SubscriptionLosses: c.st.net.SubscriptionLosses.Load(),
		Resubscribes:       c.st.net.Resubscribes.Load(),
		Redirects:          c.st.net.Redirects.Load(),
		TopologyRefreshes:  c.st.net.Refreshes.Load(),
	}
}

// NewClient connects once to Redis, then starts the stream readers, the
// subscriptions and the session refresher. A server that cannot be reached
// is no error: it is retried with backoff, and Ready says how it goes. A
// server that refuses the connection for a reason retrying cannot mend is:
// NewClient returns a *RefusedError.
func NewClient(opts Options) (*Client, error) {
	if opts.StreamName == "" {
		opts.StreamName = "socket.io"
	}
	if opts.StreamCount <= 0 {
		opts.StreamCount = 1
	}
	if opts.ChannelPrefix == "" {
		opts.ChannelPrefix = "socket.io"
	}
	if opts.MaxLen <= 0 {
		opts.MaxLen = 10000
	}
	if opts.ReadCount <= 0 {
		opts.ReadCount = 100
	}
	if opts.BlockTime <= 0 {
		opts.BlockTime = 5 * time.Second
	}
	if opts.SessionKeyPrefix == "" {
		opts.SessionKeyPrefix = "sio:session:"
	}
	if opts.LiveKeyPrefix == "" {
		opts.LiveKeyPrefix = "sio:live:"
	}
	if strings.HasPrefix(opts.SessionKeyPrefix, opts.LiveKeyPrefix) || strings.HasPrefix(opts.LiveKeyPrefix, opts.SessionKeyPrefix) {
		return nil, fmt.Errorf("redisstreams: LiveKeyPrefix %q and SessionKeyPrefix %q: neither may begin with the other", opts.LiveKeyPrefix, opts.SessionKeyPrefix)
	}
	if opts.RequestsTimeout <= 0 {
		opts.RequestsTimeout = 5 * time.Second
	}
	if opts.HealthCheckInterval <= 0 {
		opts.HealthCheckInterval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	tg, err := redisnet.ParseURL("redisstreams", opts.URL, opts.TLSConfig)
	if err != nil {
		return nil, err
	}
	if err := tg.Check(); err != nil {
		var refused *RefusedError
		if errors.As(err, &refused) {
			return nil, err
		}
		opts.Logger.Warn("redisstreams: Redis does not answer yet; serving this node's clients and retrying", "addr", tg.Where(), "err", err)
	}
	c := &Client{
		opts:     opts,
		tg:       tg,
		log:      opts.Logger,
		nsps:     map[string]*nspState{},
		last:     map[string]streamID{},
		started:  map[string]bool{},
		early:    map[string]bool{},
		byStream: map[string]*reader{},
		done:     make(chan struct{}),
	}
	c.newAdapter = cluster.NewAdapter(c, cluster.Options{RequestsTimeout: opts.RequestsTimeout, Logger: opts.Logger})
	if tg.Cluster {
		c.cl = redisnet.NewCluster(tg, 5*time.Second, &c.st.net)
		// As Node's adapter: a connection per stream, the streams' slots
		// being different.
		for _, s := range c.streams() {
			c.readers = append(c.readers, &reader{streams: []string{s}, err: ErrNotConnected})
		}
	} else {
		c.pool = redisnet.NewPool(func() (redis.Conn, error) { return tg.Dial("", 5*time.Second) })
		// One XREAD reads every stream: one connection.
		c.readers = []*reader{{streams: c.streams(), err: ErrNotConnected}}
	}
	for _, r := range c.readers {
		for _, s := range r.streams {
			c.byStream[s] = r
		}
	}
	c.subs = redisnet.NewSubscriptions(redisnet.SubConfig{
		Name: "redisstreams", URL: opts.URL, Addr: tg.Addrs[0], Sharded: opts.Sharded, Cluster: c.cl,
		Dial: c.dialSub, Dispatch: c.dispatch, HealthCheckInterval: opts.HealthCheckInterval,
		ErrNotConnected: ErrNotConnected, Log: c.log, Counters: &c.st.net,
	})
	c.wg.Add(len(c.readers) + 1)
	for _, r := range c.readers {
		go c.keep(r)
	}
	go c.refreshLoop()
	return c, nil
}

// Ready reports nil while the node reads every stream and is subscribed.
func (c *Client) Ready() error {
	c.mu.Lock()
	for _, r := range c.readers {
		if err := r.err; err != nil {
			c.mu.Unlock()
			return err
		}
	}
	c.mu.Unlock()
	return c.subs.Ready()
}

// Close stops the readers, the subscriptions and the pools.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	var conns []redis.Conn
	for _, r := range c.readers {
		if r.conn != nil {
			conns = append(conns, r.conn)
		}
	}
	c.mu.Unlock()
	for _, conn := range conns {
		_ = conn.Close()
	}
	c.subs.Close()
	c.wg.Wait()
	if c.cl != nil {
		return c.cl.Close()
	}
	return c.pool.Close()
}

func (c *Client) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// keep runs r's reading session until the client closes, again after each
// failure, with backoff.
func (c *Client) keep(r *reader) {
	defer c.wg.Done()
	backoff := 100 * time.Millisecond
	for {
		began := time.Now()
		wasUp, addr, err := c.readSession(r)
		if c.isClosed() {
			return
		}
		c.mu.Lock()
		r.err = fmt.Errorf("%w: %v", ErrNotConnected, err)
		c.mu.Unlock()
		if wasUp {
			c.st.readerLosses.Add(1)
		}
		if time.Since(began) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		if addr == "" {
			addr = c.tg.Where() // no master known for the stream: the seeds
		}
		c.log.Warn("redisstreams: stream reader lost; retrying", "streams", r.streams, "addr", addr, "err", err, "in", backoff)
		select {
		case <-c.done:
			return
		case <-time.After(backoff + rand.N(backoff/2)):
		}
		if backoff *= 2; backoff > 5*time.Second {
			backoff = 5 * time.Second
		}
	}
}

// dialSub opens a subscription connection to addr whose reads wait at
// most timeout.
func (c *Client) dialSub(addr string, timeout time.Duration) (redis.Conn, error) {
	return c.tg.Dial(addr, timeout)
}

// dialReader connects a reader: to the single server, or to the master
// of its stream's slot. Its reads have the deadlines of DoWithTimeout.
func (c *Client) dialReader(r *reader) (conn redis.Conn, addr string, err error) {
	if c.cl == nil {
		conn, err = c.tg.Dial("", 0)
		return conn, c.tg.Addrs[0], err
	}
	if c.cl.IsStale() {
		_ = c.cl.Refresh(time.Now())
	}
	if addr = c.cl.Owner(r.streams[0]); addr == "" {
		if err := c.cl.Refresh(time.Now()); err != nil {
			return nil, "", err
		}
		if addr = c.cl.Owner(r.streams[0]); addr == "" {
			return nil, "", redisnet.ErrNoOwner
		}
	}
	conn, err = c.cl.Dial(addr, 0)
	if err != nil {
		c.cl.Failed(addr)
	}
	return conn, addr, err
}

// streams are the names of every stream this client reads: all of them, as
// Node's adapter, whichever namespaces exist here.
func (c *Client) streams() []string {
	if c.opts.StreamCount <= 1 {
		return []string{c.opts.StreamName}
	}
	out := make([]string, c.opts.StreamCount)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", c.opts.StreamName, i)
	}
	return out
}

// readSession reads r's streams on a connection of its own until it
// fails; wasUp tells that it had read. It starts where the streams end
// (Node's "$"), and after a failure from the last entry it applied. addr
// is the server it tried, "" when a cluster's map named none.
func (c *Client) readSession(r *reader) (wasUp bool, addr string, err error) {
	conn, addr, err := c.dialReader(r)
	if err != nil {
		return false, addr, err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = conn.Close()
		return false, addr, nil
	}
	r.conn = conn
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		r.conn = nil
		c.mu.Unlock()
		_ = conn.Close()
	}()
	wasUp, err = c.read(r, conn)
	if c.cl != nil && err != nil {
		var rerr redis.Error
		if errors.As(err, &rerr) {
			if _, _, ok := redisnet.Redirection(err); ok {
				c.st.net.Redirects.Add(1)
			}
			c.cl.MarkStale() // MOVED, CLUSTERDOWN: the map changed
		} else if !c.isClosed() {
			c.cl.Failed(addr) // the master gone: its replica may be promoted
		}
	}
	return wasUp, addr, err
}

func (c *Client) read(r *reader, conn redis.Conn) (wasUp bool, err error) {
	for _, s := range r.streams {
		c.mu.Lock()
		started := c.started[s]
		c.mu.Unlock()
		if started {
			continue
		}
		v, err := redis.Values(redis.DoWithTimeout(conn, 5*time.Second, "XREVRANGE", s, "+", "-", "COUNT", 1))
		if err != nil {
			return false, err
		}
		var id streamID
		if len(v) > 0 {
			entries, err := parseEntries(v)
			if err != nil {
				return false, err
			}
			id = entries[0].id
		}
		c.mu.Lock()
		if !c.started[s] {
			c.last[s], c.started[s] = id, true
		}
		c.mu.Unlock()
	}
	if c.cl != nil {
		// A key command: a node that no longer owns the slot answers MOVED
		// now rather than to the XREAD.
		if _, err := redis.DoWithTimeout(conn, 5*time.Second, "EXISTS", r.streams[0]); err != nil {
			return false, err
		}
	}
	c.mu.Lock()
	r.err = nil
	c.mu.Unlock()
	block := c.opts.BlockTime.Milliseconds()
	for {
		args := redis.Args{"BLOCK", block, "COUNT", c.opts.ReadCount, "STREAMS"}.AddFlat(r.streams)
		c.mu.Lock()
		for _, s := range r.streams {
			args = append(args, c.last[s].String())
		}
		c.mu.Unlock()
		v, err := redis.Values(redis.DoWithTimeout(conn, c.opts.BlockTime+5*time.Second, "XREAD", args...))
		if errors.Is(err, redis.ErrNil) {
			continue
		}
		if err != nil {
			return true, err
		}
		for _, sv := range v {
			pair, err := redis.Values(sv, nil)
			if err != nil || len(pair) != 2 {
				return true, fmt.Errorf("redisstreams: XREAD answered %v", sv)
			}
			stream, _ := redis.String(pair[0], nil)
			items, err := redis.Values(pair[1], nil)
			if err != nil {
				return true, err
			}
			entries, err := parseEntries(items)
			if err != nil {
				return true, err
			}
			for _, e := range entries {
				c.apply(stream, e)
			}
		}
	}
}

// entry is one stream entry.
type entry struct {
	id     streamID
	fields map[string]string
}

// parseEntries reads XRANGE's (and XREAD's) [[id, [field, value, ...]], ...].
func parseEntries(items []any) ([]entry, error) {
	out := make([]entry, 0, len(items))
	for _, it := range items {
		e, err := redis.Values(it, nil)
		if err != nil || len(e) != 2 {
			return nil, fmt.Errorf("redisstreams: bad entry %v", it)
		}
		ids, _ := redis.String(e[0], nil)
		id, ok := parseID(ids)
		if !ok {
			return nil, fmt.Errorf("redisstreams: bad entry id %q", ids)
		}
		kv, _ := redis.Strings(e[1], nil)
		fields := make(map[string]string, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			fields[kv[i]] = kv[i+1]
		}
		out = append(out, entry{id, fields})
	}
	return out, nil
}

func earlyKey(stream string, id streamID) string { return stream + " " + id.String() }

// apply hands an entry to its namespace's adapter and records it as read.
func (c *Client) apply(stream string, e entry) {
	c.mu.Lock()
	early := c.early[earlyKey(stream, e.id)]
	delete(c.early, earlyKey(stream, e.id))
	st := c.nsps[e.fields["nsp"]]
	c.mu.Unlock()
	if h := st.handler(); h != nil && !early {
		if m, err := decodeEntry(e.fields); err != nil {
			c.log.Debug("redisstreams: bad entry", "id", e.id.String(), "err", err)
		} else {
			func() {
				defer func() {
					if r := recover(); r != nil {
						c.log.Error("redisstreams: applying an entry panicked", "id", e.id.String(), "panic", r)
					}
				}()
				h(m, e.id.String())
			}()
		}
	}
	c.mu.Lock()
	if c.last[stream].less(e.id) {
		c.last[stream] = e.id
	}
	c.mu.Unlock()
}

// deliverEarly reports whether an own entry must be applied at once: before
// the reader knows where the stream was, it may start after the entry. The
// reader then skips it, should it read it.
func (c *Client) deliverEarly(stream string, id streamID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started[stream] {
		return false
	}
	if c.byStream[stream] != nil {
		c.early[earlyKey(stream, id)] = true
	} // else a stream no node reads, as Node's name-<negative hash>: applied here only
	return true
}

// run calls fn with a connection to the node of key: the single server,
// or the master of key's slot on a cluster (MOVED and ASK followed).
func (c *Client) run(key string, fn func(redis.Conn) (any, error)) (any, error) {
	if c.cl != nil {
		return c.cl.Run(key, fn)
	}
	conn := c.pool.Get()
	defer conn.Close()
	return fn(conn)
}

// do runs one command on the node of key.
func (c *Client) do(key, cmd string, args ...any) (any, error) {
	return c.run(key, func(conn redis.Conn) (any, error) { return conn.Do(cmd, args...) })
}

// xadd appends an entry to stream and returns its id.
func (c *Client) xadd(stream string, fields []any) (streamID, error) {
	args := append(redis.Args{stream, "MAXLEN", "~", c.opts.MaxLen, "*"}, fields...)
	s, err := redis.String(c.do(stream, "XADD", args...))
	if err != nil {
		c.st.publishFailures.Add(1)
		return streamID{}, fmt.Errorf("redisstreams: XADD: %w", err)
	}
	id, ok := parseID(s)
	if !ok {
		return streamID{}, fmt.Errorf("redisstreams: XADD answered %q", s)
	}
	return id, nil
}

// publish sends a request or an answer: through the single server, or on
// a cluster through the node chosen for the channel (the home node, or
// the channel's shard with Sharded).
func (c *Client) publish(channel string, msg []byte) error {
	cmd := "PUBLISH"
	if c.opts.Sharded {
		cmd = "SPUBLISH"
	}
	var err error
	if c.cl != nil {
		err = c.cl.Publish(cmd, channel, msg)
	} else {
		_, err = c.do(channel, cmd, channel, msg)
	}
	if err != nil {
		c.st.publishFailures.Add(1)
		return fmt.Errorf("redisstreams: %s: %w", cmd, err)
	}
	return nil
}

// numSub is the number of subscribers of channel: the nodes of a
// namespace. On a cluster, the sum over every node, replicas included.
func (c *Client) numSub(channel string) (int, error) {
	sub := "NUMSUB"
	if c.opts.Sharded {
		sub = "SHARDNUMSUB"
	}
	if c.cl != nil {
		return c.cl.NumSub(sub, channel)
	}
	conn := c.pool.Get()
	defer conn.Close()
	n, err := redisnet.NumSubOn(conn, 5*time.Second, sub, channel)
	if err != nil {
		return 0, fmt.Errorf("redisstreams: %w", err)
	}
	return n, nil
}

// refreshLoop writes the sessions of connected sockets (see
// Options.NoLiveSessions): those that changed rooms soon, all of them
// every quarter of the recovery window.
func (c *Client) refreshLoop() {
	defer c.wg.Done()
	if c.opts.NoLiveSessions {
		return
	}
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case now := <-t.C:
			c.mu.Lock()
			states := make([]*nspState, 0, len(c.nsps))
			for _, st := range c.nsps {
				states = append(states, st)
			}
			c.mu.Unlock()
			for _, st := range states {
				c.flushLive(st, now)
			}
		}
	}
}
