package cluster_test

import (
	"context"
	"fmt"
	"log"
	"sync/atomic"
	"time"

	"github.com/siogo/siogo/adapters/cluster"
	"github.com/siogo/siogo/server"
)

// Two servers of one program on one MemoryBroker are two nodes of a
// cluster: what one broadcasts reaches the other's sockets, and each
// answers the other's server-side events. A broker on a network
// (adapters/postgres) is wired the same way.
func ExampleNewAdapter() {
	broker := cluster.NewMemoryBroker()
	defer broker.Close()
	newNode := func(name string) *server.Server {
		srv, err := server.New(server.Options{NewAdapter: cluster.NewAdapter(broker, cluster.Options{})})
		if err != nil {
			log.Fatal(err)
		}
		srv.Of("/").OnServerSideEmit("hello", func(args []any, ack server.Ack) {
			ack("hello from " + name)
		})
		return srv
	}
	a, b := newNode("a"), newNode("b")
	defer a.Close()
	defer b.Close()

	// The nodes find each other by their heartbeats.
	ctx := context.Background()
	for n, _ := a.Of("/").Adapter().ServerCount(ctx); n < 2; n, _ = a.Of("/").Adapter().ServerCount(ctx) {
		time.Sleep(10 * time.Millisecond)
	}
	answers, err := a.Of("/").ServerSideEmitWithAck(ctx, "hello")
	fmt.Println(answers, err)
	// Output: [hello from b] <nil>
}

// A broker is three methods. This one shows the broadcasts a node
// publishes before handing them to another broker: a skeleton for a new
// one, which then passes package adaptertest's suite.
type loggingBroker struct{ cluster.Broker }

func (b loggingBroker) Publish(ctx context.Context, m *cluster.Message) (string, error) {
	if m.Type == cluster.Broadcast {
		fmt.Println("publish", m.Nsp, m.Type, m.Data["packet"].(map[string]any)["data"])
	}
	return b.Broker.Publish(ctx, m)
}

func ExampleBroker() {
	broker := cluster.NewMemoryBroker()
	defer broker.Close()
	srv, err := server.New(server.Options{NewAdapter: cluster.NewAdapter(loggingBroker{broker}, cluster.Options{})})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	_ = srv.Emit("news", "siogo")
	// Output: publish / BROADCAST [news siogo]
}

// meteredBroker counts the broadcasts a node publishes. With Unwrap the
// adapter still finds what the broker it wraps offers (MemoryBroker is a
// Log and a SessionStore), so wrapping it changes nothing else.
type meteredBroker struct {
	cluster.Broker
	broadcasts atomic.Int64
}

func (b *meteredBroker) Publish(ctx context.Context, m *cluster.Message) (string, error) {
	if m.Type == cluster.Broadcast {
		b.broadcasts.Add(1)
	}
	return b.Broker.Publish(ctx, m)
}

func (b *meteredBroker) Unwrap() cluster.Broker { return b.Broker }

func ExampleWrapper() {
	memory := cluster.NewMemoryBroker()
	defer memory.Close()
	broker := &meteredBroker{Broker: memory}
	srv, err := server.New(server.Options{NewAdapter: cluster.NewAdapter(broker, cluster.Options{})})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	_ = srv.Emit("news", 1)
	_ = srv.Emit("news", 2)
	fmt.Println("published", broker.broadcasts.Load(), "broadcasts")
	// Output: published 2 broadcasts
}
