package server

import (
	"slices"
	"strconv"
	"sync"
	"time"
)

// PersistedSession is what connection state recovery keeps of a socket
// that lost its connection.
type PersistedSession struct {
	SID   string
	PID   string
	Rooms []string
	Data  any
	// MissedPackets are the event data ([name, args..., offset]) broadcast
	// to the socket while it was away; filled by RestoreSession.
	MissedPackets [][]any
	// Offset is the offset the client came back with, set by adapters
	// that read the missed events in ResumeSession instead.
	Offset string

	disconnectedAt time.Time
}

// SessionResumer is an Adapter that delivers broadcasts from a goroutine
// of its own (the cluster adapter over a broker's log, adapters/cluster),
// where a restored socket could otherwise miss an event or get it twice
// between RestoreSession and its joining its rooms. For a session RestoreSession
// returned, the server calls ResumeSession as the socket connects; the
// adapter holds its deliveries, reads the events after ps.Offset, and calls
// join, which joins the socket's rooms and sends those events first, so
// that each event reaches the socket once and in order.
type SessionResumer interface {
	ResumeSession(ps *PersistedSession, join func(missed [][]any))
}

// The disconnect reasons after which a session is kept, as in Node.
var recoverableReasons = []string{
	"transport error", "transport close", "forced close", "ping timeout",
	ReasonServerShutdown, ReasonForcedServerClose,
}

type loggedPacket struct {
	offset string
	opts   BroadcastOptions
	data   []any
	at     time.Time
}

// recoveryStore is the in-memory adapter's session store and event log.
type recoveryStore struct {
	mu       sync.Mutex
	sessions map[string]*PersistedSession
	packets  []loggedPacket
	seq      uint64
}

// record numbers an event, keeps it, and returns the packet to send: its
// data with the offset appended, which the client echoes on reconnection.
func (r *recoveryStore) record(p *Packet, opts BroadcastOptions, o *RecoveryOptions) *Packet {
	data, ok := p.Data.([]any)
	if !ok {
		return p
	}
	now := time.Now()
	r.mu.Lock()
	r.seq++
	offset := strconv.FormatInt(now.UnixMilli(), 36) + "-" + strconv.FormatUint(r.seq, 36)
	data = append(slices.Clip(data), offset)
	r.packets = append(r.packets, loggedPacket{offset: offset, opts: opts, data: data, at: now})
	r.pruneLocked(now, o)
	r.mu.Unlock()
	cp := *p
	cp.Data = data
	return &cp
}

// pruneLocked drops what is older than the recovery window, and the oldest
// events past MaxPackets.
func (r *recoveryStore) pruneLocked(now time.Time, o *RecoveryOptions) {
	threshold := now.Add(-o.MaxDisconnectionDuration)
	drop := 0
	for drop < len(r.packets) && (r.packets[drop].at.Before(threshold) || len(r.packets)-drop > o.MaxPackets) {
		drop++
	}
	if drop > 0 {
		clear(r.packets[:drop])
		r.packets = r.packets[drop:]
	}
	for pid, s := range r.sessions {
		if s.disconnectedAt.Before(threshold) {
			delete(r.sessions, pid)
		}
	}
}

func (r *recoveryStore) persist(s *PersistedSession, o *RecoveryOptions) {
	now := time.Now()
	s.disconnectedAt = now
	r.mu.Lock()
	if r.sessions == nil {
		r.sessions = map[string]*PersistedSession{}
	}
	r.sessions[s.PID] = s
	r.pruneLocked(now, o)
	r.mu.Unlock()
}

// restore takes the session out of the store (it serves once) with the
// events after offset that its rooms would have received.
func (r *recoveryStore) restore(pid, offset string, o *RecoveryOptions) *PersistedSession {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sessions[pid]
	if s == nil {
		return nil
	}
	delete(r.sessions, pid)
	if time.Since(s.disconnectedAt) > o.MaxDisconnectionDuration {
		return nil
	}
	i := slices.IndexFunc(r.packets, func(p loggedPacket) bool { return p.offset == offset })
	if i < 0 {
		return nil
	}
	out := *s
	out.MissedPackets = nil
	for _, p := range r.packets[i+1:] {
		if reaches(s.Rooms, p.opts) {
			out.MissedPackets = append(out.MissedPackets, p.data)
		}
	}
	return &out
}

// reaches reports whether a broadcast with opts reaches a socket in rooms.
func reaches(rooms []string, opts BroadcastOptions) bool {
	included := len(opts.Rooms) == 0
	for _, r := range rooms {
		if slices.Contains(opts.Except, r) {
			return false
		}
		if !included && slices.Contains(opts.Rooms, r) {
			included = true
		}
	}
	return included
}

// PersistSession implements Adapter.
func (a *MemoryAdapter) PersistSession(s *PersistedSession) {
	if o := a.nsp.srv.opts.Recovery; o != nil {
		a.recovery.persist(s, o)
	}
}

// RestoreSession implements Adapter.
func (a *MemoryAdapter) RestoreSession(pid, offset string) (*PersistedSession, error) {
	o := a.nsp.srv.opts.Recovery
	if o == nil {
		return nil, nil
	}
	return a.recovery.restore(pid, offset, o), nil
}
