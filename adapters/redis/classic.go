package redis

import (
	"encoding/json"
	"strings"

	"github.com/siogo/siogo/adapters/cluster"
	"github.com/siogo/siogo/internal/adapterwire"
	"github.com/siogo/siogo/internal/mpack"
)

// The classic mode: the cluster messages translated to the protocol of
// Node's RedisAdapter and back.

// The request types of Node's RedisAdapter.
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

// publishClassic sends m as Node's RedisAdapter would: a broadcast as
// msgpack [uid, packet, opts] on the namespace's channel, or a room's
// when it goes to one room; a request on the request channel, JSON but
// for a broadcast with acknowledgements (msgpack). Heartbeats have no
// place in this protocol: the nodes are counted by their subscriptions.
func (c *Client) publishClassic(st *nspState, m *cluster.Message) error {
	d := m.Data
	requestID, _ := d["requestId"].(string)
	var req map[string]any
	switch m.Type {
	case cluster.Broadcast:
		if requestID != "" {
			b, err := mpack.Encode(map[string]any{"uid": m.UID, "requestId": requestID, "type": reqBroadcast, "packet": d["packet"], "opts": d["opts"]})
			if err != nil {
				return err
			}
			return c.publish(st.requestChannel, b)
		}
		b, err := mpack.Encode([]any{m.UID, d["packet"], d["opts"]})
		if err != nil {
			return err
		}
		channel := st.channel
		if rooms := adapterwire.OptionsFrom(d["opts"]).Rooms; len(rooms) == 1 {
			channel += rooms[0] + "#"
		}
		return c.publish(channel, b)
	case cluster.SocketsJoin, cluster.SocketsLeave:
		typ := reqRemoteJoin
		if m.Type == cluster.SocketsLeave {
			typ = reqRemoteLeave
		}
		req = map[string]any{"type": typ, "opts": roomsOnly(d["opts"]), "rooms": d["rooms"]}
	case cluster.DisconnectSockets:
		req = map[string]any{"type": reqRemoteDisconnect, "opts": roomsOnly(d["opts"]), "close": d["close"]}
	case cluster.FetchSockets:
		req = map[string]any{"type": reqRemoteFetch, "requestId": requestID, "opts": roomsOnly(d["opts"])}
	case cluster.ServerSideEmit:
		req = map[string]any{"type": reqServerSideEmit, "data": d["packet"]}
		if requestID != "" {
			req["requestId"] = requestID
		}
	default:
		return nil
	}
	req["uid"] = m.UID
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	return c.publish(st.requestChannel, b)
}

// roomsOnly is {rooms, except} of options: Node's requests carry no flags.
func roomsOnly(v any) map[string]any { return adapterwire.Rooms(adapterwire.OptionsFrom(v)) }

// respondClassic answers node to's request as Node's RedisAdapter does,
// on the response channel (its own, with PublishOnSpecificResponseChannel).
func (c *Client) respondClassic(st *nspState, to string, m *cluster.Message) error {
	d := m.Data
	var resp any
	asMsgpack := false
	switch m.Type {
	case cluster.FetchSocketsResponse:
		resp = map[string]any{"requestId": d["requestId"], "sockets": d["sockets"]}
	case cluster.ServerSideEmitResponse:
		resp = map[string]any{"type": reqServerSideEmit, "requestId": d["requestId"], "data": d["packet"]}
	case cluster.BroadcastClientCount:
		resp = map[string]any{"type": reqBroadcastClientCount, "requestId": d["requestId"], "clientCount": d["clientCount"]}
	case cluster.BroadcastAck:
		resp, asMsgpack = map[string]any{"type": reqBroadcastAck, "requestId": d["requestId"], "packet": d["packet"]}, true
	default:
		return nil
	}
	return c.respondTo(st, to, resp, asMsgpack)
}

func (c *Client) respondTo(st *nspState, to string, resp any, asMsgpack bool) error {
	var (
		b   []byte
		err error
	)
	if asMsgpack {
		b, err = mpack.Encode(resp)
	} else {
		b, err = json.Marshal(resp)
	}
	if err != nil {
		return err
	}
	channel := st.responseChannel
	if c.opts.PublishOnSpecificResponseChannel && to != "" {
		channel += to + "#"
	}
	return c.publish(channel, b)
}

// onClassic reads a message of Node's RedisAdapter protocol (or of
// @socket.io/redis-emitter) and hands it to the adapter as a cluster
// message; the requests that have none (the older ones: a node's rooms,
// its sockets' ids, one socket joining, leaving or disconnecting by id)
// are answered here, from a, the local adapter.
func (c *Client) onClassic(st *nspState, channel string, data []byte, h cluster.Handler, uid string, a *cluster.Adapter) {
	if strings.HasPrefix(channel, st.channel) {
		room := "" // prefix#nsp# is everyone's, prefix#nsp#room# a room's
		if len(channel) > len(st.channel) {
			room = channel[len(st.channel) : len(channel)-1]
		}
		if room != "" && a != nil && len(a.Sockets(room)) == 0 {
			return // no local socket in the room: not worth decoding
		}
		v, err := mpack.Decode(data)
		if err != nil {
			c.log.Debug("redis adapter: bad broadcast", "err", err)
			return
		}
		msg, ok := v.([]any)
		if !ok || len(msg) < 3 {
			return
		}
		from, _ := msg[0].(string)
		packet, _ := msg[1].(map[string]any)
		if packet == nil {
			return
		}
		// A packet without nsp is the main namespace's, as Node reads it.
		if nsp, ok := packet["nsp"].(string); ok && nsp != st.nsp || !ok && st.nsp != "/" {
			return
		}
		h(&cluster.Message{UID: from, Nsp: st.nsp, Type: cluster.Broadcast, Data: map[string]any{"packet": packet, "opts": msg[2]}}, "")
		return
	}
	req, ok := decodeRequest(data)
	if !ok {
		return
	}
	if channel != st.requestChannel {
		if m := classicResponse(st.nsp, req); m != nil {
			h(m, "")
		}
		return
	}
	from, _ := req["uid"].(string)
	requestID, _ := req["requestId"].(string)
	typ, _ := intOf(req["type"])
	msg := func(t cluster.MessageType, data map[string]any) {
		if requestID != "" && t != cluster.SocketsJoin && t != cluster.SocketsLeave && t != cluster.DisconnectSockets {
			data["requestId"] = requestID
		}
		h(&cluster.Message{UID: from, Nsp: st.nsp, Type: t, Data: data}, "")
	}
	opts, withOpts := req["opts"].(map[string]any)
	switch typ {
	case reqSockets, reqAllRooms:
		if from == uid || a == nil {
			return
		}
		if typ == reqSockets {
			rooms := adapterwire.OptionsFrom(map[string]any{"rooms": req["rooms"]}).Rooms
			_ = c.respondTo(st, from, map[string]any{"requestId": requestID, "sockets": adapterwire.NonNil(a.Sockets(rooms...))}, false)
		} else {
			_ = c.respondTo(st, from, map[string]any{"requestId": requestID, "rooms": adapterwire.NonNil(a.Rooms())}, false)
		}
	case reqRemoteJoin, reqRemoteLeave, reqRemoteDisconnect:
		if !withOpts {
			c.remoteByID(st, a, int(typ), req, from, requestID)
			return
		}
		switch typ {
		case reqRemoteJoin:
			msg(cluster.SocketsJoin, map[string]any{"opts": opts, "rooms": req["rooms"]})
		case reqRemoteLeave:
			msg(cluster.SocketsLeave, map[string]any{"opts": opts, "rooms": req["rooms"]})
		default:
			msg(cluster.DisconnectSockets, map[string]any{"opts": opts, "close": req["close"]})
		}
	case reqRemoteFetch:
		msg(cluster.FetchSockets, map[string]any{"opts": opts})
	case reqServerSideEmit:
		msg(cluster.ServerSideEmit, map[string]any{"packet": req["data"]})
	case reqBroadcast:
		if requestID != "" {
			msg(cluster.Broadcast, map[string]any{"packet": req["packet"], "opts": opts})
		}
	}
}

// remoteByID is the older form of a join, leave or disconnection: one
// socket, by id, answered by the node that has it.
func (c *Client) remoteByID(st *nspState, a *cluster.Adapter, typ int, req map[string]any, from, requestID string) {
	sid, _ := req["sid"].(string)
	if a == nil {
		return
	}
	s := a.Namespace().Socket(sid)
	if s == nil {
		return
	}
	room, _ := req["room"].(string)
	switch typ {
	case reqRemoteJoin:
		s.Join(room)
	case reqRemoteLeave:
		s.Leave(room)
	default:
		if closeConn, _ := req["close"].(bool); closeConn {
			s.CloseConnection()
		} else {
			s.Disconnect()
		}
	}
	_ = c.respondTo(st, from, map[string]any{"requestId": requestID}, false)
}

// classicResponse reads an answer of the response channels as the cluster
// message it answers: answers name no node (uid ""), and the adapter
// counts them.
func classicResponse(nsp string, resp map[string]any) *cluster.Message {
	requestID, _ := resp["requestId"].(string)
	if requestID == "" {
		return nil
	}
	typ, hasType := intOf(resp["type"])
	m := &cluster.Message{Nsp: nsp}
	switch {
	case hasType && typ == reqBroadcastClientCount:
		m.Type, m.Data = cluster.BroadcastClientCount, map[string]any{"requestId": requestID, "clientCount": resp["clientCount"]}
	case hasType && typ == reqBroadcastAck:
		m.Type, m.Data = cluster.BroadcastAck, map[string]any{"requestId": requestID, "packet": resp["packet"]}
	case hasType && typ == reqServerSideEmit:
		m.Type, m.Data = cluster.ServerSideEmitResponse, map[string]any{"requestId": requestID, "packet": resp["data"]}
	default:
		sockets, ok := resp["sockets"].([]any)
		if !ok {
			return nil // answers to requests siogo does not send
		}
		m.Type, m.Data = cluster.FetchSocketsResponse, map[string]any{"requestId": requestID, "sockets": sockets}
	}
	return m
}
