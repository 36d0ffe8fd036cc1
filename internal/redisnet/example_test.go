package redisnet_test

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/siogo/siogo/internal/redisnet"
)

// A key's slot decides which master serves it: the streams adapter's
// stream and its session keys land on different shards; a hash tag keeps
// keys together.
func ExampleKeySlot() {
	fmt.Println(redisnet.KeySlot("socket.io"), redisnet.KeySlot("sio:session:abc"))
	fmt.Println(redisnet.KeySlot("{socket.io}-0") == redisnet.KeySlot("{socket.io}-1"))
	// Output:
	// 9972 14164
	// true
}

// ParseURL reads an adapter's URL without connecting; rediss:// and
// rediss-cluster:// are the TLS twins of redis:// and redis-cluster://.
func ExampleParseURL() {
	t, err := redisnet.ParseURL("example", "rediss://:secret@10.0.0.5:6380/2", &tls.Config{ServerName: "redis.internal"})
	fmt.Println(t.Where(), t.DB, t.TLS.ServerName, t.Redacted(), err)
	t, _ = redisnet.ParseURL("example", "redis-cluster://127.0.0.1:7000,127.0.0.1:7001", nil)
	cl := redisnet.NewCluster(t, 2*time.Second, nil)
	defer cl.Close()
	fmt.Println(t.Cluster, t.Where())
	_, err = redisnet.ParseURL("example", "redis-cluster://127.0.0.1:7000/1", nil)
	fmt.Println(err)
	// Output:
	// 10.0.0.5:6380 2 redis.internal rediss://xxxxx@10.0.0.5:6380/2 <nil>
	// true 127.0.0.1:7000,127.0.0.1:7001
	// example: a Redis Cluster has database 0 only, not "1"
}
