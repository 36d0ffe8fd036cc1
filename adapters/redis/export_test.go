package redis

import "github.com/siogo/siogo/internal/redisnet"

// HomeAddr is the node a classic-mode client publishes and subscribes
// through on a Redis Cluster, "" if none yet.
func (c *Client) HomeAddr() string {
	if c.cl == nil {
		return ""
	}
	return c.cl.Home()
}

// KeySlot exposes the slot of a key to the tests.
var KeySlot = redisnet.KeySlot
