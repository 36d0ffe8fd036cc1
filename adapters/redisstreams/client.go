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
// Local delivery follows the stream: a node delivers its own broadcasts
// when it reads them back, in the stream's order, so that every node, and a
// client that comes back to another node, sees one order. When Redis is
// unreachable a node delivers its own broadcasts at once and serves its own
// clients; the client reconnects with backoff and reads on from where it
// stopped.
package redisstreams

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Options configure a Client. The zero value of each field is Node's
// default.
type Options struct {
	// URL of the Redis server, redis://[user:password@]host:port[/db].
	URL string
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
	NoLiveSessions bool
	// Logger receives the adapter's logs. Default slog.Default().
	Logger *slog.Logger
}

// ErrNotConnected is what Ready reports while the stream reader or the
// subscription is down.
var ErrNotConnected = errors.New("redisstreams: not connected to Redis")

// Client is one node's connection to Redis: a pool for commands, one
// connection blocked in XREAD, one subscription; all the node's namespace
// adapters share them.
type Client struct {
	opts Options
	pool *redis.Pool
	log  *slog.Logger

	// deliverMu is held while a stream entry is applied, and while a
	// restored socket joins its rooms (ResumeSession).
	deliverMu sync.Mutex

	mu       sync.Mutex
	adapters map[string]*Adapter // by namespace
	channels map[string]*Adapter // subscribed channels
	last     map[string]streamID // each stream's last entry applied
	started  bool                // the reader knows where each stream was
	early    map[streamID]bool   // own entries delivered before the reader started
	advanced chan struct{}       // closed and renewed when last moves
	sub      redis.Conn
	reader   redis.Conn
	wmu      sync.Mutex // one writer on sub at a time
	subErr   error
	readErr  error
	closed   bool
	done     chan struct{}
	wg       sync.WaitGroup
}

// NewClient starts the stream reader, the subscription and the session
// refresher. It does not wait for Redis; Ready says how it goes.
func NewClient(opts Options) (*Client, error) {
	if !strings.HasPrefix(opts.URL, "redis://") && !strings.HasPrefix(opts.URL, "rediss://") {
		return nil, fmt.Errorf("redisstreams: URL %q is not redis://host:port/db", opts.URL)
	}
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
	if opts.RequestsTimeout <= 0 {
		opts.RequestsTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Client{
		opts:     opts,
		log:      opts.Logger,
		adapters: map[string]*Adapter{},
		channels: map[string]*Adapter{},
		last:     map[string]streamID{},
		early:    map[streamID]bool{},
		advanced: make(chan struct{}),
		subErr:   ErrNotConnected,
		readErr:  ErrNotConnected,
		done:     make(chan struct{}),
	}
	c.pool = &redis.Pool{
		MaxIdle:     8,
		MaxActive:   64,
		IdleTimeout: 4 * time.Minute,
		Dial: func() (redis.Conn, error) {
			return redis.DialURL(opts.URL, redis.DialConnectTimeout(2*time.Second),
				redis.DialReadTimeout(5*time.Second), redis.DialWriteTimeout(5*time.Second))
		},
		TestOnBorrow: func(conn redis.Conn, t time.Time) error {
			if time.Since(t) < time.Minute {
				return nil
			}
			_, err := conn.Do("PING")
			return err
		},
	}
	c.wg.Add(3)
	go c.keep(c.readSession, func(err error) { c.readErr = err }, "stream reader")
	go c.keep(c.subSession, func(err error) { c.subErr = err }, "subscription")
	go c.refreshLoop()
	return c, nil
}

// Ready reports nil while the node reads the stream and is subscribed.
func (c *Client) Ready() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readErr != nil {
		return c.readErr
	}
	return c.subErr
}

// Close stops the reader, the subscription and the pool.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	conns := []redis.Conn{c.sub, c.reader}
	c.mu.Unlock()
	for _, conn := range conns {
		if conn != nil {
			_ = conn.Close()
		}
	}
	c.wg.Wait()
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

// keep runs session until the client closes, again after each failure,
// with backoff.
func (c *Client) keep(session func() error, setErr func(error), what string) {
	defer c.wg.Done()
	backoff := 100 * time.Millisecond
	for {
		began := time.Now()
		err := session()
		if c.isClosed() {
			return
		}
		c.mu.Lock()
		setErr(fmt.Errorf("%w: %v", ErrNotConnected, err))
		c.mu.Unlock()
		if time.Since(began) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		c.log.Warn("redisstreams: "+what+" lost; retrying", "err", err, "in", backoff)
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

func (c *Client) dialRaw() (redis.Conn, error) {
	return redis.DialURL(c.opts.URL, redis.DialConnectTimeout(2*time.Second), redis.DialWriteTimeout(5*time.Second))
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

// readSession reads the streams on a connection of its own until it fails.
// It starts where the streams end (Node's "$"), and after a failure from
// the last entry it applied.
func (c *Client) readSession() error {
	conn, err := c.dialRaw()
	if err != nil {
		return err
	}
	defer conn.Close()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.reader = conn
	started := c.started
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.reader = nil
		c.mu.Unlock()
	}()
	streams := c.streams()
	if !started {
		for _, s := range streams {
			v, err := redis.Values(redis.DoWithTimeout(conn, 5*time.Second, "XREVRANGE", s, "+", "-", "COUNT", 1))
			if err != nil {
				return err
			}
			var id streamID
			if len(v) > 0 {
				entries, err := parseEntries(v)
				if err != nil {
					return err
				}
				id = entries[0].id
			}
			c.mu.Lock()
			c.last[s] = id
			c.mu.Unlock()
		}
		c.mu.Lock()
		c.started = true
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.readErr = nil
	c.mu.Unlock()
	block := c.opts.BlockTime.Milliseconds()
	for {
		args := redis.Args{"BLOCK", block, "COUNT", c.opts.ReadCount, "STREAMS"}.AddFlat(streams)
		c.mu.Lock()
		for _, s := range streams {
			args = append(args, c.last[s].String())
		}
		c.mu.Unlock()
		v, err := redis.Values(redis.DoWithTimeout(conn, c.opts.BlockTime+5*time.Second, "XREAD", args...))
		if errors.Is(err, redis.ErrNil) {
			continue
		}
		if err != nil {
			return err
		}
		for _, sv := range v {
			pair, err := redis.Values(sv, nil)
			if err != nil || len(pair) != 2 {
				return fmt.Errorf("redisstreams: XREAD answered %v", sv)
			}
			stream, _ := redis.String(pair[0], nil)
			items, err := redis.Values(pair[1], nil)
			if err != nil {
				return err
			}
			entries, err := parseEntries(items)
			if err != nil {
				return err
			}
			for _, e := range entries {
				c.apply(stream, e)
			}
		}
		c.mu.Lock()
		close(c.advanced)
		c.advanced = make(chan struct{})
		c.mu.Unlock()
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

// apply hands an entry to its namespace's adapter and records it as read.
func (c *Client) apply(stream string, e entry) {
	c.deliverMu.Lock()
	defer c.deliverMu.Unlock()
	c.mu.Lock()
	early := c.early[e.id]
	delete(c.early, e.id)
	c.mu.Unlock()
	if nsp := e.fields["nsp"]; nsp != "" && !early {
		c.mu.Lock()
		a := c.adapters[nsp]
		c.mu.Unlock()
		if a != nil {
			func() {
				defer func() {
					if r := recover(); r != nil {
						c.log.Error("redisstreams: applying an entry panicked", "id", e.id.String(), "panic", r)
					}
				}()
				a.onEntry(e)
			}()
		}
	}
	c.mu.Lock()
	if c.last[stream].less(e.id) {
		c.last[stream] = e.id
	}
	c.mu.Unlock()
}

// lastRead is the last entry of stream applied here.
func (c *Client) lastRead(stream string) streamID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last[stream]
}

// deliverEarly reports whether an own entry must be applied at once: before
// the reader knows where the stream was, it may start after the entry. The
// reader then skips it, should it read it.
func (c *Client) deliverEarly(id streamID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return false
	}
	c.early[id] = true
	return true
}

// waitApplied waits, a bounded time, until the reader applied id of stream:
// so that a node's own broadcast is delivered here when Emit returns.
func (c *Client) waitApplied(stream string, id streamID) {
	timer := time.NewTimer(2 * time.Second)
	defer timer.Stop()
	for {
		c.mu.Lock()
		reached := !c.last[stream].less(id)
		down := c.readErr != nil
		ch := c.advanced
		c.mu.Unlock()
		if reached || down {
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			return
		case <-c.done:
			return
		}
	}
}

// xadd appends an entry to stream and returns its id.
func (c *Client) xadd(stream string, fields []any) (streamID, error) {
	conn := c.pool.Get()
	defer conn.Close()
	args := append(redis.Args{stream, "MAXLEN", "~", c.opts.MaxLen, "*"}, fields...)
	s, err := redis.String(conn.Do("XADD", args...))
	if err != nil {
		return streamID{}, fmt.Errorf("redisstreams: XADD: %w", err)
	}
	id, ok := parseID(s)
	if !ok {
		return streamID{}, fmt.Errorf("redisstreams: XADD answered %q", s)
	}
	return id, nil
}

func (c *Client) publish(channel string, msg []byte) error {
	conn := c.pool.Get()
	defer conn.Close()
	cmd := "PUBLISH"
	if c.opts.Sharded {
		cmd = "SPUBLISH"
	}
	if _, err := conn.Do(cmd, channel, msg); err != nil {
		return fmt.Errorf("redisstreams: %s: %w", cmd, err)
	}
	return nil
}

// numSub is the number of subscribers of channel: the nodes of a namespace.
func (c *Client) numSub(channel string) (int, error) {
	conn := c.pool.Get()
	defer conn.Close()
	sub := "NUMSUB"
	if c.opts.Sharded {
		sub = "SHARDNUMSUB"
	}
	v, err := redis.Values(conn.Do("PUBSUB", sub, channel))
	if err != nil {
		return 0, fmt.Errorf("redisstreams: PUBSUB %s: %w", sub, err)
	}
	if len(v) != 2 {
		return 0, fmt.Errorf("redisstreams: PUBSUB %s answered %v", sub, v)
	}
	return redis.Int(v[1], nil)
}

// register adds a namespace's adapter and subscribes its channels.
func (c *Client) register(a *Adapter, channels []string) {
	c.mu.Lock()
	c.adapters[a.nsp.Name()] = a
	for _, ch := range channels {
		c.channels[ch] = a
	}
	sub := c.sub
	c.mu.Unlock()
	if sub != nil {
		c.wmu.Lock()
		_ = c.sendSubscribe(sub, channels, false)
		c.wmu.Unlock()
	}
}

func (c *Client) unregister(a *Adapter, channels []string) {
	c.mu.Lock()
	if c.adapters[a.nsp.Name()] == a {
		delete(c.adapters, a.nsp.Name())
	}
	for _, ch := range channels {
		delete(c.channels, ch)
	}
	sub := c.sub
	c.mu.Unlock()
	if sub != nil {
		c.wmu.Lock()
		_ = c.sendSubscribe(sub, channels, true)
		c.wmu.Unlock()
	}
}

// sendSubscribe writes one (S)SUBSCRIBE per channel (sharded channels of
// one command must share a slot). c.wmu is held.
func (c *Client) sendSubscribe(conn redis.Conn, channels []string, un bool) error {
	cmd := "SUBSCRIBE"
	if c.opts.Sharded {
		cmd = "SSUBSCRIBE"
	}
	if un {
		cmd = strings.Replace(cmd, "SUB", "UNSUB", 1)
	}
	for _, ch := range channels {
		if err := conn.Send(cmd, ch); err != nil {
			return err
		}
	}
	return conn.Flush()
}

const (
	healthChannel  = "siogo-health"
	healthInterval = 10 * time.Second
)

// subSession runs one subscription connection until it fails. Replies are
// read raw: redigo's PubSubConn does not know sharded messages.
func (c *Client) subSession() error {
	conn, err := c.dialRaw()
	if err != nil {
		return err
	}
	defer conn.Close()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	channels := make([]string, 0, len(c.channels)+1)
	for ch := range c.channels {
		channels = append(channels, ch)
	}
	slices.Sort(channels)
	c.sub = conn
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.sub = nil
		c.mu.Unlock()
	}()
	// The health channel goes last: its confirmation means every channel
	// before it is subscribed.
	c.wmu.Lock()
	err = c.sendSubscribe(conn, append(channels, healthChannel), false)
	c.wmu.Unlock()
	if err != nil {
		return err
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(healthInterval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				c.wmu.Lock()
				err := conn.Send("PING")
				if err == nil {
					err = conn.Flush()
				}
				c.wmu.Unlock()
				if err != nil {
					return
				}
			}
		}
	}()
	for {
		reply, err := redis.Values(redis.ReceiveWithTimeout(conn, 3*healthInterval))
		if err != nil {
			return err
		}
		var kind string
		if len(reply) > 0 {
			kind, _ = redis.String(reply[0], nil)
		}
		switch {
		case (kind == "message" || kind == "smessage") && len(reply) == 3:
			ch, _ := redis.String(reply[1], nil)
			data, _ := redis.Bytes(reply[2], nil)
			c.mu.Lock()
			a := c.channels[ch]
			c.mu.Unlock()
			if a != nil {
				a.onPubSub(data)
			}
		case (kind == "subscribe" || kind == "ssubscribe") && len(reply) == 3:
			if ch, _ := redis.String(reply[1], nil); ch == healthChannel {
				c.mu.Lock()
				c.subErr = nil
				c.mu.Unlock()
				c.log.Info("redisstreams: subscribed", "url", redactURL(c.opts.URL))
			}
		}
	}
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
			adapters := make([]*Adapter, 0, len(c.adapters))
			for _, a := range c.adapters {
				adapters = append(adapters, a)
			}
			c.mu.Unlock()
			for _, a := range adapters {
				a.flushLive(now)
			}
		}
	}
}

func redactURL(u string) string {
	if at := strings.LastIndexByte(u, '@'); at >= 0 {
		return "redis://…" + u[at:]
	}
	return u
}
