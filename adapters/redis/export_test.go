package redis

import "github.com/gomodule/redigo/redis"

// HomeAddr is the node a classic-mode client publishes and subscribes
// through on a Redis Cluster, "" if none yet.
func (c *Client) HomeAddr() string {
	if c.cl == nil {
		return ""
	}
	c.cl.mu.Lock()
	defer c.cl.mu.Unlock()
	return c.cl.home
}

// KeySlot exposes keySlot to the tests.
var KeySlot = keySlot

func redisError(s string) error { return redis.Error(s) }
