package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/siogo/siogo/internal/adapterwire"
	"github.com/siogo/siogo/internal/num"
	"github.com/siogo/siogo/server"
)

// Options configure the adapters NewAdapter makes. The zero value of each
// field is Node's default.
type Options struct {
	// HeartbeatInterval is the most time between two messages of a node;
	// when it has published nothing for that long it sends a heartbeat.
	// Default 5s.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is how long a node may stay silent before the
	// others take it as gone: ServerCount drops it, and requests stop
	// waiting for its answer. Default 10s.
	HeartbeatTimeout time.Duration
	// RequestsTimeout bounds the wait for other nodes' answers
	// (FetchSockets, ServerSideEmitWithAck) and how long acknowledgements
	// of a broadcast are taken without a Timeout of its own. Default 5s.
	RequestsTimeout time.Duration
	// EchoTimeout bounds how long a broadcast or a room change waits for a
	// Log broker to hand it back to this node, where it is applied (see
	// Log), before it returns; it is applied when it comes, all the same.
	// Default 2s.
	EchoTimeout time.Duration
	// Logger receives the adapter's logs. Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 5 * time.Second
	}
	if o.HeartbeatTimeout <= 0 {
		o.HeartbeatTimeout = 10 * time.Second
	}
	if o.RequestsTimeout <= 0 {
		o.RequestsTimeout = 5 * time.Second
	}
	if o.EchoTimeout <= 0 {
		o.EchoTimeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// ErrTimeout is what FetchSockets and ServerSideEmit return, wrapped, when
// some nodes did not answer in time.
var ErrTimeout = errors.New("cluster: timeout reached")

// emitterUID is the uid of Node's emitters, which are not nodes.
const emitterUID = "emitter"

// NewAdapter returns the server.Options.NewAdapter of a cluster over b:
// each namespace gets an Adapter.
func NewAdapter(b Broker, opts Options) func(*server.Namespace) server.Adapter {
	opts = opts.withDefaults()
	return func(nsp *server.Namespace) server.Adapter { return newAdapter(nsp, b, opts) }
}

// Adapter is the cluster adapter of one namespace on one node: the
// in-memory adapter for this node's sockets, a Broker for the others, as
// Node's ClusterAdapterWithHeartbeat.
type Adapter struct {
	*server.MemoryAdapter
	b    Broker
	opts Options
	nsp  string
	uid  string
	log  *slog.Logger
	// The broker's optional parts, found by as.
	ready   Ready
	counter NodeCounter // the broker counts the nodes: no heartbeats
	blog    Log         // the broker's log: own logged messages come back
	// store is the broker's SessionStore when it has one and recovery is
	// on: then recovery crosses nodes.
	store    SessionStore
	recovery *server.RecoveryOptions
	watcher  Watcher

	unsubscribe func()
	unwatch     func()
	done        chan struct{}
	loopDone    chan struct{}

	// deliverMu is held while a logged message is applied, and while a
	// restored socket joins its rooms (ResumeSession). skip holds, for
	// restored sockets, the last offset they already got: logged
	// broadcasts up to it leave them out. Under deliverMu.
	deliverMu sync.Mutex
	skip      map[string]string
	echoes    echoes
	// serial runs other nodes' server-side events and disconnections in
	// the order they came, apart from the broker's reader.
	serial serial

	mu       sync.Mutex
	nodes    map[string]time.Time // uid of each other node -> when last heard
	requests map[string]*request
	acks     map[string]*ackRequest
	lastSent time.Time
	closed   bool
}

// request is a FetchSockets or ServerSideEmit waiting for the nodes that
// were known when it left.
type request struct {
	missing map[string]struct{} // with heartbeats: the nodes known when it left
	// With a NodeCounter: the nodes that answered (and the answers that
	// named no node, as the classic Redis protocol's), and how many are
	// awaited.
	seen     map[string]struct{}
	anon     int
	expected int

	sockets []*server.RemoteSocket
	answers []any
	done    chan struct{}
}

func (r *request) answeredCount() int { return len(r.seen) + r.anon }

type ackRequest struct {
	clientCount func(int)
	ack         func([]any)
}

// randomID is 8 random bytes in hex, as socket.io-adapter's randomId.
func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func newAdapter(nsp *server.Namespace, b Broker, opts Options) *Adapter {
	a := &Adapter{
		MemoryAdapter: server.NewMemoryAdapter(nsp),
		b:             b,
		opts:          opts,
		nsp:           nsp.Name(),
		uid:           randomID(),
		log:           opts.Logger,
		done:          make(chan struct{}),
		loopDone:      make(chan struct{}),
		skip:          map[string]string{},
		nodes:         map[string]time.Time{},
		requests:      map[string]*request{},
		acks:          map[string]*ackRequest{},
	}
	a.ready, _ = as[Ready](b)
	a.counter, _ = as[NodeCounter](b)
	a.blog, _ = as[Log](b)
	a.recovery = a.MemoryAdapter.Recovery()
	if st, ok := as[SessionStore](b); ok && a.recovery != nil {
		a.store = st
	}
	a.unwatch = func() {}
	if w, ok := as[Watcher](b); ok {
		a.watcher = w
		a.unwatch = w.Watch(a)
	}
	unsub, err := b.Subscribe(a.nsp, a.uid, a.onMessage)
	if err != nil {
		// The broker reconnects by itself; meanwhile this node is alone.
		a.log.Warn("cluster: subscribing", "nsp", a.nsp, "err", err)
		unsub = func() {}
	}
	a.unsubscribe = unsub
	go a.loop()
	return a
}

// UID is the adapter's id in the cluster's messages.
func (a *Adapter) UID() string { return a.uid }

// loop announces the node, sends heartbeats when it has been quiet, and
// forgets the nodes that have been silent too long.
func (a *Adapter) loop() {
	defer close(a.loopDone)
	if a.counter != nil {
		return // Node's ClusterAdapter: no heartbeats
	}
	a.publish(InitialHeartbeat, nil)
	sweep := min(time.Second, a.opts.HeartbeatTimeout/4)
	t := time.NewTimer(sweep)
	defer t.Stop()
	for {
		select {
		case <-a.done:
			return
		case <-t.C:
		}
		now := time.Now()
		a.mu.Lock()
		quiet := now.Sub(a.lastSent)
		var gone []string
		for uid, seen := range a.nodes {
			if now.Sub(seen) > a.opts.HeartbeatTimeout {
				gone = append(gone, uid)
			}
		}
		a.mu.Unlock()
		for _, uid := range gone {
			a.log.Debug("cluster: node seems down", "nsp", a.nsp, "node", uid)
			a.removeNode(uid)
		}
		if quiet >= a.opts.HeartbeatInterval {
			a.publish(Heartbeat, nil)
			quiet = 0
		}
		t.Reset(min(sweep, a.opts.HeartbeatInterval-quiet))
	}
}

// publish sends a message to every node, logging a failure as Node does.
func (a *Adapter) publish(t MessageType, data map[string]any) string {
	offset, err := a.publishErr(t, data)
	if err != nil {
		a.log.Debug("cluster: publishing", "nsp", a.nsp, "type", t, "err", err)
	}
	return offset
}

func (a *Adapter) publishErr(t MessageType, data map[string]any) (string, error) {
	a.mu.Lock()
	a.lastSent = time.Now()
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.RequestsTimeout)
	defer cancel()
	return a.b.Publish(ctx, &Message{UID: a.uid, Nsp: a.nsp, Type: t, Data: data})
}

// respond answers the request of node to.
func (a *Adapter) respond(to string, t MessageType, data map[string]any) {
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.RequestsTimeout)
	defer cancel()
	if err := a.b.PublishResponse(ctx, to, &Message{UID: a.uid, Nsp: a.nsp, Type: t, Data: data}); err != nil {
		a.log.Debug("cluster: answering", "nsp", a.nsp, "type", t, "err", err)
	}
}

// Close implements server.Adapter: the other nodes are told at once, as
// Node's ADAPTER_CLOSE, rather than after the heartbeat timeout.
func (a *Adapter) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.mu.Unlock()
	close(a.done)
	<-a.loopDone
	if a.counter == nil {
		a.publish(AdapterClose, nil)
	}
	a.unsubscribe()
	a.unwatch()
	return nil
}

// ServerCount implements server.Adapter: this node and every node heard
// from within the heartbeat timeout, or the broker's count when it is a
// NodeCounter (1 when it cannot tell).
func (a *Adapter) ServerCount(ctx context.Context) (int, error) {
	if a.counter != nil {
		n, err := a.counter.ServerCount(ctx, a.nsp)
		if err != nil || n < 1 {
			return 1, nil
		}
		return n, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return 1 + len(a.nodes), nil
}

func packetWire(p *server.Packet) map[string]any {
	return map[string]any{"type": int(server.PacketEvent), "data": p.Data, "nsp": p.Nsp}
}

// Broadcast implements server.Adapter: published for the other nodes
// (unless Local), and delivered here at once, or, with a Log broker, when
// the broker hands it back (see Log). With connection state recovery on,
// each node numbers and keeps the events its sockets got; with a
// SessionStore, the broker's offsets number them instead.
func (a *Adapter) Broadcast(p *server.Packet, opts server.BroadcastOptions) error {
	// A Local broadcast carries no offset, as with Node's cluster
	// adapters; with a SessionStore a socket's own Emit is published, so
	// that another node can replay it.
	if opts.Flags.Local && (a.store == nil || !opts.SocketEmit) {
		return a.deliverLocal(p, opts, "")
	}
	wire := opts
	wire.Flags.Local, wire.SocketEmit = false, false
	data := map[string]any{"packet": packetWire(p), "opts": adapterwire.Options(wire)}
	if a.blog == nil {
		err := a.deliverLocal(p, opts, "")
		a.publish(Broadcast, data)
		return err
	}
	return a.sequenced(Broadcast, data, func() error { return a.deliverLocal(p, opts, "") })
}

// deliverLocal delivers a broadcast to this node's sockets: numbered by
// the broker's offset when it is the SessionStore, else by the in-memory
// adapter (when recovery is on).
func (a *Adapter) deliverLocal(p *server.Packet, opts server.BroadcastOptions, offset string) error {
	if a.store == nil {
		return a.MemoryAdapter.Broadcast(p, opts)
	}
	if offset != "" && !opts.Flags.Volatile {
		p = withOffset(p, offset)
	}
	return a.Deliver(p, opts)
}

// sequenced publishes a message of a Log broker: applied here when the
// broker hands it back (waited for, a bounded time), or at once when the
// broker did not log it or could not take it.
func (a *Adapter) sequenced(t MessageType, data map[string]any, apply func() error) error {
	offset, err := a.publishErr(t, data)
	if err != nil || offset == "" {
		if err != nil {
			a.log.Debug("cluster: publishing", "nsp", a.nsp, "type", t, "err", err)
		}
		return apply()
	}
	if a.ready != nil && a.ready.Ready() != nil {
		return nil // the broker hands it back once it reads again
	}
	a.echoes.wait(offset, a.opts.EchoTimeout, a.done)
	return nil
}

// withOffset is p with offset after its data, which the client echoes when
// it comes back.
func withOffset(p *server.Packet, offset string) *server.Packet {
	data, ok := p.Data.([]any)
	if !ok {
		return p
	}
	cp := *p
	cp.Data = append(slices.Clip(data), offset)
	return &cp
}

// PersistSession implements server.Adapter: into the broker's
// SessionStore, or kept on this node.
func (a *Adapter) PersistSession(s *server.PersistedSession) {
	if a.store == nil {
		a.MemoryAdapter.PersistSession(s)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.RequestsTimeout)
	defer cancel()
	if err := a.store.SaveSession(ctx, a.nsp, s, a.recovery.MaxDisconnectionDuration); err != nil {
		a.log.Warn("cluster: saving a session", "nsp", a.nsp, "err", err)
	}
}

// The log is read in pages of logPage messages, at most logPages of them
// at a time, as Node's Redis Streams adapter reads at most 100 pages.
const (
	logPage  = 1000
	logPages = 100
)

// RestoreSession implements server.Adapter: from the broker's
// SessionStore, with the broadcasts after offset that reached the
// session's rooms, at most RecoveryOptions.MaxPackets of them.
// ResumeSession reads the rest.
func (a *Adapter) RestoreSession(pid, offset string) (*server.PersistedSession, error) {
	if a.store == nil {
		return a.MemoryAdapter.RestoreSession(pid, offset)
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.RequestsTimeout)
	defer cancel()
	ps, err := a.store.RestoreSession(ctx, a.nsp, pid, offset)
	if err != nil || ps == nil {
		return nil, err
	}
	missed, last, err := a.readMissed(ctx, ps.Rooms, offset, a.recovery.MaxPackets)
	if err != nil {
		return nil, err
	}
	if len(missed) > a.recovery.MaxPackets {
		return nil, nil // more were missed than recovery keeps
	}
	ps.MissedPackets, ps.Offset = missed, last
	return ps, nil
}

// readMissed reads the log after offset: the data of the broadcasts that
// reached rooms, each with its offset (stopping past max of them), and the
// offset of the last message read.
func (a *Adapter) readMissed(ctx context.Context, rooms []string, offset string, max int) (missed [][]any, last string, err error) {
	last = offset
	for range logPages {
		page, err := a.store.ReadLog(ctx, a.nsp, last, logPage)
		if err != nil {
			return nil, "", fmt.Errorf("cluster: reading the log: %w", err)
		}
		for _, l := range page {
			last = l.Offset
			m := l.Message
			if m.Type != Broadcast || m.Nsp != a.nsp || m.Data["requestId"] != nil {
				continue
			}
			p, ok := adapterwire.PacketFrom(m.Data["packet"], a.nsp)
			opts := adapterwire.OptionsFrom(m.Data["opts"])
			if !ok || opts.Flags.Volatile || !reaches(rooms, opts) {
				continue
			}
			if missed = append(missed, withOffset(p, l.Offset).Data.([]any)); len(missed) > max {
				return missed, last, nil
			}
		}
		if len(page) < logPage {
			break
		}
	}
	return missed, last, nil
}

// ResumeSession implements server.SessionResumer. With a SessionStore,
// deliveries are held while the log is read again from where
// RestoreSession stopped and the socket joins its rooms: the broadcasts
// the broker hands over afterwards leave it out up to the last one read
// here. Each reaches it once, in the log's order.
func (a *Adapter) ResumeSession(ps *server.PersistedSession, join func(missed [][]any)) {
	if a.store == nil || ps.Offset == "" {
		join(ps.MissedPackets)
		return
	}
	a.deliverMu.Lock()
	defer a.deliverMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.RequestsTimeout)
	defer cancel()
	more, last, err := a.readMissed(ctx, ps.Rooms, ps.Offset, a.recovery.MaxPackets)
	if err != nil {
		a.log.Warn("cluster: reading missed events", "nsp", a.nsp, "sid", ps.SID, "err", err)
	}
	a.skip[ps.SID] = last
	join(append(ps.MissedPackets, more...))
}

// reaches reports whether a broadcast with opts reaches a socket in rooms.
func reaches(rooms []string, opts server.BroadcastOptions) bool {
	included := len(opts.Rooms) == 0
	for _, r := range rooms {
		if slices.Contains(opts.Except, r) {
			return false
		}
		included = included || slices.Contains(opts.Rooms, r)
	}
	return included
}

// BroadcastWithAck implements server.Adapter: every node reports its count
// of clients, then each client's acknowledgement.
func (a *Adapter) BroadcastWithAck(p *server.Packet, opts server.BroadcastOptions, clientCount func(int), ack func([]any)) error {
	if !opts.Flags.Local {
		id := randomID()
		timeout := opts.Flags.Timeout
		if timeout <= 0 {
			timeout = a.opts.RequestsTimeout
		}
		a.mu.Lock()
		a.acks[id] = &ackRequest{clientCount: clientCount, ack: ack}
		a.mu.Unlock()
		// As Node: no way to know when every node's clients answered, so
		// the request is forgotten after the timeout.
		time.AfterFunc(timeout, func() {
			a.mu.Lock()
			delete(a.acks, id)
			a.mu.Unlock()
		})
		a.publish(Broadcast, map[string]any{"packet": packetWire(p), "requestId": id, "opts": adapterwire.Options(opts)})
	}
	return a.MemoryAdapter.BroadcastWithAck(p, opts, clientCount, ack)
}

// AddSockets implements server.Adapter.
func (a *Adapter) AddSockets(opts server.BroadcastOptions, rooms []string) error {
	return a.roomChange(SocketsJoin, opts, map[string]any{"opts": adapterwire.Options(opts), "rooms": adapterwire.NonNil(rooms)},
		func() error { return a.MemoryAdapter.AddSockets(opts, rooms) })
}

// DelSockets implements server.Adapter.
func (a *Adapter) DelSockets(opts server.BroadcastOptions, rooms []string) error {
	return a.roomChange(SocketsLeave, opts, map[string]any{"opts": adapterwire.Options(opts), "rooms": adapterwire.NonNil(rooms)},
		func() error { return a.MemoryAdapter.DelSockets(opts, rooms) })
}

// DisconnectSockets implements server.Adapter.
func (a *Adapter) DisconnectSockets(opts server.BroadcastOptions, close bool) error {
	return a.roomChange(DisconnectSockets, opts, map[string]any{"opts": adapterwire.Options(opts), "close": close},
		func() error { return a.MemoryAdapter.DisconnectSockets(opts, close) })
}

// roomChange applies a change here and publishes it, or with a Log broker
// applies it when the broker hands it back.
func (a *Adapter) roomChange(t MessageType, opts server.BroadcastOptions, data map[string]any, apply func() error) error {
	if opts.Flags.Local {
		return apply()
	}
	if a.blog != nil {
		return a.sequenced(t, data, apply)
	}
	err := apply()
	a.publish(t, data)
	return err
}

// FetchSockets implements server.Adapter: the local sockets, and those
// every other node answers with.
func (a *Adapter) FetchSockets(ctx context.Context, opts server.BroadcastOptions) ([]*server.RemoteSocket, error) {
	local, err := a.MemoryAdapter.FetchSockets(ctx, opts)
	if err != nil || opts.Flags.Local {
		return local, err
	}
	timeout := opts.Flags.Timeout
	if timeout <= 0 {
		timeout = a.opts.RequestsTimeout
	}
	r, err := a.request(ctx, FetchSockets, map[string]any{"opts": adapterwire.Options(opts)}, local, timeout)
	if r == nil {
		return local, err
	}
	return r.sockets, err
}

// ServerSideEmit implements server.Adapter.
func (a *Adapter) ServerSideEmit(ctx context.Context, packet []any, ack func([]any)) error {
	if ack == nil {
		_, err := a.publishErr(ServerSideEmit, map[string]any{"packet": packet})
		return err
	}
	r, err := a.request(ctx, ServerSideEmit, map[string]any{"packet": packet}, nil, a.opts.RequestsTimeout)
	if r == nil {
		ack(nil)
		return err
	}
	ack(r.answers)
	return err
}

// request publishes a request and waits for the answer of every node known
// now (or, with a NodeCounter, of as many nodes as it counts), the timeout
// or ctx; nil when there is no other node. r's fields are safe to read once
// it returns.
func (a *Adapter) request(ctx context.Context, t MessageType, data map[string]any, local []*server.RemoteSocket, timeout time.Duration) (*request, error) {
	id := randomID()
	r := &request{sockets: local, done: make(chan struct{})}
	if a.counter != nil {
		n, _ := a.ServerCount(ctx)
		if n <= 1 {
			return nil, nil
		}
		r.seen, r.expected = map[string]struct{}{}, n-1
		a.mu.Lock()
	} else {
		a.mu.Lock()
		if len(a.nodes) == 0 {
			a.mu.Unlock()
			return nil, nil
		}
		r.missing = make(map[string]struct{}, len(a.nodes))
		for uid := range a.nodes {
			r.missing[uid] = struct{}{}
		}
	}
	a.requests[id] = r
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.requests, id)
		a.mu.Unlock()
	}()
	data["requestId"] = id
	if _, err := a.publishErr(t, data); err != nil {
		return r, err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-r.done:
		return r, nil
	case <-timer.C:
		a.mu.Lock()
		defer a.mu.Unlock()
		if r.missing == nil {
			// As Node's ClusterAdapter words it.
			return r, fmt.Errorf("%w: only %d responses received out of %d", ErrTimeout, r.answeredCount(), r.expected)
		}
		return r, fmt.Errorf("%w: missing %d responses", ErrTimeout, len(r.missing))
	case <-ctx.Done():
		return r, ctx.Err()
	}
}

// answered records uid's answer to a request (applied by add under a.mu).
func (a *Adapter) answered(id, uid string, add func(r *request)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.requests[id]
	if r == nil {
		return
	}
	if r.missing == nil {
		if r.answeredCount() == r.expected {
			return
		}
		if uid == "" {
			r.anon++
		} else if _, dup := r.seen[uid]; dup {
			return
		} else {
			r.seen[uid] = struct{}{}
		}
		add(r)
		if r.answeredCount() == r.expected {
			close(r.done)
		}
		return
	}
	if _, waiting := r.missing[uid]; !waiting {
		return
	}
	add(r)
	a.settle(r, uid)
}

// settle takes uid off r's missing nodes; a.mu is held.
func (a *Adapter) settle(r *request, uid string) {
	if _, ok := r.missing[uid]; !ok {
		return
	}
	delete(r.missing, uid)
	if len(r.missing) == 0 {
		close(r.done)
	}
}

// removeNode forgets a node: requests stop waiting for it.
func (a *Adapter) removeNode(uid string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.nodes, uid)
	for _, r := range a.requests {
		a.settle(r, uid)
	}
}

// onMessage takes a message from the broker, as Node's onMessage and
// onResponse. What may wait runs apart, so that the broker's reader goes
// on: server-side events and disconnections one at a time in the order
// they came (serial), answers to publish on goroutines of their own;
// broadcasts and room changes apply in the broker's order, a Log's
// messages with deliverMu held.
func (a *Adapter) onMessage(m *Message, offset string) {
	if m.Nsp != a.nsp {
		return
	}
	logged := offset != "" && a.blog != nil
	if m.UID == a.uid {
		// A Log hands this node's logged messages back: they apply now.
		if logged {
			a.deliverMu.Lock()
			a.apply(m, offset)
			a.deliverMu.Unlock()
			a.echoes.done(offset)
		}
		return
	}
	if a.counter == nil && m.UID != "" && m.UID != emitterUID {
		a.mu.Lock()
		if !a.closed {
			a.nodes[m.UID] = time.Now()
		}
		a.mu.Unlock()
	}
	if logged {
		a.deliverMu.Lock()
		defer a.deliverMu.Unlock()
	}
	if a.apply(m, offset) {
		return
	}
	requestID, _ := m.Data["requestId"].(string)
	switch m.Type {
	case InitialHeartbeat:
		if a.counter == nil {
			go a.publish(Heartbeat, nil)
		}
	case AdapterClose:
		a.removeNode(m.UID)
	case Broadcast:
		p, ok := adapterwire.PacketFrom(m.Data["packet"], a.nsp)
		if !ok || requestID == "" {
			return
		}
		from := m.UID
		_ = a.MemoryAdapter.BroadcastWithAck(p, adapterwire.OptionsFrom(m.Data["opts"]), func(n int) {
			go a.respond(from, BroadcastClientCount, map[string]any{"requestId": requestID, "clientCount": n})
		}, func(args []any) {
			go a.respond(from, BroadcastAck, map[string]any{"requestId": requestID, "packet": adapterwire.FirstArg(args)})
		})
	case FetchSockets:
		opts := adapterwire.OptionsFrom(m.Data["opts"])
		from := m.UID
		go func() {
			local, _ := a.MemoryAdapter.FetchSockets(context.Background(), opts)
			a.respond(from, FetchSocketsResponse, map[string]any{"requestId": requestID, "sockets": adapterwire.Sockets(local)})
		}()
	case ServerSideEmit:
		packet, _ := m.Data["packet"].([]any)
		var ack server.Ack
		if requestID != "" {
			from := m.UID
			ack = adapterwire.OnceAck(func(arg any) {
				go a.respond(from, ServerSideEmitResponse, map[string]any{"requestId": requestID, "packet": arg})
			})
		}
		a.serial.push(a.log, func() { a.MemoryAdapter.ServerSideEvent(packet, ack) })
	case BroadcastClientCount, BroadcastAck:
		a.mu.Lock()
		ar := a.acks[requestID]
		a.mu.Unlock()
		if ar == nil {
			return
		}
		if m.Type == BroadcastClientCount {
			n, _ := num.Int64(m.Data["clientCount"])
			ar.clientCount(int(n))
		} else {
			ar.ack([]any{m.Data["packet"]})
		}
	case FetchSocketsResponse:
		list, _ := m.Data["sockets"].([]any)
		a.answered(requestID, m.UID, func(r *request) {
			for _, item := range list {
				if s := adapterwire.RemoteSocketFrom(a.MemoryAdapter, item); s != nil {
					r.sockets = append(r.sockets, s)
				}
			}
		})
	case ServerSideEmitResponse:
		a.answered(requestID, m.UID, func(r *request) { r.answers = append(r.answers, m.Data["packet"]) })
	}
}

// apply applies a broadcast (without acknowledgements) or a room change,
// another node's or a Log's own, and reports whether m was one.
func (a *Adapter) apply(m *Message, offset string) bool {
	switch m.Type {
	case Broadcast:
		if m.Data["requestId"] != nil {
			return false
		}
		p, ok := adapterwire.PacketFrom(m.Data["packet"], a.nsp)
		if !ok {
			return true
		}
		opts := adapterwire.OptionsFrom(m.Data["opts"])
		if offset != "" && a.blog != nil && len(a.skip) > 0 {
			for sid, last := range a.skip {
				if a.blog.Before(last, offset) {
					delete(a.skip, sid)
				} else {
					opts.Except = append(opts.Except, sid)
				}
			}
		}
		_ = a.deliverLocal(p, opts, offset)
	case SocketsJoin:
		_ = a.MemoryAdapter.AddSockets(adapterwire.OptionsFrom(m.Data["opts"]), adapterwire.Strings(m.Data["rooms"]))
	case SocketsLeave:
		_ = a.MemoryAdapter.DelSockets(adapterwire.OptionsFrom(m.Data["opts"]), adapterwire.Strings(m.Data["rooms"]))
	case DisconnectSockets:
		// Disconnect handlers may publish or wait on the cluster.
		opts := adapterwire.OptionsFrom(m.Data["opts"])
		closeConn, _ := m.Data["close"].(bool)
		a.serial.push(a.log, func() { _ = a.MemoryAdapter.DisconnectSockets(opts, closeConn) })
	default:
		return false
	}
	return true
}

// AddAll implements server.Adapter, telling a Watcher.
func (a *Adapter) AddAll(id string, rooms ...string) {
	a.MemoryAdapter.AddAll(id, rooms...)
	if a.watcher != nil && len(rooms) > 0 {
		a.watcher.RoomsChanged(a, id, rooms, false)
	}
}

// Del implements server.Adapter, telling a Watcher.
func (a *Adapter) Del(id, room string) {
	a.MemoryAdapter.Del(id, room)
	if a.watcher != nil {
		a.watcher.RoomsChanged(a, id, []string{room}, false)
	}
}

// DelAll implements server.Adapter, telling a Watcher.
func (a *Adapter) DelAll(id string) {
	if a.watcher == nil {
		a.MemoryAdapter.DelAll(id)
		return
	}
	rooms := a.MemoryAdapter.SocketRooms(id)
	a.MemoryAdapter.DelAll(id)
	a.watcher.RoomsChanged(a, id, rooms, true)
}

// serial runs functions one at a time, in the order they were pushed, on
// a goroutine that lives while there are some: what may wait (handlers)
// without holding up the broker's reader, nor overtaking each other.
type serial struct {
	mu      sync.Mutex
	queue   []func()
	running bool
}

// maxSerial bounds the functions waiting in a serial: past it, what
// comes is dropped (and logged), as a bounded queue must.
const maxSerial = 10000

func (q *serial) push(log *slog.Logger, f func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queue) >= maxSerial {
		log.Warn("cluster: too many server-side events and disconnections waiting; dropping one", "waiting", len(q.queue))
		return
	}
	q.queue = append(q.queue, f)
	if !q.running {
		q.running = true
		go q.drain(log)
	}
}

func (q *serial) drain(log *slog.Logger) {
	for {
		q.mu.Lock()
		if len(q.queue) == 0 {
			q.running = false
			q.mu.Unlock()
			return
		}
		f := q.queue[0]
		q.queue[0] = nil
		q.queue = q.queue[1:]
		q.mu.Unlock()
		func() {
			defer func() {
				if r := recover(); r != nil {
					log.Error("cluster: a server-side event or disconnect handler panicked", "panic", r)
				}
			}()
			f()
		}()
	}
}

// echoes are the offsets of this node's logged messages that a Log handed
// back, for the broadcasts that wait for them.
type echoes struct {
	mu      sync.Mutex
	waiting map[string]chan struct{}
	early   map[string]struct{} // handed back before anyone waited
}

// maxEarly bounds the echoes nobody waits for (their publisher gave up).
const maxEarly = 1024

func (e *echoes) done(offset string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ch, ok := e.waiting[offset]; ok {
		close(ch)
		delete(e.waiting, offset)
		return
	}
	if e.early == nil || len(e.early) >= maxEarly {
		e.early = map[string]struct{}{}
	}
	e.early[offset] = struct{}{}
}

// wait waits until offset is handed back, timeout passes or done closes.
func (e *echoes) wait(offset string, timeout time.Duration, done <-chan struct{}) {
	e.mu.Lock()
	if _, ok := e.early[offset]; ok {
		delete(e.early, offset)
		e.mu.Unlock()
		return
	}
	if e.waiting == nil {
		e.waiting = map[string]chan struct{}{}
	}
	ch := make(chan struct{})
	e.waiting[offset] = ch
	e.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ch:
		return
	case <-t.C:
	case <-done:
	}
	e.mu.Lock()
	delete(e.waiting, offset)
	e.mu.Unlock()
}

// Nodes returns the uids of the other nodes this adapter knows, for tests
// and tools.
func (a *Adapter) Nodes() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.nodes))
	for uid := range a.nodes {
		out = append(out, uid)
	}
	return out
}
