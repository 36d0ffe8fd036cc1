package redis

import (
	"github.com/siogo/siogo/adapters/cluster"
	"github.com/siogo/siogo/internal/adapterwire"
)

// The sharded mode: Node's createShardedAdapter, a ClusterAdapter, whose
// messages go as they are, JSON or (with binary) msgpack, by SPUBLISH on
// prefix#nsp#, answers on prefix#nsp#<uid>#, and in the dynamic
// subscription modes a broadcast to one room on that room's channel,
// prefix#nsp#room#, which only the nodes with a socket in it subscribe.

// looksLikeASocketID is Node's test: socket ids are 20 characters.
func looksLikeASocketID(room string) bool { return len(room) == 20 }

// shardedChannel is the channel Node's computeChannel gives m: a room's
// for a broadcast without acknowledgements to one room (a public one in
// the "dynamic" mode), else the namespace's. A broadcast with
// acknowledgements cannot use a room's: every node counts its clients.
func (st *nspState) shardedChannel(mode string, m *cluster.Message) string {
	if m.Type == cluster.Broadcast && m.Data["requestId"] == nil {
		if rooms := adapterwire.OptionsFrom(m.Data["opts"]).Rooms; len(rooms) == 1 {
			r := rooms[0]
			if mode == "dynamic" && !looksLikeASocketID(r) || mode == "dynamic-private" {
				return st.channel + r + "#"
			}
		}
	}
	return st.channel
}

// mayContainBinary are the types Node's sharded adapter sends as msgpack
// when their data holds binary.
func mayContainBinary(t cluster.MessageType) bool {
	switch t {
	case cluster.Broadcast, cluster.BroadcastAck, cluster.FetchSocketsResponse, cluster.ServerSideEmit, cluster.ServerSideEmitResponse:
		return true
	}
	return false
}

func (c *Client) publishSharded(_ *nspState, channel string, m *cluster.Message) error {
	var (
		b   []byte
		err error
	)
	if mayContainBinary(m.Type) && m.HasBinary() {
		b, err = m.Msgpack()
	} else {
		b, err = m.JSON()
	}
	if err != nil {
		return err
	}
	return c.publish(channel, b)
}

// onSharded reads a message of the namespace's, a room's or the response
// channel: JSON when it starts with '{', msgpack otherwise.
func (c *Client) onSharded(data []byte, h cluster.Handler) {
	var (
		m   *cluster.Message
		err error
	)
	if len(data) > 0 && data[0] == '{' {
		m, err = cluster.DecodeJSON(data)
	} else {
		m, err = cluster.DecodeMsgpack(data)
	}
	if err != nil {
		c.log.Debug("redis adapter: bad message", "err", err)
		return
	}
	h(m, "")
}

// syncRooms subscribes the channels of rooms that exist here and drops
// those of rooms gone. A room is private when it is a socket's id, as
// Node's shouldUseASeparateNamespace decides.
func (c *Client) syncRooms(st *nspState, a *cluster.Adapter, rooms []string) {
	var sub, unsub []string
	st.mu.Lock()
	if st.a != a {
		st.mu.Unlock()
		return
	}
	for _, r := range rooms {
		exists := len(a.Sockets(r)) > 0
		switch {
		case exists && !st.roomSubs[r] && (c.opts.SubscriptionMode == "dynamic-private" || len(a.SocketRooms(r)) == 0):
			st.roomSubs[r] = true
			sub = append(sub, st.channel+r+"#")
		case !exists && st.roomSubs[r]:
			delete(st.roomSubs, r)
			unsub = append(unsub, st.channel+r+"#")
		}
	}
	st.mu.Unlock()
	if len(sub) > 0 {
		c.subs.Set(st, sub, nil)
	}
	if len(unsub) > 0 {
		c.subs.Set(nil, unsub, nil)
	}
}
