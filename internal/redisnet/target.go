package redisnet

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Target is where a client's connections go: one Redis server, or the
// seeds of a Redis Cluster, with the credentials, database and TLS its
// URL names. Every connection of both adapters is dialled through it.
type Target struct {
	// Name prefixes errors: "redis adapter", "redisstreams".
	Name string
	// Cluster tells a Redis Cluster URL (redis-cluster://, rediss-cluster://).
	Cluster bool
	// Addrs is the server's host:port, or the cluster's seeds.
	Addrs []string
	// DB is the database of a single server (a cluster has 0 only).
	DB int
	// TLS is the configuration of a rediss URL's connections, nil without
	// TLS. Its ServerName, when empty, is each address's host.
	TLS *tls.Config

	username, password string
	raw                string
}

// The URL schemes: a single server and a Redis Cluster, each with its TLS
// twin, as the Redis ecosystem spells them (redis-cli, node-redis, ioredis,
// redis-py take rediss:// for TLS).
var schemes = map[string]struct{ cluster, tls bool }{
	"redis":          {false, false},
	"rediss":         {false, true},
	"redis-cluster":  {true, false},
	"rediss-cluster": {true, true},
}

var dbPath = regexp.MustCompile(`^/?([0-9]*)$`)

// ParseURL reads redis://[user:password@]host:port[/db], or
// redis-cluster://[user:password@]h1:p1,h2:p2[/0] for a Redis Cluster
// (some of its nodes; the rest are discovered), or their TLS twins
// rediss:// and rediss-cluster://, whose connections use tlsConf (nil: the
// system's roots). name prefixes errors. It does not connect.
func ParseURL(name, raw string, tlsConf *tls.Config) (*Target, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	kind, known := schemes[scheme]
	if !ok || !known {
		return nil, fmt.Errorf("%s: URL %q is none of redis://host:port/db, rediss://host:port/db, redis-cluster://h1:p1,h2:p2 or rediss-cluster://h1:p1,h2:p2", name, RedactURL(raw))
	}
	t := &Target{Name: name, Cluster: kind.cluster, raw: raw}
	if kind.tls {
		t.TLS = tlsConf
		if t.TLS == nil {
			t.TLS = &tls.Config{}
		}
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		u, err := url.Parse("redis://" + rest[:at+1] + "x")
		if err != nil || u.User == nil {
			return nil, fmt.Errorf("%s: bad credentials in %q", name, RedactURL(raw))
		}
		t.username = u.User.Username()
		t.password, _ = u.User.Password()
		if t.password == "" {
			t.username, t.password = "", t.username // redis://:pass@ and redis://pass@ alike
		}
		rest = rest[at+1:]
	}
	hosts, path, _ := strings.Cut(rest, "/")
	if q := strings.IndexAny(path, "?#"); q >= 0 {
		return nil, fmt.Errorf("%s: %q: query parameters are not read; put the database in the path", name, RedactURL(raw))
	}
	m := dbPath.FindStringSubmatch(path)
	if m == nil {
		return nil, fmt.Errorf("%s: %q: the database %q is not a number", name, RedactURL(raw), path)
	}
	if m[1] != "" {
		db, err := strconv.Atoi(m[1])
		if err != nil {
			return nil, fmt.Errorf("%s: %q: bad database %q", name, RedactURL(raw), path)
		}
		t.DB = db
	}
	if t.Cluster && t.DB != 0 {
		return nil, fmt.Errorf("%s: a Redis Cluster has database 0 only, not %q", name, path)
	}
	for _, h := range strings.Split(hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if !t.Cluster {
			// As redigo's DialURL and the IANA draft: localhost, 6379.
			host, port, err := net.SplitHostPort(h)
			if err != nil {
				host, port = h, "6379"
			}
			if host == "" {
				host = "localhost"
			}
			h = net.JoinHostPort(host, port)
		} else if _, _, err := net.SplitHostPort(h); err != nil {
			return nil, fmt.Errorf("%s: %q in %q is not host:port", name, h, RedactURL(raw))
		}
		// A port that is no number is a mistake retrying cannot mend.
		if _, port, _ := net.SplitHostPort(h); !validPort(port) {
			return nil, fmt.Errorf("%s: %q in %q: the port is not a number from 1 to 65535", name, h, RedactURL(raw))
		}
		t.Addrs = append(t.Addrs, h)
	}
	switch {
	case !t.Cluster && len(t.Addrs) == 0:
		t.Addrs = []string{"localhost:6379"}
	case !t.Cluster && len(t.Addrs) > 1:
		return nil, fmt.Errorf("%s: %q names several servers: use %s-cluster:// for a Redis Cluster", name, RedactURL(raw), scheme)
	case len(t.Addrs) == 0:
		return nil, fmt.Errorf("%s: %q names no node", name, RedactURL(raw))
	}
	return t, nil
}

// Where is the address, or the seeds, for logs and errors: never the
// credentials.
func (t *Target) Where() string { return strings.Join(t.Addrs, ",") }

// Redacted is the URL with its credentials hidden.
func (t *Target) Redacted() string { return RedactURL(t.raw) }

// Dial connects to addr ("" for the single server) and logs in: AUTH,
// and SELECT on a single server. A read waits at most readTimeout (0: no
// deadline but the one each command sets).
func (t *Target) Dial(addr string, readTimeout time.Duration) (redis.Conn, error) {
	if addr == "" {
		addr = t.Addrs[0]
	}
	opts := []redis.DialOption{redis.DialConnectTimeout(2 * time.Second), redis.DialWriteTimeout(5 * time.Second)}
	if readTimeout > 0 {
		opts = append(opts, redis.DialReadTimeout(readTimeout))
	}
	if t.password != "" {
		opts = append(opts, redis.DialPassword(t.password))
		if t.username != "" {
			opts = append(opts, redis.DialUsername(t.username))
		}
	}
	if !t.Cluster && t.DB != 0 {
		opts = append(opts, redis.DialDatabase(t.DB))
	}
	if t.TLS != nil {
		opts = append(opts, redis.DialUseTLS(true), redis.DialTLSConfig(t.TLS), redis.DialTLSHandshakeTimeout(5*time.Second))
	}
	return redis.Dial("tcp", addr, opts...)
}

// RefusedError is a connection that Redis refused for a reason retrying
// cannot mend: the credentials, a database the server does not have, a
// certificate that does not verify, a server that does not speak TLS, or a
// cluster URL for a server that is not one. NewClient returns it (wrapped)
// for its first connection; later ones are retried whatever the reason.
type RefusedError struct {
	Name   string // "redis adapter", "redisstreams"
	Addr   string // host:port; never the credentials
	Reason string // "authentication failed", "database refused", ...
	Err    error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s: %s: %s: %v", e.Name, e.Addr, e.Reason, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// refusal tells why err, met while connecting, will not go away by
// itself; "" when it may (a server down, restarting, loading, full).
func refusal(err error) string {
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := string(rerr)
		for _, p := range []string{"LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN"} {
			if strings.HasPrefix(msg, p) {
				return ""
			}
		}
		switch {
		case strings.Contains(msg, "max number of clients"):
			return ""
		case strings.HasPrefix(msg, "WRONGPASS"), strings.HasPrefix(msg, "NOAUTH"), strings.Contains(msg, "AUTH"),
			strings.Contains(msg, "password"):
			return "authentication failed"
		case strings.Contains(msg, "DB index"), strings.Contains(msg, "SELECT"):
			return "database refused"
		case strings.Contains(msg, "cluster support disabled"):
			return "not a Redis Cluster"
		case strings.HasPrefix(msg, "NOPERM"):
			return "permission denied"
		}
		return "refused"
	}
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		cerr x509.CertificateInvalidError
		rec  tls.RecordHeaderError
		oerr *net.OpError
	)
	switch {
	case errors.As(err, &verr), errors.As(err, &uerr), errors.As(err, &herr), errors.As(err, &cerr):
		return "TLS certificate not trusted"
	case errors.As(err, &rec):
		return "the server does not speak TLS"
	case errors.As(err, &oerr) && oerr.Op == "remote error":
		// A TLS alert from the server: it refused our certificate.
		return "TLS refused by the server"
	}
	return ""
}

// Check makes a first connection, as NewClient does before it starts:
// nil when Redis answered (a PING, or CLUSTER SLOTS from a seed), a
// *RefusedError when it refused, or the error that kept it from being
// reached (retried later: an unreachable Redis at start is no failure).
func (t *Target) Check() error {
	var last error
	for _, addr := range t.Addrs {
		err := t.check(addr)
		if err == nil {
			return nil
		}
		if why := refusal(err); why != "" {
			return &RefusedError{Name: t.Name, Addr: addr, Reason: why, Err: err}
		}
		last = fmt.Errorf("%s: %s: %w", t.Name, addr, err)
	}
	return last
}

func (t *Target) check(addr string) error {
	conn, err := t.Dial(addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if t.Cluster {
		_, err = redis.DoWithTimeout(conn, 5*time.Second, "CLUSTER", "SLOTS")
	} else {
		_, err = redis.DoWithTimeout(conn, 5*time.Second, "PING")
	}
	return err
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n > 0 && n < 1<<16
}
