package redisstreams

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/siogo/siogo/internal/adapterwire"
	"github.com/siogo/siogo/server"
)

// Connection state recovery across nodes: sessions are kept under
// SessionKeyPrefix+pid with the recovery window as expiry, as Node's
// persistSession writes them, and the missed events are read from the
// stream after the client's offset, which is an entry id.
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

func (a *Adapter) sessionKey(pid string) string { return a.c.opts.SessionKeyPrefix + pid }

func (a *Adapter) liveKey(pid string) string { return a.c.opts.LiveKeyPrefix + "s:" + pid }

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

func (a *Adapter) window() time.Duration {
	if a.recovery == nil {
		return 0
	}
	return a.recovery.MaxDisconnectionDuration
}

// PersistSession implements server.Adapter: SET key PX window, as Node,
// once the socket's live copy is removed; not when another node has
// taken it (the session lives on there).
func (a *Adapter) PersistSession(ps *server.PersistedSession) {
	if a.recovery == nil {
		return
	}
	a.liveMu.Lock()
	defer a.liveMu.Unlock()
	delete(a.dirty, ps.SID)
	delete(a.written, ps.SID) // kept for the window now: DelAll leaves it
	a.kept[ps.SID] = struct{}{}
	if _, fenced := a.fenced[ps.SID]; fenced {
		return
	}
	ours, err := redis.Int(a.c.run(a.liveKey(ps.PID), func(conn redis.Conn) (any, error) {
		return dropLive.Do(conn, a.liveKey(ps.PID), a.uid+" ")
	}))
	if err != nil {
		a.c.log.Warn("redisstreams: session not kept", "sid", ps.SID, "err", err)
		return
	}
	if ours == 0 {
		a.c.log.Info("redisstreams: session not kept: another node restored it", "sid", ps.SID)
		return
	}
	v, err := encodeSession(ps)
	if err == nil {
		_, err = a.c.do(a.sessionKey(ps.PID), "SET", a.sessionKey(ps.PID), v, "PX", a.window().Milliseconds())
	}
	if err != nil {
		a.c.log.Warn("redisstreams: session not kept", "sid", ps.SID, "err", err)
	}
}

// putLives writes live copies in one round trip (on a cluster, one per
// copy, each key on the master of its slot), each unless another node took
// it; it returns the sids of those taken.
func (a *Adapter) putLives(list []*server.PersistedSession) (taken []string, err error) {
	ms := a.window().Milliseconds()
	mine := a.uid + " "
	vals := make([]string, len(list))
	for i, ps := range list {
		if vals[i], err = encodeLive(a.uid, a.nsp.Name(), ps); err != nil {
			return nil, err
		}
	}
	results := make([]int, len(list))
	if a.c.cl != nil {
		for i, ps := range list {
			key := a.liveKey(ps.PID)
			if results[i], err = redis.Int(a.c.run(key, func(conn redis.Conn) (any, error) {
				return putLive.Do(conn, key, mine, vals[i], ms)
			})); err != nil {
				return nil, err
			}
		}
	} else {
		conn := a.c.pool.Get()
		defer conn.Close()
		for i, ps := range list {
			if err := putLive.Send(conn, a.liveKey(ps.PID), mine, vals[i], ms); err != nil {
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

// RestoreSession implements server.Adapter, as Node's restoreSession: the
// session is taken (GET and DEL in one transaction) and the offset must be
// still in the stream. Without one, a live copy whose adapter is gone is
// taken instead. The missed events are read in ResumeSession.
func (a *Adapter) RestoreSession(pid, offset string) (*server.PersistedSession, error) {
	if a.recovery == nil || !offsetPattern.MatchString(offset) {
		return nil, nil
	}
	if _, ok := parseID(offset); !ok {
		return nil, nil
	}
	key := a.sessionKey(pid)
	res, err := redis.Values(a.c.run(key, func(conn redis.Conn) (any, error) {
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
	} else if raw, err = a.takeLive(pid); err != nil || raw == "" {
		return nil, err
	}
	found, err := redis.Values(a.c.do(a.stream, "XRANGE", a.stream, offset, offset))
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
	ps.Offset = offset
	return ps, nil
}

// takeLive takes pid's live copy if the adapter that wrote it is gone,
// and returns its session; "" when there is none to take.
func (a *Adapter) takeLive(pid string) (string, error) {
	key := a.liveKey(pid)
	v, err := redis.String(a.c.do(key, "GET", key))
	if errors.Is(err, redis.ErrNil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("redisstreams: restoring a session: %w", err)
	}
	owner, state, session, nsp, ok := parseLive(v)
	if !ok || state != liveSession || owner == a.uid || nsp != a.nsp.Name() {
		return "", nil // taken already, connected here, or another namespace's
	}
	if alive, err := a.ownerAlive(owner); err != nil || alive {
		if err == nil {
			a.c.log.Debug("redisstreams: session not restored: connected on another node", "owner", owner)
		}
		return "", err
	}
	took, err := redis.Int(a.c.run(key, func(conn redis.Conn) (any, error) {
		return takeLive.Do(conn, key, v, a.uid+" "+liveTaken, a.window().Milliseconds())
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
func (a *Adapter) ownerAlive(uid string) (bool, error) {
	n, err := a.c.numSub(a.public + uid + "#")
	if err != nil {
		return false, fmt.Errorf("redisstreams: restoring a session: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	lease := leaseKey(a.c.opts.LiveKeyPrefix, uid)
	held, err := redis.Int(a.c.do(lease, "EXISTS", lease))
	if err != nil {
		return false, fmt.Errorf("redisstreams: restoring a session: %w", err)
	}
	return held == 1, nil
}

const restorePage = 1000

// ResumeSession implements server.SessionResumer: with the reader held,
// the events after the offset are read from the stream, the socket joins
// its rooms and gets them; entries the reader has not applied yet leave it
// out up to the last one read here. Each event thus reaches it once, in
// the stream's order.
func (a *Adapter) ResumeSession(ps *server.PersistedSession, join func(missed [][]any)) {
	a.c.deliverMu.Lock()
	defer a.c.deliverMu.Unlock()
	from, ok := parseID(ps.Offset)
	if !ok {
		join(nil)
		return
	}
	last := from
	var missed [][]any
	max := 10000
	if a.recovery != nil && a.recovery.MaxPackets > 0 {
		max = a.recovery.MaxPackets
	}
	for read := 0; read < max; {
		items, err := redis.Values(a.c.do(a.stream, "XRANGE", a.stream, last.next().String(), "+", "COUNT", restorePage))
		if err != nil {
			a.c.log.Warn("redisstreams: reading missed events", "sid", ps.SID, "err", err)
			break
		}
		entries, err := parseEntries(items)
		if err != nil {
			a.c.log.Warn("redisstreams: reading missed events", "sid", ps.SID, "err", err)
			break
		}
		for _, e := range entries {
			last = e.id
			read++
			if e.fields["nsp"] != a.nsp.Name() || e.fields["type"] != "3" {
				continue
			}
			m, err := decodeEntry(e.fields)
			if err != nil {
				continue
			}
			if _, withAck := m.Data["requestId"]; withAck {
				continue
			}
			p, ok := adapterwire.PacketFrom(m.Data["packet"], a.nsp.Name())
			if !ok {
				continue
			}
			opts := adapterwire.OptionsFrom(m.Data["opts"])
			if opts.Flags.Volatile || !includes(ps.Rooms, opts) {
				continue
			}
			missed = append(missed, append(p.Data.([]any), e.id.String()))
		}
		if len(entries) < restorePage {
			break
		}
	}
	if a.c.lastRead(a.stream).less(last) {
		a.skip[ps.SID] = last
	}
	join(missed)
}

// includes is Node's shouldIncludePacket.
func includes(rooms []string, opts server.BroadcastOptions) bool {
	included := len(opts.Rooms) == 0
	for _, r := range rooms {
		for _, e := range opts.Except {
			if r == e {
				return false
			}
		}
		if !included {
			for _, o := range opts.Rooms {
				if r == o {
					included = true
					break
				}
			}
		}
	}
	return included
}

// Live sessions (Options.NoLiveSessions): the room index's changes mark a
// socket's session to be written.

func (a *Adapter) live() bool { return a.recovery != nil && !a.c.opts.NoLiveSessions }

// AddAll implements server.Adapter.
func (a *Adapter) AddAll(id string, rooms ...string) {
	a.MemoryAdapter.AddAll(id, rooms...)
	if a.live() && len(rooms) > 0 {
		a.liveMu.Lock()
		a.dirty[id] = struct{}{}
		a.liveMu.Unlock()
	}
}

// Del implements server.Adapter.
func (a *Adapter) Del(id, room string) {
	a.MemoryAdapter.Del(id, room)
	if a.live() {
		a.liveMu.Lock()
		a.dirty[id] = struct{}{}
		a.liveMu.Unlock()
	}
}

// DelAll implements server.Adapter: a socket gone for good takes its live
// session with it; one kept by PersistSession stays.
func (a *Adapter) DelAll(id string) {
	a.MemoryAdapter.DelAll(id)
	if !a.live() {
		return
	}
	a.liveMu.Lock()
	defer a.liveMu.Unlock()
	delete(a.dirty, id)
	delete(a.kept, id)
	delete(a.fenced, id)
	pid, ok := a.written[id]
	if !ok {
		return
	}
	delete(a.written, id)
	key := a.liveKey(pid)
	if _, err := a.c.run(key, func(conn redis.Conn) (any, error) { return dropLive.Do(conn, key, a.uid+" ") }); err != nil {
		a.c.log.Debug("redisstreams: removing a session", "err", err)
	}
}

// flushLive writes the sessions that changed, and all of them every
// quarter of the window, or at once when its lease lapsed (the node was
// hung or cut from Redis, and another may have taken its sockets'
// sessions); it renews the lease before it writes, every second.
func (a *Adapter) flushLive(now time.Time) {
	if !a.live() {
		return
	}
	a.liveMu.Lock()
	defer a.liveMu.Unlock()
	if now.After(a.leaseUntil) {
		a.nextRefresh = time.Time{}
	}
	var ids []string
	if now.After(a.nextRefresh) {
		a.nextRefresh = now.Add(max(a.window()/4, time.Second))
		for id := range a.written {
			ids = append(ids, id)
		}
		for id := range a.dirty {
			if _, ok := a.written[id]; !ok {
				ids = append(ids, id)
			}
		}
	} else {
		for id := range a.dirty {
			ids = append(ids, id)
		}
	}
	clear(a.dirty)
	list := make([]*server.PersistedSession, 0, len(ids))
	for _, id := range ids {
		if _, ok := a.kept[id]; ok {
			continue
		}
		if _, ok := a.fenced[id]; ok {
			continue
		}
		s := a.nsp.Socket(id)
		if s == nil || !s.Connected() {
			continue
		}
		ps := a.MemoryAdapter.Session(id)
		if ps == nil || ps.PID == "" {
			continue
		}
		list = append(list, ps)
	}
	if len(list) == 0 && len(a.written) == 0 {
		return
	}
	// The lease first: a copy without it would be anyone's to take.
	if now.After(a.nextLease) || len(list) > 0 && now.Add(liveLease/2).After(a.leaseUntil) {
		lease := leaseKey(a.c.opts.LiveKeyPrefix, a.uid)
		if _, err := a.c.do(lease, "SET", lease, "1", "PX", liveLease.Milliseconds()); err != nil {
			a.c.log.Debug("redisstreams: renewing the lease of the live sessions", "err", err)
			a.requeue(list)
			return
		}
		a.nextLease, a.leaseUntil = now.Add(leaseEvery), now.Add(liveLease)
	}
	if len(list) == 0 {
		return
	}
	taken, err := a.putLives(list)
	if err != nil {
		a.c.log.Debug("redisstreams: writing sessions", "err", err)
		a.requeue(list)
		return
	}
	for _, ps := range list {
		a.written[ps.SID] = ps.PID
	}
	for _, sid := range taken {
		// Restored on another node while this node was hung or cut off:
		// that copy is the session now; this one goes, keeping nothing.
		delete(a.written, sid)
		a.fenced[sid] = struct{}{}
		a.c.log.Warn("redisstreams: a socket's session was restored on another node; disconnecting this copy", "sid", sid)
		if s := a.nsp.Socket(sid); s != nil {
			go s.Disconnect()
		}
	}
}

// requeue marks sessions to be written again at the next flush.
func (a *Adapter) requeue(list []*server.PersistedSession) {
	for _, ps := range list {
		a.dirty[ps.SID] = struct{}{}
	}
}
