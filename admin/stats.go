package admin

import (
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siogo/siogo/transports"
)

// eventBuffer counts the engine's events by second, type and subtype
// until the next server_stats takes them (Node's EventBuffer).
type eventBuffer struct {
	mu      sync.Mutex
	buckets map[eventKey]int
	order   []eventKey
}

type eventKey struct {
	second  int64 // Unix milliseconds, rounded down to the second
	typ     string
	subType string
}

// maxBuckets bounds the buffer between two reports: each distinct second,
// type and reason is one, and reasons are a short list.
const maxBuckets = 4096

func newEventBuffer() *eventBuffer { return &eventBuffer{buckets: map[eventKey]int{}} }

func (b *eventBuffer) push(typ, subType string, count int) {
	k := eventKey{second: time.Now().Truncate(time.Second).UnixMilli(), typ: typ, subType: subType}
	b.mu.Lock()
	if _, ok := b.buckets[k]; !ok {
		if len(b.order) >= maxBuckets {
			b.mu.Unlock()
			return
		}
		b.order = append(b.order, k)
	}
	b.buckets[k] += count
	b.mu.Unlock()
}

// take returns the events counted so far, as the UI reads them, and
// starts afresh.
func (b *eventBuffer) take() []any {
	b.mu.Lock()
	buckets, order := b.buckets, b.order
	b.buckets, b.order = map[eventKey]int{}, nil
	b.mu.Unlock()
	out := make([]any, 0, len(order))
	for _, k := range order {
		e := map[string]any{"timestamp": k.second, "type": k.typ, "count": buckets[k]}
		if k.subType != "" {
			e["subType"] = k.subType
		}
		out = append(out, e)
	}
	return out
}

// engineStats observes the Engine.IO layer: connections, disconnections
// with their reasons, long-polling clients, packets and bytes. Packets and
// bytes are counted with atomics, since they come on every send.
type engineStats struct {
	events  *eventBuffer
	polling atomic.Int64

	packetsIn, packetsOut, bytesIn, bytesOut atomic.Int64
}

func (e *engineStats) SessionOpened(transport string, _ int) {
	e.events.push("rawConnection", "", 1)
	if transport == transports.TransportPolling {
		e.polling.Add(1)
	}
}

func (e *engineStats) SessionUpgraded(int) { e.polling.Add(-1) }

func (e *engineStats) SessionClosed(transport string, _ int, reason string) {
	e.events.push("rawDisconnection", reason, 1)
	if transport == transports.TransportPolling {
		e.polling.Add(-1)
	}
}

func (e *engineStats) HandshakeRefused(transports.ErrorCode) {}

func (e *engineStats) PacketsIn(packets, bytes int) {
	e.packetsIn.Add(int64(packets))
	e.bytesIn.Add(int64(bytes))
}

func (e *engineStats) PacketsOut(packets, bytes int) {
	e.packetsOut.Add(int64(packets))
	e.bytesOut.Add(int64(bytes))
}

// flush moves the packet and byte counts into the buffer, at this second.
func (e *engineStats) flush() {
	for _, c := range []struct {
		typ string
		n   *atomic.Int64
	}{{"packetsIn", &e.packetsIn}, {"packetsOut", &e.packetsOut}, {"bytesIn", &e.bytesIn}, {"bytesOut", &e.bytesOut}} {
		if n := c.n.Swap(0); n > 0 {
			e.events.push(c.typ, "", int(n))
		}
	}
}

// Stats returns what this node reports in its next server_stats, without
// taking its aggregated events.
func (a *Admin) Stats() map[string]any { return a.stats(false) }

func (a *Admin) stats(take bool) map[string]any {
	namespaces := []any{}
	for _, n := range a.srv.Namespaces() {
		namespaces = append(namespaces, map[string]any{"name": n.Name(), "socketsCount": len(n.Sockets())})
	}
	polling := max(a.engine.polling.Load(), 0)
	st := map[string]any{
		"serverId":            a.opts.ServerID,
		"hostname":            a.hostname,
		"pid":                 os.Getpid(),
		"uptime":              time.Since(a.started).Seconds(),
		"clientsCount":        a.srv.Engine().Count(),
		"pollingClientsCount": polling,
		"namespaces":          namespaces,
	}
	if take {
		a.engine.flush()
		st["aggregatedEvents"] = a.events.take()
	} else {
		st["aggregatedEvents"] = []any{}
	}
	return st
}

func (a *Admin) emitStats() { a.emit("server_stats", a.stats(true)) }
