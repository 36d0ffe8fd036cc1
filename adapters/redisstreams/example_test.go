package redisstreams_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
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
	// Output: redisstreams: URL "localhost:6379" is none of redis://host:port/db, rediss://host:port/db, redis-cluster://h1:p1,h2:p2 or rediss-cluster://h1:p1,h2:p2
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

// Over TLS (rediss://, or rediss-cluster:// on a Redis Cluster), trusting
// a private authority and presenting a client certificate, as a Redis with
// tls-auth-clients asks. A Redis that refuses the connection (password,
// database, certificate) stops NewClient with a *RefusedError; one that
// cannot be reached is retried. (Not run: it needs a Redis server with
// TLS; the program's tests start one.)
func ExampleOptions_tls() {
	ca, err := os.ReadFile("/etc/redis/ca.pem")
	if err != nil {
		log.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	cert, err := tls.LoadX509KeyPair("/etc/siogo/redis-client.pem", "/etc/siogo/redis-client-key.pem")
	if err != nil {
		log.Fatal(err)
	}
	rc, err := redisstreams.NewClient(redisstreams.Options{
		URL:       "rediss://:password@redis.internal:6380/0",
		TLSConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}},
	})
	var refused *redisstreams.RefusedError
	if errors.As(err, &refused) {
		log.Fatalf("Redis at %s: %s", refused.Addr, refused.Reason)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
}
