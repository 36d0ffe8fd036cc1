package socketio

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
)

// RedisAdapterOptions configure Server.Adapter, with googollee v1.7.0's
// fields. The adapter behind it is siogo's adapters/redis, which speaks
// Node's @socket.io/redis-adapter protocol, not googollee's.
type RedisAdapterOptions struct {
	// Host and Port, deprecated in googollee for Addr, are used when Addr
	// is empty (googollee v1.7.0 ignored them and dialled 127.0.0.1:6379).
	Host string
	Port string
	// Addr is host:port. Default 127.0.0.1:6379.
	Addr string
	// Prefix of the Redis channels. Default "socket.io", as Node's.
	Prefix string
	// Network must be "tcp" (the default): siogo's adapter dials TCP.
	Network  string
	Password string
	// DB selects the database (googollee v1.7.0 dropped it on the way).
	DB int
}

// redisURL returns the redis:// URL the options describe.
func (o *RedisAdapterOptions) redisURL() (string, error) {
	var opts RedisAdapterOptions
	if o != nil {
		opts = *o
	}
	addr := opts.Addr
	if addr == "" && (opts.Host != "" || opts.Port != "") {
		host, port := opts.Host, opts.Port
		if host == "" {
			host = "127.0.0.1"
		}
		if port == "" {
			port = "6379"
		}
		addr = net.JoinHostPort(host, port)
	}
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	switch opts.Network {
	case "", "tcp", "tcp4", "tcp6":
	default:
		return "", fmt.Errorf("socketio: redis network %q: only tcp is supported", opts.Network)
	}
	u := url.URL{Scheme: "redis", Host: addr, Path: "/" + strconv.Itoa(opts.DB)}
	if opts.Password != "" {
		u.User = url.UserPassword("", opts.Password)
	}
	return u.String(), nil
}

func (o *RedisAdapterOptions) prefix() string {
	if o == nil || o.Prefix == "" {
		return "socket.io"
	}
	return o.Prefix
}
