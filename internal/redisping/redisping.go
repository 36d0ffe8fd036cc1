// Package redisping keeps watch on a redigo connection that a reader
// blocks on (a subscription, a blocking XREAD): redigo takes any read error
// as fatal, a timeout included, so the reader waits with a deadline of a
// few intervals and Every sends the PINGs whose answers keep it from
// passing while the server lives. Both Redis adapters use it.
package redisping

import (
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Every sends PING on conn every interval, under mu (the lock every writer
// of conn takes), until the returned stop is called or a write fails; the
// reader of conn reads the answers. stop may be called once.
func Every(conn redis.Conn, mu *sync.Mutex, interval time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				mu.Lock()
				err := conn.Send("PING")
				if err == nil {
					err = conn.Flush()
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}
	}()
	return func() { close(done) }
}
