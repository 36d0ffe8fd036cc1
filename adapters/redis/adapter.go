package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/siogo/siogo/internal/adapterwire"
	"github.com/siogo/siogo/internal/mpack"
	"github.com/siogo/siogo/server"
)

// The request types of Node's redis adapter.
const (
	reqSockets = iota
	reqAllRooms
	reqRemoteJoin
	reqRemoteLeave
	reqRemoteDisconnect
	reqRemoteFetch
	reqServerSideEmit
	reqBroadcast
	reqBroadcastClientCount
	reqBroadcastAck
)

// Adapter is the Redis adapter of one namespace: the in-memory adapter for
// this node's sockets, and Redis for the others.
type Adapter struct {
	*server.MemoryAdapter
	c   *Client
	nsp *server.Namespace
	uid string

	channel, requestChannel, responseChannel, specificResponseChannel string

	reqs *adapterwire.Requests
}

// NewAdapter is the server.Options.NewAdapter of this client.
func (c *Client) NewAdapter(nsp *server.Namespace) server.Adapter {
	if c.opts.Sharded {
		return c.newShardedAdapter(nsp)
	}
	prefix := c.opts.Prefix
	a := &Adapter{
		MemoryAdapter:   server.NewMemoryAdapter(nsp),
		c:               c,
		nsp:             nsp,
		uid:             randomID(),
		channel:         prefix + "#" + nsp.Name() + "#",
		requestChannel:  prefix + "-request#" + nsp.Name() + "#",
		responseChannel: prefix + "-response#" + nsp.Name() + "#",
		reqs:            adapterwire.NewRequests(),
	}
	a.specificResponseChannel = a.responseChannel + a.uid + "#"
	c.subscribe(a, a.subscribedChannels(), []string{a.channel + "*"})
	return a
}

// onMessage routes a message of the adapter's subscriptions.
func (a *Adapter) onMessage(channel string, data []byte) {
	if strings.HasPrefix(channel, a.channel) {
		a.onBroadcast(channel, data)
		return
	}
	a.onRequestOrResponse(channel, data)
}

func (a *Adapter) subscribedChannels() []string {
	return []string{a.requestChannel, a.responseChannel, a.specificResponseChannel}
}

// randomID is 6 random characters, as Node's uid2(6).
func randomID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Close implements server.Adapter.
func (a *Adapter) Close() error {
	a.c.unsubscribe(a.subscribedChannels(), []string{a.channel + "*"})
	return nil
}

// ServerCount implements server.Adapter: the nodes subscribed to this
// namespace's request channel. Without Redis, this node alone.
func (a *Adapter) ServerCount(context.Context) (int, error) {
	n, err := a.c.numSub(a.requestChannel)
	if err != nil || n < 1 {
		return 1, nil
	}
	return n, nil
}

// Broadcast implements server.Adapter: published for the other nodes
// (unless Local), delivered here at once.
func (a *Adapter) Broadcast(p *server.Packet, opts server.BroadcastOptions) error {
	if !opts.Flags.Local {
		msg, err := mpack.Encode([]any{a.uid, packetWire(p, a.nsp.Name()), adapterwire.Options(opts)})
		if err != nil {
			return err
		}
		channel := a.channel
		if len(opts.Rooms) == 1 {
			channel += opts.Rooms[0] + "#"
		}
		// Local delivery first; publishing only queues, never waits.
		err = a.MemoryAdapter.Broadcast(p, opts)
		_ = a.c.publish(channel, msg)
		return err
	}
	return a.MemoryAdapter.Broadcast(p, opts)
}

// BroadcastWithAck implements server.Adapter.
func (a *Adapter) BroadcastWithAck(p *server.Packet, opts server.BroadcastOptions, clientCount func(int), ack func([]any)) error {
	if !opts.Flags.Local {
		requestID := randomID()
		msg, err := mpack.Encode(map[string]any{
			"uid": a.uid, "requestId": requestID, "type": reqBroadcast,
			"packet": packetWire(p, a.nsp.Name()), "opts": adapterwire.Options(opts),
		})
		if err != nil {
			return err
		}
		timeout := opts.Flags.Timeout
		if timeout <= 0 {
			timeout = a.c.opts.RequestsTimeout
		}
		a.reqs.AddAck(requestID, clientCount, ack, timeout)
		_ = a.c.publish(a.requestChannel, msg)
	}
	return a.MemoryAdapter.BroadcastWithAck(p, opts, clientCount, ack)
}

// FetchSockets implements server.Adapter.
func (a *Adapter) FetchSockets(ctx context.Context, opts server.BroadcastOptions) ([]*server.RemoteSocket, error) {
	local, err := a.MemoryAdapter.FetchSockets(ctx, opts)
	if err != nil || opts.Flags.Local {
		return local, err
	}
	numSub, _ := a.ServerCount(ctx)
	if numSub <= 1 {
		return local, nil
	}
	p := &adapterwire.Pending{Expected: numSub - 1, Sockets: local}
	err = a.request(ctx, p, map[string]any{"type": reqRemoteFetch, "opts": adapterwire.Rooms(opts)}, "fetchSockets")
	return p.Sockets, err
}

// AddSockets implements server.Adapter: applied here at once, and asked
// of the other nodes.
func (a *Adapter) AddSockets(opts server.BroadcastOptions, rooms []string) error {
	if err := a.MemoryAdapter.AddSockets(opts, rooms); err != nil || opts.Flags.Local {
		return err
	}
	return a.publishJSON(map[string]any{"uid": a.uid, "type": reqRemoteJoin, "opts": adapterwire.Rooms(opts), "rooms": adapterwire.NonNil(rooms)})
}

// DelSockets implements server.Adapter.
func (a *Adapter) DelSockets(opts server.BroadcastOptions, rooms []string) error {
	if err := a.MemoryAdapter.DelSockets(opts, rooms); err != nil || opts.Flags.Local {
		return err
	}
	return a.publishJSON(map[string]any{"uid": a.uid, "type": reqRemoteLeave, "opts": adapterwire.Rooms(opts), "rooms": adapterwire.NonNil(rooms)})
}

// DisconnectSockets implements server.Adapter.
func (a *Adapter) DisconnectSockets(opts server.BroadcastOptions, close bool) error {
	if err := a.MemoryAdapter.DisconnectSockets(opts, close); err != nil || opts.Flags.Local {
		return err
	}
	return a.publishJSON(map[string]any{"uid": a.uid, "type": reqRemoteDisconnect, "opts": adapterwire.Rooms(opts), "close": close})
}

// ServerSideEmit implements server.Adapter.
func (a *Adapter) ServerSideEmit(ctx context.Context, packet []any, ack func([]any)) error {
	if ack == nil {
		return a.publishJSON(map[string]any{"uid": a.uid, "type": reqServerSideEmit, "data": packet})
	}
	numSub, _ := a.ServerCount(ctx)
	numSub-- // not this node
	if numSub <= 0 {
		ack(nil)
		return nil
	}
	p := &adapterwire.Pending{Expected: numSub}
	err := a.request(ctx, p, map[string]any{"type": reqServerSideEmit, "data": packet}, "serverSideEmit")
	ack(p.Answers)
	return err
}

// request publishes a request and waits for its answers, the timeout or ctx.
func (a *Adapter) request(ctx context.Context, p *adapterwire.Pending, req map[string]any, what string) error {
	id := randomID()
	req["uid"], req["requestId"] = a.uid, id
	return a.reqs.Wait(ctx, id, p, func() error { return a.publishJSON(req) }, a.c.opts.RequestsTimeout, timeoutError(what))
}

func (a *Adapter) publishJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return a.c.publish(a.requestChannel, b)
}

func (a *Adapter) respond(req map[string]any, v any, asMsgpack bool) {
	var (
		b   []byte
		err error
	)
	if asMsgpack {
		b, err = mpack.Encode(v)
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		a.c.log.Warn("redis adapter: encoding a response", "err", err)
		return
	}
	channel := a.responseChannel
	if a.c.opts.PublishOnSpecificResponseChannel {
		if uid, _ := req["uid"].(string); uid != "" {
			channel += uid + "#"
		}
	}
	_ = a.c.publish(channel, b)
}

// onBroadcast takes a broadcast another node (or an emitter) published.
func (a *Adapter) onBroadcast(channel string, data []byte) {
	room := "" // prefix#nsp# is everyone's, prefix#nsp#room# a room's
	if len(channel) > len(a.channel) {
		room = channel[len(a.channel) : len(channel)-1]
	}
	if room != "" && len(a.MemoryAdapter.Sockets(room)) == 0 {
		return // no local socket in the room: not worth decoding
	}
	v, err := mpack.Decode(data)
	if err != nil {
		a.c.log.Debug("redis adapter: bad broadcast", "err", err)
		return
	}
	msg, ok := v.([]any)
	if !ok || len(msg) < 3 {
		return
	}
	if uid, _ := msg[0].(string); uid == a.uid {
		return
	}
	p, ok := packetFromWire(msg[1], a.nsp.Name())
	if !ok {
		return
	}
	_ = a.MemoryAdapter.Broadcast(p, adapterwire.OptionsFrom(msg[2]))
}

// onRequestOrResponse takes a message of the request or response channels.
func (a *Adapter) onRequestOrResponse(channel string, data []byte) {
	req, ok := decodeRequest(data)
	if !ok {
		return
	}
	if channel != a.requestChannel {
		a.onResponse(req)
		return
	}
	a.onRequest(req)
}

func (a *Adapter) onRequest(req map[string]any) {
	typ, _ := intOf(req["type"])
	uid, _ := req["uid"].(string)
	requestID, _ := req["requestId"].(string)
	self := uid == a.uid
	switch typ {
	case reqSockets:
		if self {
			return
		}
		opts := adapterwire.OptionsFrom(map[string]any{"rooms": req["rooms"]})
		a.respond(req, map[string]any{"requestId": requestID, "sockets": adapterwire.NonNil(a.MemoryAdapter.Sockets(opts.Rooms...))}, false)
	case reqAllRooms:
		if self {
			return
		}
		a.respond(req, map[string]any{"requestId": requestID, "rooms": adapterwire.NonNil(a.MemoryAdapter.Rooms())}, false)
	case reqRemoteJoin, reqRemoteLeave, reqRemoteDisconnect:
		if self {
			return // applied when sent
		}
		if o, ok := req["opts"].(map[string]any); ok {
			opts := adapterwire.OptionsFrom(o)
			rooms := adapterwire.Strings(req["rooms"])
			switch typ {
			case reqRemoteJoin:
				_ = a.MemoryAdapter.AddSockets(opts, rooms)
			case reqRemoteLeave:
				_ = a.MemoryAdapter.DelSockets(opts, rooms)
			default:
				closeConn, _ := req["close"].(bool)
				_ = a.MemoryAdapter.DisconnectSockets(opts, closeConn)
			}
			return
		}
		// The older form, one socket by id.
		sid, _ := req["sid"].(string)
		s := a.nsp.Socket(sid)
		if s == nil {
			return
		}
		switch typ {
		case reqRemoteJoin:
			room, _ := req["room"].(string)
			s.Join(room)
		case reqRemoteLeave:
			room, _ := req["room"].(string)
			s.Leave(room)
		default:
			if closeConn, _ := req["close"].(bool); closeConn {
				s.CloseConnection()
			} else {
				s.Disconnect()
			}
		}
		a.respond(req, map[string]any{"requestId": requestID}, false)
	case reqRemoteFetch:
		if self {
			return
		}
		o, _ := req["opts"].(map[string]any)
		local, _ := a.MemoryAdapter.FetchSockets(context.Background(), adapterwire.OptionsFrom(o))
		sockets := adapterwire.Sockets(local)
		a.respond(req, map[string]any{"requestId": requestID, "sockets": sockets}, false)
	case reqServerSideEmit:
		if self {
			return
		}
		packet, _ := req["data"].([]any)
		if len(packet) == 0 {
			return
		}
		var ack server.Ack
		if requestID != "" {
			ack = adapterwire.OnceAck(func(arg any) {
				a.respond(req, map[string]any{"type": reqServerSideEmit, "requestId": requestID, "data": arg}, false)
			})
		}
		a.MemoryAdapter.ServerSideEvent(packet, ack)
	case reqBroadcast:
		if self {
			return
		}
		p, ok := packetFromWire(req["packet"], a.nsp.Name())
		if !ok {
			return
		}
		o, _ := req["opts"].(map[string]any)
		_ = a.MemoryAdapter.BroadcastWithAck(p, adapterwire.OptionsFrom(o), func(n int) {
			a.respond(req, map[string]any{"type": reqBroadcastClientCount, "requestId": requestID, "clientCount": n}, false)
		}, func(args []any) {
			a.respond(req, map[string]any{"type": reqBroadcastAck, "requestId": requestID, "packet": adapterwire.FirstArg(args)}, true)
		})
	}
}

func (a *Adapter) onResponse(resp map[string]any) {
	requestID, _ := resp["requestId"].(string)
	typ, _ := intOf(resp["type"])
	if ackReq := a.reqs.Ack(requestID); ackReq != nil {
		switch typ {
		case reqBroadcastClientCount:
			n, _ := intOf(resp["clientCount"])
			ackReq.ClientCount(int(n))
		case reqBroadcastAck:
			ackReq.Ack([]any{resp["packet"]})
		}
		return
	}
	// Answers to a fetch carry sockets; answers to a server-side emit, a
	// type and their data.
	if sockets, ok := resp["sockets"].([]any); ok {
		a.reqs.Answer(a.MemoryAdapter, requestID, sockets, nil, false)
		return
	}
	if typ == reqServerSideEmit {
		a.reqs.Answer(a.MemoryAdapter, requestID, nil, resp["data"], true)
	}
}
