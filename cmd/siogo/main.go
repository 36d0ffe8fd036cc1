// Command siogo is a Socket.IO server running the demo application of
// demo-contract.md: a timestamp to every client each tick, echo, rooms and
// broadcasts, the demo page at /, a plain WebSocket echo at /ws, /healthz,
// /readyz and /metrics. `siogo --help` lists the flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/crypto/bcrypt"

	"github.com/siogo/siogo/adapters/cluster"
	"github.com/siogo/siogo/adapters/postgres"
	redisadapter "github.com/siogo/siogo/adapters/redis"
	"github.com/siogo/siogo/adapters/redisstreams"
	"github.com/siogo/siogo/admin"
	"github.com/siogo/siogo/internal/redact"
	"github.com/siogo/siogo/server"
	"github.com/siogo/siogo/transports"
	"github.com/siogo/siogo/transports/shared"
)

func main() {
	cfg, err := parseConfig(os.Args[1:], getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "siogo:", err)
		os.Exit(2)
	}
	if cfg.HashPassword {
		if err := hashPassword(os.Stdin, os.Stdout, bcrypt.DefaultCost); err != nil {
			fmt.Fprintln(os.Stderr, "siogo:", err)
			os.Exit(1)
		}
		return
	}
	setGCPercent(os.Getenv)
	log, err := newLogger(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "siogo:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		log.Error("cannot listen", "addr", cfg.Addr, "err", err)
		os.Exit(1)
	}
	if err := run(ctx, cfg, ln, log); err != nil {
		log.Error("siogo stopped", "err", err)
		os.Exit(1)
	}
}

// defaultGCPercent is the program's GOGC when its environment sets none.
// Go's default, 100, lets the heap grow to twice what is live before a
// collection: with many idle connections whose ticks and polls turn the
// heap over, that headroom is most of the resident memory per connection
// (bench/README.md, "How memory is counted"). 50 holds it to half, for
// collections twice as often.
const defaultGCPercent = 50

// setGCPercent applies defaultGCPercent unless GOGC is set.
func setGCPercent(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}

// serveDebug serves net/http/pprof on addr, on a listener of its own so
// that profiles never reach the public address.
func serveDebug(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--debug-addr: %w", err)
	}
	mux := http.NewServeMux()
	// No /debug/pprof/cmdline: the command line holds the flags, an
	// adapter's password among them (the index's link to it finds 404).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	log.Info("siogo profiles", "addr", ln.Addr().String())
	return func() { _ = hs.Close() }, nil
}

// keepHeaders reads --keep-headers: the demo reads no header, so by
// default ("auto") a connection keeps none (a browser's costs about 2.5 KB
// per connection, held while it idles), unless the Admin UI is on, whose
// socket page shows them all, as with Node.
func keepHeaders(v string, admin bool) []string {
	switch strings.TrimSpace(v) {
	case "*":
		return nil
	case "", "auto":
		if admin {
			return nil
		}
		return []string{}
	case "none":
		return []string{}
	}
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func newLogger(cfg config) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch cfg.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", cfg.LogFormat)
}

// run serves on ln until ctx ends, then shuts down gracefully: readiness
// goes false, every client is disconnected (so that it reconnects
// elsewhere), pending requests finish, all within cfg.ShutdownTimeout.
func run(ctx context.Context, cfg config, ln net.Listener, log *slog.Logger) (err error) {
	// Whatever the program and its libraries log or return, the adapter
	// URL's password and the Admin UI's hash are masked in it.
	scrub := redact.NewScrubber(cfg.Adapter).WithSecrets(cfg.AdminPasswordHash)
	log = slog.New(scrub.Handler(log.Handler()))
	defer func() { err = scrub.Error(err) }()
	m := newMetrics()
	opts := server.Options{Observer: m, Logger: log}
	adapterReady := func() error { return nil }
	var broker cluster.Broker // the adapter's, for --sessions shared
	switch {
	case cfg.Adapter == "memory":
	case isRedisPubSub(cfg.Adapter):
		// Redis unreachable at start is not fatal: the node serves its own
		// clients and the adapter retries; /readyz tells. A Redis that
		// refuses the connection (credentials, database, TLS) is.
		// With shared sessions, answers (the relay's among them) go to
		// the one node that waits for them, as Node's option does.
		rc, err := redisadapter.NewClient(redisadapter.Options{URL: cfg.Adapter, TLSConfig: cfg.RedisTLS, Prefix: cfg.RedisPrefix, Sharded: cfg.RedisSharded, Logger: log,
			PublishOnSpecificResponseChannel: cfg.Sessions == "shared"})
		if err != nil {
			return err
		}
		defer rc.Close()
		opts.NewAdapter = rc.NewAdapter
		adapterReady = rc.Ready
		broker = rc
		m.registerRedisStats(rc.Stats)
	case isRedisStreams(cfg.Adapter):
		rc, err := redisstreams.NewClient(redisstreams.Options{
			URL: streamsURL(cfg.Adapter), TLSConfig: cfg.RedisTLS,
			StreamName: cfg.RedisPrefix, ChannelPrefix: cfg.RedisPrefix, Sharded: cfg.RedisSharded, Logger: log,
		})
		if err != nil {
			return err
		}
		defer rc.Close()
		opts.NewAdapter = rc.NewAdapter
		adapterReady = rc.Ready
		broker = rc
		m.registerRedisStats(func() redisadapter.Stats {
			// The stream readers' losses count as subscription losses.
			st := rc.Stats()
			return redisadapter.Stats{PublishFailures: st.PublishFailures, SubscriptionLosses: st.SubscriptionLosses + st.ReaderLosses,
				Resubscribes: st.Resubscribes, Redirects: st.Redirects, TopologyRefreshes: st.TopologyRefreshes}
		})
	case strings.HasPrefix(cfg.Adapter, "postgres://"), strings.HasPrefix(cfg.Adapter, "postgresql://"):
		// PostgreSQL unreachable at start is not fatal either, one that
		// refuses the connection (credentials, database, TLS) is; the
		// attachments table is created when missing.
		pg, err := postgres.NewClient(postgres.Options{URL: cfg.Adapter, CreateTable: true, Logger: log})
		if err != nil {
			return err
		}
		defer pg.Close()
		opts.NewAdapter = pg.NewAdapter
		adapterReady = pg.Ready
		broker = pg
		m.registerPostgresStats(pg.Stats)
	default:
		return fmt.Errorf("--adapter %q: want %s", redact.URL(cfg.Adapter), adapterForms)
	}
	if cfg.Recovery > 0 {
		opts.Recovery = &server.RecoveryOptions{MaxDisconnectionDuration: cfg.Recovery}
	}
	engine := transports.Options{
		PingInterval:                  cfg.PingInterval,
		PingTimeout:                   cfg.PingTimeout,
		MaxHTTPBufferSize:             cfg.MaxPayload,
		MaxSessions:                   cfg.MaxConnections,
		MaxSessionsPerAddr:            cfg.MaxConnectionsPerIP,
		MaxHandshakesPerSecondPerAddr: cfg.MaxHandshakesPerIP,
		TrustedProxies:                cfg.TrustedProxies,
		Observer:                      m,
		OnPanic:                       m.panicked,
		Logger:                        log,
	}
	engine.KeepHeaders = keepHeaders(cfg.KeepHeaders, cfg.AdminUser != "")
	engine.DisableJSONP = !cfg.JSONP
	if origins := corsOrigins(cfg.CORSOrigin); len(origins) > 0 {
		// As Node's cors option {origin: "*"}, or {origin: [...],
		// credentials: true}: credentials only for origins named.
		engine.CORS = &transports.CORS{Origins: origins, Credentials: origins[0] != "*"}
	}
	var sessions *shared.Sessions
	if cfg.Sessions == "shared" {
		if sessions, err = startShared(cfg, broker, &engine, m, log); err != nil {
			return err
		}
		defer sessions.Close()
		// Ready once the relay channel carries messages to this node.
		brokerReady := adapterReady
		adapterReady = func() error {
			if err := brokerReady(); err != nil {
				return err
			}
			return sessions.Ready()
		}
	}
	opts.Engine = engine
	files := assets(cfg.ClientDir)
	opts.ClientFiles = clientDist(files, log)
	srv, err := server.New(opts)
	if err != nil {
		return err
	}
	appCtx, stopApp := context.WithCancel(context.Background())
	defer stopApp()
	// Every start has its stop: an error after this point (the admin,
	// /ws, the debug listener, the HTTP server) still shuts down what was
	// started; the graceful path below does it itself and sets stopped.
	var (
		ws      *plainWS
		hs      *httpServer
		stopped bool
	)
	defer func() {
		if stopped {
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		stopApp()
		_ = srv.Shutdown(sctx)
		if ws != nil {
			ws.close()
		}
		if hs != nil && hs.shutdown(sctx) != nil {
			hs.close()
		}
	}()
	if cfg.AdminUser != "" {
		// Before the demo's handlers, so that the UI sees their first events.
		aopts := admin.Options{
			Auth:     &admin.BasicAuth{Username: cfg.AdminUser, PasswordHash: cfg.AdminPasswordHash},
			ReadOnly: cfg.AdminReadonly,
			Mode:     admin.Mode(cfg.AdminMode),
			ServerID: serverID(cfg),
			Login:    admin.LoginLimits{PerAddress: cfg.AdminLoginFailures},
			Logger:   log,
		}
		if cfg.AdminLoginFailures == 0 {
			aopts.Login.PerAddress = -1
		}
		if url, ok := adminStoreURL(cfg.Adapter); ok {
			// The UI's session ids in Redis: valid on every node.
			store := admin.NewRedisStore(url, admin.RedisStoreOptions{TLSConfig: cfg.RedisTLS})
			defer store.Close()
			aopts.Store = store
		}
		adm, err := admin.Instrument(srv, aopts)
		if err != nil {
			return err
		}
		defer adm.Close()
	}
	demo(appCtx, srv, cfg.Tick)
	ws, err = newPlainWS(srv.Engine(), engine.CORS, int(cfg.MaxPayload), log, m.panicked)
	if err != nil {
		return err
	}
	go ws.tick(appCtx, cfg.Tick)
	go ws.heartbeat(appCtx, cfg.PingInterval, cfg.PingTimeout)

	var draining atomic.Bool
	mux := http.NewServeMux()
	if sessions != nil {
		mux.Handle(cfg.Path, sessions.Handler(srv))
	} else {
		mux.Handle(cfg.Path, srv)
	}
	mux.Handle("GET /ws", ws)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.Handle("GET /readyz", readiness(&draining, adapterReady, log))
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	mountStatic(mux, cfg.Path, files, cfg.AdminUser != "")

	if cfg.DebugAddr != "" {
		stopDebug, err := serveDebug(cfg.DebugAddr, log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}

	if hs, err = newHTTPServer(cfg, mux, log, m); err != nil {
		return err
	}
	for _, note := range cfg.Notes {
		log.Warn(note)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.serve(ln) }()
	log.Info("siogo listening", "addr", ln.Addr().String(), "path", cfg.Path, "tls", cfg.TLSCert != "", "adapter", redact.URL(cfg.Adapter),
		"recovery", cfg.Recovery, "sessions", cfg.Sessions, "http", hs.engine, "admin", cfg.AdminUser != "", "embedded", embedded && cfg.ClientDir == "")

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("siogo shutting down", "timeout", cfg.ShutdownTimeout)
	stopped = true
	draining.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	stopApp()
	err = srv.Shutdown(sctx)
	if sessions != nil {
		// The WebSockets relayed through this node end too; relayed
		// polls are answered by their owners meanwhile.
		sessions.Drain()
	}
	ws.close()
	if herr := hs.shutdown(sctx); herr != nil && err == nil {
		err = herr
	}
	if errors.Is(err, context.DeadlineExceeded) {
		log.Warn("shutdown deadline reached; remaining connections dropped")
		hs.close()
		err = nil
	}
	log.Info("siogo stopped")
	return err
}
