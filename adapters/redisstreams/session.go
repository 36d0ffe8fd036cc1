package redisstreams

import (
	"fmt"
	"regexp"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/siogo/siogo/internal/adapterwire"
	"github.com/siogo/siogo/server"
)

// Connection state recovery across nodes: sessions are kept under
// SessionKeyPrefix+pid with the recovery window as expiry, as Node's
// persistSession writes them, and the missed events are read from the
// stream after the client's offset, which is an entry id.

var offsetPattern = regexp.MustCompile(`^[0-9]+-[0-9]+$`)

func (a *Adapter) sessionKey(pid string) string { return a.c.opts.SessionKeyPrefix + pid }

func (a *Adapter) window() time.Duration {
	if a.recovery == nil {
		return 0
	}
	return a.recovery.MaxDisconnectionDuration
}

// PersistSession implements server.Adapter: SET key PX window.
func (a *Adapter) PersistSession(ps *server.PersistedSession) {
	if a.recovery == nil {
		return
	}
	a.liveMu.Lock()
	defer a.liveMu.Unlock()
	delete(a.dirty, ps.SID)
	delete(a.written, ps.SID) // kept for the window now: DelAll leaves it
	a.kept[ps.SID] = struct{}{}
	if err := a.setSessions([]*server.PersistedSession{ps}); err != nil {
		a.c.log.Warn("redisstreams: session not kept", "sid", ps.SID, "err", err)
	}
}

// setSessions writes sessions in one round trip; on a cluster, one per
// session, each key on the master of its slot.
func (a *Adapter) setSessions(list []*server.PersistedSession) error {
	ms := a.window().Milliseconds()
	if a.c.cl != nil {
		for _, ps := range list {
			v, err := encodeSession(ps)
			if err != nil {
				return err
			}
			if _, err := a.c.do(a.sessionKey(ps.PID), "SET", a.sessionKey(ps.PID), v, "PX", ms); err != nil {
				return err
			}
		}
		return nil
	}
	conn := a.c.pool.Get()
	defer conn.Close()
	for _, ps := range list {
		v, err := encodeSession(ps)
		if err != nil {
			return err
		}
		if err := conn.Send("SET", a.sessionKey(ps.PID), v, "PX", ms); err != nil {
			return err
		}
	}
	if err := conn.Flush(); err != nil {
		return err
	}
	for range list {
		if _, err := conn.Receive(); err != nil {
			return err
		}
	}
	return nil
}

// RestoreSession implements server.Adapter, as Node's restoreSession: the
// session is taken (GET and DEL in one transaction) and the offset must be
// still in the stream. The missed events are read in ResumeSession.
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
	if len(res) == 0 || res[0] == nil {
		return nil, nil
	}
	raw, _ := redis.String(res[0], nil)
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
	pid, ok := a.written[id]
	if !ok {
		return
	}
	delete(a.written, id)
	if _, err := a.c.do(a.sessionKey(pid), "DEL", a.sessionKey(pid)); err != nil {
		a.c.log.Debug("redisstreams: removing a session", "err", err)
	}
}

// flushLive writes the sessions that changed, and all of them every
// quarter of the window.
func (a *Adapter) flushLive(now time.Time) {
	if !a.live() {
		return
	}
	a.liveMu.Lock()
	defer a.liveMu.Unlock()
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
	if len(ids) == 0 {
		return
	}
	list := make([]*server.PersistedSession, 0, len(ids))
	for _, id := range ids {
		if _, ok := a.kept[id]; ok {
			continue
		}
		s := a.nsp.Socket(id)
		if s == nil || !s.Connected() {
			continue
		}
		ps := s.RecoverySession()
		if ps.PID == "" {
			continue
		}
		list = append(list, ps)
	}
	if len(list) == 0 {
		return
	}
	if err := a.setSessions(list); err != nil {
		a.c.log.Debug("redisstreams: writing sessions", "err", err)
		for _, ps := range list {
			a.dirty[ps.SID] = struct{}{}
		}
		return
	}
	for _, ps := range list {
		a.written[ps.SID] = ps.PID
	}
}
