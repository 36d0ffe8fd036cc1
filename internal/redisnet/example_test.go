package redisnet_test

import (
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

// NewCluster reads a cluster URL without connecting: the slot map is read
// on first use, from any of the nodes named.
func ExampleNewCluster() {
	cl, err := redisnet.NewCluster("redis-cluster://127.0.0.1:7000,127.0.0.1:7001", "example", 2*time.Second, nil)
	fmt.Println(err)
	defer cl.Close()
	_, err = redisnet.NewCluster("redis-cluster://127.0.0.1:7000/1", "example", 2*time.Second, nil)
	fmt.Println(err)
	// Output:
	// <nil>
	// example: a Redis Cluster has database 0 only, not "1"
}
