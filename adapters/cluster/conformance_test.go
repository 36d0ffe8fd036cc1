package cluster_test

import (
	"context"
	"testing"

	"github.com/siogo/siogo/adapters/adaptertest"
	"github.com/siogo/siogo/adapters/cluster"
)

// TestConformance runs the suite on the in-memory broker: the cluster
// adapter itself over a Log and SessionStore, every node in this process.
func TestConformance(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T) adaptertest.Cluster {
		bus := cluster.NewMemoryBroker()
		t.Cleanup(func() { _ = bus.Close() })
		return adaptertest.Cluster{Broker: func(*testing.T) cluster.Broker { return bus }}
	})
}

// countingBroker counts the nodes by their subscriptions, as PUBSUB NUMSUB
// does for Node's Redis adapters.
type countingBroker struct{ *cluster.MemoryBroker }

func (b countingBroker) ServerCount(_ context.Context, nsp string) (int, error) {
	return b.Subscribers(nsp), nil
}

// TestConformanceCounting runs the suite with a broker that counts the
// nodes itself (Node's ClusterAdapter without heartbeats).
func TestConformanceCounting(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T) adaptertest.Cluster {
		bus := cluster.NewMemoryBroker()
		t.Cleanup(func() { _ = bus.Close() })
		return adaptertest.Cluster{Broker: func(*testing.T) cluster.Broker { return countingBroker{bus} }}
	})
}

// plainBroker is the in-memory broker with its three methods only: no
// log, no sessions, nodes counted by their heartbeats, as a pub/sub broker
// (adapters/postgres).
type plainBroker struct{ cluster.Broker }

// TestConformancePlain runs the suite on a broker without a Log.
func TestConformancePlain(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T) adaptertest.Cluster {
		bus := cluster.NewMemoryBroker()
		t.Cleanup(func() { _ = bus.Close() })
		return adaptertest.Cluster{Broker: func(*testing.T) cluster.Broker { return plainBroker{bus} }}
	})
}
