package postgres_test

import (
	"context"
	"errors"
	"log"
	"net/http"
	"time"

	"github.com/siogo/siogo/adapters/cluster"
	"github.com/siogo/siogo/adapters/postgres"
	"github.com/siogo/siogo/server"
)

// Every node of a cluster points its server at the same PostgreSQL;
// broadcasts, rooms and the cluster calls then reach the sockets of every
// node, siogo or Node.js with @socket.io/postgres-adapter. Close the server
// before the client, so that its adapter can say goodbye. (Not run: it
// needs a PostgreSQL server; postgres_test.go runs the same against a real
// one.)
func ExampleNewClient() {
	pg, err := postgres.NewClient(postgres.Options{
		URL:         "postgres://app:secret@localhost:5432/app",
		CreateTable: true, // socket_io_attachments, as Node's README creates it
	})
	if err != nil {
		log.Fatal(err)
	}
	defer pg.Close()
	srv, err := server.New(server.Options{NewAdapter: pg.NewAdapter})
	if err != nil {
		log.Fatal(err)
	}
	srv.OnConnection(func(s *server.Socket) {
		s.On("join", func(args []any, ack server.Ack) {
			room, _ := args[0].(string)
			s.Join(room)
			_ = srv.To(room).Emit("joined", s.ID()) // to the room's sockets on every node
		})
	})
	// Ready reports whether the node LISTENs, for a readiness probe.
	http.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if pg.Ready() != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	http.Handle("/socket.io/", srv)
	hs := &http.Server{Addr: ":3000"}
	if err := hs.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	_ = srv.Close()
}

// The heartbeat and the timeouts of the cluster adapter, as Node's
// createAdapter(pool, {heartbeatInterval, heartbeatTimeout}); the other
// options name Node's table, channels and threshold.
func ExampleOptions() {
	pg, err := postgres.NewClient(postgres.Options{
		URL:              "postgres://app:secret@localhost:5432/app",
		ChannelPrefix:    "chat",
		TableName:        "chat_attachments",
		PayloadThreshold: 8000,
		Cluster: cluster.Options{
			HeartbeatInterval: 2 * time.Second,
			HeartbeatTimeout:  5 * time.Second,
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer pg.Close()
	srv, err := server.New(server.Options{NewAdapter: pg.NewAdapter})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	n, _ := srv.Of("/").Adapter().ServerCount(context.Background())
	log.Printf("%d nodes", n)
}
