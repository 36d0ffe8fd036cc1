// Package redis is a Socket.IO adapter that shares broadcasts and cluster
// calls between nodes through Redis pub/sub, wire-compatible with Node's
// @socket.io/redis-adapter 8 and @socket.io/redis-emitter 5: siogo and
// Node.js nodes serve one cluster, and an emitter reaches siogo's clients.
//
//	rc, err := redis.NewClient(redis.Options{URL: "redis://localhost:6379/0"})
//	srv, err := server.New(server.Options{NewAdapter: rc.NewAdapter})
//
// Local delivery never waits for Redis: when Redis is unreachable, at start
// or later, the node serves its own clients, and the client reconnects with
// backoff and subscribes again.
package redis

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Options configure a Client.
type Options struct {
	// URL of the Redis server, redis://[user:password@]host:port[/db].
	URL string
	// Prefix of the channels. Default "socket.io", as Node's adapter.
	Prefix string
	// RequestsTimeout bounds the wait for other nodes' answers. Default 5s.
	RequestsTimeout time.Duration
	// PublishOnSpecificResponseChannel answers requests on the requester's
	// own channel, as the Node option of that name.
	PublishOnSpecificResponseChannel bool
	// Sharded uses Redis 7 sharded pub/sub (SSUBSCRIBE, SPUBLISH) with the
	// protocol of Node's createShardedAdapter; every node of a cluster
	// must use the same mode. redigo speaks to one server: a Redis Cluster
	// needs a cluster-aware client, which this adapter does not have.
	Sharded bool
	// SubscriptionMode of the sharded mode: "dynamic" (Node's default: a
	// channel per public room), "dynamic-private" (per room, socket ids
	// included) or "static" (one channel per namespace).
	SubscriptionMode string
	// Logger receives the adapter's logs. Default slog.Default().
	Logger *slog.Logger
}

// ErrNotConnected is what Ready reports while the subscription is down.
var ErrNotConnected = errors.New("redis adapter: not connected to Redis")

// Client is one node's connection to Redis: a pool for publishing and one
// subscription that all the node's namespace adapters share.
type Client struct {
	opts Options
	pool *redis.Pool
	log  *slog.Logger

	mu       sync.Mutex
	channels map[string]handler // channels to subscribe, by name
	patterns map[string]handler // patterns to subscribe (classic mode)
	sub      redis.Conn         // the subscription; nil while disconnected
	wmu      sync.Mutex         // one writer on sub at a time
	ready    error
	closed   bool
	done     chan struct{}
	stopped  chan struct{}
}

// NewClient starts the subscription loop. It does not wait for Redis: an
// unreachable server is retried with backoff, and Ready says how it goes.
func NewClient(opts Options) (*Client, error) {
	if opts.Prefix == "" {
		opts.Prefix = "socket.io"
	}
	if opts.RequestsTimeout <= 0 {
		opts.RequestsTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	switch opts.SubscriptionMode {
	case "":
		opts.SubscriptionMode = "dynamic"
	case "dynamic", "dynamic-private", "static":
	default:
		return nil, fmt.Errorf("redis adapter: unknown subscription mode %q", opts.SubscriptionMode)
	}
	if !strings.HasPrefix(opts.URL, "redis://") && !strings.HasPrefix(opts.URL, "rediss://") {
		return nil, fmt.Errorf("redis adapter: URL %q is not redis://host:port/db", opts.URL)
	}
	c := &Client{
		opts:     opts,
		log:      opts.Logger,
		channels: map[string]handler{},
		patterns: map[string]handler{},
		ready:    ErrNotConnected,
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	c.pool = &redis.Pool{
		MaxIdle:     8,
		MaxActive:   64,
		Wait:        false,
		IdleTimeout: 4 * time.Minute,
		Dial:        c.dial,
		TestOnBorrow: func(conn redis.Conn, t time.Time) error {
			if time.Since(t) < time.Minute {
				return nil
			}
			_, err := conn.Do("PING")
			return err
		},
	}
	go c.loop()
	return c, nil
}

func (c *Client) dial() (redis.Conn, error) {
	return redis.DialURL(c.opts.URL,
		redis.DialConnectTimeout(2*time.Second),
		redis.DialReadTimeout(5*time.Second),
		redis.DialWriteTimeout(5*time.Second))
}

// Ready reports nil while the node is subscribed, for /readyz.
func (c *Client) Ready() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ready
}

// Close stops the subscription and the pool.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	sub := c.sub
	c.mu.Unlock()
	if sub != nil {
		_ = sub.Close()
	}
	<-c.stopped
	return c.pool.Close()
}

// publish sends msg on channel. Failures are logged and returned: the
// caller's local delivery goes on regardless.
func (c *Client) publish(channel string, msg []byte) error {
	conn := c.pool.Get()
	defer conn.Close()
	cmd := "PUBLISH"
	if c.opts.Sharded {
		cmd = "SPUBLISH"
	}
	if _, err := conn.Do(cmd, channel, msg); err != nil {
		c.log.Debug("redis adapter: publish failed", "channel", channel, "err", err)
		return fmt.Errorf("redis adapter: publish: %w", err)
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
		return 0, fmt.Errorf("redis adapter: PUBSUB NUMSUB: %w", err)
	}
	if len(v) != 2 {
		return 0, fmt.Errorf("redis adapter: PUBSUB NUMSUB answered %v", v)
	}
	return redis.Int(v[1], nil)
}

// handler receives the messages of a subscription.
type handler interface {
	onMessage(channel string, data []byte)
}

// subscribe adds channels (and, in classic mode, patterns) for h, now if
// connected, and at every reconnection.
func (c *Client) subscribe(h handler, channels, patterns []string) {
	c.mu.Lock()
	for _, ch := range channels {
		c.channels[ch] = h
	}
	for _, p := range patterns {
		c.patterns[p] = h
	}
	sub := c.sub
	c.mu.Unlock()
	if sub != nil {
		c.wmu.Lock()
		_ = c.sendSubscribe(sub, channels, patterns, false)
		c.wmu.Unlock()
	}
}

func (c *Client) unsubscribe(channels, patterns []string) {
	c.mu.Lock()
	for _, ch := range channels {
		delete(c.channels, ch)
	}
	for _, p := range patterns {
		delete(c.patterns, p)
	}
	sub := c.sub
	c.mu.Unlock()
	if sub != nil {
		c.wmu.Lock()
		_ = c.sendSubscribe(sub, channels, patterns, true)
		c.wmu.Unlock()
	}
}

// sendSubscribe writes the (un)subscribe commands of the client's mode.
// c.wmu is held.
func (c *Client) sendSubscribe(conn redis.Conn, channels, patterns []string, un bool) error {
	cmd, pcmd := "SUBSCRIBE", "PSUBSCRIBE"
	if c.opts.Sharded {
		cmd = "SSUBSCRIBE"
	}
	if un {
		cmd, pcmd = strings.Replace(cmd, "SUB", "UNSUB", 1), "PUNSUBSCRIBE"
	}
	if len(channels) > 0 {
		if err := conn.Send(cmd, redis.Args{}.AddFlat(channels)...); err != nil {
			return err
		}
	}
	if len(patterns) > 0 {
		if err := conn.Send(pcmd, redis.Args{}.AddFlat(patterns)...); err != nil {
			return err
		}
	}
	return conn.Flush()
}

const healthInterval = 10 * time.Second

// loop keeps the subscription up: connect, subscribe every registered
// channel, receive, and on any failure start again after a backoff.
func (c *Client) loop() {
	defer close(c.stopped)
	backoff := 100 * time.Millisecond
	for {
		err := c.session()
		select {
		case <-c.done:
			return
		default:
		}
		c.mu.Lock()
		c.ready = fmt.Errorf("%w: %v", ErrNotConnected, err)
		c.mu.Unlock()
		c.log.Warn("redis adapter: subscription lost; retrying", "err", err, "in", backoff)
		select {
		case <-c.done:
			return
		case <-time.After(backoff + rand.N(backoff/2)):
		}
		if backoff *= 2; backoff > 5*time.Second {
			backoff = 5 * time.Second
		}
		if c.Ready() == nil {
			backoff = 100 * time.Millisecond
		}
	}
}

// session runs one subscription connection until it fails. Replies are
// read raw: redigo's PubSubConn does not know sharded messages.
func (c *Client) session() error {
	conn, err := redis.DialURL(c.opts.URL, redis.DialConnectTimeout(2*time.Second), redis.DialWriteTimeout(5*time.Second))
	if err != nil {
		return err
	}
	defer conn.Close()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	var patterns, channels []string
	for p := range c.patterns {
		patterns = append(patterns, p)
	}
	for ch := range c.channels {
		channels = append(channels, ch)
	}
	c.sub = conn
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.sub = nil
		c.mu.Unlock()
	}()
	// The health channel goes last: its confirmation means every channel
	// before it is subscribed, and the node is ready.
	c.wmu.Lock()
	err = c.sendSubscribe(conn, append(channels, healthChannel), patterns, false)
	c.wmu.Unlock()
	if err != nil {
		return err
	}
	// redigo takes any read error as fatal, a timeout included, so the
	// link is checked by pings sent every healthInterval: silence for three
	// of them means the server is gone.
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
			c.dispatch(ch, "", data)
		case kind == "pmessage" && len(reply) == 4:
			pattern, _ := redis.String(reply[1], nil)
			ch, _ := redis.String(reply[2], nil)
			data, _ := redis.Bytes(reply[3], nil)
			c.dispatch(ch, pattern, data)
		case (kind == "subscribe" || kind == "ssubscribe") && len(reply) == 3:
			if ch, _ := redis.String(reply[1], nil); ch == healthChannel {
				c.mu.Lock()
				c.ready = nil
				c.mu.Unlock()
				c.log.Info("redis adapter: subscribed", "url", redactURL(c.opts.URL), "sharded", c.opts.Sharded)
			}
		}
	}
}

const healthChannel = "siogo-health"

func (c *Client) dispatch(channel, pattern string, data []byte) {
	c.mu.Lock()
	var h handler
	if pattern != "" {
		h = c.patterns[pattern]
	} else {
		h = c.channels[channel]
	}
	c.mu.Unlock()
	if h == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("redis adapter: handling a message panicked", "channel", channel, "panic", r)
		}
	}()
	h.onMessage(channel, data)
}

func redactURL(u string) string {
	if at := strings.LastIndexByte(u, '@'); at >= 0 {
		return "redis://…" + u[at:]
	}
	return u
}
