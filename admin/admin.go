// Package admin is the server side of the official Socket.IO Admin UI
// (npm @socket.io/admin-ui 0.5, hosted at admin.socket.io or served from
// the package's ui/dist): what its instrument(io, options) does for a
// Node server, for a siogo server.server.
//
//	srv, _ := server.New(server.Options{})
//	adm, err := admin.Instrument(srv, admin.Options{
//		Auth: &admin.BasicAuth{Username: "admin", PasswordHash: hash}, // bcrypt
//	})
//	defer adm.Close()
//
// It adds the /admin namespace: a client that logs in (username and
// password, or the session id it was given) receives the configuration,
// the server's statistics every 2 seconds and, in development mode, every
// socket of the cluster and every event as it happens; unless read-only,
// it can make sockets emit, join, leave and disconnect, on every node
// (through the adapter). Each node of a cluster reports its own
// statistics, so that the UI lists them all.
package admin

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/siogo/siogo/server"
)

// Mode says how much the Admin UI is told.
type Mode string

const (
	// Development sends every socket with its handshake, and every
	// connection, room change and event as it happens (Node's default
	// unless NODE_ENV says otherwise). It costs an admin broadcast per
	// event: not for busy production servers.
	Development Mode = "development"
	// Production sends only the statistics, with their aggregated
	// connections, disconnections, packets and bytes.
	Production Mode = "production"
)

// The UI's features, as its config event lists them.
const (
	FeatureEmit             = "EMIT"
	FeatureJoin             = "JOIN"
	FeatureLeave            = "LEAVE"
	FeatureDisconnect       = "DISCONNECT"
	FeatureMJoin            = "MJOIN"
	FeatureMLeave           = "MLEAVE"
	FeatureMDisconnect      = "MDISCONNECT"
	FeatureAggregatedEvents = "AGGREGATED_EVENTS"
	FeatureAllEvents        = "ALL_EVENTS"
)

// ErrInvalidCredentials is the refusal of a login, with the message the
// UI recognises to reopen its login form.
var ErrInvalidCredentials = errors.New("invalid credentials")

// ErrTooManyFailures is the refusal of a login from an address that failed
// too often (LoginLimits.PerAddress); its data says in how many seconds
// it may try again ({"retryAfter": n}). The UI shows the message in its
// login form.
var ErrTooManyFailures = errors.New("too many failed logins, try again later")

// ErrNoAuth is returned by Instrument when Options says neither Auth nor
// NoAuth: as with Node, turning authentication off must be explicit.
var ErrNoAuth = errors.New("admin: set Options.Auth, or NoAuth to turn authentication off")

// BasicAuth is the one login the UI accepts.
type BasicAuth struct {
	Username string
	// PasswordHash is a bcrypt hash of the password ($2a$, $2b$ or $2y$),
	// as `htpasswd -bnBC 10 "" PASSWORD | tr -d ':\n'` prints it.
	PasswordHash string
}

// Options configure Instrument. The zero value is refused (see ErrNoAuth);
// with Auth set, the rest defaults as Node's.
type Options struct {
	// Namespace is the admin namespace's name. Default "/admin".
	Namespace string
	// Auth is the login; NoAuth turns authentication off instead, for a
	// server that only trusted people reach.
	Auth   *BasicAuth
	NoAuth bool
	// ReadOnly refuses the UI's commands (emit, join, leave, disconnect).
	ReadOnly bool
	// ServerID names this node in the UI's list of servers. Default the
	// host name; give each node of a cluster its own.
	ServerID string
	// Store keeps the session ids given at login. Default an in-memory
	// store of this node (NewMemoryStore); a cluster behind a load
	// balancer shares one so that a session id works on every node.
	Store Store
	// Mode is Development (the default) or Production.
	Mode Mode
	// StatsInterval is the time between two server_stats. Default 2s.
	StatsInterval time.Duration
	// FetchTimeout bounds the gathering of every socket of the cluster for
	// a UI that connects. Default 5s.
	FetchTimeout time.Duration
	// Login bounds the attempts to log in (Node has no bounds): refused
	// logins per connection and failed ones per address, and what a
	// connection may send before it is logged in. Its zero value gives the
	// defaults of LoginLimits.
	Login LoginLimits
	// Logger receives the logs. Default slog.Default().
	Logger *slog.Logger
}

// Admin is an instrumented server. Close stops its statistics.
type Admin struct {
	srv      *server.Server
	nsp      *server.Namespace
	opts     Options
	features []string
	hash     []byte
	decoy    []byte   // a hash of the same cost, checked when the username is wrong
	userSum  [32]byte // SHA-256 of the username
	login    LoginLimits
	addrs    *failures[netip.Addr] // failed logins per client address
	conns    *failures[string]     // refused logins per Engine.IO session
	started  time.Time
	hostname string

	events *eventBuffer
	engine *engineStats

	pendingMu sync.Mutex
	pending   map[*server.Socket]pendingSession // sessions given at login, until the connection

	tagging sync.Map // sockets whose data the admin itself is setting

	pollMu  sync.Mutex
	polling map[*server.Socket]struct{} // sockets of this node still on long-polling

	stop context.CancelFunc
	done chan struct{}
}

type pendingSession struct {
	id string
	at time.Time
}

// processStart approximates the process's start, for the uptime the UI
// shows (Node's process.uptime()).
var processStart = time.Now()

// Instrument adds the admin namespace to srv and starts reporting. Call it
// before the application adds its connection handlers, so that the UI
// sees their first events too.
func Instrument(srv *server.Server, opts Options) (*Admin, error) {
	if opts.Namespace == "" {
		opts.Namespace = "/admin"
	}
	if opts.Namespace[0] != '/' {
		opts.Namespace = "/" + opts.Namespace
	}
	if opts.Auth == nil && !opts.NoAuth {
		return nil, ErrNoAuth
	}
	if opts.Mode == "" {
		opts.Mode = Development
	}
	if opts.Mode != Development && opts.Mode != Production {
		return nil, fmt.Errorf("admin: mode %q: want development or production", opts.Mode)
	}
	if opts.StatsInterval <= 0 {
		opts.StatsInterval = 2 * time.Second
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Store == nil {
		opts.Store = NewMemoryStore(0, 0)
	}
	hostname, _ := os.Hostname()
	if opts.ServerID == "" {
		opts.ServerID = hostname
	}
	a := &Admin{
		srv:      srv,
		opts:     opts,
		started:  processStart,
		hostname: hostname,
		events:   newEventBuffer(),
		pending:  map[*server.Socket]pendingSession{},
		polling:  map[*server.Socket]struct{}{},
		done:     make(chan struct{}),
	}
	a.login = opts.Login.withDefaults()
	a.addrs = newFailures[netip.Addr](a.login.Window, a.login.Addresses)
	a.conns = newFailures[string](a.login.Window, a.login.Addresses)
	if opts.Auth != nil {
		a.hash = []byte(opts.Auth.PasswordHash)
		cost, err := bcrypt.Cost(a.hash)
		if err != nil {
			return nil, fmt.Errorf("admin: the password hash must be a bcrypt hash: %w", err)
		}
		// The decoy's password is random: nothing logs in with it.
		if a.decoy, err = bcrypt.GenerateFromPassword([]byte(sessionID()+sessionID()), cost); err != nil {
			return nil, fmt.Errorf("admin: %w", err)
		}
		a.userSum = sha256.Sum256([]byte(opts.Auth.Username))
	}
	if !opts.ReadOnly {
		// siogo has the cluster calls of Socket.IO 4, hence the M* ones.
		a.features = []string{FeatureEmit, FeatureJoin, FeatureLeave, FeatureDisconnect,
			FeatureMJoin, FeatureMLeave, FeatureMDisconnect}
	}
	a.features = append(a.features, FeatureAggregatedEvents)
	if opts.Mode == Development {
		a.features = append(a.features, FeatureAllEvents)
	}

	a.nsp = srv.Of(opts.Namespace)
	if opts.Auth != nil {
		a.nsp.Use(a.authenticate)
	} else {
		opts.Logger.Warn("socket.io admin: authentication is disabled", "namespace", opts.Namespace)
	}
	a.nsp.OnConnection(a.onAdminConnection)
	a.engine = &engineStats{events: a.events}
	srv.AddEngineObserver(a.engine)
	if opts.Mode == Development {
		srv.OnNewNamespace(a.watch)
		for _, n := range srv.Namespaces() {
			a.watch(n)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.stop = cancel
	go a.loop(ctx)
	return a, nil
}

// Namespace is the admin namespace.
func (a *Admin) Namespace() *server.Namespace { return a.nsp }

// Features are the features announced to the UI.
func (a *Admin) Features() []string { return append([]string(nil), a.features...) }

// Close stops the statistics. The namespace stays.
func (a *Admin) Close() error {
	a.stop()
	<-a.done
	return nil
}

// loop emits the statistics every StatsInterval, and notices upgrades.
func (a *Admin) loop(ctx context.Context) {
	defer close(a.done)
	a.emitStats()
	stats := time.NewTicker(a.opts.StatsInterval)
	defer stats.Stop()
	// A socket's upgrade to WebSocket shows in the UI within this.
	upgrades := time.NewTicker(250 * time.Millisecond)
	defer upgrades.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stats.C:
			a.emitStats()
			a.sweepPending()
		case <-upgrades.C:
			a.checkUpgrades()
		}
	}
}

// emit broadcasts an event to the admin namespace on every node.
func (a *Admin) emit(event string, args ...any) {
	if err := a.nsp.Emit(event, args...); err != nil {
		a.opts.Logger.Debug("socket.io admin: emit failed", "event", event, "err", err)
	}
}

// now is a timestamp as the UI receives Node's Date: ISO 8601 in UTC.
func now() string { return isoTime(time.Now()) }

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
