package redis

import (
	"sync/atomic"

	"github.com/siogo/siogo/internal/redisnet"
)

// Stats counts what a Client lost or did to keep going: the figures to
// watch when Redis fails over, moves slots or goes away.
type Stats struct {
	// PublishFailures are messages this node could not hand to Redis
	// (broadcasts, requests and answers): the other nodes never get them.
	PublishFailures uint64
	// PublishDropped are messages dropped before they reached Redis: the
	// publish queue was full, they waited in it longer than PublishTimeout,
	// or the client was closed. The other nodes never get them either.
	PublishDropped uint64
	// SubscriptionLosses are subscription links that broke after being
	// up: what other nodes published until the link came back (Resubscribes)
	// is lost to this node.
	SubscriptionLosses uint64
	// Resubscribes are channels subscribed again after a loss, a failover
	// or a moved slot.
	Resubscribes uint64
	// Redirects are MOVED and ASK answers followed on a cluster.
	Redirects uint64
	// TopologyRefreshes are reads of a cluster's slot map (CLUSTER SLOTS).
	TopologyRefreshes uint64
}

type stats struct {
	publishFailures, publishDropped atomic.Uint64
	net                             redisnet.Counters
}

// Stats returns the counters since NewClient.
func (c *Client) Stats() Stats {
	return Stats{
		PublishFailures:    c.st.publishFailures.Load(),
		PublishDropped:     c.st.publishDropped.Load(),
		SubscriptionLosses: c.st.net.SubscriptionLosses.Load(),
		Resubscribes:       c.st.net.Resubscribes.Load(),
		Redirects:          c.st.net.Redirects.Load(),
		TopologyRefreshes:  c.st.net.Refreshes.Load(),
	}
}
