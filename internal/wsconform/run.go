package wsconform

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Behavior is a verdict, in Autobahn's words.
type Behavior string

// Autobahn's verdicts: the first five judge a case (its events), the
// last three only its closing handshake.
const (
	OK             Behavior = "OK"
	NonStrict      Behavior = "NON-STRICT"
	Informational  Behavior = "INFORMATIONAL"
	Unimplemented  Behavior = "UNIMPLEMENTED"
	Failed         Behavior = "FAILED"
	WrongCode      Behavior = "WRONG CODE"
	Unclean        Behavior = "UNCLEAN"
	FailedByClient Behavior = "FAILED BY CLIENT"
)

// Event is what the client saw (a message, a pong) or noted itself (a
// timeout of the case's own).
type Event struct {
	Kind   string // "message", "pong", "timeout"
	Data   []byte
	Binary bool
}

func (e Event) String() string {
	d := e.Data
	s := fmt.Sprintf("%q", d)
	if len(d) > 40 {
		s = fmt.Sprintf("%q...(%d bytes)", d[:40], len(d))
	}
	if e.Binary {
		return e.Kind + " binary " + s
	}
	return e.Kind + " " + s
}

// Config is a run against one server.
type Config struct {
	// URL is the ws:// address of the endpoint.
	URL string
	// Header is added to every opening handshake (an Origin, a cookie).
	Header http.Header
	// Endpoint is the application behind URL.
	Endpoint Endpoint
	// MaxMessage is the endpoint's largest message; zero means 1e6. Cases
	// whose messages are larger are cut down to it (and say so); the L
	// cases test the bound itself.
	MaxMessage int
	// SizeCap, when set, cuts the messages of section 9 (up to 16 MiB)
	// down to it, for a quick run; the cases say so.
	SizeCap int
	// Count is the number of messages of the 9.7 and 9.8 cases; zero
	// means 1000, Autobahn's.
	Count int
	// DeflateCount is the number of messages of the 12 and 13 cases; zero
	// means Count.
	DeflateCount int
	// Timeout bounds every wait for what the server does at once; only a
	// failing server makes the harness wait it out. Zero means 5 s.
	Timeout time.Duration
	// Pause is the wait in which the 6.4 cases check that the server does
	// not fail the connection yet (Autobahn waits 1 s); zero means 100 ms.
	Pause time.Duration
	// Cases selects cases by id or id prefix ("6.4" selects 6.4.1 to
	// 6.4.4); none means every case.
	Cases []string
	// Log, when set, is told each case's result as it comes.
	Log func(format string, args ...any)
}

// Case is one test case, named by Autobahn's id.
type Case struct {
	ID          string
	Description string

	offers []Offer
	run    func(s *S)
	// post is Autobahn's case-specific judgement, after the common one.
	post          func(r *Result)
	suppressClose bool // the script closes itself
	kill          bool // on timeout fail with 1001, as killAfter; else close, as closeAfter
}

// Result is one case's outcome.
type Result struct {
	ID, Description string
	// Behavior judges the events, BehaviorClose the closing handshake, as
	// Autobahn does; Verdict joins them (see the package doc).
	Behavior, BehaviorClose, Verdict Behavior
	Result, ResultClose              string
	Notes                            []string
	Duration                         time.Duration
	Expected                         map[Behavior][]Event `json:",omitempty"`
	Received                         []Event              `json:",omitempty"`
	RemoteCloseCode                  int                  // 0: none
	RemoteCloseReason                string               `json:",omitempty"`
	ClosedByMe, DroppedByMe          bool
	WasClean                         bool
	Violation                        string `json:",omitempty"` // RFC 6455/7692 broken by the server
}

func (c *Config) defaults() {
	if c.MaxMessage <= 0 {
		c.MaxMessage = 1e6
	}
	if c.Count <= 0 {
		c.Count = 1000
	}
	if c.DeflateCount <= 0 {
		c.DeflateCount = c.Count
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Pause <= 0 {
		c.Pause = 100 * time.Millisecond
	}
}

// selected reports whether the case id is asked for.
func (c *Config) selected(id string) bool {
	if len(c.Cases) == 0 {
		return true
	}
	for _, p := range c.Cases {
		if id == p || strings.HasPrefix(id, p+".") {
			return true
		}
	}
	return false
}

// Cases lists the cases a run with cfg makes, in Autobahn's order.
func Cases(cfg Config) []*Case {
	cfg.defaults()
	var out []*Case
	for _, c := range allCases(&cfg) {
		if cfg.selected(c.ID) {
			out = append(out, c)
		}
	}
	return out
}

// Run runs the cases one after the other, each on a connection of its
// own, as Autobahn's client does.
func Run(cfg Config) *Report {
	cfg.defaults()
	rep := &Report{Endpoint: cfg.Endpoint.String(), URL: cfg.URL}
	for _, cs := range Cases(cfg) {
		r := runCase(&cfg, cs)
		if cfg.Log != nil {
			cfg.Log("%-8s %-13s %s", r.ID, r.Verdict, r.summary())
		}
		rep.Results = append(rep.Results, r)
	}
	return rep
}

func runCase(cfg *Config, cs *Case) Result {
	start := time.Now()
	c, err := dial(cfg, newAdapter(cfg.Endpoint), cs.offers)
	if err != nil {
		return Result{ID: cs.ID, Description: cs.Description, Behavior: Failed, BehaviorClose: Failed, Verdict: Failed,
			Result: "opening handshake: " + err.Error(), ResultClose: "The WebSocket opening handshake was never completed!"}
	}
	go c.readLoop()
	s := &S{c: c, cfg: cfg, cs: cs, behavior: Failed}
	if err := c.ad.open(c); err != nil {
		s.Set(Failed, err.Error())
		s.ExpectClose(true, false, 1000)
		c.kill()
	} else {
		c.mu.Lock()
		violation := c.violation
		c.mu.Unlock()
		if violation != "" {
			c.fail(violation)
		} else {
			cs.run(s)
		}
	}
	s.finish()
	r := s.judge()
	r.Duration = time.Since(start)
	return r
}

// finish waits for the end of the connection, closing it as Autobahn's
// client would: once the events match the one outcome expected (its
// finishWhenDone), or when the server took Config.Timeout to do nothing.
func (s *S) finish() {
	c := s.c
	deadline := time.Now().Add(s.cfg.Timeout)
	timedOut := false
	for {
		c.flush()
		c.mu.Lock()
		state, ch := c.state, c.changed
		done := s.close.byMe && !s.cs.suppressClose && s.matchesAll(c.received)
		c.mu.Unlock()
		if state == stateClosed {
			return
		}
		now := time.Now()
		switch {
		case state == stateOpen && done:
			c.sendCloseFrame(closePayload(s.close.codes[0], nil))
			continue
		case !now.Before(deadline) && !timedOut:
			timedOut = true
			if state == stateOpen {
				if s.cs.kill {
					c.kill()
				} else {
					c.sendCloseFrame(nil)
				}
			}
			// The connection's own timers drop it if the server does not
			// answer; this is the last resort.
			deadline = now.Add(3 * s.cfg.Timeout)
		case !now.Before(deadline):
			_ = c.nc.Close()
			deadline = now.Add(s.cfg.Timeout)
		}
		c.wait(ch, deadline)
	}
}

// matchesAll is Autobahn's finishWhenDone test: the events received match
// every expected outcome (so, in practice, the only one).
func (s *S) matchesAll(received []Event) bool {
	if len(s.order) == 0 {
		return false
	}
	for _, b := range s.order {
		if !eventsEqual(received, s.expected[b]) {
			return false
		}
	}
	return true
}

func eventsEqual(a, b []Event) bool {
	return slices.EqualFunc(a, b, func(x, y Event) bool {
		return x.Kind == y.Kind && x.Binary == y.Binary && bytes.Equal(x.Data, y.Data)
	})
}

// judge is Autobahn's onConnectionLost: the events against each expected
// outcome, then the closing handshake against the expected one.
func (s *S) judge() Result {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	r := Result{
		ID: s.cs.ID, Description: s.cs.Description,
		Behavior: s.behavior, Result: s.result,
		Expected: s.expected, Received: c.received,
		RemoteCloseCode: c.remoteCode, RemoteCloseReason: c.remoteReason,
		ClosedByMe: c.closedByMe, DroppedByMe: c.droppedByMe, WasClean: c.wasClean,
		Violation: c.violation, Notes: s.notes,
	}
	if s.expected != nil {
		r.Behavior, r.Result = Failed, "Actual events differ from any expected."
		for _, b := range s.order {
			if eventsEqual(c.received, s.expected[b]) {
				r.Behavior, r.Result = b, "Actual events match at least one expected."
				break
			}
		}
	}
	switch e := s.close; {
	case e.byMe != c.closedByMe:
		r.BehaviorClose, r.ResultClose = Failed, "The connection was failed by the wrong endpoint"
	case e.requireClean && !c.wasClean:
		r.BehaviorClose, r.ResultClose = Unclean, "The spec requires the connection to be failed cleanly here"
	case c.remoteCode != 0 && !slices.Contains(e.codes, c.remoteCode):
		r.BehaviorClose, r.ResultClose = WrongCode, fmt.Sprintf("The close code should have been %v or empty", e.codes)
	case c.droppedByMe:
		r.BehaviorClose, r.ResultClose = FailedByClient, "It is preferred that the server close the TCP connection"
	default:
		r.BehaviorClose, r.ResultClose = OK, "Connection was properly closed"
	}
	if s.close.wrongEndpointFatal && s.close.byMe != c.closedByMe {
		r.Behavior = Failed
	}
	if s.cs.post != nil {
		s.cs.post(&r)
	}
	if c.violation != "" {
		r.Behavior, r.Result = Failed, "The server broke the protocol: "+c.violation
	}
	r.Verdict = verdict(r.Behavior, r.BehaviorClose)
	return r
}

// verdict joins the two judgements: a failed, unclean or wrongly coded
// close fails the case (Autobahn's report colours them so); a server that
// left the client to drop the TCP connection is NON-STRICT at best.
func verdict(b, close Behavior) Behavior {
	switch {
	case b == Failed:
		return Failed
	case close == Failed || close == Unclean || close == WrongCode:
		return Failed
	case close == FailedByClient && b == OK:
		return NonStrict
	}
	return b
}

// closeWrongCodeFails is the judgement Autobahn adds to its close cases:
// a wrong code fails the case itself.
func closeWrongCodeFails(r *Result) {
	if r.BehaviorClose == WrongCode {
		r.Behavior, r.Result = Failed, r.ResultClose
	}
}

// informational makes the case informational, as Autobahn's 7.1.6 and
// 7.13: the spec leaves the outcome open.
func informational(r *Result) {
	if r.Behavior == OK {
		r.Result = "Text message was processed before close."
	} else if r.Behavior == NonStrict {
		r.Result = "Close was processed before text message could be returned."
	}
	r.Behavior, r.BehaviorClose = Informational, Informational
}

func (r Result) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", r.Result)
	if r.BehaviorClose != OK && r.BehaviorClose != Informational {
		fmt.Fprintf(&b, "; close %s: %s", r.BehaviorClose, r.ResultClose)
	}
	if r.RemoteCloseCode != 0 {
		fmt.Fprintf(&b, " [%d]", r.RemoteCloseCode)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, " (%s)", n)
	}
	if r.Verdict == Failed && r.Received != nil {
		fmt.Fprintf(&b, "; received %v, expected %v", r.Received, r.Expected)
	}
	return b.String()
}
