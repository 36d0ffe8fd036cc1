package cluster_test

import (
	"testing"

	"github.com/siogo/siogo/adapters/adaptertest"
	"github.com/siogo/siogo/adapters/cluster"
)

// TestConformance runs the suite on the in-memory broker: the cluster
// adapter itself, every node in this process.
func TestConformance(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T) adaptertest.Cluster {
		bus := cluster.NewMemoryBroker()
		t.Cleanup(func() { _ = bus.Close() })
		return adaptertest.Cluster{Broker: func(*testing.T) cluster.Broker { return bus }}
	})
}
