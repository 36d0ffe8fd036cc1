package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/siogo/siogo/adapters/postgres"
	redisadapter "github.com/siogo/siogo/adapters/redis"
)

// registerRedisStats exposes the Redis adapter's counters of losses and
// recoveries (redisadapter.Stats) on /metrics.
func (m *metrics) registerRedisStats(stats func() redisadapter.Stats) {
	for _, c := range []struct {
		name, help string
		get        func(redisadapter.Stats) uint64
	}{
		{"siogo_redis_publish_failures_total", "Messages the Redis adapter could not hand to Redis: lost to the other nodes.",
			func(s redisadapter.Stats) uint64 { return s.PublishFailures }},
		{"siogo_redis_publish_dropped_total", "Messages the Redis adapter dropped before Redis: its publish queue was full, or they waited past the publish timeout. Lost to the other nodes.",
			func(s redisadapter.Stats) uint64 { return s.PublishDropped }},
		{"siogo_redis_subscription_losses_total", "Redis subscription connections lost after being up: messages published meanwhile are lost to this node.",
			func(s redisadapter.Stats) uint64 { return s.SubscriptionLosses }},
		{"siogo_redis_resubscribes_total", "Channels subscribed again after a lost link, a failover or a moved slot.",
			func(s redisadapter.Stats) uint64 { return s.Resubscribes }},
		{"siogo_redis_redirects_total", "MOVED and ASK answers of a Redis Cluster followed.",
			func(s redisadapter.Stats) uint64 { return s.Redirects }},
		{"siogo_redis_topology_refreshes_total", "Reads of a Redis Cluster's slot map.",
			func(s redisadapter.Stats) uint64 { return s.TopologyRefreshes }},
	} {
		get := c.get
		m.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help},
			func() float64 { return float64(get(stats())) }))
	}
}

// registerPostgresStats exposes the PostgreSQL adapter's counters of
// losses (postgres.Stats) on /metrics.
func (m *metrics) registerPostgresStats(stats func() postgres.Stats) {
	for _, c := range []struct {
		name, help string
		get        func(postgres.Stats) uint64
	}{
		{"siogo_postgres_publish_failures_total", "Messages PostgreSQL did not take (NOTIFY, or an attachment's INSERT): lost to the other nodes.",
			func(s postgres.Stats) uint64 { return s.PublishFailures }},
		{"siogo_postgres_listen_losses_total", "LISTENing connections lost after being up: messages sent meanwhile are lost to this node.",
			func(s postgres.Stats) uint64 { return s.ListenLosses }},
		{"siogo_postgres_dropped_total", "Notifications this node could not read (undecodable, or an attachment it could not read).",
			func(s postgres.Stats) uint64 { return s.Dropped }},
	} {
		get := c.get
		m.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help},
			func() float64 { return float64(get(stats())) }))
	}
}
