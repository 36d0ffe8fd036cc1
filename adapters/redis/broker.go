package redis

import (
	"context"
	"sync"

	"github.com/siogo/siogo/adapters/cluster"
	"github.com/siogo/siogo/server"
)

// A Client is a broker of siogo's adapter contract (adapters/cluster) in
// either of Node's protocols: the sharded mode is Node's
// createShardedAdapter, a ClusterAdapter, whose messages it carries as
// they are; the classic mode translates the cluster messages to and from
// the protocol of Node's RedisAdapter (broadcasts on the namespace's and
// rooms' channels, requests and responses on their own channels), which
// @socket.io/redis-emitter also writes. Both count the nodes with
// PUBSUB NUMSUB (cluster.NodeCounter), and follow the local rooms
// (cluster.Watcher): the classic mode to answer the requests that have no
// cluster message (a node's rooms, its sockets' ids), the sharded mode to
// subscribe a room's channel while it has a socket here.

// NewAdapter is the server.Options.NewAdapter of this client:
// cluster.NewAdapter over it, with Options.RequestsTimeout.
func (c *Client) NewAdapter(nsp *server.Namespace) server.Adapter { return c.newAdapter(nsp) }

// nspState is what the client knows of one namespace's adapter. Its
// channels are fixed; the rest is guarded by mu.
type nspState struct {
	nsp string
	// channel is prefix#nsp#: the classic mode's broadcasts (a room's add
	// room#), the sharded mode's messages.
	channel string
	// The classic mode's request and response channels.
	requestChannel, responseChannel string

	mu       sync.Mutex
	h        cluster.Handler
	uid      string
	a        *cluster.Adapter
	roomSubs map[string]bool // the sharded mode's room channels subscribed
}

func (st *nspState) current() (cluster.Handler, string, *cluster.Adapter) {
	if st == nil {
		return nil, "", nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.h, st.uid, st.a
}

// state is nsp's state, made on first use.
func (c *Client) state(nsp string) *nspState {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.nsps[nsp]
	if st == nil {
		p := c.opts.Prefix
		st = &nspState{
			nsp:             nsp,
			channel:         p + "#" + nsp + "#",
			requestChannel:  p + "-request#" + nsp + "#",
			responseChannel: p + "-response#" + nsp + "#",
			roomSubs:        map[string]bool{},
		}
		c.nsps[nsp] = st
	}
	return st
}

// forget drops nsp's state once nothing uses it.
func (c *Client) forget(st *nspState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.h == nil && st.a == nil && c.nsps[st.nsp] == st {
		delete(c.nsps, st.nsp)
	}
}

// subscriptions are the channels and patterns of the adapter uid.
func (c *Client) subscriptions(st *nspState, uid string) (channels, patterns []string) {
	if c.opts.Sharded {
		return []string{st.channel, st.channel + uid + "#"}, nil
	}
	return []string{st.requestChannel, st.responseChannel, st.responseChannel + uid + "#"}, []string{st.channel + "*"}
}

// Subscribe implements cluster.Broker.
func (c *Client) Subscribe(nsp, uid string, h cluster.Handler) (func(), error) {
	st := c.state(nsp)
	channels, patterns := c.subscriptions(st, uid)
	st.mu.Lock()
	st.h, st.uid = h, uid
	st.mu.Unlock()
	c.subs.Set(st, channels, patterns)
	var once sync.Once
	return func() {
		once.Do(func() {
			st.mu.Lock()
			mine := st.uid == uid
			if mine {
				st.h = nil
			}
			st.mu.Unlock()
			if mine {
				c.subs.Set(nil, channels, patterns)
			}
			c.forget(st)
		})
	}, nil
}

// Publish implements cluster.Broker, in the client's protocol; publishing
// only queues (see Options.PublishQueue). Nothing is logged: the offset is
// always "".
func (c *Client) Publish(_ context.Context, m *cluster.Message) (string, error) {
	st := c.state(m.Nsp)
	if c.opts.Sharded {
		return "", c.publishSharded(st, st.shardedChannel(c.opts.SubscriptionMode, m), m)
	}
	return "", c.publishClassic(st, m)
}

// PublishResponse implements cluster.Broker.
func (c *Client) PublishResponse(_ context.Context, to string, m *cluster.Message) error {
	st := c.state(m.Nsp)
	if c.opts.Sharded {
		return c.publishSharded(st, st.channel+to+"#", m)
	}
	return c.respondClassic(st, to, m)
}

// ServerCount implements cluster.NodeCounter: the subscribers of the
// namespace's request channel (classic) or main channel (sharded), as
// Node counts them.
func (c *Client) ServerCount(_ context.Context, nsp string) (int, error) {
	st := c.state(nsp)
	if c.opts.Sharded {
		return c.numSub(st.channel)
	}
	return c.numSub(st.requestChannel)
}

// Watch implements cluster.Watcher.
func (c *Client) Watch(a *cluster.Adapter) func() {
	st := c.state(a.Namespace().Name())
	st.mu.Lock()
	st.a = a
	st.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			st.mu.Lock()
			if st.a == a {
				st.a = nil
			}
			var rooms []string
			for r := range st.roomSubs {
				rooms = append(rooms, st.channel+r+"#")
			}
			clear(st.roomSubs)
			st.mu.Unlock()
			if len(rooms) > 0 {
				c.subs.Set(nil, rooms, nil)
			}
			c.forget(st)
		})
	}
}

// RoomsChanged implements cluster.Watcher: in the sharded mode's dynamic
// subscription modes, a room's channel is subscribed while the room has a
// socket here.
func (c *Client) RoomsChanged(a *cluster.Adapter, _ string, rooms []string, _ bool) {
	if !c.opts.Sharded || c.opts.SubscriptionMode == "static" {
		return
	}
	c.syncRooms(c.state(a.Namespace().Name()), a, rooms)
}

// dispatch hands a message of a subscription to its namespace.
func (c *Client) dispatch(channel, pattern string, data []byte) {
	st, _ := c.subs.Handler(channel, pattern).(*nspState)
	h, uid, a := st.current()
	if h == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("redis adapter: handling a message panicked", "channel", channel, "panic", r)
		}
	}()
	if c.opts.Sharded {
		c.onSharded(data, h)
		return
	}
	c.onClassic(st, channel, data, h, uid, a)
}
