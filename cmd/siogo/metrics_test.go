package main

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/nodetest"
	"github.com/siogo/siogo/server"
)

// TestMetricsOfRemovedNamespaces: for a library user whose server has
// dynamic namespaces and CleanupEmptyChildNamespaces, the program's
// metrics drop a namespace's series with it (each name a client tries
// would otherwise keep three series for good). Clients: the official
// socket.io-client (test/node/sio-cleanup.js, its short run).
func TestMetricsOfRemovedNamespaces(t *testing.T) {
	m := newMetrics()
	srv, err := server.New(server.Options{Observer: m, CleanupEmptyChildNamespaces: true})
	if err != nil {
		t.Fatal(err)
	}
	dyn := srv.OfRegexp(regexp.MustCompile(`^/dyn-\d+$`))
	dyn.Use(func(s *server.Socket) error {
		if s.Handshake().Auth["token"] == "bad" {
			return &server.ConnectError{Message: "Not authorized"}
		}
		return nil
	})
	dyn.OnConnection(func(s *server.Socket) {
		_ = s.Broadcast().Emit("joined", s.ID())
		s.OnDisconnect(func(string) { _ = s.Broadcast().Emit("left", s.ID()) })
	})
	// The script's control socket reads the namespaces and, as series,
	// every namespace label the registry has.
	srv.OnConnection(func(s *server.Socket) {
		s.On("state", func(_ []any, ack server.Ack) {
			var names []string
			for _, n := range srv.Namespaces() {
				names = append(names, n.Name())
			}
			series := map[string]any{}
			families, err := m.registry.Gather()
			if err != nil {
				ack(map[string]any{"error": err.Error()})
				return
			}
			for _, f := range families {
				for _, metric := range f.GetMetric() {
					for _, l := range metric.GetLabel() {
						if l.GetName() != "namespace" {
							continue
						}
						if f.GetName() == "siogo_connected_sockets" {
							series[l.GetValue()] = int(metric.GetGauge().GetValue())
						} else if _, ok := series[l.GetValue()]; !ok {
							series[l.GetValue()] = 0
						}
					}
				}
			}
			ack(map[string]any{"namespaces": names, "series": series})
		})
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		_ = srv.Close()
		hs.Close()
	})
	var rep struct {
		OK    bool     `json:"ok"`
		Steps []string `json:"steps"`
		Error string   `json:"error"`
	}
	nodetest.Run(t, 60*time.Second, "sio-cleanup.js", map[string]any{"url": hs.URL, "transport": "websocket", "cleanup": true, "short": true}, &rep)
	if !rep.OK {
		t.Fatalf("after %v: %s", rep.Steps, rep.Error)
	}
}
