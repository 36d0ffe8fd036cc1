package redisping_test

import (
	"log"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/siogo/siogo/internal/redisping"
)

// A subscription that notices a dead or hung server: PINGs every 10s, and
// no reply for three of them is a failure. (Not run: it needs a Redis
// server; redisping_test.go runs it against a real one.)
func ExampleEvery() {
	conn, err := redis.DialURL("redis://localhost:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	var wmu sync.Mutex
	wmu.Lock()
	_ = conn.Send("SUBSCRIBE", "news")
	err = conn.Flush()
	wmu.Unlock()
	if err != nil {
		log.Fatal(err)
	}
	defer redisping.Every(conn, &wmu, 10*time.Second)()
	for {
		reply, err := redis.ReceiveWithTimeout(conn, 30*time.Second)
		if err != nil {
			log.Fatal(err) // the server is gone: reconnect
		}
		_ = reply
	}
}
