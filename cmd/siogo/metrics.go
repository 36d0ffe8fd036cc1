package main

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/siogo/siogo/server"
	"github.com/siogo/siogo/transports"
)

// metrics drops a removed namespace's series (a library user's program,
// with dynamic namespaces, may remove them; this one has none).
var _ server.NamespaceObserver = (*metrics)(nil)

// metrics observes both layers for /metrics. Every name starts with siogo_.
type metrics struct {
	registry   *prometheus.Registry
	clients    *prometheus.GaugeVec
	handshakes *prometheus.CounterVec
	refused    *prometheus.CounterVec
	upgrades   *prometheus.CounterVec
	closed     *prometheus.CounterVec
	packetsIn  prometheus.Counter
	packetsOut prometheus.Counter
	bytesIn    prometheus.Counter
	bytesOut   prometheus.Counter
	sockets    *prometheus.GaugeVec
	disconnect *prometheus.CounterVec
	broadcasts *prometheus.CounterVec
	panics     *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		clients: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "siogo_connected_clients", Help: "Open Engine.IO sessions, by transport and protocol.",
		}, []string{"transport", "protocol"}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siogo_handshakes_total", Help: "Engine.IO sessions opened, by transport and protocol.",
		}, []string{"transport", "protocol"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siogo_handshake_errors_total", Help: "Requests refused, by Engine.IO error code.",
		}, []string{"code"}),
		upgrades: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siogo_upgrades_total", Help: "Sessions upgraded from polling to WebSocket, by protocol.",
		}, []string{"protocol"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siogo_sessions_closed_total", Help: "Engine.IO sessions closed, by reason.",
		}, []string{"reason"}),
		packetsIn:  prometheus.NewCounter(prometheus.CounterOpts{Name: "siogo_packets_in_total", Help: "Engine.IO packets received."}),
		packetsOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "siogo_packets_out_total", Help: "Engine.IO packets sent."}),
		bytesIn:    prometheus.NewCounter(prometheus.CounterOpts{Name: "siogo_bytes_in_total", Help: "Bytes of Engine.IO packets received."}),
		bytesOut:   prometheus.NewCounter(prometheus.CounterOpts{Name: "siogo_bytes_out_total", Help: "Bytes of Engine.IO packets sent."}),
		sockets: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "siogo_connected_sockets", Help: "Connected Socket.IO sockets, by namespace.",
		}, []string{"namespace"}),
		disconnect: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siogo_disconnects_total", Help: "Socket.IO sockets disconnected, by namespace and reason.",
		}, []string{"namespace", "reason"}),
		broadcasts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siogo_broadcasts_total", Help: "Broadcasts, by namespace.",
		}, []string{"namespace"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siogo_panics_total", Help: "Panics recovered on a connection's path (each closed that connection only), by where: http (a request's handler), loop (the event loop's HTTP code), read (a WebSocket's frame reader), handler (a WebSocket message's handling).",
		}, []string{"where"}),
	}
	m.registry.MustRegister(m.clients, m.handshakes, m.refused, m.upgrades, m.closed,
		m.packetsIn, m.packetsOut, m.bytesIn, m.bytesOut, m.sockets, m.disconnect, m.broadcasts, m.panics,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// panicked counts a panic recovered on a connection's path.
func (m *metrics) panicked(where string) { m.panics.WithLabelValues(where).Inc() }

// transports.Observer

func (m *metrics) SessionOpened(transport string, protocol int) {
	p := strconv.Itoa(protocol)
	m.clients.WithLabelValues(transport, p).Inc()
	m.handshakes.WithLabelValues(transport, p).Inc()
}

func (m *metrics) SessionUpgraded(protocol int) {
	p := strconv.Itoa(protocol)
	m.clients.WithLabelValues(transports.TransportPolling, p).Dec()
	m.clients.WithLabelValues(transports.TransportWebSocket, p).Inc()
	m.upgrades.WithLabelValues(p).Inc()
}

func (m *metrics) SessionClosed(transport string, protocol int, reason string) {
	m.clients.WithLabelValues(transport, strconv.Itoa(protocol)).Dec()
	m.closed.WithLabelValues(reason).Inc()
}

func (m *metrics) HandshakeRefused(code transports.ErrorCode) {
	m.refused.WithLabelValues(strconv.Itoa(int(code))).Inc()
}

func (m *metrics) PacketsIn(packets, bytes int) {
	m.packetsIn.Add(float64(packets))
	m.bytesIn.Add(float64(bytes))
}

func (m *metrics) PacketsOut(packets, bytes int) {
	m.packetsOut.Add(float64(packets))
	m.bytesOut.Add(float64(bytes))
}

// server.Observer

func (m *metrics) SocketConnected(nsp string) { m.sockets.WithLabelValues(nsp).Inc() }

func (m *metrics) SocketDisconnected(nsp, reason string) {
	m.sockets.WithLabelValues(nsp).Dec()
	m.disconnect.WithLabelValues(nsp, reason).Inc()
}

func (m *metrics) Broadcast(nsp string) { m.broadcasts.WithLabelValues(nsp).Inc() }

// NamespaceRemoved drops the series of a namespace that is gone
// (server.Options.CleanupEmptyChildNamespaces): a dynamic namespace per
// name a client tried would otherwise keep its series for good.
func (m *metrics) NamespaceRemoved(nsp string) {
	l := prometheus.Labels{"namespace": nsp}
	m.sockets.DeletePartialMatch(l)
	m.disconnect.DeletePartialMatch(l)
	m.broadcasts.DeletePartialMatch(l)
}
