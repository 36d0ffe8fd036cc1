package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The soak scenario: N clients held for the whole duration, with the
// demo's ticks counted on every one, echoes (each acknowledged) sent by
// clients picked at random, a steady stream of broadcasts from one more
// client, and churn: clients picked at random leave (most close, some
// vanish: their TCP connection stays open and silent until the server's
// heartbeat reaps them) and a new client takes each one's place, on
// WebSocket, polling then upgraded, or polling. Once a second a CSV row
// gets the server's resident memory, goroutines and open files and the
// loader's counts. Losses are counted, not guessed at:
//   - a broadcast is lost when a client that had joined before it was sent
//     gets a later one and not it (the stream is in order), or, at the end,
//     has not got it 5 s after the last one was sent;
//   - an echo is lost when its ack or the echoed message does not come
//     within the handshake timeout;
//   - a tick is lost when a client misses a timestamp another client got
//     (a tick the server's ticker skipped, because the tick loop was late,
//     is counted apart: time.Ticker drops ticks; and a tick that comes
//     more than half a tick late is counted as late).
//
// A client the server disconnects is an error (the scenario's own
// leavers excepted).

// soakOptions are the soak scenario's parameters.
type soakOptions struct {
	CSV       string        // where the samples go; "": none
	DebugURL  string        // the server's --debug-addr, http://host:port, for its goroutines
	Tick      time.Duration // the server's tick
	EchoRate  float64       // echoes per second, over all clients
	BPS       float64       // broadcasts per second
	ChurnRate float64       // clients replaced per second
	Vanish    float64       // the fraction of leavers that vanish
	VanishFor time.Duration // how long a vanished client keeps its connection
	LostAfter time.Duration // an echo or ack not back within it is lost
}

// soakClient is what the scenario tracks of one client.
type soakClient struct {
	joinSeq  atomic.Int64 // the broadcasts sent before it joined
	lastB    atomic.Int64 // the last broadcast it got
	lastTick atomic.Int64 // when it got the last tick (UnixNano)
	lastTS   atomic.Int64 // the last tick's timestamp (the server's ms)
	echoWant atomic.Int64
	echoGot  chan struct{}
	leaving  atomic.Bool
	kind     int // index of the transport in soakStats.all
}

type soakSlot struct {
	mu sync.Mutex // held by the echo or the churn using the client
	c  *Client
	st *soakClient
}

type soakStats struct {
	connects, leaves, vanished                  atomic.Int64
	disconnects                                 atomic.Int64
	echoes, echoLost                            atomic.Int64
	broadcasts, delivered, bLost, bDup          atomic.Int64
	ticks, tickGaps, tickLate                   atomic.Int64
	echoLate                                    atomic.Int64
	tickMu                                      sync.Mutex
	tickSeen                                    []int64    // every timestamp some client got, sorted
	tickHoles                                   [][2]int64 // a client's consecutive timestamps more than a tick apart
	errors                                      atomic.Int64
	transports                                  [3]atomic.Int64
	echoSlowBy                                  [3]atomic.Int64
	seq                                         atomic.Int64 // broadcasts started
	echoSeq                                     atomic.Int64
	stopping                                    atomic.Bool
	tickNS                                      int64
	firstErrs                                   atomic.Int64
	errOut                                      io.Writer
	wsDialer, upgradeDialer, pollingDialer, all []*Dialer
}

func (s *soakStats) fail(err error) {
	s.errors.Add(1)
	if s.firstErrs.Add(1) <= 50 && s.errOut != nil {
		fmt.Fprintf(s.errOut, "siobench: soak: %v\n", err)
	}
}

var messageEvent = []byte(`2["message",`)

func (s *soakStats) onEvent(st *soakClient) func([]byte) {
	return func(p []byte) {
		switch {
		case bytes.HasPrefix(p, timestampEvent):
			s.ticks.Add(1)
			// Lost: the server's timestamps (ms) skip one. Late: it came
			// more than half a tick after the one before.
			now := time.Now().UnixNano()
			if prev := st.lastTick.Swap(now); prev != 0 && now-prev > s.tickNS*3/2 {
				s.tickLate.Add(1)
			}
			ts, err := strconv.ParseInt(string(digits(p[len(timestampEvent):])), 10, 64)
			if err != nil {
				return
			}
			prev := st.lastTS.Swap(ts)
			s.tickMu.Lock()
			if i, found := slices.BinarySearch(s.tickSeen, ts); !found {
				s.tickSeen = slices.Insert(s.tickSeen, i, ts)
			}
			if tickMS := s.tickNS / 1e6; prev != 0 && ts-prev > tickMS*3/2 {
				s.tickHoles = append(s.tickHoles, [2]int64{prev, ts})
				s.tickGaps.Add(1)
			}
			s.tickMu.Unlock()
		case bytes.HasPrefix(p, broadcastEvent):
			seq, err := strconv.ParseInt(string(digits(p[len(broadcastEvent):])), 10, 64)
			if err != nil {
				return
			}
			s.delivered.Add(1)
			prev := st.lastB.Load()
			if seq <= prev {
				s.bDup.Add(1)
				return
			}
			st.lastB.Store(seq)
			if from := max(prev, st.joinSeq.Load()); seq-1 > from {
				s.bLost.Add(seq - 1 - from)
			}
		case bytes.HasPrefix(p, messageEvent):
			n, err := strconv.ParseInt(string(digits(p[len(messageEvent):])), 10, 64)
			if err == nil && n == st.echoWant.Load() {
				select {
				case st.echoGot <- struct{}{}:
				default:
				}
			}
		}
	}
}

// connect opens a client on a transport picked at random (half WebSocket,
// a third polling then upgraded, the rest polling).
func (s *soakStats) connect(ctx context.Context) (*Client, *soakClient, error) {
	st := &soakClient{echoGot: make(chan struct{}, 1)}
	st.joinSeq.Store(1 << 62) // nothing is lost before it joined
	k := 0
	switch r := rand.Float64(); {
	case r < 0.5:
	case r < 0.85:
		k = 1
	default:
		k = 2
	}
	st.kind = k
	c, err := s.all[k].Connect(ctx, s.onEvent(st))
	if err != nil {
		return nil, nil, err
	}
	st.joinSeq.Store(s.seq.Load())
	st.lastTick.Store(time.Now().UnixNano())
	s.transports[k].Add(1)
	s.connects.Add(1)
	go func() {
		<-c.Done()
		if !st.leaving.Load() && !s.stopping.Load() {
			s.disconnects.Add(1)
			s.fail(fmt.Errorf("disconnected by the server: %v (%s)", c.Err(), c.Describe()))
		}
	}()
	return c, st, nil
}

func (b *bench) soak(ctx context.Context) *Result {
	r := &Result{Scenario: "soak", Latency: &Histogram{}}
	so := b.so
	s := &soakStats{tickNS: int64(so.Tick), errOut: b.o.ErrorsOut}
	s.all = []*Dialer{b.d.with(transportWebSocket), b.d.with(transportUpgrade), b.d.with(transportPolling)}
	for _, d := range s.all {
		d.Sources = b.d.Sources
	}

	var csv *bufio.Writer
	if so.CSV != "" {
		f, err := os.Create(so.CSV)
		if err != nil {
			s.fail(err)
			r.add("errors", s.errors.Load(), "")
			return r
		}
		defer f.Close()
		csv = bufio.NewWriter(f)
		defer csv.Flush()
		fmt.Fprintln(csv, "t_s,rss_kb,goroutines,fds,server_cpu_s,clients,connects,leaves,vanished,errors,disconnects,echoes,echo_lost,broadcasts,delivered,broadcast_lost,ticks,tick_gaps,tick_late")
	}
	start := time.Now()
	slots := make([]*soakSlot, b.o.N)
	for i := range slots {
		slots[i] = &soakSlot{}
	}
	liveClients := func() int64 { return s.connects.Load() - s.leaves.Load() - s.disconnects.Load() }
	sample := func() {
		if csv == nil {
			return
		}
		var rss int64 = -1
		var cpu time.Duration = -1
		if b.proc != nil {
			if v, err := b.proc.rss(); err == nil {
				rss = v / 1024
			}
			if v, err := b.proc.cpu(); err == nil {
				cpu = v
			}
		}
		g := goroutines(so.DebugURL)
		fds := -1
		if b.proc != nil {
			if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", b.proc.pid)); err == nil {
				fds = len(ents)
			}
		}
		fmt.Fprintf(csv, "%.0f,%d,%d,%d,%.2f,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d\n",
			time.Since(start).Seconds(), rss, g, fds, cpu.Seconds(), liveClients(),
			s.connects.Load(), s.leaves.Load(), s.vanished.Load(), s.errors.Load(), s.disconnects.Load(),
			s.echoes.Load(), s.echoLost.Load(), s.broadcasts.Load(), s.delivered.Load(), s.bLost.Load(),
			s.ticks.Load(), s.tickGaps.Load(), s.tickLate.Load())
		csv.Flush()
	}
	sctx, stopSampling := context.WithCancel(context.Background())
	var sampling sync.WaitGroup
	sampling.Add(1)
	go func() {
		defer sampling.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		sample()
		for {
			select {
			case <-t.C:
				sample()
			case <-sctx.Done():
				sample()
				return
			}
		}
	}()

	// Ramp: every slot gets a client, at o.Rate per second.
	p := newProgress(b.o.Progress, "soak: connecting", int64(b.o.N))
	sem := make(chan struct{}, 256)
	var wg sync.WaitGroup
	for i, sl := range slots {
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
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, st, err := s.connect(ctx)
			if err != nil {
				s.fail(err)
			} else {
				sl.mu.Lock()
				sl.c, sl.st = c, st
				sl.mu.Unlock()
			}
			p.Add(1)
		}()
	}
	wg.Wait()
	p.Stop()

	end := time.Now().Add(b.o.Duration)
	lctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	p = newProgress(b.o.Progress, "soak: running", 0)
	var loops sync.WaitGroup

	// Broadcasts, from a client of their own, each acknowledged.
	sender, err := b.d.with(transportWebSocket).Connect(ctx, nil)
	if err != nil {
		s.fail(fmt.Errorf("broadcast sender: %w", err))
	} else {
		loops.Add(1)
		go func() {
			defer loops.Done()
			defer sender.Close()
			every(lctx, so.BPS, func() {
				n := s.seq.Add(1)
				actx, cancel := context.WithTimeout(lctx, b.d.Timeout)
				defer cancel()
				if err := sender.EmitAck(actx, `"broadcast",`+strconv.FormatInt(n, 10)); err != nil && lctx.Err() == nil {
					s.fail(fmt.Errorf("broadcast %d: %w", n, err))
				}
				s.broadcasts.Add(1)
			})
		}()
	}

	// Echoes, each from a client picked at random that is not busy.
	echoJobs := make(chan struct{}, 64)
	for w := 0; w < 32; w++ {
		loops.Add(1)
		go func() {
			defer loops.Done()
			for range echoJobs {
				b.soakEcho(lctx, s, slots, r.Latency, so)
				p.Add(1)
			}
		}()
	}
	loops.Add(1)
	go func() {
		defer loops.Done()
		defer close(echoJobs)
		every(lctx, so.EchoRate, func() {
			select {
			case echoJobs <- struct{}{}:
			default: // the workers are behind: the machine is busy
			}
		})
	}()

	// Churn: a client picked at random leaves and a new one takes its place.
	churnJobs := make(chan struct{}, 64)
	for w := 0; w < max(b.o.P, 1); w++ {
		loops.Add(1)
		go func() {
			defer loops.Done()
			for range churnJobs {
				b.soakChurn(lctx, s, slots[rand.IntN(len(slots))], so)
			}
		}()
	}
	loops.Add(1)
	go func() {
		defer loops.Done()
		defer close(churnJobs)
		every(lctx, so.ChurnRate, func() {
			select {
			case churnJobs <- struct{}{}:
			default:
			}
		})
	}()
	<-lctx.Done()
	loops.Wait()
	p.Stop()

	// The last broadcasts' tail: each client joined before the last one
	// was sent must have had every one since it joined.
	time.Sleep(5 * time.Second)
	last := s.seq.Load()
	for _, sl := range slots {
		sl.mu.Lock()
		if sl.c != nil {
			select {
			case <-sl.c.Done():
			default:
				if from := max(sl.st.lastB.Load(), sl.st.joinSeq.Load()); last > from {
					s.bLost.Add(last - from)
				}
			}
		}
		sl.mu.Unlock()
	}
	s.stopping.Store(true)
	stopSampling()
	sampling.Wait()
	held := 0
	var all []*Client
	for _, sl := range slots {
		if sl.c != nil {
			all = append(all, sl.c)
			select {
			case <-sl.c.Done():
			default:
				held++
			}
		}
	}
	closeAll(all)

	r.add("clients", held, "")
	r.add("connects", s.connects.Load(), "")
	r.add("connects_websocket", s.transports[0].Load(), "")
	r.add("connects_upgrade", s.transports[1].Load(), "")
	r.add("connects_polling", s.transports[2].Load(), "")
	r.add("leaves", s.leaves.Load(), "")
	r.add("vanished", s.vanished.Load(), "")
	r.add("errors", s.errors.Load(), "")
	r.add("disconnects", s.disconnects.Load(), "")
	lost, skipped := s.tickLosses()
	r.add("ticks", s.ticks.Load(), "")
	r.add("ticks_lost", lost, "")
	r.add("ticks_skipped_by_server", skipped, "")
	r.add("ticks_late", s.tickLate.Load(), "")
	r.add("tick_gaps", s.tickGaps.Load(), "")
	for k, name := range []string{"websocket", "upgrade", "polling"} {
		r.add("echoes_over_500ms_"+name, s.echoSlowBy[k].Load(), "")
	}
	r.add("echoes_late", s.echoLate.Load(), "")
	r.add("echoes", s.echoes.Load(), "")
	r.add("echoes_lost", s.echoLost.Load(), "")
	r.add("broadcasts", s.broadcasts.Load(), "")
	r.add("broadcasts_delivered", s.delivered.Load(), "")
	r.add("broadcasts_lost", s.bLost.Load(), "")
	r.add("broadcasts_duplicated", s.bDup.Load(), "")
	addLatency(r, r.Latency)
	return r
}

// soakEcho sends one `message` with an ack from a client picked at
// random, and checks that both the echo and the ack come back.
func (b *bench) soakEcho(ctx context.Context, s *soakStats, slots []*soakSlot, h *Histogram, so soakOptions) {
	var sl *soakSlot
	for try := 0; try < 8; try++ {
		c := slots[rand.IntN(len(slots))]
		if c.mu.TryLock() {
			if c.c != nil {
				sl = c
				break
			}
			c.mu.Unlock()
		}
	}
	if sl == nil {
		return
	}
	defer sl.mu.Unlock()
	c, st := sl.c, sl.st
	select {
	case <-c.Done():
		return
	default:
	}
	n := s.echoSeq.Add(1)
	st.echoWant.Store(n)
	select { // an echo that came after its deadline
	case <-st.echoGot:
	default:
	}
	t := time.Now()
	actx, cancel := context.WithTimeout(context.Background(), so.LostAfter)
	defer cancel()
	if err := c.EmitAck(actx, `"message",`+strconv.FormatInt(n, 10)); err != nil {
		select {
		case <-c.Done(): // counted as a disconnect
		default:
			s.echoLost.Add(1)
			s.fail(fmt.Errorf("echo %d: %w", n, err))
		}
		return
	}
	select {
	case <-st.echoGot: // it comes before the ack, on the same connection
	case <-time.After(time.Second):
		s.echoLost.Add(1)
		s.fail(fmt.Errorf("echo %d: acknowledged, the message never came back", n))
		return
	}
	el := time.Since(t)
	h.Record(el)
	if el > 500*time.Millisecond {
		s.echoSlowBy[st.kind].Add(1)
	}
	if el > b.d.Timeout {
		s.echoLate.Add(1)
	}
	s.echoes.Add(1)
}

// soakChurn replaces the client in sl: it leaves (closes, or vanishes)
// and a new one joins.
func (b *bench) soakChurn(ctx context.Context, s *soakStats, sl *soakSlot, so soakOptions) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.c != nil {
		sl.st.leaving.Store(true)
		if rand.Float64() < so.Vanish {
			sl.c.Vanish(so.VanishFor)
			s.vanished.Add(1)
		} else {
			sl.c.Close()
		}
		s.leaves.Add(1)
		sl.c, sl.st = nil, nil
	}
	c, st, err := s.connect(context.Background())
	if err != nil {
		s.fail(err)
		return
	}
	sl.c, sl.st = c, st
}

// tickLosses counts, from the gaps the clients saw in the server's
// timestamps, the ticks a client missed that another client got (lost),
// and the ticks no client got: the gaps in the timestamps all clients
// together got (skipped by the server's ticker).
func (s *soakStats) tickLosses() (lost, skipped int64) {
	s.tickMu.Lock()
	defer s.tickMu.Unlock()
	for _, h := range s.tickHoles {
		i, _ := slices.BinarySearch(s.tickSeen, h[0]+1)
		j, _ := slices.BinarySearch(s.tickSeen, h[1])
		lost += int64(j - i)
	}
	tickMS := s.tickNS / 1e6
	for i := 1; i < len(s.tickSeen); i++ {
		if d := s.tickSeen[i] - s.tickSeen[i-1]; d > tickMS*3/2 {
			skipped += (d+tickMS/2)/tickMS - 1
		}
	}
	return lost, skipped
}

// every calls f rate times a second until ctx ends.
func every(ctx context.Context, rate float64, f func()) {
	if rate <= 0 {
		<-ctx.Done()
		return
	}
	start := time.Now()
	for i := 0; ; i++ {
		if d := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return
			}
		}
		if ctx.Err() != nil {
			return
		}
		f()
	}
}

// goroutines reads the server's goroutine count from its pprof endpoint
// (the first line of /debug/pprof/goroutine?debug=1); -1 if it cannot.
func goroutines(debugURL string) int {
	if debugURL == "" {
		return -1
	}
	cl := http.Client{Timeout: 5 * time.Second}
	res, err := cl.Get(strings.TrimRight(debugURL, "/") + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	line, _ := bufio.NewReader(res.Body).ReadString('\n')
	_, _ = io.Copy(io.Discard, res.Body)
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "goroutine profile: total ")))
	if err != nil {
		return -1
	}
	return n
}
