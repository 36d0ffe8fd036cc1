package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sync"

	"github.com/siogo/siogo/internal/adapterwire"
	"github.com/siogo/siogo/internal/mpack"
	"github.com/siogo/siogo/server"
)

// The message types of socket.io-adapter's ClusterAdapter, which Node's
// sharded Redis adapter speaks.
const (
	msgBroadcast              = 3
	msgSocketsJoin            = 4
	msgSocketsLeave           = 5
	msgDisconnectSockets      = 6
	msgFetchSockets           = 7
	msgFetchSocketsResponse   = 8
	msgServerSideEmit         = 9
	msgServerSideEmitResponse = 10
	msgBroadcastClientCount   = 11
	msgBroadcastAck           = 12
)

// shardedAdapter is the adapter of the sharded mode: messages
// {uid, nsp, type, data} on prefix#nsp#, answers on prefix#nsp#<uid>#, and
// in the dynamic modes a channel per room, prefix#nsp#room#.
type shardedAdapter struct {
	*server.MemoryAdapter
	c               *Client
	nsp             *server.Namespace
	uid             string
	channel         string
	responseChannel string

	reqs     *adapterwire.Requests
	mu       sync.Mutex
	roomSubs map[string]bool // dynamic room channels subscribed
}

func (c *Client) newShardedAdapter(nsp *server.Namespace) server.Adapter {
	var b [8]byte
	_, _ = rand.Read(b[:])
	a := &shardedAdapter{
		MemoryAdapter: server.NewMemoryAdapter(nsp),
		c:             c,
		nsp:           nsp,
		uid:           hex.EncodeToString(b[:]),
		channel:       c.opts.Prefix + "#" + nsp.Name() + "#",
		reqs:          adapterwire.NewRequests(),
		roomSubs:      map[string]bool{},
	}
	a.responseChannel = a.channel + a.uid + "#"
	c.subscribe(a, []string{a.channel, a.responseChannel}, nil)
	return a
}

// looksLikeASocketID is Node's test: socket ids are 20 characters.
func looksLikeASocketID(room string) bool { return len(room) == 20 }

// usesRoomChannel says whether a room has a channel of its own.
func (a *shardedAdapter) usesRoomChannel(room string, isSocketID bool) bool {
	switch a.c.opts.SubscriptionMode {
	case "dynamic":
		return !isSocketID
	case "dynamic-private":
		return true
	}
	return false
}

// AddAll implements server.Adapter, subscribing a room's channel when the
// room appears here.
func (a *shardedAdapter) AddAll(id string, rooms ...string) {
	a.MemoryAdapter.AddAll(id, rooms...)
	a.syncRooms(rooms)
}

// Del implements server.Adapter.
func (a *shardedAdapter) Del(id, room string) {
	a.MemoryAdapter.Del(id, room)
	a.syncRooms([]string{room})
}

// DelAll implements server.Adapter.
func (a *shardedAdapter) DelAll(id string) {
	rooms := a.MemoryAdapter.SocketRooms(id)
	a.MemoryAdapter.DelAll(id)
	a.syncRooms(rooms)
}

// syncRooms subscribes the channels of rooms that exist here and drops
// those of rooms gone.
func (a *shardedAdapter) syncRooms(rooms []string) {
	var sub, unsub []string
	a.mu.Lock()
	for _, r := range rooms {
		exists := len(a.MemoryAdapter.Sockets(r)) > 0
		switch {
		// A room is private when it is a socket's id, as Node decides.
		case exists && !a.roomSubs[r] && a.usesRoomChannel(r, len(a.MemoryAdapter.SocketRooms(r)) > 0):
			a.roomSubs[r] = true
			sub = append(sub, a.channel+r+"#")
		case !exists && a.roomSubs[r]:
			delete(a.roomSubs, r)
			unsub = append(unsub, a.channel+r+"#")
		}
	}
	a.mu.Unlock()
	if len(sub) > 0 {
		a.c.subscribe(a, sub, nil)
	}
	if len(unsub) > 0 {
		a.c.unsubscribe(unsub, nil)
	}
}

// Close implements server.Adapter.
func (a *shardedAdapter) Close() error {
	a.mu.Lock()
	channels := []string{a.channel, a.responseChannel}
	for r := range a.roomSubs {
		channels = append(channels, a.channel+r+"#")
	}
	a.mu.Unlock()
	a.c.unsubscribe(channels, nil)
	return nil
}

// ServerCount implements server.Adapter: SHARDNUMSUB of the main channel.
func (a *shardedAdapter) ServerCount(context.Context) (int, error) {
	n, err := a.c.numSub(a.channel)
	if err != nil || n < 1 {
		return 1, nil
	}
	return n, nil
}

// publish sends a message of this node, on the channel Node would choose.
func (a *shardedAdapter) publish(typ int, data map[string]any) error {
	channel := a.channel
	if typ == msgBroadcast && data["requestId"] == nil {
		o, _ := data["opts"].(map[string]any)
		if rooms, _ := o["rooms"].([]string); len(rooms) == 1 {
			r := rooms[0]
			if mode := a.c.opts.SubscriptionMode; (mode == "dynamic" && !looksLikeASocketID(r)) || mode == "dynamic-private" {
				channel = a.channel + r + "#"
			}
		}
	}
	return a.send(channel, typ, data)
}

func (a *shardedAdapter) send(channel string, typ int, data map[string]any) error {
	msg := map[string]any{"uid": a.uid, "nsp": a.nsp.Name(), "type": typ, "data": data}
	var (
		b   []byte
		err error
	)
	if hasBinary(data) {
		b, err = mpack.Encode(msg)
	} else {
		b, err = json.Marshal(msg)
	}
	if err != nil {
		return err
	}
	return a.c.publish(channel, b)
}

func (a *shardedAdapter) respond(requesterUID string, typ int, data map[string]any) {
	_ = a.send(a.channel+requesterUID+"#", typ, data)
}

// hasBinary reports whether v holds []byte anywhere: then the message goes
// as msgpack, as Node's encode decides.
func hasBinary(v any) bool {
	switch x := v.(type) {
	case []byte:
		return true
	case []any:
		for _, e := range x {
			if hasBinary(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if hasBinary(e) {
				return true
			}
		}
	}
	return false
}

// Broadcast implements server.Adapter.
func (a *shardedAdapter) Broadcast(p *server.Packet, opts server.BroadcastOptions) error {
	if !opts.Flags.Local {
		_ = a.publish(msgBroadcast, map[string]any{"packet": packetWire(p, a.nsp.Name()), "opts": adapterwire.Options(opts)})
	}
	return a.MemoryAdapter.Broadcast(p, opts)
}

// BroadcastWithAck implements server.Adapter.
func (a *shardedAdapter) BroadcastWithAck(p *server.Packet, opts server.BroadcastOptions, clientCount func(int), ack func([]any)) error {
	if !opts.Flags.Local {
		id := randomHex()
		timeout := opts.Flags.Timeout
		if timeout <= 0 {
			timeout = a.c.opts.RequestsTimeout
		}
		a.reqs.AddAck(id, clientCount, ack, timeout)
		_ = a.publish(msgBroadcast, map[string]any{"packet": packetWire(p, a.nsp.Name()), "opts": adapterwire.Options(opts), "requestId": id})
	}
	return a.MemoryAdapter.BroadcastWithAck(p, opts, clientCount, ack)
}

// AddSockets implements server.Adapter.
func (a *shardedAdapter) AddSockets(opts server.BroadcastOptions, rooms []string) error {
	if !opts.Flags.Local {
		_ = a.publish(msgSocketsJoin, map[string]any{"opts": adapterwire.Options(opts), "rooms": adapterwire.NonNil(rooms)})
	}
	return a.MemoryAdapter.AddSockets(opts, rooms)
}

// DelSockets implements server.Adapter.
func (a *shardedAdapter) DelSockets(opts server.BroadcastOptions, rooms []string) error {
	if !opts.Flags.Local {
		_ = a.publish(msgSocketsLeave, map[string]any{"opts": adapterwire.Options(opts), "rooms": adapterwire.NonNil(rooms)})
	}
	return a.MemoryAdapter.DelSockets(opts, rooms)
}

// DisconnectSockets implements server.Adapter.
func (a *shardedAdapter) DisconnectSockets(opts server.BroadcastOptions, close bool) error {
	if !opts.Flags.Local {
		_ = a.publish(msgDisconnectSockets, map[string]any{"opts": adapterwire.Options(opts), "close": close})
	}
	return a.MemoryAdapter.DisconnectSockets(opts, close)
}

// FetchSockets implements server.Adapter.
func (a *shardedAdapter) FetchSockets(ctx context.Context, opts server.BroadcastOptions) ([]*server.RemoteSocket, error) {
	local, err := a.MemoryAdapter.FetchSockets(ctx, opts)
	if err != nil || opts.Flags.Local {
		return local, err
	}
	n, _ := a.ServerCount(ctx)
	if n-1 <= 0 {
		return local, nil
	}
	p := &adapterwire.Pending{Expected: n - 1, Sockets: local}
	err = a.request(ctx, p, msgFetchSockets, map[string]any{"opts": adapterwire.Options(opts)}, "fetchSockets")
	return p.Sockets, err
}

// ServerSideEmit implements server.Adapter.
func (a *shardedAdapter) ServerSideEmit(ctx context.Context, packet []any, ack func([]any)) error {
	if ack == nil {
		return a.publish(msgServerSideEmit, map[string]any{"packet": packet})
	}
	n, _ := a.ServerCount(ctx)
	if n-1 <= 0 {
		ack(nil)
		return nil
	}
	p := &adapterwire.Pending{Expected: n - 1}
	err := a.request(ctx, p, msgServerSideEmit, map[string]any{"packet": packet}, "serverSideEmit")
	ack(p.Answers)
	return err
}

func (a *shardedAdapter) request(ctx context.Context, p *adapterwire.Pending, typ int, data map[string]any, what string) error {
	id := randomHex()
	data["requestId"] = id
	return a.reqs.Wait(ctx, id, p, func() error { return a.publish(typ, data) }, a.c.opts.RequestsTimeout, timeoutError(what))
}

func randomHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// onMessage takes a message of the namespace, room or response channels.
func (a *shardedAdapter) onMessage(channel string, raw []byte) {
	m, ok := decodeRequest(raw)
	if !ok {
		return
	}
	uid, _ := m["uid"].(string)
	if uid == a.uid {
		return
	}
	if nsp, _ := m["nsp"].(string); nsp != a.nsp.Name() {
		return
	}
	typ, _ := intOf(m["type"])
	data, _ := m["data"].(map[string]any)
	if data == nil {
		return
	}
	requestID, _ := data["requestId"].(string)
	o, _ := data["opts"].(map[string]any)
	switch typ {
	case msgBroadcast:
		p, ok := packetFromWire(data["packet"], a.nsp.Name())
		if !ok {
			return
		}
		if requestID == "" {
			_ = a.MemoryAdapter.Broadcast(p, adapterwire.OptionsFrom(o))
			return
		}
		_ = a.MemoryAdapter.BroadcastWithAck(p, adapterwire.OptionsFrom(o), func(n int) {
			a.respond(uid, msgBroadcastClientCount, map[string]any{"requestId": requestID, "clientCount": n})
		}, func(args []any) {
			a.respond(uid, msgBroadcastAck, map[string]any{"requestId": requestID, "packet": adapterwire.FirstArg(args)})
		})
	case msgSocketsJoin:
		_ = a.MemoryAdapter.AddSockets(adapterwire.OptionsFrom(o), adapterwire.Strings(data["rooms"]))
	case msgSocketsLeave:
		_ = a.MemoryAdapter.DelSockets(adapterwire.OptionsFrom(o), adapterwire.Strings(data["rooms"]))
	case msgDisconnectSockets:
		closeConn, _ := data["close"].(bool)
		_ = a.MemoryAdapter.DisconnectSockets(adapterwire.OptionsFrom(o), closeConn)
	case msgFetchSockets:
		local, _ := a.MemoryAdapter.FetchSockets(context.Background(), adapterwire.OptionsFrom(o))
		sockets := adapterwire.Sockets(local)
		a.respond(uid, msgFetchSocketsResponse, map[string]any{"requestId": requestID, "sockets": sockets})
	case msgServerSideEmit:
		packet, _ := data["packet"].([]any)
		if len(packet) == 0 {
			return
		}
		var ack server.Ack
		if requestID != "" {
			ack = adapterwire.OnceAck(func(arg any) {
				a.respond(uid, msgServerSideEmitResponse, map[string]any{"requestId": requestID, "packet": arg})
			})
		}
		a.MemoryAdapter.ServerSideEvent(packet, ack)
	case msgBroadcastClientCount, msgBroadcastAck, msgFetchSocketsResponse, msgServerSideEmitResponse:
		a.onResponse(int(typ), requestID, data)
	}
}

func (a *shardedAdapter) onResponse(typ int, requestID string, data map[string]any) {
	switch typ {
	case msgBroadcastClientCount:
		if ackReq := a.reqs.Ack(requestID); ackReq != nil {
			n, _ := intOf(data["clientCount"])
			ackReq.ClientCount(int(n))
		}
	case msgBroadcastAck:
		if ackReq := a.reqs.Ack(requestID); ackReq != nil {
			ackReq.Ack([]any{data["packet"]})
		}
	case msgFetchSocketsResponse:
		sockets, _ := data["sockets"].([]any)
		a.reqs.Answer(a.MemoryAdapter, requestID, sockets, nil, false)
	case msgServerSideEmitResponse:
		a.reqs.Answer(a.MemoryAdapter, requestID, nil, data["packet"], true)
	}
}
