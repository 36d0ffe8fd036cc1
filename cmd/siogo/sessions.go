package main

import (
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siogo/siogo/adapters/cluster"
	"github.com/siogo/siogo/transports"
	"github.com/siogo/siogo/transports/shared"
)

// errSharedNeedsBroker refuses --sessions shared without a cluster
// adapter: the relay between nodes rides on its broker.
var errSharedNeedsBroker = errors.New("--sessions shared needs a cluster adapter to relay requests between nodes " +
	"(redis://, redis-streams://, redis-cluster://, their rediss forms, or postgres://); the memory adapter has none")

// startShared starts shared sessions over broker (--sessions shared) and
// sets engine's session ids to name this node. The metrics count what is
// relayed.
func startShared(cfg config, broker cluster.Broker, engine *transports.Options, m *metrics, log *slog.Logger) (*shared.Sessions, error) {
	if broker == nil {
		return nil, errSharedNeedsBroker
	}
	sh, err := shared.New(broker, shared.Options{
		MaxHTTPBufferSize: cfg.MaxPayload,
		PingInterval:      cfg.PingInterval,
		PingTimeout:       cfg.PingTimeout,
		Observer:          m.registerShared(),
		Logger:            engine.Logger,
	})
	if err != nil {
		return nil, err
	}
	engine.NewSessionID = sh.NewSessionID
	log.Info("shared sessions", "node", sh.NodeID())
	return sh, nil
}

// sharedMetrics is the shared.Observer of /metrics.
type sharedMetrics struct {
	forwarded *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	relaying  prometheus.Gauge
}

func (m *metrics) registerShared() *sharedMetrics {
	s := &sharedMetrics{
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siogo_forwarded_requests_total",
			Help: "Requests of sessions owned by another node, relayed to it (--sessions shared), by kind (poll, post, websocket, other) and outcome (ok; timeout: the owner did not answer in time; error: the broker failed; canceled: the client left first).",
		}, []string{"kind", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "siogo_forwarded_request_seconds",
			Help:    "How long a relayed request took to be answered (a poll includes its wait for packets; a websocket, until its owner's first bytes), by kind.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30},
		}, []string{"kind"}),
		relaying: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "siogo_relayed_websockets", Help: "WebSockets relayed between this node and the owner of their session, at either end.",
		}),
	}
	m.registry.MustRegister(s.forwarded, s.latency, s.relaying)
	return s
}

func (s *sharedMetrics) Forwarded(kind, outcome string, d time.Duration) {
	s.forwarded.WithLabelValues(kind, outcome).Inc()
	if outcome == "ok" {
		s.latency.WithLabelValues(kind).Observe(d.Seconds())
	}
}

func (s *sharedMetrics) Relaying(delta int) { s.relaying.Add(float64(delta)) }
