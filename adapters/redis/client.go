// Package redis is a Socket.IO adapter that shares broadcasts and cluster
// calls between nodes through Redis pub/sub, wire-compatible with Node's
// @socket.io/redis-adapter 8 and @socket.io/redis-emitter 5: siogo and
// Node.js nodes serve one cluster, and an emitter reaches siogo's clients.
//
//	rc, err := redis.NewClient(redis.Options{URL: "redis://localhost:6379/0"})
//	srv, err := server.New(server.Options{NewAdapter: rc.NewAdapter})
//
// A Client is a broker of siogo's adapter contract (adapters/cluster):
// NewAdapter is cluster.NewAdapter over it, and the Client translates the
// contract's messages to the protocol of the mode it speaks.
//
// With a redis-cluster:// URL it runs over a Redis Cluster, in both modes:
// classic PUBLISH reaches every node of the cluster, and in the sharded
// mode each channel is subscribed on the shard that owns its slot.
//
// Local delivery never waits for Redis: when Redis is unreachable, at start
// or later, the node serves its own clients, and the client reconnects with
// backoff and subscribes again, following failovers and moved slots on a
// cluster. Stats counts what was lost meanwhile. A Redis that answers but
// refuses the first connection (credentials, database, TLS) is no outage:
// NewClient returns a *RefusedError.
//
// rediss:// and rediss-cluster:// are the TLS twins of redis:// and
// redis-cluster://; Options.TLSConfig sets the roots, client certificate
// and server name.
package redis

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/siogo/siogo/adapters/cluster"
	"github.com/siogo/siogo/internal/redisnet"
	"github.com/siogo/siogo/server"
)

// Options configure a Client.
type Options struct {
	// URL of the Redis server, redis://[user:password@]host:port[/db], or
	// of a Redis Cluster, redis-cluster://[user:password@]h1:p1,h2:p2,...
	// (some of its nodes; the others are discovered); rediss:// and
	// rediss-cluster:// for TLS.
	URL string
	// TLSConfig configures the TLS of a rediss URL: RootCAs (nil: the
	// system's), Certificates for a Redis that asks for a client
	// certificate (tls-auth-clients), ServerName when the certificate names
	// another host than the URL (or than the addresses a cluster announces).
	// Ignored by a redis:// URL.
	TLSConfig *tls.Config
	// Prefix of the channels. Default "socket.io", as Node's adapter.
	Prefix string
	// RequestsTimeout bounds the wait for other nodes' answers. Default 5s.
	RequestsTimeout time.Duration
	// PublishOnSpecificResponseChannel answers requests on the requester's
	// own channel, as the Node option of that name.
	PublishOnSpecificResponseChannel bool
	// Sharded uses Redis 7 sharded pub/sub (SSUBSCRIBE, SPUBLISH) with the
	// protocol of Node's createShardedAdapter; every node of a cluster
	// must use the same mode. On a Redis Cluster each channel lives on the
	// shard that owns its slot.
	Sharded bool
	// SubscriptionMode of the sharded mode: "dynamic" (Node's default: a
	// channel per public room), "dynamic-private" (per room, socket ids
	// included) or "static" (one channel per namespace).
	SubscriptionMode string
	// Logger receives the adapter's logs. Default slog.Default().
	Logger *slog.Logger
	// PublishQueue bounds the messages waiting to be handed to Redis.
	// Publishing never blocks local delivery: a full queue drops the
	// message for the other nodes (Stats.PublishDropped). Default 1024.
	PublishQueue int
	// PublishTimeout is the deadline of one PUBLISH, and the longest a
	// message waits in the queue before it is dropped rather than sent
	// late. Default 2s.
	PublishTimeout time.Duration
	// HealthCheckInterval is how often an idle connection to Redis is
	// checked with a PING; a subscription link silent for three intervals
	// is taken as lost, and Ready reports it. Default 1s.
	HealthCheckInterval time.Duration
}

// ErrNotConnected is what Ready reports while the subscription is down.
var ErrNotConnected = errors.New("redis adapter: not connected to Redis")

// RefusedError is what NewClient returns when Redis answered its first
// connection but refused it for a reason retrying cannot mend: the
// credentials (WRONGPASS, NOAUTH), a database index it does not have, a
// certificate that does not verify, a server that does not speak TLS, a
// cluster URL for a server that is not one. It names the address, never
// the password:
//
//	var refused *redis.RefusedError
//	if errors.As(err, &refused) { log.Fatal(refused.Addr, refused.Reason) }
type RefusedError = redisnet.RefusedError

// Client is one node's connection to Redis, shared by all the node's
// namespace adapters: connections for publishing, and subscription links
// (one to a single server; on a cluster, one to the chosen node in the
// classic mode, one per shard in use in the sharded mode).
type Client struct {
	opts       Options
	log        *slog.Logger
	tg         *redisnet.Target
	pool       *redis.Pool       // a single server
	cl         *redisnet.Cluster // a Redis Cluster, or nil
	subs       *redisnet.Subscriptions
	pub        publisher
	st         stats
	newAdapter func(*server.Namespace) server.Adapter

	mu   sync.Mutex
	nsps map[string]*nspState // by namespace
}

// NewClient connects once to Redis, then starts the subscription loop. A
// server that cannot be reached is no error: it is retried with backoff,
// and Ready says how it goes. A server that refuses the connection for a
// reason retrying cannot mend is: NewClient returns a *RefusedError.
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
	if opts.PublishQueue <= 0 {
		opts.PublishQueue = 1024
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = 2 * time.Second
	}
	if opts.HealthCheckInterval <= 0 {
		opts.HealthCheckInterval = time.Second
	}
	switch opts.SubscriptionMode {
	case "":
		opts.SubscriptionMode = "dynamic"
	case "dynamic", "dynamic-private", "static":
	default:
		return nil, fmt.Errorf("redis adapter: unknown subscription mode %q", opts.SubscriptionMode)
	}
	tg, err := redisnet.ParseURL("redis adapter", opts.URL, opts.TLSConfig)
	if err != nil {
		return nil, err
	}
	if err := tg.Check(); err != nil {
		var refused *RefusedError
		if errors.As(err, &refused) {
			return nil, err
		}
		opts.Logger.Warn("redis adapter: Redis does not answer yet; serving this node's clients and retrying", "addr", tg.Where(), "err", err)
	}
	c := &Client{opts: opts, log: opts.Logger, tg: tg, nsps: map[string]*nspState{}}
	c.newAdapter = cluster.NewAdapter(c, cluster.Options{RequestsTimeout: opts.RequestsTimeout, Logger: opts.Logger})
	if tg.Cluster {
		c.cl = redisnet.NewCluster(tg, opts.PublishTimeout, &c.st.net)
	} else {
		c.pool = redisnet.NewPool(func() (redis.Conn, error) { return tg.Dial("", 5*time.Second) })
	}
	c.subs = redisnet.NewSubscriptions(redisnet.SubConfig{
		Name: "redis adapter", URL: opts.URL, Addr: tg.Addrs[0], Sharded: opts.Sharded, Cluster: c.cl,
		Dial: c.dialSub, Dispatch: c.dispatch, HealthCheckInterval: opts.HealthCheckInterval,
		ErrNotConnected: ErrNotConnected, Log: c.log, Counters: &c.st.net,
	})
	c.pub.init(c)
	go c.pub.run()
	return c, nil
}

// dialSub opens a subscription connection to addr: the link's reads have
// the deadline of its health check.
func (c *Client) dialSub(addr string, timeout time.Duration) (redis.Conn, error) {
	return c.tg.Dial(addr, timeout)
}

// Ready reports nil while the node is subscribed to every channel it
// needs and Redis answers on the publish connection, for /readyz.
func (c *Client) Ready() error {
	if err := c.subs.Ready(); err != nil {
		return err
	}
	return c.pub.ready()
}

// Close sends what is queued (for at most PublishTimeout), then stops the
// subscriptions and the pools.
func (c *Client) Close() error {
	c.pub.close()
	if !c.subs.Close() {
		return nil
	}
	if c.cl != nil {
		return c.cl.Close()
	}
	return c.pool.Close()
}

// publish queues msg for channel without waiting: see publisher.
func (c *Client) publish(channel string, msg []byte) error {
	return c.pub.enqueue(channel, msg)
}

// publishNow sends msg on channel, through the single server, or on a
// cluster through the node chosen for the channel: the same one for every
// message of a channel while the topology holds, so that one sender's
// messages keep their order. Each try has the deadline PublishTimeout.
func (c *Client) publishNow(channel string, msg []byte) error {
	cmd := "PUBLISH"
	if c.opts.Sharded {
		cmd = "SPUBLISH"
	}
	var err error
	if c.cl != nil {
		err = c.cl.Publish(cmd, channel, msg)
	} else {
		conn := c.pool.Get()
		_, err = redis.DoWithTimeout(conn, c.opts.PublishTimeout, cmd, channel, msg)
		conn.Close()
	}
	if err != nil {
		c.log.Debug("redis adapter: publish failed", "channel", channel, "err", err)
		return fmt.Errorf("redis adapter: publish: %w", err)
	}
	return nil
}

// numSub is the number of subscribers of channel: the nodes of a namespace.
// On a cluster, the sum over every node, replicas included (a Node.js
// node may subscribe on a replica).
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
	return numSubOn(conn, c.opts.PublishTimeout, sub, channel)
}

func numSubOn(conn redis.Conn, timeout time.Duration, sub, channel string) (int, error) {
	n, err := redisnet.NumSubOn(conn, timeout, sub, channel)
	if err != nil {
		return 0, fmt.Errorf("redis adapter: %w", err)
	}
	return n, nil
}

func redactURL(u string) string { return redisnet.RedactURL(u) }
