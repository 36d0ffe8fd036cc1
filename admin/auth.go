package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/siogo/siogo/server"
	"github.com/siogo/siogo/transports"
)

// Store keeps the session ids handed to the UI at login, so that it
// reconnects without the password (Node's Store).
type Store interface {
	SessionExists(ctx context.Context, id string) (bool, error)
	SaveSession(ctx context.Context, id string) error
}

// MemoryStore is a Store in this node's memory (Node's InMemoryStore),
// bounded: sessions expire, and the oldest go past the bound.
type MemoryStore struct {
	ttl time.Duration
	max int

	mu       sync.Mutex
	sessions map[string]time.Time // id -> expiry
}

// NewMemoryStore returns a store whose sessions last ttl (default 24h, the
// duration of Node's RedisStore) and which holds at most max (default
// 10000).
func NewMemoryStore(ttl time.Duration, max int) *MemoryStore {
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	if max <= 0 {
		max = 10000
	}
	return &MemoryStore{ttl: ttl, max: max, sessions: map[string]time.Time{}}
}

// SessionExists implements Store.
func (m *MemoryStore) SessionExists(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, ok := m.sessions[id]
	return ok && time.Now().Before(exp), nil
}

// SaveSession implements Store.
func (m *MemoryStore) SaveSession(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := time.Now()
	if len(m.sessions) >= m.max {
		oldest, first := "", time.Time{}
		for k, exp := range m.sessions {
			if !exp.After(t) {
				delete(m.sessions, k)
				continue
			}
			if oldest == "" || exp.Before(first) {
				oldest, first = k, exp
			}
		}
		if len(m.sessions) >= m.max {
			delete(m.sessions, oldest)
		}
	}
	m.sessions[id] = t.Add(m.ttl)
	return nil
}

// sessionID is 8 random bytes in hex, as Node's.
func sessionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// authenticate is the admin namespace's middleware: a known session id, or
// the username and password; anything else is "invalid credentials". Until
// the connection is logged in, what it may send is bounded, and so are
// its refusals and its address's failures (LoginLimits).
func (a *Admin) authenticate(s *server.Socket) error {
	sess := s.Session()
	if a.login.MaxPayload > 0 {
		sess.LimitInbound(a.login.MaxPayload)
	}
	auth := s.Handshake().Auth
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.FetchTimeout)
	defer cancel()
	if id, _ := auth["sessionId"].(string); id != "" {
		ok, err := a.opts.Store.SessionExists(ctx, id)
		if err != nil {
			a.opts.Logger.Warn("socket.io admin: session store", "err", err)
		}
		if ok {
			a.loggedIn(sess)
			return nil
		}
	}
	now := time.Now()
	addr := sess.ClientAddr()
	if a.login.PerAddress > 0 {
		if n, until := a.addrs.count(addr, now); n >= a.login.PerAddress {
			// Refused unchecked: a password tried now would otherwise
			// still tell whether it is right.
			retry := int(until.Sub(now).Round(time.Second) / time.Second)
			return a.refuse(sess, now, &server.ConnectError{Message: ErrTooManyFailures.Error(),
				Data: map[string]any{"retryAfter": retry}})
		}
	}
	user, _ := auth["username"].(string)
	pass, _ := auth["password"].(string)
	if user == "" && pass == "" {
		// Nothing guessed (the UI, opening, tries the session id it kept,
		// or none): refused, counted against the connection only, and
		// with no username there is nothing its time could tell.
		return a.refuse(sess, now, ErrInvalidCredentials)
	}
	if a.checkPassword(user, pass) {
		a.addrs.forget(addr)
		id := sessionID()
		if err := a.opts.Store.SaveSession(ctx, id); err != nil {
			a.opts.Logger.Warn("socket.io admin: session store", "err", err)
		}
		// Node emits the session id from the middleware, before CONNECT;
		// a siogo socket can emit only once connected: it goes first then.
		a.pendingMu.Lock()
		a.pending[s] = pendingSession{id: id, at: time.Now()}
		a.pendingMu.Unlock()
		a.loggedIn(sess)
		return nil
	}
	if a.login.PerAddress > 0 && a.addrs.add(addr, now) == a.login.PerAddress {
		a.opts.Logger.Warn("socket.io admin: too many failed logins, refusing this address's for a while",
			"addr", addr.String(), "failures", a.login.PerAddress, "for", a.login.Window)
	}
	return a.refuse(sess, now, ErrInvalidCredentials)
}

// checkPassword checks both fields in a time that tells nothing of either:
// the usernames are compared in constant time (their hashes, so that the
// length does not show either), and the password always goes through
// bcrypt, against a hash of the same cost when the username is wrong.
func (a *Admin) checkPassword(user, pass string) bool {
	sum := sha256.Sum256([]byte(user))
	userOK := subtle.ConstantTimeCompare(sum[:], a.userSum[:]) == 1
	hash := a.hash
	if !userOK {
		hash = a.decoy
	}
	passOK := compareHash(hash, []byte(pass)) == nil
	return userOK && passOK
}

// compareHash is bcrypt's; a test counts the checks through it.
var compareHash = bcrypt.CompareHashAndPassword

// loggedIn lifts the bounds of a connection that logged in.
func (a *Admin) loggedIn(sess *transports.Session) {
	if a.login.MaxPayload > 0 {
		sess.LimitInbound(0)
	}
	if a.login.PerConnection > 0 {
		a.conns.forget(sess.ID())
	}
}

// refuse counts a refused login of the connection; the last it may make
// closes it, once the refusal is sent.
func (a *Admin) refuse(sess *transports.Session, now time.Time, err error) error {
	if a.login.PerConnection <= 0 || a.conns.add(sess.ID(), now) < a.login.PerConnection {
		return err
	}
	a.conns.forget(sess.ID())
	ce := &server.ConnectError{Message: err.Error(), CloseConnection: true}
	var given *server.ConnectError
	if errors.As(err, &given) {
		ce.Data = given.Data
	}
	return ce
}

// sweepPending forgets the sessions of sockets that never connected, and
// the failed logins whose window has ended.
func (a *Admin) sweepPending() {
	a.pendingMu.Lock()
	for s, p := range a.pending {
		if time.Since(p.at) > time.Minute {
			delete(a.pending, s)
		}
	}
	a.pendingMu.Unlock()
	now := time.Now()
	a.addrs.sweep(now)
	a.conns.sweep(now)
}

// onAdminConnection serves one UI: its session id, the configuration, its
// commands and, in development mode, every socket of the cluster.
func (a *Admin) onAdminConnection(s *server.Socket) {
	a.pendingMu.Lock()
	p, ok := a.pending[s]
	delete(a.pending, s)
	a.pendingMu.Unlock()
	if ok {
		_ = s.Emit("session", p.id)
	}
	a.registerCommands(s)
	_ = s.Emit("config", map[string]any{"supportedFeatures": a.Features()})
	if a.opts.Mode == Development {
		_ = s.Emit("all_sockets", a.allSockets())
	}
}

// allSockets is every socket of every namespace, on every node.
func (a *Admin) allSockets() []any {
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.FetchTimeout)
	defer cancel()
	out := []any{}
	for _, n := range a.srv.Namespaces() {
		sockets, err := n.FetchSockets(ctx)
		if err != nil {
			a.opts.Logger.Warn("socket.io admin: fetching sockets", "nsp", n.Name(), "err", err)
		}
		for _, r := range sockets {
			out = append(out, a.serializeRemote(n, r))
		}
	}
	return out
}
