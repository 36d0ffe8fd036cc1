package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// The --adapter forms of Redis, each with its TLS twin (rediss, as the
// Redis ecosystem spells TLS), and the URL each adapter's library takes.
var redisForms = map[string]struct {
	streams bool
	scheme  string // of the library's URL
}{
	"redis":                  {false, "redis"},
	"rediss":                 {false, "rediss"},
	"redis-cluster":          {false, "redis-cluster"},
	"rediss-cluster":         {false, "rediss-cluster"},
	"redis-streams":          {true, "redis"},
	"rediss-streams":         {true, "rediss"},
	"redis-streams-cluster":  {true, "redis-cluster"},
	"rediss-streams-cluster": {true, "rediss-cluster"},
}

// adapterForms lists --adapter's values, for its help and its error.
const adapterForms = "memory, redis://host:port/db (pub/sub), redis-streams://host:port/db (Redis Streams), " +
	"or on a Redis Cluster redis-cluster://h1:p1,h2:p2,h3:p3 (pub/sub) or redis-streams-cluster://h1:p1,h2:p2,h3:p3 (Redis Streams); " +
	"over TLS rediss://, rediss-streams://, rediss-cluster:// and rediss-streams-cluster:// (see --redis-ca-file); " +
	"or postgres://user:password@host:port/db (PostgreSQL NOTIFY)"

// redisAdapter reads a Redis --adapter: whether it is the streams one, and
// the URL its library takes; ok false for another adapter.
func redisAdapter(adapter string) (streams bool, url string, ok bool) {
	scheme, rest, found := strings.Cut(adapter, "://")
	f, known := redisForms[scheme]
	if !found || !known {
		return false, "", false
	}
	return f.streams, f.scheme + "://" + rest, true
}

// isRedisPubSub and isRedisStreams tell --adapter's Redis forms.
func isRedisPubSub(adapter string) bool {
	streams, _, ok := redisAdapter(adapter)
	return ok && !streams
}

func isRedisStreams(adapter string) bool {
	streams, _, ok := redisAdapter(adapter)
	return ok && streams
}

// streamsURL is the streams adapter's URL of a redis-streams form.
func streamsURL(adapter string) string {
	_, url, _ := redisAdapter(adapter)
	return url
}

// adminStoreURL is the URL of the Admin UI's session store: the Redis
// server of a single-server adapter (a cluster has no store: sessions
// stay per node).
func adminStoreURL(adapter string) (string, bool) {
	_, url, ok := redisAdapter(adapter)
	if !ok || strings.HasPrefix(url, "redis-cluster://") || strings.HasPrefix(url, "rediss-cluster://") {
		return "", false
	}
	return url, true
}

// redisTLS is the TLS configuration of a rediss adapter from the
// --redis-* flags: nil for a plain adapter, which they must not be given
// with (a forgotten "s" would send in clear what was meant to be secret).
func redisTLS(cfg config) (*tls.Config, error) {
	_, url, isRedis := redisAdapter(cfg.Adapter)
	secure := isRedis && strings.HasPrefix(url, "rediss")
	set := cfg.RedisCAFile != "" || cfg.RedisCertFile != "" || cfg.RedisKeyFile != "" || cfg.RedisTLSServerName != ""
	if !secure {
		if set {
			return nil, errors.New("--redis-ca-file, --redis-cert-file, --redis-key-file and --redis-tls-server-name need a TLS adapter: rediss://, rediss-streams://, rediss-cluster:// or rediss-streams-cluster://")
		}
		return nil, nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.RedisTLSServerName}
	if cfg.RedisCAFile != "" {
		pem, err := os.ReadFile(cfg.RedisCAFile)
		if err != nil {
			return nil, fmt.Errorf("--redis-ca-file: %w", err)
		}
		conf.RootCAs = x509.NewCertPool()
		if !conf.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--redis-ca-file: no PEM certificate in %s", cfg.RedisCAFile)
		}
	}
	if (cfg.RedisCertFile == "") != (cfg.RedisKeyFile == "") {
		return nil, errors.New("--redis-cert-file and --redis-key-file go together")
	}
	if cfg.RedisCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.RedisCertFile, cfg.RedisKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--redis-cert-file, --redis-key-file: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}
