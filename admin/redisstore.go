package admin

import (
	"context"
	"crypto/tls"
	"time"

	"github.com/gomodule/redigo/redis"
)

// RedisStoreOptions configure a RedisStore; the zero value is Node's.
type RedisStoreOptions struct {
	// Prefix of the keys, each prefix#id. Default "socket.io-admin".
	Prefix string
	// TTL is how long a session lasts. Default 24h.
	TTL time.Duration
	// TLSConfig configures the TLS of a rediss:// URL (roots, client
	// certificate, server name); nil: the system's roots.
	TLSConfig *tls.Config
}

// RedisStore keeps the session ids in Redis, so that every node of a
// cluster accepts them: a UI whose connection moves to another node stays
// logged in. Its keys are those of Node's RedisStore, so siogo and Node
// nodes share them.
type RedisStore struct {
	pool   *redis.Pool
	prefix string
	ttl    time.Duration
}

// NewRedisStore returns a store on the Redis server at url
// (redis://[user:password@]host:port/db, or rediss:// for TLS).
func NewRedisStore(url string, opts RedisStoreOptions) *RedisStore {
	if opts.Prefix == "" {
		opts.Prefix = "socket.io-admin"
	}
	if opts.TTL <= 0 {
		opts.TTL = 24 * time.Hour
	}
	return &RedisStore{
		prefix: opts.Prefix,
		ttl:    opts.TTL,
		pool: &redis.Pool{
			MaxIdle:     2,
			IdleTimeout: time.Minute,
			Dial: func() (redis.Conn, error) {
				return redis.DialURL(url, redis.DialConnectTimeout(2*time.Second),
					redis.DialReadTimeout(5*time.Second), redis.DialWriteTimeout(5*time.Second),
					redis.DialTLSConfig(opts.TLSConfig))
			},
		},
	}
}

func (r *RedisStore) key(id string) string { return r.prefix + "#" + id }

// SessionExists implements Store.
func (r *RedisStore) SessionExists(ctx context.Context, id string) (bool, error) {
	c, err := r.pool.GetContext(ctx)
	if err != nil {
		return false, err
	}
	defer c.Close()
	n, err := redis.Int(c.Do("EXISTS", r.key(id)))
	return n == 1, err
}

// SaveSession implements Store.
func (r *RedisStore) SaveSession(ctx context.Context, id string) error {
	c, err := r.pool.GetContext(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Do("SET", r.key(id), "true", "EX", int64(r.ttl/time.Second))
	return err
}

// Close closes the store's connections.
func (r *RedisStore) Close() error { return r.pool.Close() }
