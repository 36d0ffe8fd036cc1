// Package cluster is siogo's adapter contract, shaped as Node's
// socket.io-adapter ClusterAdapterWithHeartbeat: a Broker only carries
// messages between nodes (publish to all, answer one, subscribe), and the
// Adapter this package provides turns any broker into a server.Adapter:
// rooms, broadcasts, acknowledgements across nodes, FetchSockets,
// SocketsJoin, SocketsLeave, DisconnectSockets, ServerSideEmit, heartbeats
// and the count of nodes.
//
//	broker := ... // a Broker: adapters/postgres's Client, or MemoryBroker
//	srv, err := server.New(server.Options{NewAdapter: cluster.NewAdapter(broker, cluster.Options{})})
//
// The messages are Node's (ClusterMessage: uid, nsp, type, data), so a
// broker that frames them as its Node counterpart does serves a cluster of
// siogo and Node.js nodes. A new broker is a small package: three methods,
// and package adapters/adaptertest to prove it. A broker that keeps a log
// of broadcasts may also be a SessionStore: then connection state recovery
// crosses nodes, as with Node's Redis Streams adapter. What the server
// lends an adapter beyond server.Adapter is on the server.MemoryAdapter it
// embeds.
package cluster

import (
	"context"
	"time"

	"github.com/siogo/siogo/server"
)

// Broker carries cluster messages between the nodes of one cluster. Its
// methods may be called from many goroutines at once.
type Broker interface {
	// Publish sends m to every node that subscribed to m.Nsp, this one
	// included or not (the adapter drops its own messages). The offset is
	// m's place in a log the broker keeps, for connection state recovery
	// across nodes; "" when the broker keeps none.
	Publish(ctx context.Context, m *Message) (offset string, err error)
	// PublishResponse sends m, an answer to a request, to the node whose
	// adapter has the uid to. A broker without a way to reach one node may
	// publish it to all: other nodes drop answers to requests they did not
	// send.
	PublishResponse(ctx context.Context, to string, m *Message) error
	// Subscribe calls h with each message published for namespace nsp,
	// and each answer sent to uid (the adapter's), in the order the broker
	// received them, from one goroutine at a time. h must not block for
	// long: the adapter hands slow work to goroutines of its own. The
	// returned function ends the subscription.
	Subscribe(nsp, uid string, h Handler) (unsubscribe func(), err error)
}

// Handler receives a message and its offset ("" when the broker keeps no
// log).
type Handler func(m *Message, offset string)

// Ready is implemented by brokers that can say whether they are connected
// (for a readiness probe): nil when messages flow.
type Ready interface {
	Ready() error
}

// NodeCounter is implemented by brokers that count the nodes of a
// namespace themselves, as Node's ClusterAdapter without heartbeats (its
// Redis Streams adapter counts the subscribers of a channel with PUBSUB
// NUMSUB): the adapter then sends no heartbeats, and a request waits for
// as many answers as the count, less one.
type NodeCounter interface {
	ServerCount(ctx context.Context, nsp string) (int, error)
}

// SessionStore is implemented by brokers that make connection state
// recovery cross nodes, as Node's Redis Streams adapter: Publish returns
// an offset for each broadcast (its place in a log the broker keeps, which
// clients echo), and the sessions of disconnected sockets are kept where
// every node reads them. Without it, each node keeps its own sockets'
// sessions and events, as the in-memory adapter does.
type SessionStore interface {
	// SaveSession keeps s (a socket that lost its connection) for ttl.
	SaveSession(ctx context.Context, s *server.PersistedSession, ttl time.Duration) error
	// RestoreSession takes the session kept under pid (it serves once) and
	// returns it with the messages published for nsp after offset, oldest
	// first; a nil session when there is none, or when offset is no longer
	// in the log.
	RestoreSession(ctx context.Context, nsp, pid, offset string) (*server.PersistedSession, []Logged, error)
}

// Logged is a message of a SessionStore's log and its offset.
type Logged struct {
	Message *Message
	Offset  string
}
