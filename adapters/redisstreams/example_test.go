package redisstreams_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/siogo/siogo/adapters/redisstreams"
	"github.com/siogo/siogo/server"
)

// A node of a cluster whose clients recover on any node: the streams
// adapter, and connection state recovery with a two-minute window. The
// client does not wait for Redis; Ready says when the node is part of the
// cluster.
func Example() {
	rc, err := redisstreams.NewClient(redisstreams.Options{
		URL:    "redis://127.0.0.1:6379/0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rc.Close()
	srv, err := server.New(server.Options{
		NewAdapter: rc.NewAdapter,
		Recovery:   &server.RecoveryOptions{MaxDisconnectionDuration: 2 * time.Minute},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// (srv.Close() here would meet a stop of nbio's loop right after its
	// start, which can hang: reported, left to the websocket package.)
	srv.OnConnection(func(s *server.Socket) {
		if s.Recovered() {
			// Same id, rooms and data as before; the missed events were sent.
			return
		}
		s.Join("news")
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	fmt.Println("serving /socket.io/")
	// Output: serving /socket.io/
}

// Options mirror those of Node's createAdapter; their zero values are
// Node's defaults. A node with several streams reads all of them.
func ExampleOptions() {
	_, err := redisstreams.NewClient(redisstreams.Options{URL: "localhost:6379"})
	fmt.Println(err)
	rc, _ := redisstreams.NewClient(redisstreams.Options{
		URL:         "redis://127.0.0.1:6379/0",
		StreamName:  "socket.io", // the stream, or socket.io-<i> with StreamCount
		StreamCount: 4,           // namespaces spread by a hash of their name
		MaxLen:      10000,       // XADD MAXLEN ~ 10000
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	defer rc.Close()
	// Output: redisstreams: URL "localhost:6379" is neither redis://host:port/db nor redis-cluster://h1:p1,h2:p2
}

// On a Redis Cluster, name some of its nodes; the others are discovered.
// Each stream lives on the master of its slot and is read on a connection
// of its own, as Node's adapter does with a cluster client.
func ExampleOptions_cluster() {
	rc, err := redisstreams.NewClient(redisstreams.Options{
		URL:         "redis-cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002",
		StreamCount: 3, // socket.io-0, -1, -2: spread over the shards
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	fmt.Println(err)
	defer rc.Close()
	_, err = redisstreams.NewClient(redisstreams.Options{URL: "redis-cluster://127.0.0.1:7000/2"})
	fmt.Println(err)
	// Output:
	// <nil>
	// redisstreams: a Redis Cluster has database 0 only, not "2"
}
