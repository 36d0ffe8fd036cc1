package redisping_test

import (
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/siogo/siogo/internal/redisping"
	"github.com/siogo/siogo/internal/redistest"
)

// A subscribed connection gets the answers of the PINGs.
func TestEvery(t *testing.T) {
	srv := redistest.Start(t)
	conn, err := redis.DialURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var mu sync.Mutex
	mu.Lock()
	_ = conn.Send("SUBSCRIBE", "x")
	err = conn.Flush()
	mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := redis.ReceiveWithTimeout(conn, 5*time.Second); err != nil { // the subscribe confirmation
		t.Fatal(err)
	}
	stop := redisping.Every(conn, &mu, 20*time.Millisecond)
	for i := 0; i < 3; i++ {
		v, err := redis.Values(redis.ReceiveWithTimeout(conn, 5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if kind, _ := redis.String(v[0], nil); kind != "pong" {
			t.Fatalf("got %q, want pong", kind)
		}
	}
	stop()
}
