package redisstreams

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/siogo/siogo/adapters/cluster"
	"github.com/siogo/siogo/server"
)

// Connection state recovery across nodes (the Client is the contract's
// cluster.SessionStore): sessions are kept under SessionKeyPrefix+pid with
// the recovery window as expiry, as Node's persistSession writes them, and
// the missed events are read from the stream after the client's offset,
// which is an entry id (ReadLog).
//
// A session restores once, and never while it is connected. The session of
// a socket that disconnected (the key above) is taken by the first node to
// restore it, siogo or Node, with GET and DEL in one MULTI. siogo's live
// copies of connected sockets (Options.NoLiveSessions) live apart, under
// LiveKeyPrefix+"s:"+pid, where Node never looks, each marked with the
// adapter that wrote it: "<uid> L <session>". Another node restores from a
// live copy only when that adapter is gone, its private channel having no
// subscriber left in Redis (a killed process's connections close at once)
// or its lease (LiveKeyPrefix+"n:"+uid, renewed every second) having
// expired (a host gone, a process hung or cut from Redis); it takes the copy
// with a compare-and-set that leaves "<its uid> T" in its place, so one
// taker wins. Every later write or removal of a live copy, and the removal
// that comes before a disconnected socket's session is kept, is
// conditional on the copy still being the writer's own: a node that finds
// its copy taken disconnects that socket (a reason that keeps no session)
// and keeps nothing for it.

var offsetPattern = regexp.MustCompile(`^[0-9]+-[0-9]+$`)

func (c *Client) sessionKey(pid string) string { return c.opts.SessionKeyPrefix + pid }

func (c *Client) liveKey(pid string) string { return c.opts.LiveKeyPrefix + "s:" + pid }

func leaseKey(prefix, uid string) string { return prefix + "n:" + uid }

// liveLease is how long an adapter's live copies stay its own after it
// last renewed its lease; it renews it every leaseEvery.
const (
	liveLease  = 10 * time.Second
	leaseEvery = time.Second
)

// The states of a live copy: a connected socket's session, or a copy
// taken by a node that restored it.
const (
	liveSession = "L"
	liveTaken   = "T"
)

// encodeLive is a live copy of ps written by the adapter uid of nsp.
func encodeLive(uid, nsp string, ps *server.PersistedSession) (string, error) {
	enc, err := encodeSession(ps)
	if err != nil {
		return "", err
	}
	return uid + " " + liveSession + " " + enc + " " + nsp, nil
}

// parseLive reads a live copy: the uid of the adapter that wrote it, its
// state, and for a liveSession the encoded session and the namespace.
func parseLive(v string) (uid, state, session, nsp string, ok bool) {
	uid, rest, ok := strings.Cut(v, " ")
	if !ok || uid == "" {
		return "", "", "", "", false
	}
	state, rest, _ = strings.Cut(rest, " ")
	switch {
	case state == liveTaken && rest == "":
		return uid, state, "", "", true
	case state == liveSession:
		session, nsp, ok = strings.Cut(rest, " ") // base64 has no space; a namespace may
		if ok && session != "" {
			return uid, state, session, nsp, true
		}
	}
	return "", "", "", "", false
}

// The live copies' scripts: one key each, so that they run on a cluster.
var (
	// putLive writes a live copy (ARGV[2], PX ARGV[3]) unless another
	// adapter's is there (ARGV[1] is "<uid> "): 1 written, 0 not.
	putLive = redis.NewScript(1, `
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`)
	// dropLive removes a live copy unless another adapter's is there:
	// 1 when none is left that is not ours.
	dropLive = redis.NewScript(1, `
local v = redis.call('GET', KEYS[1])
if not v then return 1 end
if string.sub(v, 1, #ARGV[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1`)
	// takeLive replaces a live copy that is still ARGV[1] with ARGV[2]
	// (PX ARGV[3]): 1 taken, 0 changed meanwhile.
	takeLive = redis.NewScript(1, `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`)
)

// liveSessions is a namespace's side of siogo's live copies
// (Options.NoLiveSessions), under mu.
type liveSessions struct {
	mu          sync.Mutex
	dirty       map[string]struct{} // sockets whose session must be written
	written     map[string]string   // sockets whose session is in Redis -> pid
	kept        map[string]struct{} // sockets whose last session SaveSession wrote
	fenced      map[string]struct{} // sockets whose session another node restored
	nextRefresh time.Time
	// The lease of the live copies: renewed at nextLease, held until
	// leaseUntil.
	nextLease, leaseUntil time.Time
}

func (l *liveSessions) init() {
	l.dirty, l.written = map[string]struct{}{}, map[string]string{}
	l.kept, l.fenced = map[string]struct{}{}, map[string]struct{}{}
}

// live is the watching adapter and its recovery window when it keeps live
// copies: recovery on, NoLiveSessions off.
func (c *Client) live(st *nspState) (*cluster.Adapter, string, time.Duration) {
	if c.opts.NoLiveSessions {
		return nil, "", 0
	}
	a, uid := st.adapter()
	if a == nil || uid == "" {
		return nil, "", 0
	}
	r := a.Recovery()
	if r == nil {
		return nil, "", 0
	}
	return a, uid, r.MaxDisconnectionDuration
}

// SaveSession implements cluster.SessionStore: SET key PX ttl, as Node,
// once the socket's live copy is removed; not when another node has taken
// it (the session lives on there).
func (c *Client) SaveSession(_ context.Context, nsp string, ps *server.PersistedSession, ttl time.Duration) error {
	st := c.state(nsp)
	_, uid := st.adapter()
	l := &st.live
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.dirty, ps.SID)
	delete(l.written, ps.SID) // kept for the window now: its leaving leaves it
	l.kept[ps.SID] = struct{}{}
	if _, fenced := l.fenced[ps.SID]; fenced {
		return nil
	}
	ours, err := redis.Int(c.run(c.liveKey(ps.PID), func(conn redis.Conn) (any, error) {
		return dropLive.Do(conn, c.liveKey(ps.PID), uid+" ")
	}))
	if err != nil {
		return fmt.Errorf("redisstreams: session not kept: %w", err)
	}
	if ours == 0 {
		c.log.Info("redisstreams: session not kept: another node restored it", "sid", ps.SID)
		return nil
	}
	v, err := encodeSession(ps)
	if err == nil {
		_, err = c.do(c.sessionKey(ps.PID), "SET", c.sessionKey(ps.PID), v, "PX", ttl.Milliseconds())
	}
	if err != nil {
		return fmt.Errorf("redisstreams: session not kept: %w", err)
	}
	return nil
}

// putLives writes live copies in one round trip (on a cluster, one per
// copy, each key on the master of its slot), each unless another node took
// it; it returns the sids of those taken.
func (c *Client) putLives(uid, nsp string, window time.Duration, list []*server.PersistedSession) (taken []string, err error) {
	ms := window.Milliseconds()
	mine := uid + " "
	vals := make([]string, len(list))
	for i, ps := range list {
		if vals[i], err = encodeLive(uid, nsp, ps); err != nil {
			return nil, err
		}
	}
	results := make([]int, len(list))
	if c.cl != nil {
		for i, ps := range list {
			key := c.liveKey(ps.PID)
			if results[i], err = redis.Int(c.run(key, func(conn redis.Conn) (any, error) {
				return putLive.Do(conn, key, mine, vals[i], ms)
			})); err != nil {
				return nil, err
			}
		}
	} else {
		conn := c.pool.Get()
		defer conn.Close()
		for i, ps := range list {
			if err := putLive.Send(conn, c.liveKey(ps.PID), mine, vals[i], ms); err != nil {
				return nil, err
			}
		}
		if err := conn.Flush(); err != nil {
			return nil, err
		}
		for i := range list {
			if results[i], err = redis.Int(conn.Receive()); err != nil {
				return nil, err
			}
		}
	}
	for i, ps := range list {
		if results[i] == 0 {
			taken = append(taken, ps.SID)
		}
	}
	return taken, nil
}

// RestoreSession implements cluster.SessionStore, as Node's restoreSession:
// the session is taken (GET and DEL in one transaction) and the offset
// must be still in the stream. Without one, a live copy whose adapter is
// gone is taken instead.
func (c *Client) RestoreSession(_ context.Context, nsp, pid, offset string) (*server.PersistedSession, error) {
	if !offsetPattern.MatchString(offset) {
		return nil, nil
	}
	if _, ok := parseID(offset); !ok {
		return nil, nil
	}
	st := c.state(nsp)
	key := c.sessionKey(pid)
	res, err := redis.Values(c.run(key, func(conn redis.Conn) (any, error) {
		_ = conn.Send("MULTI")
		_ = conn.Send("GET", key)
		_ = conn.Send("DEL", key)
		return conn.Do("EXEC")
	}))
	if err != nil {
		return nil, fmt.Errorf("redisstreams: restoring a session: %w", err)
	}
	var raw string
	if len(res) > 0 && res[0] != nil {
		raw, _ = redis.String(res[0], nil)
	} else if raw, err = c.takeLive(st, pid); err != nil || raw == "" {
		return nil, err
	}
	found, err := redis.Values(c.do(st.stream, "XRANGE", st.stream, offset, offset))
	if err != nil {
		return nil, fmt.Errorf("redisstreams: restoring a session: %w", err)
	}
	if len(found) == 0 {
		return nil, nil
	}
	ps, err := decodeSession(raw)
	if err != nil {
		return nil, err
	}
	ps.PID = pid
	return ps, nil
}

// takeLive takes pid's live copy if the adapter that wrote it is gone,
// and returns its session; "" when there is none to take.
func (c *Client) takeLive(st *nspState, pid string) (string, error) {
	_, uid, window := c.live(st)
	if uid == "" {
		return "", nil
	}
	key := c.liveKey(pid)
	v, err := redis.String(c.do(key, "GET", key))
	if errors.Is(err, redis.ErrNil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("redisstreams: restoring a session: %w", err)
	}
	owner, state, session, nsp, ok := parseLive(v)
	if !ok || state != liveSession || owner == uid || nsp != st.nsp {
		return "", nil // taken already, connected here, or another namespace's
	}
	if alive, err := c.ownerAlive(st, owner); err != nil || alive {
		if err == nil {
			c.log.Debug("redisstreams: session not restored: connected on another node", "owner", owner)
		}
		return "", err
	}
	took, err := redis.Int(c.run(key, func(conn redis.Conn) (any, error) {
		return takeLive.Do(conn, key, v, uid+" "+liveTaken, window.Milliseconds())
	}))
	if err != nil {
		return "", fmt.Errorf("redisstreams: restoring a session: %w", err)
	}
	if took == 0 {
		return "", nil // another node took it first
	}
	return session, nil
}

// ownerAlive tells whether the adapter uid still holds its live copies:
// its private channel has a subscriber and its lease runs.
func (c *Client) ownerAlive(st *nspState, uid string) (bool, error) {
	n, err := c.numSub(st.public + uid + "#")
	if err != nil {
		return false, fmt.Errorf("redisstreams: restoring a session: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	lease := leaseKey(c.opts.LiveKeyPrefix, uid)
	held, err := redis.Int(c.do(lease, "EXISTS", lease))
	if err != nil {
		return false, fmt.Errorf("redisstreams: restoring a session: %w", err)
	}
	return held == 1, nil
}

// Watch implements cluster.Watcher: the adapter whose sockets' live
// copies this client keeps.
func (c *Client) Watch(a *cluster.Adapter) func() {
	st := c.state(a.Namespace().Name())
	st.mu.Lock()
	st.a, st.uid = a, a.UID()
	st.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			st.mu.Lock()
			if st.a == a {
				st.a = nil
			}
			st.mu.Unlock()
			c.forget(st)
		})
	}
}

// RoomsChanged implements cluster.Watcher: a socket that joined or left a
// room has its live copy written soon; one gone for good takes its live
// copy with it, while one whose session SaveSession kept leaves it.
func (c *Client) RoomsChanged(a *cluster.Adapter, id string, rooms []string, gone bool) {
	st := c.state(a.Namespace().Name())
	_, uid, _ := c.live(st)
	if uid == "" {
		return
	}
	l := &st.live
	l.mu.Lock()
	defer l.mu.Unlock()
	if !gone {
		if len(rooms) > 0 {
			l.dirty[id] = struct{}{}
		}
		return
	}
	delete(l.dirty, id)
	delete(l.kept, id)
	delete(l.fenced, id)
	pid, ok := l.written[id]
	if !ok {
		return
	}
	delete(l.written, id)
	key := c.liveKey(pid)
	if _, err := c.run(key, func(conn redis.Conn) (any, error) { return dropLive.Do(conn, key, uid+" ") }); err != nil {
		c.log.Debug("redisstreams: removing a session", "err", err)
	}
}

// flushLive writes a namespace's sessions that changed, and all of them
// every quarter of the window, or at once when its lease lapsed (the node
// was hung or cut from Redis, and another may have taken its sockets'
// sessions); it renews the lease before it writes, every second.
func (c *Client) flushLive(st *nspState, now time.Time) {
	a, uid, window := c.live(st)
	if uid == "" {
		return
	}
	l := &st.live
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.After(l.leaseUntil) {
		l.nextRefresh = time.Time{}
	}
	var ids []string
	if now.After(l.nextRefresh) {
		l.nextRefresh = now.Add(max(window/4, time.Second))
		for id := range l.written {
			ids = append(ids, id)
		}
		for id := range l.dirty {
			if _, ok := l.written[id]; !ok {
				ids = append(ids, id)
			}
		}
	} else {
		for id := range l.dirty {
			ids = append(ids, id)
		}
	}
	clear(l.dirty)
	nsp := a.Namespace()
	list := make([]*server.PersistedSession, 0, len(ids))
	for _, id := range ids {
		if _, ok := l.kept[id]; ok {
			continue
		}
		if _, ok := l.fenced[id]; ok {
			continue
		}
		s := nsp.Socket(id)
		if s == nil || !s.Connected() {
			continue
		}
		ps := a.Session(id)
		if ps == nil || ps.PID == "" {
			continue
		}
		list = append(list, ps)
	}
	if len(list) == 0 && len(l.written) == 0 {
		return
	}
	// The lease first: a copy without it would be anyone's to take.
	if now.After(l.nextLease) || len(list) > 0 && now.Add(liveLease/2).After(l.leaseUntil) {
		lease := leaseKey(c.opts.LiveKeyPrefix, uid)
		if _, err := c.do(lease, "SET", lease, "1", "PX", liveLease.Milliseconds()); err != nil {
			c.log.Debug("redisstreams: renewing the lease of the live sessions", "err", err)
			l.requeue(list)
			return
		}
		l.nextLease, l.leaseUntil = now.Add(leaseEvery), now.Add(liveLease)
	}
	if len(list) == 0 {
		return
	}
	taken, err := c.putLives(uid, st.nsp, window, list)
	if err != nil {
		c.log.Debug("redisstreams: writing sessions", "err", err)
		l.requeue(list)
		return
	}
	for _, ps := range list {
		l.written[ps.SID] = ps.PID
	}
	for _, sid := range taken {
		// Restored on another node while this node was hung or cut off:
		// that copy is the session now; this one goes, keeping nothing.
		delete(l.written, sid)
		l.fenced[sid] = struct{}{}
		c.log.Warn("redisstreams: a socket's session was restored on another node; disconnecting this copy", "sid", sid)
		if s := nsp.Socket(sid); s != nil {
			go s.Disconnect()
		}
	}
}

// requeue marks sessions to be written again at the next flush.
func (l *liveSessions) requeue(list []*server.PersistedSession) {
	for _, ps := range list {
		l.dirty[ps.SID] = struct{}{}
	}
}
