package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

// config is the program's configuration: each flag has an environment
// twin, SIOGO_ and the flag's name in capitals (--ping-interval,
// SIOGO_PING_INTERVAL); a flag given on the command line wins.
type config struct {
	Addr         string
	Path         string
	Tick         time.Duration
	Adapter      string
	RedisPrefix  string
	RedisSharded bool
	Recovery     time.Duration
	// Sessions is local (a session lives on the node that opened it:
	// the balancer must be sticky) or shared (any node serves any).
	Sessions     string
	PingInterval time.Duration
	PingTimeout  time.Duration
	MaxPayload   int64
	CORSOrigin   string
	// JSONP serves JSONP polling (socket.io-client 2 in the oldest
	// browsers), which no origin check covers.
	JSONP          bool
	MaxConnections int
	// Per remote address (the client's, through a trusted proxy).
	MaxConnectionsPerIP int
	MaxHandshakesPerIP  float64
	TrustedProxies      []netip.Prefix
	LogLevel            string
	LogFormat           string
	TLSCert             string
	TLSKey              string
	ShutdownTimeout     time.Duration
	ClientDir           string
	KeepHeaders         string
	DebugAddr           string
	HTTPEngine          string
	// TLSMinVersion is --tls-min-version, as crypto/tls names it.
	TLSMinVersion  uint16
	MaxHeaderBytes int
	// Notes are what the configuration warns of once the logger is up
	// (a deprecated flag value).
	Notes []string

	AdminUser         string
	AdminPasswordHash string
	AdminReadonly     bool
	AdminMode         string
	AdminServerID     string
	// AdminLoginFailures is admin.LoginLimits.PerAddress; 0: no bound.
	AdminLoginFailures int
	// HashPassword asks for a password's bcrypt hash (for
	// --admin-password-hash) instead of serving.
	HashPassword bool

	// TLS to a rediss adapter's Redis: the flags, and what they make.
	RedisCAFile, RedisCertFile, RedisKeyFile, RedisTLSServerName string
	RedisTLS                                                     *tls.Config
}

func envName(flagName string) string {
	return "SIOGO_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseConfig reads args, with getenv for the environment.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("siogo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Addr, "addr", ":3000", "listen address")
	fs.StringVar(&c.Path, "path", "/socket.io/", "path of the Socket.IO endpoint")
	fs.DurationVar(&c.Tick, "tick", 2500*time.Millisecond, "interval of the demo's timestamp event")
	fs.StringVar(&c.Adapter, "adapter", "memory", "adapter: "+adapterForms)
	fs.StringVar(&c.RedisPrefix, "redis-prefix", "socket.io", "key prefix of the Redis adapter's channels")
	fs.BoolVar(&c.RedisSharded, "redis-sharded", false, "use Redis 7 sharded pub/sub, as Node's createShardedAdapter (on a Redis Cluster, each channel on its shard)")
	fs.StringVar(&c.RedisCAFile, "redis-ca-file", "", "with a rediss adapter: PEM file of the certificate authorities that Redis's certificate must chain to (default the system's)")
	fs.StringVar(&c.RedisCertFile, "redis-cert-file", "", "with a rediss adapter: PEM client certificate, for a Redis that asks for one (tls-auth-clients); with --redis-key-file")
	fs.StringVar(&c.RedisKeyFile, "redis-key-file", "", "with a rediss adapter: PEM key of --redis-cert-file")
	fs.StringVar(&c.RedisTLSServerName, "redis-tls-server-name", "", "with a rediss adapter: the name Redis's certificate must carry (default the host of each address; set it when a cluster announces IP addresses)")
	fs.StringVar(&c.Sessions, "sessions", "local", "local: a session's requests must reach the node that opened it (a sticky balancer); shared: any node serves any session, relaying to its owner through the cluster adapter (any balancer)")
	fs.DurationVar(&c.Recovery, "recovery", 0, "connection state recovery: the disconnection window (2m); 0 turns it off")
	fs.DurationVar(&c.PingInterval, "ping-interval", 25*time.Second, "Engine.IO heartbeat interval")
	fs.DurationVar(&c.PingTimeout, "ping-timeout", 20*time.Second, "Engine.IO heartbeat timeout")
	fs.Int64Var(&c.MaxPayload, "max-payload", 1e6, "largest message or POST body, in bytes (maxHttpBufferSize)")
	fs.StringVar(&c.CORSOrigin, "cors-origin", "", "origins allowed cross-origin (polling, with credentials) and for WebSocket (/socket.io/ and /ws), comma-separated; * alone for any origin, without credentials")
	fs.BoolVar(&c.JSONP, "jsonp", true, "serve JSONP polling, for the oldest browsers; no origin check covers it: --jsonp=false where --cors-origin must keep other sites out")
	fs.IntVar(&c.MaxConnections, "max-connections", 0, "most connections at once, Engine.IO sessions and /ws WebSockets together; 0 for no bound")
	fs.IntVar(&c.MaxConnectionsPerIP, "max-connections-per-ip", 0, "most connections (sessions and /ws) one address holds at once; 0 for no bound")
	fs.Float64Var(&c.MaxHandshakesPerIP, "max-handshakes-per-ip", 0, "most new connections (sessions and /ws) one address opens per second; 0 for no bound")
	var trusted string
	fs.StringVar(&trusted, "trusted-proxies", "", "proxies (addresses or CIDR networks, comma-separated) whose X-Forwarded-For names the client, for the per-address bounds")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate file (with --tls-key)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS key file (with --tls-cert)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "deadline of a graceful shutdown")
	fs.StringVar(&c.KeepHeaders, "keep-headers", "auto", "handshake header fields each connection keeps for the application, comma-separated; none, * for all (as Node), or auto: none, all with the Admin UI")
	fs.StringVar(&c.DebugAddr, "debug-addr", "", "if set, serve Go's pprof profiles (/debug/pprof/) on this address, apart from --addr; keep it private")
	fs.StringVar(&c.HTTPEngine, "http-engine", "loop", "HTTP server: loop (siogo's own event loop: no goroutine per idle connection or waiting poll) or net (net/http, a goroutine per connection); both serve TLS with Go's crypto/tls")
	tlsMin := fs.String("tls-min-version", "1.2", "with --tls-cert: the oldest TLS version served, 1.2 or 1.3")
	fs.IntVar(&c.MaxHeaderBytes, "max-header-bytes", 16384, "largest request line and headers, in bytes, answered 431 past it (Node's maxHeaderSize)")
	fs.StringVar(&c.ClientDir, "client-dir", defaultClientDir, clientDirUsage)
	fs.StringVar(&c.AdminUser, "admin-user", "", "turn on the Admin UI (at /admin/, namespace /admin) with this username")
	fs.StringVar(&c.AdminPasswordHash, "admin-password-hash", "", "bcrypt hash of the Admin UI's password (siogo --hash-password prints one)")
	fs.BoolVar(&c.AdminReadonly, "admin-readonly", false, "the Admin UI watches but cannot emit, join, leave or disconnect")
	fs.StringVar(&c.AdminMode, "admin-mode", "development", "Admin UI mode: development (every socket and event) or production (statistics only)")
	fs.StringVar(&c.AdminServerID, "admin-server-id", "", "this node's name in the Admin UI (default the host name; host#pid with a cluster adapter)")
	fs.IntVar(&c.AdminLoginFailures, "admin-login-failures", 10, "failed Admin UI logins one address may make in 15 minutes; past it, its logins are refused until then (0 for no bound)")
	fs.BoolVar(&c.HashPassword, "hash-password", false, "read a password on standard input, print its bcrypt hash and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "siogo: a Socket.IO server with its demo application.\n\nUsage: siogo [flags]\n\nFlags (each also read from its environment variable):\n")
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(stderr, "  --%s (%s, default %q)\n\t%s\n", f.Name, envName(f.Name), f.DefValue, f.Usage)
		})
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s: %w", envName(f.Name), err)
			}
		}
	})
	if envErr != nil {
		return c, envErr
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return c, fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if !strings.HasPrefix(c.Path, "/") || !strings.HasSuffix(c.Path, "/") {
		return c, fmt.Errorf("--path must start and end with a slash: %q", c.Path)
	}
	if c.Sessions != "local" && c.Sessions != "shared" {
		return c, fmt.Errorf("--sessions must be local or shared, not %q", c.Sessions)
	}
	if c.Sessions == "shared" && c.Adapter == "memory" {
		return c, errSharedNeedsBroker
	}
	if c.Recovery < 0 {
		return c, fmt.Errorf("--recovery must not be negative")
	}
	switch c.HTTPEngine {
	case "loop", "net":
	case "nbio":
		// The engine's name before siogo had a loop of its own.
		c.HTTPEngine = "loop"
		c.Notes = append(c.Notes, "--http-engine nbio is deprecated: it means loop, siogo's own event loop, now")
	default:
		return c, fmt.Errorf("--http-engine must be loop or net, not %q", c.HTTPEngine)
	}
	switch *tlsMin {
	case "1.2":
		c.TLSMinVersion = tls.VersionTLS12
	case "1.3":
		c.TLSMinVersion = tls.VersionTLS13
	default:
		return c, fmt.Errorf("--tls-min-version must be 1.2 or 1.3, not %q", *tlsMin)
	}
	if c.MaxHeaderBytes < 1024 {
		return c, fmt.Errorf("--max-header-bytes must be at least 1024, not %d", c.MaxHeaderBytes)
	}
	if c.MaxConnectionsPerIP < 0 || c.MaxHandshakesPerIP < 0 {
		return c, fmt.Errorf("--max-connections-per-ip and --max-handshakes-per-ip cannot be negative")
	}
	for _, f := range strings.Split(trusted, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return c, fmt.Errorf("--trusted-proxies: %q is neither an address nor a network", f)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		c.TrustedProxies = append(c.TrustedProxies, p.Masked())
	}
	if origins := corsOrigins(c.CORSOrigin); len(origins) > 1 && slices.Contains(origins, "*") {
		return c, fmt.Errorf("--cors-origin: * stands alone (any origin, without credentials), not in a list: %q", c.CORSOrigin)
	}
	if c.Tick <= 0 {
		return c, fmt.Errorf("--tick must be positive")
	}
	if (c.AdminUser == "") != (c.AdminPasswordHash == "") {
		return c, fmt.Errorf("--admin-user and --admin-password-hash go together")
	}
	if c.AdminLoginFailures < 0 {
		return c, fmt.Errorf("--admin-login-failures cannot be negative")
	}
	if c.AdminMode != "development" && c.AdminMode != "production" {
		return c, fmt.Errorf("--admin-mode must be development or production, not %q", c.AdminMode)
	}
	var err error
	if c.RedisTLS, err = redisTLS(c); err != nil {
		return c, err
	}
	return c, nil
}

func getenv(k string) string { return os.Getenv(k) }

// corsOrigins is the list --cors-origin names.
func corsOrigins(v string) []string {
	var out []string
	for _, o := range strings.Split(v, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}
