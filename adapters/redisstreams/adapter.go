package redisstreams

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/siogo/siogo/internal/adapterwire"
	"github.com/siogo/siogo/internal/num"
	"github.com/siogo/siogo/server"
)

// Adapter is the streams adapter of one namespace: the in-memory adapter
// for this node's sockets, the stream and pub/sub for the others.
type Adapter struct {
	*server.MemoryAdapter
	c        *Client
	nsp      *server.Namespace
	uid      string
	stream   string
	public   string // prefix#nsp#: requests to every node
	private  string // prefix#nsp#uid#: answers to this one
	recovery *server.RecoveryOptions

	reqs *adapterwire.Requests

	// skip holds, for restored sockets, the last entry they already got:
	// the reader leaves them out of entries up to it. Under c.deliverMu.
	skip map[string]streamID

	liveMu      sync.Mutex
	dirty       map[string]struct{} // sockets whose session must be written
	written     map[string]string   // sockets whose session is in Redis -> pid
	kept        map[string]struct{} // sockets whose last session PersistSession wrote
	fenced      map[string]struct{} // sockets whose session another node restored
	nextRefresh time.Time
	// The lease of the live copies: renewed at nextLease, held until
	// leaseUntil.
	nextLease, leaseUntil time.Time
}

// randomID is 8 random bytes in hex, as socket.io-adapter's randomId.
func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewAdapter is the server.Options.NewAdapter of this client.
func (c *Client) NewAdapter(nsp *server.Namespace) server.Adapter {
	local := server.NewMemoryAdapter(nsp)
	a := &Adapter{
		MemoryAdapter: local,
		c:             c,
		nsp:           nsp,
		uid:           randomID(),
		stream:        streamName(c.opts.StreamName, c.opts.StreamCount, nsp.Name()),
		public:        c.opts.ChannelPrefix + "#" + nsp.Name() + "#",
		recovery:      local.Recovery(),
		reqs:          adapterwire.NewRequests(),
		skip:          map[string]streamID{},
		dirty:         map[string]struct{}{},
		written:       map[string]string{},
		kept:          map[string]struct{}{},
		fenced:        map[string]struct{}{},
	}
	a.private = a.public + a.uid + "#"
	c.register(a, []string{a.public, a.private})
	return a
}

// Close implements server.Adapter.
func (a *Adapter) Close() error {
	a.c.unregister(a, []string{a.public, a.private})
	return nil
}

// ServerCount implements server.Adapter: the subscribers of the
// namespace's public channel, as Node counts them. Without Redis, 1.
func (a *Adapter) ServerCount(context.Context) (int, error) {
	n, err := a.c.numSub(a.public)
	if err != nil || n < 1 {
		return 1, nil
	}
	return n, nil
}

// publishEntry appends a message of this adapter to its stream.
func (a *Adapter) publishEntry(typ int, data map[string]any) (streamID, error) {
	fields, err := encodeEntry(&message{UID: a.uid, Nsp: a.nsp.Name(), Type: typ, Data: data}, a.c.opts.OnlyPlaintext)
	if err != nil {
		return streamID{}, err
	}
	return a.c.xadd(a.stream, fields)
}

// publishEphemeral publishes a request on the public channel, as Node's
// adapter sends what need not be kept.
func (a *Adapter) publishEphemeral(typ int, data map[string]any) error {
	b, err := encodeMessage(&message{UID: a.uid, Nsp: a.nsp.Name(), Type: typ, Data: data})
	if err != nil {
		return err
	}
	return a.c.publish(a.public, b)
}

// respond answers a request on its sender's private channel.
func (a *Adapter) respond(to string, typ int, data map[string]any) {
	b, err := encodeMessage(&message{UID: a.uid, Nsp: a.nsp.Name(), Type: typ, Data: data})
	if err != nil {
		a.c.log.Warn("redisstreams: encoding an answer", "err", err)
		return
	}
	if err := a.c.publish(a.public+to+"#", b); err != nil {
		a.c.log.Debug("redisstreams: answering", "err", err)
	}
}

// streamed appends a message to the stream and waits until this node's
// reader applied it, so that it takes effect here in the stream's order.
// Without Redis, local runs at once.
func (a *Adapter) streamed(typ int, data map[string]any, local func()) {
	id, err := a.publishEntry(typ, data)
	if err != nil {
		a.c.log.Debug("redisstreams: publishing", "err", err)
		local()
		return
	}
	if a.c.deliverEarly(a.stream, id) {
		local()
		return
	}
	a.c.waitApplied(a.stream, id)
}

// Broadcast implements server.Adapter: the event goes into the stream and
// is delivered here too when the reader reads it back, with its entry id
// as offset when recovery is on. Local broadcasts are delivered at once,
// without an offset, as Node's cluster adapter does; a socket's own Emit is
// published, as in Node.
func (a *Adapter) Broadcast(p *server.Packet, opts server.BroadcastOptions) error {
	if opts.Flags.Local && !opts.SocketEmit {
		return a.Deliver(p, opts)
	}
	wire := opts
	wire.Flags.Local, wire.SocketEmit = false, false
	a.streamed(typeBroadcast, map[string]any{"packet": packetWire(p), "opts": adapterwire.Options(wire)}, func() {
		_ = a.Deliver(p, opts)
	})
	return nil
}

// BroadcastWithAck implements server.Adapter: the request goes by
// pub/sub, as in Node (an event with an ack is not kept for recovery).
func (a *Adapter) BroadcastWithAck(p *server.Packet, opts server.BroadcastOptions, clientCount func(int), ack func([]any)) error {
	if !opts.Flags.Local {
		requestID := randomID()
		timeout := opts.Flags.Timeout
		if timeout <= 0 {
			timeout = a.c.opts.RequestsTimeout
		}
		a.reqs.AddAck(requestID, clientCount, ack, timeout)
		err := a.publishEphemeral(typeBroadcast, map[string]any{"packet": packetWire(p), "requestId": requestID, "opts": adapterwire.Options(opts)})
		if err != nil {
			a.c.log.Debug("redisstreams: publishing", "err", err)
		}
	}
	return a.MemoryAdapter.BroadcastWithAck(p, opts, clientCount, ack)
}

// AddSockets implements server.Adapter, through the stream.
func (a *Adapter) AddSockets(opts server.BroadcastOptions, rooms []string) error {
	if opts.Flags.Local {
		return a.MemoryAdapter.AddSockets(opts, rooms)
	}
	a.streamed(typeSocketsJoin, map[string]any{"opts": adapterwire.Options(opts), "rooms": adapterwire.NonNil(rooms)}, func() {
		_ = a.MemoryAdapter.AddSockets(opts, rooms)
	})
	return nil
}

// DelSockets implements server.Adapter, through the stream.
func (a *Adapter) DelSockets(opts server.BroadcastOptions, rooms []string) error {
	if opts.Flags.Local {
		return a.MemoryAdapter.DelSockets(opts, rooms)
	}
	a.streamed(typeSocketsLeave, map[string]any{"opts": adapterwire.Options(opts), "rooms": adapterwire.NonNil(rooms)}, func() {
		_ = a.MemoryAdapter.DelSockets(opts, rooms)
	})
	return nil
}

// DisconnectSockets implements server.Adapter, through the stream.
func (a *Adapter) DisconnectSockets(opts server.BroadcastOptions, close bool) error {
	if opts.Flags.Local {
		return a.MemoryAdapter.DisconnectSockets(opts, close)
	}
	a.streamed(typeDisconnectSockets, map[string]any{"opts": adapterwire.Options(opts), "close": close}, func() {
		_ = a.MemoryAdapter.DisconnectSockets(opts, close)
	})
	return nil
}

// FetchSockets implements server.Adapter.
func (a *Adapter) FetchSockets(ctx context.Context, opts server.BroadcastOptions) ([]*server.RemoteSocket, error) {
	local, err := a.MemoryAdapter.FetchSockets(ctx, opts)
	if err != nil || opts.Flags.Local {
		return local, err
	}
	n, _ := a.ServerCount(ctx)
	if n <= 1 {
		return local, nil
	}
	p := &adapterwire.Pending{Expected: n - 1, Sockets: local}
	timeout := opts.Flags.Timeout
	if timeout <= 0 {
		timeout = a.c.opts.RequestsTimeout
	}
	err = a.request(ctx, p, typeFetchSockets, map[string]any{"opts": adapterwire.Options(opts)}, timeout)
	return p.Sockets, err
}

// ServerSideEmit implements server.Adapter.
func (a *Adapter) ServerSideEmit(ctx context.Context, packet []any, ack func([]any)) error {
	if ack == nil {
		return a.publishEphemeral(typeServerSideEmit, map[string]any{"packet": packet})
	}
	n, _ := a.ServerCount(ctx)
	if n <= 1 {
		ack(nil)
		return nil
	}
	p := &adapterwire.Pending{Expected: n - 1}
	err := a.request(ctx, p, typeServerSideEmit, map[string]any{"packet": packet}, a.c.opts.RequestsTimeout)
	ack(p.Answers)
	return err
}

// request publishes a request and waits for its answers, the timeout or
// ctx. p's results are safe to read once it returns.
func (a *Adapter) request(ctx context.Context, p *adapterwire.Pending, typ int, data map[string]any, timeout time.Duration) error {
	id := randomID()
	data["requestId"] = id
	return a.reqs.Wait(ctx, id, p, func() error { return a.publishEphemeral(typ, data) }, timeout, func(answered, expected int) error {
		// As Node's ClusterAdapter words it.
		return fmt.Errorf("redisstreams: timeout reached: only %d responses received out of %d", answered, expected)
	})
}

// onEntry applies a stream entry; c.deliverMu is held.
func (a *Adapter) onEntry(e entry) {
	m, err := decodeEntry(e.fields)
	if err != nil {
		a.c.log.Debug("redisstreams: bad entry", "id", e.id.String(), "err", err)
		return
	}
	if m.Nsp != a.nsp.Name() {
		return
	}
	switch m.Type {
	case typeBroadcast:
		if _, withAck := m.Data["requestId"]; withAck {
			if m.UID != a.uid {
				a.broadcastWithAckFor(m)
			}
			return
		}
		p, ok := adapterwire.PacketFrom(m.Data["packet"], a.nsp.Name())
		if !ok {
			return
		}
		opts := adapterwire.OptionsFrom(m.Data["opts"])
		if a.recovery != nil && !opts.Flags.Volatile {
			p.Data = append(p.Data.([]any), e.id.String())
		}
		for sid, last := range a.skip {
			if e.id.less(last) || e.id == last {
				opts.Except = append(opts.Except, sid)
			} else {
				delete(a.skip, sid)
			}
		}
		_ = a.Deliver(p, opts)
	case typeSocketsJoin:
		_ = a.MemoryAdapter.AddSockets(adapterwire.OptionsFrom(m.Data["opts"]), adapterwire.Strings(m.Data["rooms"]))
	case typeSocketsLeave:
		_ = a.MemoryAdapter.DelSockets(adapterwire.OptionsFrom(m.Data["opts"]), adapterwire.Strings(m.Data["rooms"]))
	case typeDisconnectSockets:
		// Apart from the reader: disconnect handlers may broadcast, which
		// waits for the reader.
		opts := adapterwire.OptionsFrom(m.Data["opts"])
		closeConn, _ := m.Data["close"].(bool)
		go func() { _ = a.MemoryAdapter.DisconnectSockets(opts, closeConn) }()
	default:
		if m.UID != a.uid {
			a.onMessage(m)
		}
	}
}

// onPubSub takes a message of the public or private channel.
func (a *Adapter) onPubSub(b []byte) {
	m, err := decodeMessage(b)
	if err != nil {
		a.c.log.Debug("redisstreams: bad message", "err", err)
		return
	}
	if m.UID == a.uid || m.Nsp != a.nsp.Name() {
		return
	}
	a.onMessage(m)
}

// onMessage handles requests and answers, as ClusterAdapter.onMessage.
func (a *Adapter) onMessage(m *message) {
	requestID, _ := m.Data["requestId"].(string)
	switch m.Type {
	case typeBroadcast:
		if requestID != "" {
			a.broadcastWithAckFor(m)
		}
	case typeFetchSockets:
		local, _ := a.MemoryAdapter.FetchSockets(context.Background(), adapterwire.OptionsFrom(m.Data["opts"]))
		a.respond(m.UID, typeFetchSocketsResponse, map[string]any{"requestId": requestID, "sockets": adapterwire.Sockets(local)})
	case typeServerSideEmit:
		packet, _ := m.Data["packet"].([]any)
		if len(packet) == 0 {
			return
		}
		var ack server.Ack
		if requestID != "" {
			ack = adapterwire.OnceAck(func(arg any) {
				a.respond(m.UID, typeServerSideEmitResponse, map[string]any{"requestId": requestID, "packet": arg})
			})
		}
		a.MemoryAdapter.ServerSideEvent(packet, ack)
	case typeBroadcastClientCount, typeBroadcastAck:
		ap := a.reqs.Ack(requestID)
		if ap == nil {
			return
		}
		if m.Type == typeBroadcastClientCount {
			n, _ := num.Int64(m.Data["clientCount"])
			ap.ClientCount(int(n))
		} else {
			ap.Ack([]any{m.Data["packet"]})
		}
	case typeFetchSocketsResponse, typeServerSideEmitResponse:
		if m.Type == typeFetchSocketsResponse {
			list, _ := m.Data["sockets"].([]any)
			a.reqs.Answer(a.MemoryAdapter, requestID, list, nil, false)
		} else {
			a.reqs.Answer(a.MemoryAdapter, requestID, nil, m.Data["packet"], true)
		}
	}
}

// broadcastWithAckFor delivers another node's broadcast with acks here and
// answers with the count of clients and each ack.
func (a *Adapter) broadcastWithAckFor(m *message) {
	p, ok := adapterwire.PacketFrom(m.Data["packet"], a.nsp.Name())
	if !ok {
		return
	}
	requestID, _ := m.Data["requestId"].(string)
	_ = a.MemoryAdapter.BroadcastWithAck(p, adapterwire.OptionsFrom(m.Data["opts"]), func(n int) {
		a.respond(m.UID, typeBroadcastClientCount, map[string]any{"requestId": requestID, "clientCount": n})
	}, func(args []any) {
		a.respond(m.UID, typeBroadcastAck, map[string]any{"requestId": requestID, "packet": adapterwire.FirstArg(args)})
	})
}
