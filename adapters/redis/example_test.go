package redis_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log"
	"net/http"
	"os"

	"github.com/siogo/siogo/adapters/redis"
	"github.com/siogo/siogo/server"
)

// Every node of a cluster points its server at the same Redis; broadcasts,
// rooms and the cluster calls then reach the sockets of every node, siogo
// or Node.js with @socket.io/redis-adapter. (Not run: it needs a Redis
// server; redis_test.go runs the same against a real one.)
func ExampleNewClient() {
	rc, err := redis.NewClient(redis.Options{URL: "redis://localhost:6379/0"})
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	srv, err := server.New(server.Options{NewAdapter: rc.NewAdapter})
	if err != nil {
		log.Fatal(err)
	}
	srv.OnConnection(func(s *server.Socket) {
		s.On("broadcast", func(args []any, ack server.Ack) {
			srv.Emit("broadcast", args...) // to every node's sockets
			if ack != nil {
				ack()
			}
		})
	})
	// Ready reports whether the adapter is subscribed, for a readiness probe.
	http.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if rc.Ready() != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	http.Handle("/socket.io/", srv)
	log.Fatal(http.ListenAndServe(":3000", nil))
}

// The sharded mode of Redis 7 (SSUBSCRIBE/SPUBLISH), as Node's
// createShardedAdapter: every node of the cluster must use it.
func ExampleOptions_sharded() {
	rc, err := redis.NewClient(redis.Options{
		URL:              "redis://localhost:6379/0",
		Sharded:          true,
		SubscriptionMode: "dynamic",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	_, _ = server.New(server.Options{NewAdapter: rc.NewAdapter})
}

// A node of a cluster on a Redis Cluster, in the sharded mode: name some of
// its nodes, the others are discovered. Stats tells what a failover cost.
// (Not run: it needs a Redis Cluster; cluster_test.go starts one.)
func ExampleOptions_redisCluster() {
	rc, err := redis.NewClient(redis.Options{
		URL:     "redis-cluster://redis-c1:6379,redis-c2:6379,redis-c3:6379",
		Sharded: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	srv, err := server.New(server.Options{NewAdapter: rc.NewAdapter})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	_ = srv.Emit("hello", "cluster")
	st := rc.Stats()
	log.Println(st.PublishFailures, "messages could not be published,", st.SubscriptionLosses, "links lost")
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
	rc, err := redis.NewClient(redis.Options{
		URL:       "rediss://:password@redis.internal:6380/0",
		TLSConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}},
	})
	var refused *redis.RefusedError
	if errors.As(err, &refused) {
		log.Fatalf("Redis at %s: %s", refused.Addr, refused.Reason)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
}
