package redisstreams

import (
	"context"
	"fmt"
	"sync"

	"github.com/gomodule/redigo/redis"
	"github.com/siogo/siogo/adapters/cluster"
	"github.com/siogo/siogo/server"
)

// The broker of the adapter contract, as Node's RedisStreamsAdapter
// (a ClusterAdapter) publishes: what must be kept (broadcasts, room
// changes, disconnections) goes into the namespace's stream, requests by
// pub/sub on prefix#nsp#, answers on the requester's prefix#nsp#uid#.

// NewAdapter is the server.Options.NewAdapter of this client:
// cluster.NewAdapter over it, with Options.RequestsTimeout.
func (c *Client) NewAdapter(nsp *server.Namespace) server.Adapter { return c.newAdapter(nsp) }

// nspState is what the client knows of one namespace's adapter.
type nspState struct {
	nsp, stream, public string

	mu  sync.Mutex
	h   cluster.Handler  // the subscribed adapter's handler
	uid string           // its uid
	a   *cluster.Adapter // the adapter that watches (Watch)

	live liveSessions
}

// handler is the subscribed handler, nil for none (or a nil st).
func (st *nspState) handler() cluster.Handler {
	if st == nil {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.h
}

// adapter is the watching adapter and its uid, nil for none.
func (st *nspState) adapter() (*cluster.Adapter, string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.a, st.uid
}

// state is nsp's state, made on first use.
func (c *Client) state(nsp string) *nspState {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.nsps[nsp]
	if st == nil {
		st = &nspState{
			nsp:    nsp,
			stream: streamName(c.opts.StreamName, c.opts.StreamCount, nsp),
			public: c.opts.ChannelPrefix + "#" + nsp + "#",
		}
		st.live.init()
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

// ephemeral are the messages Node's adapter publishes by pub/sub rather
// than in the stream: requests, and broadcasts with acknowledgements.
func ephemeral(m *cluster.Message) bool {
	switch m.Type {
	case cluster.Broadcast:
		return m.Data["requestId"] != nil
	case cluster.ServerSideEmit, cluster.FetchSockets:
		return true
	}
	return false
}

// Publish implements cluster.Broker: a request on the namespace's public
// channel, anything else appended to its stream (XADD MAXLEN ~), its entry
// id the offset. Before this node's reader knows where the stream ends,
// the offset is "" (the adapter applies the entry at once; the reader
// skips it).
func (c *Client) Publish(_ context.Context, m *cluster.Message) (string, error) {
	st := c.state(m.Nsp)
	if ephemeral(m) {
		b, err := m.Msgpack()
		if err != nil {
			return "", err
		}
		return "", c.publish(st.public, b)
	}
	fields, err := encodeEntry(m, c.opts.OnlyPlaintext)
	if err != nil {
		return "", err
	}
	id, err := c.xadd(st.stream, fields)
	if err != nil {
		return "", err
	}
	if c.deliverEarly(st.stream, id) {
		return "", nil
	}
	return id.String(), nil
}

// PublishResponse implements cluster.Broker: on the requester's private
// channel.
func (c *Client) PublishResponse(_ context.Context, to string, m *cluster.Message) error {
	b, err := m.Msgpack()
	if err != nil {
		return err
	}
	return c.publish(c.state(m.Nsp).public+to+"#", b)
}

// Subscribe implements cluster.Broker: h gets the namespace's stream
// entries from the reader, and its public and private channels' messages
// from the subscription.
func (c *Client) Subscribe(nsp, uid string, h cluster.Handler) (func(), error) {
	st := c.state(nsp)
	channels := []string{st.public, st.public + uid + "#"}
	st.mu.Lock()
	st.h, st.uid = h, uid
	st.mu.Unlock()
	c.subs.Set(st, channels, nil)
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
				c.subs.Set(nil, channels, nil)
			}
			c.forget(st)
		})
	}, nil
}

// dispatch hands a message of a channel to its namespace's handler.
func (c *Client) dispatch(channel, _ string, data []byte) {
	st, _ := c.subs.Handler(channel, "").(*nspState)
	h := st.handler()
	if h == nil {
		return
	}
	m, err := cluster.DecodeMsgpack(data)
	if err != nil {
		c.log.Debug("redisstreams: bad message", "err", err)
		return
	}
	h(m, "")
}

// ServerCount implements cluster.NodeCounter: the subscribers of the
// namespace's public channel, as Node counts them.
func (c *Client) ServerCount(_ context.Context, nsp string) (int, error) {
	return c.numSub(c.state(nsp).public)
}

// restorePage is how many entries one XRANGE reads.
const restorePage = 1000

// ReadLog implements cluster.Log: the namespace's entries of its stream
// after the entry id after, read with XRANGE from its successor (Redis 5
// has no exclusive ranges; Node does the same).
func (c *Client) ReadLog(_ context.Context, nsp, after string, limit int) ([]cluster.Logged, error) {
	last, ok := parseID(after)
	if !ok {
		return nil, fmt.Errorf("redisstreams: offset %q is no entry id", after)
	}
	stream := c.state(nsp).stream
	var out []cluster.Logged
	for len(out) < limit {
		items, err := redis.Values(c.do(stream, "XRANGE", stream, last.next().String(), "+", "COUNT", restorePage))
		if err != nil {
			return nil, fmt.Errorf("redisstreams: reading the stream: %w", err)
		}
		entries, err := parseEntries(items)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			last = e.id
			if e.fields["nsp"] != nsp {
				continue
			}
			m, err := decodeEntry(e.fields)
			if err != nil {
				continue
			}
			if out = append(out, cluster.Logged{Message: m, Offset: e.id.String()}); len(out) == limit {
				return out, nil
			}
		}
		if len(entries) < restorePage {
			break
		}
	}
	return out, nil
}

// Before implements cluster.Log: entry ids in the stream's order.
func (c *Client) Before(x, y string) bool {
	a, _ := parseID(x)
	b, _ := parseID(y)
	return a.less(b)
}
