package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// options are the scenarios' parameters, from the flags.
type options struct {
	N         int           // clients held (conns, polling, fanout)
	Rate      int           // new connections per second while ramping
	Hold      time.Duration // conns, polling: how long the clients idle before the reading
	C         int           // echo: clients in the closed loop
	P         int           // handshakes, churn: parallel loops
	Duration  time.Duration // echo, handshakes, churn
	Size      int           // echo: bytes of the message's string
	K         int           // fanout: broadcasts
	BPS       float64       // fanout: broadcasts per second
	Wait      time.Duration // fanout: how long to wait for the last deliveries
	PID       int           // the server's process, for /proc; 0: none
	Progress  io.Writer     // where the bars go; nil: none
	ErrorsOut io.Writer     // where the first errors are told
	Marks     io.Writer     // where "siobench: measuring SCENARIO" goes as a measured phase begins; nil: nowhere
}

// field is one figure of a result.
type field struct {
	Key   string
	Value any
	Unit  string
}

// Result is what one scenario measured.
type Result struct {
	Scenario string
	Fields   []field
	Latency  *Histogram
}

func (r *Result) add(key string, v any, unit string) {
	r.Fields = append(r.Fields, field{key, v, unit})
}

// Get returns the value of a figure, for the tests and the compare driver.
func (r *Result) Get(key string) (any, bool) {
	for _, f := range r.Fields {
		if f.Key == key {
			return f.Value, true
		}
	}
	return nil, false
}

// bench runs scenarios against one server.
type bench struct {
	d    *Dialer
	o    options
	so   soakOptions
	proc *proc

	errMu   sync.Mutex
	errs    int
	errTold int
}

func (b *bench) fail(err error) {
	b.errMu.Lock()
	defer b.errMu.Unlock()
	b.errs++
	if b.errTold < 3 && b.o.ErrorsOut != nil {
		b.errTold++
		fmt.Fprintf(b.o.ErrorsOut, "siobench: %v\n", err)
	}
}

// mark tells, on o.Marks, that the measured phase of a scenario begins
// (the hold, the loop, the broadcasts), for a profiler to follow.
func (b *bench) mark(scenario string) {
	if b.o.Marks != nil {
		fmt.Fprintf(b.o.Marks, "\nsiobench: measuring %s\n", scenario)
	}
}

func (b *bench) takeErrors() int {
	b.errMu.Lock()
	defer b.errMu.Unlock()
	n := b.errs
	b.errs, b.errTold = 0, 0
	return n
}

// readings of the server's process around a phase.
type reading struct {
	rss int64
	cpu time.Duration
	ok  bool
}

func (b *bench) read() reading {
	if b.proc == nil {
		return reading{}
	}
	rss, err1 := b.proc.rss()
	cpu, err2 := b.proc.cpu()
	if err1 != nil || err2 != nil {
		b.fail(fmt.Errorf("reading /proc of the server: %v %v", err1, err2))
		return reading{}
	}
	return reading{rss: rss, cpu: cpu, ok: true}
}

// ramp opens n clients at o.Rate per second, at most 256 handshakes at a
// time; the clients that failed are nil.
func (b *bench) ramp(ctx context.Context, label string, n int, onEvent func(i int) func([]byte)) []*Client {
	p := newProgress(b.o.Progress, label, int64(n))
	defer p.Stop()
	clients := make([]*Client, n)
	sem := make(chan struct{}, 256)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		if b.o.Rate > 0 {
			if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(b.o.Rate))); d > 0 {
				time.Sleep(d)
			}
		}
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			var h func([]byte)
			if onEvent != nil {
				h = onEvent(i)
			}
			c, err := b.d.Connect(ctx, h)
			if err != nil {
				b.fail(err)
			} else {
				clients[i] = c
			}
			p.Add(1)
		}(i)
	}
	wg.Wait()
	return clients
}

func closeAll(clients []*Client) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	for _, c := range clients {
		if c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Close()
			<-sem
		}()
	}
	wg.Wait()
}

func alive(clients []*Client) int {
	n := 0
	for _, c := range clients {
		if c == nil {
			continue
		}
		select {
		case <-c.Done():
		default:
			n++
		}
	}
	return n
}

var timestampEvent = []byte(`2["timestamp",`)

// conns ramps to N clients, holds them, and reads the server's memory per
// connection (polling: the same with long-polling sessions, each with a
// GET waiting).
func (b *bench) conns(ctx context.Context, name string) *Result {
	r := &Result{Scenario: name}
	before := b.read()
	var ticks atomic.Int64
	perClient := make([]atomic.Int32, b.o.N) // each client's timestamps
	start := time.Now()
	clients := b.ramp(ctx, name+": connecting", b.o.N, func(i int) func([]byte) {
		return func(p []byte) {
			if bytes.HasPrefix(p, timestampEvent) {
				ticks.Add(1)
				perClient[i].Add(1)
			}
		}
	})
	rampTime := time.Since(start)
	mid := b.read()
	b.mark(name)
	p := newProgress(b.o.Progress, name+": holding", 0)
	t0 := ticks.Load()
	seen0 := make([]int32, len(perClient))
	for i := range perClient {
		seen0[i] = perClient[i].Load()
	}
	select {
	case <-time.After(b.o.Hold):
	case <-ctx.Done():
	}
	t1 := ticks.Load()
	// Ticks flowing means to every client, not only in total: the fewest
	// and most timestamps one client received while held, and how many
	// received none.
	minT, maxT, without := int32(math.MaxInt32), int32(0), 0
	for i, c := range clients {
		if c == nil {
			continue
		}
		select {
		case <-c.Done():
			continue
		default:
		}
		d := perClient[i].Load() - seen0[i]
		minT, maxT = min(minT, d), max(maxT, d)
		if d == 0 {
			without++
		}
	}
	p.Stop()
	after := b.read()
	held := alive(clients)
	r.add("connections", held, "")
	r.add("connect_errors", b.takeErrors(), "")
	r.add("ramp_s", rampTime.Seconds(), "s")
	r.add("connect_rate", float64(b.o.N)/rampTime.Seconds(), "/s")
	r.add("ticks_per_s", float64(t1-t0)/b.o.Hold.Seconds(), "/s")
	if maxT > 0 || without > 0 {
		r.add("ticks_per_client_min", minT, "")
		r.add("ticks_per_client_max", maxT, "")
		r.add("clients_without_ticks", without, "")
	}
	if before.ok && after.ok && held > 0 {
		r.add("rss_before_mib", float64(before.rss)/(1<<20), "MiB")
		r.add("rss_after_mib", float64(after.rss)/(1<<20), "MiB")
		r.add("memory_per_conn_kb", float64(after.rss-before.rss)/float64(held)/1000, "KB")
		r.add("cpu_ramp_per_conn_us", float64(mid.cpu-before.cpu)/float64(held)/1e3, "us")
		r.add("cpu_hold_percent", 100*float64(after.cpu-mid.cpu)/float64(b.o.Hold), "%")
	}
	closeAll(clients)
	return r
}

// echo runs C clients in a closed loop of `message` with an ack.
func (b *bench) echo(ctx context.Context) *Result {
	r := &Result{Scenario: "echo", Latency: &Histogram{}}
	clients := b.ramp(ctx, "echo: connecting", b.o.C, nil)
	defer closeAll(clients)
	payload := strconv.Quote(strings.Repeat("x", b.o.Size))
	args := `"message",` + payload
	var acks atomic.Int64
	p := newProgress(b.o.Progress, "echo: acks", 0)
	before := b.read()
	b.mark("echo")
	start := time.Now()
	end := start.Add(b.o.Duration)
	lctx, cancel := context.WithDeadline(ctx, end.Add(b.d.Timeout))
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range clients {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				t := time.Now()
				if err := c.EmitAck(lctx, args); err != nil {
					b.fail(err)
					return
				}
				r.Latency.Record(time.Since(t))
				acks.Add(1)
				p.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	after := b.read()
	p.Stop()
	n := acks.Load()
	r.add("clients", alive(clients), "")
	r.add("acks", n, "")
	r.add("errors", b.takeErrors(), "")
	r.add("acks_per_s", float64(n)/el.Seconds(), "/s")
	addLatency(r, r.Latency)
	if before.ok && after.ok && n > 0 {
		r.add("cpu_per_ack_us", float64(after.cpu-before.cpu)/float64(n)/1e3, "us")
	}
	return r
}

func addLatency(r *Result, h *Histogram) {
	if h.Count() == 0 {
		return
	}
	r.add("latency_p50_ms", h.Quantile(0.50), "ms")
	r.add("latency_p99_ms", h.Quantile(0.99), "ms")
	r.add("latency_p999_ms", h.Quantile(0.999), "ms")
	r.add("latency_max_ms", h.Quantile(1), "ms")
}

var broadcastEvent = []byte(`2["broadcast",`)

// fanout holds N subscribers; one more client emits K `broadcast` events
// carrying their send time (microseconds since the epoch) at BPS per second.
func (b *bench) fanout(ctx context.Context) *Result {
	r := &Result{Scenario: "fanout", Latency: &Histogram{}}
	var delivered atomic.Int64
	var lastRecv atomic.Int64
	expected := int64(0)
	var dp *progress
	var dpMu sync.Mutex
	onEvent := func(int) func([]byte) {
		return func(p []byte) {
			if !bytes.HasPrefix(p, broadcastEvent) {
				return
			}
			now := time.Now().UnixMicro()
			sent, err := strconv.ParseInt(string(digits(p[len(broadcastEvent):])), 10, 64)
			if err != nil {
				return
			}
			r.Latency.Record(time.Duration(now-sent) * time.Microsecond)
			delivered.Add(1)
			lastRecv.Store(now)
			dpMu.Lock()
			if dp != nil {
				dp.Add(1)
			}
			dpMu.Unlock()
		}
	}
	subs := b.ramp(ctx, "fanout: subscribers", b.o.N, onEvent)
	defer closeAll(subs)
	sender, err := b.d.Connect(ctx, nil)
	if err != nil {
		b.fail(fmt.Errorf("fanout sender: %w", err))
		r.add("errors", b.takeErrors(), "")
		return r
	}
	defer sender.Close()
	n := alive(subs)
	expected = int64(n) * int64(b.o.K)
	dpMu.Lock()
	dp = newProgress(b.o.Progress, "fanout: deliveries", expected)
	dpMu.Unlock()
	before := b.read()
	b.mark("fanout")
	start := time.Now()
	for i := 0; i < b.o.K; i++ {
		if d := time.Until(start.Add(time.Duration(float64(i) / b.o.BPS * float64(time.Second)))); d > 0 {
			time.Sleep(d)
		}
		if err := sender.Emit(`"broadcast",` + strconv.FormatInt(time.Now().UnixMicro(), 10)); err != nil {
			b.fail(err)
			break
		}
	}
	deadline := time.Now().Add(b.o.Wait)
	for delivered.Load() < expected && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	after := b.read()
	dp.Stop()
	got := delivered.Load()
	span := time.Duration(lastRecv.Load()-start.UnixMicro()) * time.Microsecond
	r.add("subscribers", n, "")
	r.add("broadcasts", b.o.K, "")
	r.add("delivered", got, "")
	r.add("lost", expected-got, "")
	r.add("errors", b.takeErrors(), "")
	if span > 0 {
		r.add("delivered_per_s", float64(got)/span.Seconds(), "/s")
	}
	addLatency(r, r.Latency)
	if before.ok && after.ok && got > 0 {
		r.add("cpu_per_delivery_us", float64(after.cpu-before.cpu)/float64(got)/1e3, "us")
	}
	return r
}

// handshakes runs P loops of connect (to namespace "/") and close; churn
// also emits a `message` with an ack in between.
func (b *bench) cycles(ctx context.Context, name string, emit bool) *Result {
	r := &Result{Scenario: name, Latency: &Histogram{}}
	var done atomic.Int64
	p := newProgress(b.o.Progress, name, 0)
	before := b.read()
	b.mark(name)
	start := time.Now()
	end := start.Add(b.o.Duration)
	var wg sync.WaitGroup
	for i := 0; i < b.o.P; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && ctx.Err() == nil {
				t := time.Now()
				c, err := b.d.Connect(ctx, nil)
				if err != nil {
					b.fail(err)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if emit {
					if err := c.EmitAck(ctx, `"message","churn"`); err != nil {
						b.fail(err)
					}
				}
				c.Close()
				r.Latency.Record(time.Since(t))
				done.Add(1)
				p.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	after := b.read()
	p.Stop()
	n := done.Load()
	r.add("parallel", b.o.P, "")
	r.add("connections", n, "")
	r.add("errors", b.takeErrors(), "")
	r.add("connections_per_s", float64(n)/el.Seconds(), "/s")
	addLatency(r, r.Latency)
	if before.ok && after.ok && n > 0 {
		r.add("cpu_per_conn_us", float64(after.cpu-before.cpu)/float64(n)/1e3, "us")
	}
	return r
}

// wsecho is echo on the contract's plain WebSocket path (/ws), no
// Engine.IO or Socket.IO framing: the same server's bare WebSocket cost,
// measured the same way, to set the Socket.IO echo against.
func (b *bench) wsecho(ctx context.Context) *Result {
	r := &Result{Scenario: "wsecho", Latency: &Histogram{}}
	payload := []byte(strings.Repeat("x", max(b.o.Size, 1)))
	conns := make([]*wsConn, 0, b.o.C)
	p := newProgress(b.o.Progress, "wsecho: connecting", int64(b.o.C))
	for i := 0; i < b.o.C && ctx.Err() == nil; i++ {
		c, err := b.d.dial()
		if err == nil {
			var ws *wsConn
			if ws, err = wsHandshake(c, b.d.Host, "/ws", b.d.Header, b.d.Deflate); err == nil {
				conns = append(conns, ws)
			} else {
				c.Close()
			}
		}
		if err != nil {
			b.fail(fmt.Errorf("wsecho: %w", err))
		}
		p.Add(1)
	}
	p.Stop()
	defer func() {
		for _, ws := range conns {
			ws.close()
		}
	}()
	var echoes atomic.Int64
	p = newProgress(b.o.Progress, "wsecho: echoes", 0)
	before := b.read()
	b.mark("wsecho")
	start := time.Now()
	end := start.Add(b.o.Duration)
	var wg sync.WaitGroup
	for _, ws := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && ctx.Err() == nil {
				t := time.Now()
				_ = ws.c.SetDeadline(t.Add(b.d.Timeout))
				if err := ws.write(opText, payload); err != nil {
					b.fail(err)
					return
				}
				for { // the tick's timestamps come in between
					_, m, err := ws.read()
					if err != nil {
						b.fail(err)
						return
					}
					if bytes.Equal(m, payload) {
						break
					}
				}
				r.Latency.Record(time.Since(t))
				echoes.Add(1)
				p.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	after := b.read()
	p.Stop()
	n := echoes.Load()
	r.add("clients", len(conns), "")
	r.add("echoes", n, "")
	r.add("errors", b.takeErrors(), "")
	r.add("echoes_per_s", float64(n)/el.Seconds(), "/s")
	addLatency(r, r.Latency)
	if before.ok && after.ok && n > 0 {
		r.add("cpu_per_echo_us", float64(after.cpu-before.cpu)/float64(n)/1e3, "us")
	}
	return r
}
