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
	channels map[string]*Adapter // request and response channels
	patterns map[string]*Adapter // broadcast channel patterns
	psc      *redis.PubSubConn   // nil while disconnected
	wmu      sync.Mutex          // one writer on psc at a time
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
	if !strings.HasPrefix(opts.URL, "redis://") && !strings.HasPrefix(opts.URL, "rediss://") {
		return nil, fmt.Errorf("redis adapter: URL %q is not redis://host:port/db", opts.URL)
	}
	c := &Client{
		opts:     opts,
		log:      opts.Logger,
		channels: map[string]*Adapter{},
		patterns: map[string]*Adapter{},
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
	psc := c.psc
	c.mu.Unlock()
	if psc != nil {
		_ = psc.Close()
	}
	<-c.stopped
	return c.pool.Close()
}

// publish sends msg on channel. Failures are logged and returned: the
// caller's local delivery goes on regardless.
func (c *Client) publish(channel string, msg []byte) error {
	conn := c.pool.Get()
	defer conn.Close()
	if _, err := conn.Do("PUBLISH", channel, msg); err != nil {
		c.log.Debug("redis adapter: publish failed", "channel", channel, "err", err)
		return fmt.Errorf("redis adapter: publish: %w", err)
	}
	return nil
}

// numSub is the number of subscribers of channel: the nodes of a namespace.
func (c *Client) numSub(channel string) (int, error) {
	conn := c.pool.Get()
	defer conn.Close()
	v, err := redis.Values(conn.Do("PUBSUB", "NUMSUB", channel))
	if err != nil {
		return 0, fmt.Errorf("redis adapter: PUBSUB NUMSUB: %w", err)
	}
	if len(v) != 2 {
		return 0, fmt.Errorf("redis adapter: PUBSUB NUMSUB answered %v", v)
	}
	return redis.Int(v[1], nil)
}

// register subscribes an adapter's channels, now if connected, and at every
// reconnection.
func (c *Client) register(a *Adapter) {
	c.mu.Lock()
	c.patterns[a.channel+"*"] = a
	for _, ch := range a.subscribedChannels() {
		c.channels[ch] = a
	}
	psc := c.psc
	c.mu.Unlock()
	if psc != nil {
		c.wmu.Lock()
		_ = psc.PSubscribe(a.channel + "*")
		_ = psc.Subscribe(redis.Args{}.AddFlat(a.subscribedChannels())...)
		c.wmu.Unlock()
	}
}

func (c *Client) unregister(a *Adapter) {
	c.mu.Lock()
	delete(c.patterns, a.channel+"*")
	for _, ch := range a.subscribedChannels() {
		delete(c.channels, ch)
	}
	psc := c.psc
	c.mu.Unlock()
	if psc != nil {
		c.wmu.Lock()
		_ = psc.PUnsubscribe(a.channel + "*")
		_ = psc.Unsubscribe(redis.Args{}.AddFlat(a.subscribedChannels())...)
		c.wmu.Unlock()
	}
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
		c.psc = nil
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

// session runs one subscription connection until it fails.
func (c *Client) session() error {
	conn, err := redis.DialURL(c.opts.URL, redis.DialConnectTimeout(2*time.Second), redis.DialWriteTimeout(5*time.Second))
	if err != nil {
		return err
	}
	psc := &redis.PubSubConn{Conn: conn}
	defer psc.Close()
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
	c.psc = psc
	c.mu.Unlock()
	// The health channel goes last: its confirmation means every channel
	// before it is subscribed, and the node is ready.
	c.wmu.Lock()
	if len(channels) > 0 {
		err = psc.Subscribe(redis.Args{}.AddFlat(channels)...)
	}
	if err == nil && len(patterns) > 0 {
		err = psc.PSubscribe(redis.Args{}.AddFlat(patterns)...)
	}
	if err == nil {
		err = psc.Subscribe("siogo-health")
	}
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
				err := psc.Ping("")
				c.wmu.Unlock()
				if err != nil {
					return
				}
			}
		}
	}()
	for {
		switch v := psc.ReceiveWithTimeout(3 * healthInterval).(type) {
		case redis.Message:
			c.dispatch(v)
		case redis.Subscription:
			if v.Channel == "siogo-health" && v.Kind == "subscribe" {
				c.mu.Lock()
				c.ready = nil
				c.mu.Unlock()
				c.log.Info("redis adapter: subscribed", "url", redactURL(c.opts.URL))
			}
		case error:
			return v
		}
	}
}

func (c *Client) dispatch(m redis.Message) {
	c.mu.Lock()
	var a *Adapter
	if m.Pattern != "" {
		a = c.patterns[m.Pattern]
	} else {
		a = c.channels[m.Channel]
	}
	c.mu.Unlock()
	if a == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("redis adapter: handling a message panicked", "channel", m.Channel, "panic", r)
		}
	}()
	if m.Pattern != "" {
		a.onBroadcast(m.Channel, m.Data)
		return
	}
	a.onRequestOrResponse(m.Channel, m.Data)
}

func redactURL(u string) string {
	if at := strings.LastIndexByte(u, '@'); at >= 0 {
		return "redis://…" + u[at:]
	}
	return u
}
