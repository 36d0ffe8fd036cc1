// Package postgres is the broker of Node's @socket.io/postgres-adapter 0.5
// on the adapter contract (package adapters/cluster), wire-compatible with
// it: siogo and Node.js nodes serve one cluster over one PostgreSQL. Each
// message is a NOTIFY on the namespace's channel (socket.io#/ by default),
// JSON as Node writes it; a message with binary, or whose JSON passes the
// payload threshold (NOTIFY takes at most 8000 bytes), is written as msgpack
// into the attachments table, and only its id is notified. Node counts its
// nodes by their heartbeats: so does the cluster adapter.
//
//	pg, err := postgres.NewClient(postgres.Options{URL: "postgres://user:password@localhost:5432/db"})
//	srv, err := server.New(server.Options{NewAdapter: pg.NewAdapter})
//	defer pg.Close() // after srv.Close
//
// The attachments table is Node's:
//
//	CREATE TABLE IF NOT EXISTS socket_io_attachments (
//	    id          bigserial UNIQUE,
//	    created_at  timestamptz DEFAULT NOW(),
//	    payload     bytea
//	);
//
// Options.CreateTable creates it. As Node's adapter, every node deletes the
// rows older than the cleanup interval.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/siogo/siogo/adapters/cluster"
	"github.com/siogo/siogo/server"
)

// Options configure a Client. The zero value of each field is Node's
// default.
type Options struct {
	// URL of the database, postgres://user:password@host:port/db (any
	// connection string pgx takes).
	URL string
	// ChannelPrefix prefixes the notification channels: prefix#nsp.
	// Default "socket.io".
	ChannelPrefix string
	// TableName is the attachments table. Default "socket_io_attachments".
	TableName string
	// PayloadThreshold is the size in bytes of JSON past which a message
	// goes through the attachments table. Default 8000.
	PayloadThreshold int
	// CleanupInterval is how often rows older than it are deleted from
	// the attachments table. Default 30s.
	CleanupInterval time.Duration
	// CreateTable creates the attachments table when it is missing, at
	// NewClient (Node leaves it to the application).
	CreateTable bool
	// Cluster configures the cluster adapters of NewAdapter: heartbeats
	// and the timeout of requests.
	Cluster cluster.Options
	// Logger receives the broker's logs. Default slog.Default().
	Logger *slog.Logger
}

// ErrNotConnected is what Ready reports while the node does not listen.
var ErrNotConnected = errors.New("postgres: not listening")

// RefusedError is what NewClient returns when PostgreSQL answered its first
// connection but refused it for a reason retrying cannot mend: the
// credentials, a database that does not exist, TLS. It names the address,
// never the password:
//
//	var refused *postgres.RefusedError
//	if errors.As(err, &refused) { log.Fatal(refused.Addr, refused.Reason) }
type RefusedError struct {
	Addr   string // host:port
	Reason string // "authentication failed", "database refused", "TLS refused"
	Err    error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("postgres: %s: %s: %v", e.Addr, e.Reason, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// refusal tells why err, met while connecting, will not go away by itself;
// "" when it may (a server down, starting, full).
func refusal(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "28"): // invalid authorization
			return "authentication failed"
		case pe.Code == "3D000": // invalid catalog name
			return "database refused"
		}
		return ""
	}
	if strings.Contains(err.Error(), "tls") || strings.Contains(err.Error(), "TLS") {
		return "TLS refused"
	}
	return ""
}

var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// Client is one node's connection to PostgreSQL: a pool for NOTIFY and the
// attachments, and one connection that LISTENs; a cluster.Broker that all
// the node's namespaces share.
type Client struct {
	opts Options
	pool *pgxpool.Pool
	log  *slog.Logger

	mu       sync.Mutex
	subs     map[string]map[*sub]struct{} // by channel
	listened map[string]bool              // channels the connection LISTENs to
	wake     context.CancelFunc           // interrupts the wait for notifications
	ready    error
	closed   bool
	done     chan struct{}
	wg       sync.WaitGroup

	publishFailures, listenLosses, dropped atomic.Uint64
}

// Stats counts what a node lost to PostgreSQL since its NewClient.
type Stats struct {
	// PublishFailures are messages NOTIFY (or the attachment's INSERT)
	// did not take: lost to the other nodes.
	PublishFailures uint64
	// ListenLosses are LISTENing connections lost after being up; what
	// the other nodes sent until one LISTENs again is lost to this node.
	ListenLosses uint64
	// Dropped are notifications this node could not read: a payload it
	// cannot decode, or an attachment it could not read.
	Dropped uint64
}

// Stats returns the node's counters, for metrics.
func (c *Client) Stats() Stats {
	return Stats{PublishFailures: c.publishFailures.Load(), ListenLosses: c.listenLosses.Load(), Dropped: c.dropped.Load()}
}

type sub struct {
	uid string
	h   cluster.Handler
}

// NewClient connects once to PostgreSQL, then starts listening. A server
// that cannot be reached is no error: it is retried, and Ready says how it
// goes. A server that refuses the connection for a reason retrying cannot
// mend is: NewClient returns a *RefusedError.
func NewClient(opts Options) (*Client, error) {
	if opts.ChannelPrefix == "" {
		opts.ChannelPrefix = "socket.io"
	}
	if opts.TableName == "" {
		opts.TableName = "socket_io_attachments"
	}
	if !tableName.MatchString(opts.TableName) {
		return nil, fmt.Errorf("postgres: table name %q is not a plain [schema.]name", opts.TableName)
	}
	if opts.PayloadThreshold <= 0 {
		opts.PayloadThreshold = 8000
	}
	if opts.CleanupInterval <= 0 {
		opts.CleanupInterval = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Cluster.Logger == nil {
		opts.Cluster.Logger = opts.Logger
	}
	cfg, err := pgxpool.ParseConfig(opts.URL)
	if err != nil {
		// pgx's message leaves the password out.
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// One connection first: a refusal stops here, an outage does not.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err = pool.Ping(ctx)
	cancel()
	if err != nil {
		addr := net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port)))
		if why := refusal(err); why != "" {
			pool.Close()
			return nil, &RefusedError{Addr: addr, Reason: why, Err: err}
		}
		opts.Logger.Warn("postgres: PostgreSQL does not answer yet; serving this node's clients and retrying", "addr", addr, "err", err)
	}
	c := &Client{
		opts:     opts,
		pool:     pool,
		log:      opts.Logger,
		subs:     map[string]map[*sub]struct{}{},
		listened: map[string]bool{},
		ready:    ErrNotConnected,
		done:     make(chan struct{}),
	}
	if opts.CreateTable {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+opts.TableName+` (
			id bigserial UNIQUE, created_at timestamptz DEFAULT NOW(), payload bytea)`)
		cancel()
		if err != nil {
			// PostgreSQL may come later: the table is created then by
			// whoever runs first, and this node logs its failures.
			c.log.Warn("postgres: creating the attachments table", "table", opts.TableName, "err", err)
		}
	}
	c.wg.Add(2)
	go c.listen()
	go c.cleanup()
	return c, nil
}

// NewAdapter is the server.Options.NewAdapter of this client: the cluster
// adapter of Options.Cluster over it.
func (c *Client) NewAdapter(nsp *server.Namespace) server.Adapter {
	return cluster.NewAdapter(c, c.opts.Cluster)(nsp)
}

// Ready reports nil while the node LISTENs to its channels.
func (c *Client) Ready() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ready
}

// Close stops listening and closes the pool. Close the servers first, so
// that their adapters can say goodbye.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	if c.wake != nil {
		c.wake()
	}
	c.mu.Unlock()
	c.wg.Wait()
	c.pool.Close()
	return nil
}

func (c *Client) channel(nsp string) string { return c.opts.ChannelPrefix + "#" + nsp }

// Publish implements cluster.Broker: a NOTIFY of the message's JSON, or of
// a header naming its attachment.
func (c *Client) Publish(ctx context.Context, m *cluster.Message) (string, error) {
	return "", c.notify(ctx, m)
}

// PublishResponse implements cluster.Broker: as Node's, an answer goes on
// the namespace's channel, and the other nodes drop it.
func (c *Client) PublishResponse(ctx context.Context, _ string, m *cluster.Message) error {
	return c.notify(ctx, m)
}

func (c *Client) notify(ctx context.Context, m *cluster.Message) error {
	err := c.notifyOnce(ctx, m)
	if err != nil {
		c.publishFailures.Add(1)
	}
	return err
}

func (c *Client) notifyOnce(ctx context.Context, m *cluster.Message) error {
	channel := c.channel(m.Nsp)
	if !m.HasBinary() {
		payload, err := m.JSON()
		if err != nil {
			return err
		}
		if len(payload) <= c.opts.PayloadThreshold {
			if _, err := c.pool.Exec(ctx, "SELECT pg_notify($1, $2)", channel, string(payload)); err != nil {
				return fmt.Errorf("postgres: NOTIFY: %w", err)
			}
			return nil
		}
	}
	b, err := m.Msgpack()
	if err != nil {
		return err
	}
	var id int64
	if err := c.pool.QueryRow(ctx, "INSERT INTO "+c.opts.TableName+" (payload) VALUES ($1) RETURNING id", b).Scan(&id); err != nil {
		return fmt.Errorf("postgres: writing an attachment: %w", err)
	}
	// As Node's: the id as the string pg gives for a bigint.
	header, _ := json.Marshal(map[string]any{"uid": m.UID, "type": int(m.Type), "attachmentId": strconv.FormatInt(id, 10)})
	if _, err := c.pool.Exec(ctx, "SELECT pg_notify($1, $2)", channel, string(header)); err != nil {
		return fmt.Errorf("postgres: NOTIFY: %w", err)
	}
	return nil
}

// Subscribe implements cluster.Broker: the listening connection LISTENs to
// the namespace's channel.
func (c *Client) Subscribe(nsp, uid string, h cluster.Handler) (func(), error) {
	channel := c.channel(nsp)
	s := &sub{uid: uid, h: h}
	c.mu.Lock()
	if c.subs[channel] == nil {
		c.subs[channel] = map[*sub]struct{}{}
	}
	c.subs[channel][s] = struct{}{}
	if !c.listened[channel] && c.wake != nil {
		c.wake() // the listener LISTENs before it waits again
	}
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.subs[channel], s)
		c.mu.Unlock()
	}, nil
}

// listen keeps a connection LISTENing to every subscribed channel, again
// after each failure, after 1 to 3 s as Node's adapter.
func (c *Client) listen() {
	defer c.wg.Done()
	for {
		err := c.listenOnce()
		c.mu.Lock()
		if c.ready == nil && !c.closed {
			c.listenLosses.Add(1) // it was up
		}
		c.ready = fmt.Errorf("%w: %v", ErrNotConnected, err)
		c.listened = map[string]bool{}
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return
		}
		delay := time.Duration(float64(2*time.Second) * (0.5 + rand.Float64()))
		c.log.Warn("postgres: listening failed; retrying", "err", err, "in", delay)
		select {
		case <-c.done:
			return
		case <-time.After(delay):
		}
	}
}

func (c *Client) listenOnce() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	pc, err := c.pool.Acquire(ctx)
	cancel()
	if err != nil {
		return err
	}
	// The connection leaves the pool: LISTEN binds to it for good.
	conn := pc.Hijack()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(ctx)
		cancel()
	}()
	for {
		// LISTEN to the channels subscribed since the last round.
		c.mu.Lock()
		var todo []string
		for ch := range c.subs {
			if !c.listened[ch] {
				todo = append(todo, ch)
			}
		}
		c.mu.Unlock()
		for _, ch := range todo {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			// Lower case: Node's test driver counts its own "LISTEN".
			_, err := conn.Exec(ctx, "listen "+pgx.Identifier{ch}.Sanitize())
			cancel()
			if err != nil {
				return err
			}
			c.mu.Lock()
			c.listened[ch] = true
			c.mu.Unlock()
		}
		ctx, cancel := context.WithCancel(context.Background())
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			cancel()
			return nil
		}
		c.ready, c.wake = nil, cancel
		pending := false
		for ch := range c.subs {
			pending = pending || !c.listened[ch]
		}
		c.mu.Unlock()
		if pending {
			cancel()
			continue
		}
		n, err := conn.WaitForNotification(ctx)
		interrupted := ctx.Err() != nil
		cancel()
		if err != nil {
			if interrupted && !conn.IsClosed() {
				continue // a new channel, or Close
			}
			return err
		}
		c.dispatch(n)
	}
}

// header is what a notification carries: a whole message, or the uid,
// type and attachment id of one in the table.
type header struct {
	UID          string `json:"uid"`
	AttachmentID any    `json:"attachmentId"`
}

// dispatch hands a notification to the channel's subscribers, reading
// its attachment first; in order, on the listener's goroutine.
func (c *Client) dispatch(n *pgconn.Notification) {
	var hd header
	_ = json.Unmarshal([]byte(n.Payload), &hd)
	c.mu.Lock()
	subs := make([]*sub, 0, len(c.subs[n.Channel]))
	for s := range c.subs[n.Channel] {
		if s.uid != hd.UID { // its own message: not worth an attachment's read
			subs = append(subs, s)
		}
	}
	c.mu.Unlock()
	if len(subs) == 0 {
		return
	}
	var (
		m   *cluster.Message
		err error
	)
	if hd.AttachmentID != nil {
		m, err = c.attachment(hd.AttachmentID)
	} else {
		m, err = cluster.DecodeJSON([]byte(n.Payload))
	}
	if err != nil {
		c.dropped.Add(1)
		c.log.Debug("postgres: bad notification", "channel", n.Channel, "err", err)
		return
	}
	for _, s := range subs {
		s.h(m, "")
	}
}

// attachment reads the message stored under id (a string, as Node writes
// it, or a number).
func (c *Client) attachment(id any) (*cluster.Message, error) {
	var n int64
	switch x := id.(type) {
	case string:
		v, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("postgres: attachment id %q", x)
		}
		n = v
	case float64:
		n = int64(x)
	default:
		return nil, fmt.Errorf("postgres: attachment id %v", id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b []byte
	if err := c.pool.QueryRow(ctx, "SELECT payload FROM "+c.opts.TableName+" WHERE id = $1", n).Scan(&b); err != nil {
		return nil, fmt.Errorf("postgres: reading attachment %d: %w", n, err)
	}
	return cluster.DecodeMsgpack(b)
}

// cleanup deletes the attachments older than the cleanup interval, every
// interval, as each of Node's nodes does.
func (c *Client) cleanup() {
	defer c.wg.Done()
	t := time.NewTicker(c.opts.CleanupInterval)
	defer t.Stop()
	age := strconv.FormatInt(c.opts.CleanupInterval.Milliseconds(), 10) + " milliseconds"
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.pool.Exec(ctx, "DELETE FROM "+c.opts.TableName+" WHERE created_at < now() - $1::interval", age)
		cancel()
		if err != nil {
			c.log.Debug("postgres: removing old attachments", "err", err)
		}
	}
}
