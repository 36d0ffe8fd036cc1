package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// config is the program's configuration: each flag has an environment
// twin, SIOGO_ and the flag's name in capitals (--ping-interval,
// SIOGO_PING_INTERVAL); a flag given on the command line wins.
type config struct {
	Addr            string
	Path            string
	Tick            time.Duration
	Adapter         string
	RedisPrefix     string
	RedisSharded    bool
	Recovery        time.Duration
	PingInterval    time.Duration
	PingTimeout     time.Duration
	MaxPayload      int64
	CORSOrigin      string
	MaxConnections  int
	LogLevel        string
	LogFormat       string
	TLSCert         string
	TLSKey          string
	ShutdownTimeout time.Duration
	ClientDir       string
	KeepHeaders     string
	DebugAddr       string
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
	fs.StringVar(&c.Adapter, "adapter", "memory", "adapter: memory, redis://host:port/db (pub/sub), redis-streams://host:port/db (Redis Streams), or a Redis Cluster redis-cluster://h1:p1,h2:p2,h3:p3")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", "socket.io", "key prefix of the Redis adapter's channels")
	fs.BoolVar(&c.RedisSharded, "redis-sharded", false, "use Redis 7 sharded pub/sub, as Node's createShardedAdapter (on a Redis Cluster, each channel on its shard)")
	fs.DurationVar(&c.Recovery, "recovery", 0, "connection state recovery: the disconnection window (2m); 0 turns it off")
	fs.DurationVar(&c.PingInterval, "ping-interval", 25*time.Second, "Engine.IO heartbeat interval")
	fs.DurationVar(&c.PingTimeout, "ping-timeout", 20*time.Second, "Engine.IO heartbeat timeout")
	fs.Int64Var(&c.MaxPayload, "max-payload", 1e6, "largest message or POST body, in bytes (maxHttpBufferSize)")
	fs.StringVar(&c.CORSOrigin, "cors-origin", "", "origins allowed cross-origin, comma-separated; * for any")
	fs.IntVar(&c.MaxConnections, "max-connections", 0, "most Engine.IO sessions at once; 0 for no bound")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate file (with --tls-key)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS key file (with --tls-cert)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "deadline of a graceful shutdown")
	fs.StringVar(&c.KeepHeaders, "keep-headers", "none", "handshake header fields each connection keeps for the application, comma-separated; none, or * for all (as Node)")
	fs.StringVar(&c.DebugAddr, "debug-addr", "", "if set, serve Go's pprof profiles (/debug/pprof/) on this address, apart from --addr; keep it private")
	fs.StringVar(&c.ClientDir, "client-dir", "public/node_modules", "where npm installed the client bundles (cd public && npm ci)")
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
	if c.Recovery < 0 {
		return c, fmt.Errorf("--recovery must not be negative")
	}
	if c.Tick <= 0 {
		return c, fmt.Errorf("--tick must be positive")
	}
	return c, nil
}

func getenv(k string) string { return os.Getenv(k) }
