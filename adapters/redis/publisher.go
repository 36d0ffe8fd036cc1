package redis

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/siogo/siogo/internal/redisnet"
)

// ErrPublishQueueFull is what publishing returns when the queue to Redis
// is full: the message is dropped for the other nodes (and counted in
// Stats.PublishDropped); local delivery is not affected.
var ErrPublishQueueFull = errors.New("redis adapter: publish queue full: message dropped")

// The publisher hands messages to Redis from one goroutine, in the order
// they were queued, so that nothing on the path of local delivery (a
// broadcast, the ack of the event that sent it) ever waits on Redis. Each
// PUBLISH has a deadline (Options.PublishTimeout); a message that waited
// longer than that in the queue is dropped rather than sent late, and a
// full queue drops. While the queue is idle, the publish connection is
// checked with a PING every health interval (every retryCheck while it
// fails), so that Ready tells when Redis stops answering, and when it
// answers again, even without traffic.
type publisher struct {
	c     *Client
	queue chan pubMsg
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	closed atomic.Bool

	mu        sync.Mutex
	err       error     // the last attempt's failure, nil once one succeeds
	failSince time.Time // when the current run of failures began
	lostRun   uint64    // messages lost in the current run of failures
}

type pubMsg struct {
	channel string
	data    []byte
	at      time.Time
}

func (p *publisher) init(c *Client) {
	p.c = c
	p.queue = make(chan pubMsg, c.opts.PublishQueue)
	p.stop = make(chan struct{})
	p.done = make(chan struct{})
}

// enqueue queues msg for channel without waiting.
func (p *publisher) enqueue(channel string, msg []byte) error {
	if p.closed.Load() {
		p.drop(1)
		return ErrPublishQueueFull
	}
	select {
	case p.queue <- pubMsg{channel: channel, data: msg, at: time.Now()}:
		return nil
	default:
		p.drop(1)
		return ErrPublishQueueFull
	}
}

func (p *publisher) drop(n uint64) {
	p.c.st.publishDropped.Add(n)
	p.mu.Lock()
	p.lostRun += n
	if p.failSince.IsZero() {
		p.failSince = time.Now()
	}
	p.mu.Unlock()
}

// ready is nil unless the last attempt to reach Redis through the publish
// connection failed.
func (p *publisher) ready() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return fmt.Errorf("%w: publishing fails: %v", ErrNotConnected, p.err)
	}
	return nil
}

// result records the outcome of one attempt (a PUBLISH or a PING) begun
// at began.
func (p *publisher) result(err error, isMsg bool, began time.Time) {
	p.mu.Lock()
	if err != nil {
		if p.err == nil {
			p.c.log.Warn("redis adapter: publishing to Redis fails; messages to the other nodes are dropped until it answers", "addr", p.c.tg.Where(), "err", err)
		}
		p.err = err
		if p.failSince.IsZero() {
			p.failSince = began
		}
		if isMsg {
			p.lostRun++
		}
		p.mu.Unlock()
		return
	}
	lost, since := p.lostRun, p.failSince
	p.err, p.lostRun, p.failSince = nil, 0, time.Time{}
	p.mu.Unlock()
	if lost > 0 {
		p.c.log.Warn("redis adapter: publishing resumed; messages were lost to the other nodes meanwhile",
			"lost", lost, "after", time.Since(since).Round(time.Millisecond),
			"publish_failures_total", p.c.st.publishFailures.Load(), "publish_dropped_total", p.c.st.publishDropped.Load())
	}
}

func (p *publisher) run() {
	defer close(p.done)
	interval := p.c.opts.HealthCheckInterval
	idle := time.NewTimer(interval)
	defer idle.Stop()
	for {
		select {
		case <-p.stop:
			p.drain()
			return
		case m := <-p.queue:
			p.send(m)
		case <-idle.C:
			began := time.Now()
			p.result(p.c.ping(), false, began)
		}
		if !idle.Stop() {
			select {
			case <-idle.C:
			default:
			}
		}
		idle.Reset(p.nextCheck(interval))
	}
}

// retryCheck is how soon an idle publisher pings again while Redis fails:
// Ready must turn true soon after Redis answers again, not a whole health
// interval later.
const retryCheck = 200 * time.Millisecond

func (p *publisher) nextCheck(interval time.Duration) time.Duration {
	if p.ready() != nil {
		return min(interval, retryCheck)
	}
	return interval
}

// send publishes one message unless it is too old to be worth it.
func (p *publisher) send(m pubMsg) {
	if time.Since(m.at) > p.c.opts.PublishTimeout {
		p.drop(1)
		return
	}
	began := time.Now()
	err := p.c.publishNow(m.channel, m.data)
	if err != nil {
		p.c.st.publishFailures.Add(1)
	}
	p.result(err, true, began)
}

// drain sends what is queued at Close, for at most PublishTimeout: the
// messages of a node that shuts down gracefully still reach the others.
func (p *publisher) drain() {
	deadline := time.Now().Add(p.c.opts.PublishTimeout)
	for {
		select {
		case m := <-p.queue:
			if time.Now().After(deadline) {
				p.drop(1)
				continue
			}
			p.send(m)
		default:
			return
		}
	}
}

func (p *publisher) close() {
	p.once.Do(func() {
		p.closed.Store(true)
		close(p.stop)
	})
	<-p.done
}

// ping checks the way publishing takes: the single server, or on a
// cluster the node of the health channel.
func (c *Client) ping() error {
	var conn redis.Conn
	if c.cl != nil {
		addr := c.cl.Route(c.opts.Sharded, redisnet.HealthChannel)
		if addr == "" {
			if err := c.cl.Refresh(time.Now()); err != nil {
				return err
			}
			if addr = c.cl.Route(c.opts.Sharded, redisnet.HealthChannel); addr == "" {
				return redisnet.ErrNoOwner
			}
		}
		conn = c.cl.Pool(addr).Get()
	} else {
		conn = c.pool.Get()
	}
	defer conn.Close()
	_, err := redis.DoWithTimeout(conn, c.opts.PublishTimeout, "PING")
	return err
}
