// Package cluster is siogo's adapter contract, shaped as Node's
// socket.io-adapter ClusterAdapter: a Broker only carries messages between
// nodes (publish to all, answer one, subscribe), and the Adapter this
// package provides turns any broker into a server.Adapter: rooms,
// broadcasts, acknowledgements across nodes, FetchSockets, SocketsJoin,
// SocketsLeave, DisconnectSockets, ServerSideEmit, heartbeats and the count
// of nodes.
//
//	broker := ... // a Broker: adapters/postgres's Client, or MemoryBroker
//	srv, err := server.New(server.Options{NewAdapter: cluster.NewAdapter(broker, cluster.Options{})})
//
// The messages are Node's (ClusterMessage: uid, nsp, type, data), so a
// broker that frames them as its Node counterpart does serves a cluster of
// siogo and Node.js nodes. A new broker is a small package: three methods,
// and package adapters/adaptertest to prove it.
//
// A broker may offer more, each an optional interface the adapter looks
// for: Ready (a readiness probe), NodeCounter (it counts the nodes itself:
// no heartbeats), Log (one log of broadcasts and room changes that every
// node reads in one order, its own messages included: local delivery then
// follows the log), SessionStore (a Log that also keeps the sessions of
// disconnected sockets: connection state recovery crosses nodes, as with
// Node's Redis Streams adapter) and Watcher (it follows this node's rooms,
// as Node's sharded Redis adapter subscribes a room's channel while the
// room has a socket here). A broker that wraps another has Unwrap, and the
// adapter looks for these on the one it wraps. What the server lends an
// adapter beyond server.Adapter is on the server.MemoryAdapter it embeds.
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
	// included or not (the adapter drops its own messages, but for a Log's
	// logged ones). The offset is m's place in the broker's Log; "" when
	// the broker keeps none, or did not log m.
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

// Handler receives a message and its offset in the broker's Log ("" when
// it is not logged).
type Handler func(m *Message, offset string)

// Ready is implemented by brokers that can say whether they are connected
// (for a readiness probe): nil when messages flow.
type Ready interface {
	Ready() error
}

// NodeCounter is implemented by brokers that count the nodes of a
// namespace themselves, as Node's ClusterAdapter without heartbeats (its
// Redis adapters count the subscribers of a channel with PUBSUB NUMSUB):
// the adapter then sends no heartbeats, and a request waits for as many
// answers as the count, less one.
type NodeCounter interface {
	ServerCount(ctx context.Context, nsp string) (int, error)
}

// Log is implemented by brokers that keep a log of the messages that
// change what clients see (broadcasts without acknowledgements, and
// whichever of SocketsJoin, SocketsLeave and DisconnectSockets the broker
// logs), as the stream of Node's Redis Streams adapter: Publish returns
// each logged message's offset, and every node's Handler gets every
// logged message of its namespaces with its offset, in the log's order,
// once, this node's own included (read back from the log; or handed to
// the Handler at once when the broker cannot read it back, as before its
// reader knows where the log ends). The adapter then applies its own
// logged messages when they come back rather than when sent, so that
// every node, and every client that recovers on another node, sees one
// order; a broadcast waits for that (Options.EchoTimeout) so that it has
// reached this node's sockets when Emit returns. A message the broker
// does not log (Publish returns ""), and any message when Publish fails,
// is applied here at once.
type Log interface {
	// ReadLog returns the logged messages of namespace nsp after offset
	// after, oldest first, at most limit of them: fewer only where the log
	// ends.
	ReadLog(ctx context.Context, nsp, after string, limit int) ([]Logged, error)
	// Before reports whether offset x comes before offset y in a
	// namespace's log.
	Before(x, y string) bool
}

// Logged is a message of a Log and its offset.
type Logged struct {
	Message *Message
	Offset  string
}

// SessionStore is implemented by Logs that make connection state recovery
// cross nodes, as Node's Redis Streams adapter: the offsets that clients
// echo are the log's, and the sessions of disconnected sockets are kept
// where every node reads them. Without it, each node keeps its own
// sockets' sessions and events, as the in-memory adapter does.
//
// A restored socket gets the broadcasts after its offset that reached its
// rooms, once and in order: the adapter reads them from the log when the
// session is restored, and again, holding its deliveries, as the socket
// joins its rooms (server.SessionResumer), so that what the broker hands
// it meanwhile is neither missed nor sent twice.
type SessionStore interface {
	Log
	// SaveSession keeps s (a socket of namespace nsp that lost its
	// connection) for ttl.
	SaveSession(ctx context.Context, nsp string, s *server.PersistedSession, ttl time.Duration) error
	// RestoreSession takes the session kept under pid (it serves once);
	// nil when there is none, or when offset is no longer in nsp's log.
	RestoreSession(ctx context.Context, nsp, pid, offset string) (*server.PersistedSession, error)
}

// Watcher is implemented by brokers that follow this node's side of a
// namespace, as Node's adapters listen to the in-memory adapter's
// create-room and delete-room events: the sharded Redis adapter
// subscribes a room's channel while the room has a socket here; siogo's
// Redis Streams broker keeps each connected socket's session in Redis.
type Watcher interface {
	// Watch is called by each adapter as it starts, before Subscribe;
	// stop, as it closes. The broker may read the adapter's rooms and
	// sockets (its server.MemoryAdapter) from any goroutine.
	Watch(a *Adapter) (stop func())
	// RoomsChanged is called after the local socket id joined rooms or
	// left them; gone when it left the namespace, rooms then being all it
	// was in (after PersistSession, when its session is kept).
	RoomsChanged(a *Adapter, id string, rooms []string, gone bool)
}

// Wrapper is implemented by a broker that wraps another (to count, trace
// or cut off its messages): the adapter looks for the optional interfaces
// (Ready, NodeCounter, Log, SessionStore, Watcher) on the broker Unwrap
// returns, and sends every message through the wrapper.
type Wrapper interface {
	Unwrap() Broker
}

// as finds the optional interface T on b or on a broker b wraps.
func as[T any](b Broker) (T, bool) {
	for depth := 0; b != nil && depth < 100; depth++ {
		if t, ok := b.(T); ok {
			return t, true
		}
		w, ok := b.(Wrapper)
		if !ok {
			break
		}
		b = w.Unwrap()
	}
	var zero T
	return zero, false
}
