package transports_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/nodetest"
	"github.com/siogo/siogo/transports"
)

// echoServer is an Engine.IO server whose sessions echo every message, close
// themselves on "close-me", and record why each session closed.
type echoServer struct {
	*transports.Server
	URL string

	mu       sync.Mutex
	sessions map[string]*transports.Session
	reasons  map[string]string
	closed   chan string // sids, as sessions close
	// requests logs the last requests' arrival, to tell a stalled
	// client's request that never reached the handler from one that did.
	requests []string
}

// logRequests records each request's arrival in e.requests.
func (e *echoServer) logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		if len(e.requests) >= 400 {
			e.requests = e.requests[100:]
		}
		e.requests = append(e.requests, time.Now().Format("15:04:05.000")+" "+r.Method+" "+r.URL.RawQuery+" from "+r.RemoteAddr)
		e.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func newEchoServer(t *testing.T, opts transports.Options) *echoServer {
	t.Helper()
	e := &echoServer{sessions: map[string]*transports.Session{}, reasons: map[string]string{}, closed: make(chan string, 1024)}
	opts.OnSession = func(s *transports.Session) {
		e.mu.Lock()
		e.sessions[s.ID()] = s
		e.mu.Unlock()
		s.OnMessage(func(data []byte, binary bool) {
			if !binary && string(data) == "close-me" {
				go s.Close()
				return
			}
			msg := append([]byte(nil), data...)
			_ = s.Send(transports.Packet{Type: transports.PacketMessage, Data: msg, Binary: binary})
		})
		s.OnClose(func(reason string) {
			e.mu.Lock()
			e.reasons[s.ID()] = reason
			e.mu.Unlock()
			e.closed <- s.ID()
		})
	}
	srv, err := transports.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", srv)
	if onEventLoop {
		e.Server, e.URL = srv, serveEventLoop(t, e.logRequests(mux), srv)
		return e
	}
	hs := httptest.NewServer(mux)
	e.Server, e.URL = srv, hs.URL
	t.Cleanup(func() {
		_ = srv.Close()
		hs.Close()
	})
	return e
}

// session returns the session sid as the server's OnSession saw it.
// OnSession runs right after the open packet has gone out, so a client
// may read it first: the session is waited for, a few seconds at most.
func (e *echoServer) session(t *testing.T, sid string) *transports.Session {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		e.mu.Lock()
		s := e.sessions[sid]
		e.mu.Unlock()
		if s != nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session %s", sid)
		}
		time.Sleep(time.Millisecond)
	}
}

// sidOf is the sid of a WebSocket client whose open packet was read.
func (e *echoServer) sidOf(t *testing.T, c *wsClient) string {
	t.Helper()
	if c.sid == "" {
		t.Fatal("the open packet was not read")
	}
	return c.sid
}

// describe tells what the server knows of session sid, for a failure: a
// server that stopped writing sees the client go ("transport close"), one
// that stopped reading closes it itself ("ping timeout").
func (e *echoServer) describe(sid string) string {
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		r, closed := e.reasons[sid]
		e.mu.Unlock()
		if closed {
			return "closed: " + r
		}
		if e.Session(sid) == nil && sid != "" {
			return "unknown session"
		}
		time.Sleep(100 * time.Millisecond)
	}
	if sess := e.Session(sid); sess != nil {
		return "still open over " + sess.Transport()
	}
	return "no session"
}

// reason waits for session sid to close and returns why.
func (e *echoServer) reason(t *testing.T, sid string) string {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		e.mu.Lock()
		r, ok := e.reasons[sid]
		e.mu.Unlock()
		if ok {
			return r
		}
		select {
		case <-e.closed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("session %s did not close", sid)
		}
	}
}

type clientReport struct {
	OK                bool     `json:"ok"`
	Steps             []string `json:"steps"`
	Error             string   `json:"error"`
	SID               string   `json:"sid"`
	ServerCloseReason string   `json:"serverCloseReason"`
	ClientCloseSID    string   `json:"clientCloseSid"`
	OverLimitSID      string   `json:"overLimitSid"`
	OverLimitReason   string   `json:"overLimitReason"`
}

// TestOfficialClients runs engine.io-client 6 (protocol 4) and 3 (protocol
// 3) over polling only, WebSocket only, and polling upgraded to WebSocket:
// text and binary both ways, order, a message just under the limit and one
// over it, an idle session kept for more than two ping intervals, a close
// from each side.
func TestOfficialClients(t *testing.T) {
	nodetest.Require(t)
	const limit = 20000
	pingInterval := 400 * time.Millisecond
	e := newEchoServer(t, transports.Options{
		PingInterval: pingInterval,
		// Generous: on a loaded CI machine a starved client must not miss a
		// heartbeat; the idle step needs only the interval short.
		PingTimeout:       5 * time.Second,
		MaxHTTPBufferSize: limit,
	})
	for _, version := range []int{6, 3} {
		for _, mode := range []string{"polling", "websocket", "upgrade"} {
			t.Run(fmt.Sprintf("v%d/%s", version, mode), func(t *testing.T) {
				t.Parallel()
				var rep clientReport
				nodetest.Run(t, 60*time.Second, "eio-client.js", map[string]any{
					"url": e.URL, "version": version, "mode": mode,
					"limit": limit, "pingInterval": pingInterval.Milliseconds(),
				}, &rep)
				if !rep.OK {
					e.mu.Lock()
					reqs := strings.Join(e.requests, "\n")
					e.mu.Unlock()
					t.Fatalf("client failed after %v: %s\nserver side: %s\nlast requests (%s):\n%s", rep.Steps, rep.Error, e.describe(rep.SID), time.Now().Format("15:04:05.000"), reqs)
				}
				if rep.ServerCloseReason != "transport close" {
					t.Errorf("client saw the server's close as %q, want %q", rep.ServerCloseReason, "transport close")
				}
				if got := e.reason(t, rep.SID); got != transports.ReasonForcedClose {
					t.Errorf("server-closed session: server reason %q, want %q", got, transports.ReasonForcedClose)
				}
				if got := e.reason(t, rep.ClientCloseSID); got != transports.ReasonTransportClose {
					t.Errorf("client-closed session: server reason %q, want %q", got, transports.ReasonTransportClose)
				}
				if got := e.reason(t, rep.OverLimitSID); got != transports.ReasonTransportError {
					t.Errorf("over-limit session: server reason %q, want %q", got, transports.ReasonTransportError)
				}
			})
		}
	}
}

// TestSecondWebSocket: a session that engine.io-client upgraded gets a
// second WebSocket with its sid, from the ws package's client. As with
// Node's server the second one opens and is closed at once, without a
// status code (ws reports 1005); a refused handshake would throw in the
// client. The first session goes on.
func TestSecondWebSocket(t *testing.T) {
	nodetest.Require(t)
	e := newEchoServer(t, transports.Options{})
	for _, version := range []int{6, 3} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			var rep struct {
				clientReport
				SecondOpened bool   `json:"secondOpened"`
				SecondCode   int    `json:"secondCode"`
				SecondReason string `json:"secondReason"`
			}
			nodetest.Run(t, 30*time.Second, "eio-second-ws.js", map[string]any{"url": e.URL, "version": version}, &rep)
			if !rep.OK {
				t.Fatalf("client failed after %v: %s\nserver side: %s", rep.Steps, rep.Error, e.describe(rep.SID))
			}
			if !rep.SecondOpened || rep.SecondCode != 1005 || rep.SecondReason != "" {
				t.Fatalf("second WebSocket: opened %v, closed with %d %q; want opened, then 1005 and no reason", rep.SecondOpened, rep.SecondCode, rep.SecondReason)
			}
			if got := e.reason(t, rep.SID); got != transports.ReasonTransportClose {
				t.Fatalf("session closed with %q, want %q", got, transports.ReasonTransportClose)
			}
		})
	}
}

// TestOpenPacketAfterOpen: a client that listens for messages only once
// its WebSocket is open (the official v3 suite's "sends and receives a
// plain text packet") loses the open packet when it comes in the same
// read as the 101. Against Node's server, whose JavaScript runs between
// the two writes, that happens now and then (40% of connections, here);
// a client must not lose it more often against siogo (100% when both
// left in one write). Both servers, the same client, the same run.
func TestOpenPacketAfterOpen(t *testing.T) {
	nodetest.Require(t)
	const rounds = 200
	e := newEchoServer(t, transports.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nodeAddr := ln.Addr().String()
	ln.Close()
	nodetest.Serve(t, 15*time.Second, "eio-server.js", nodeAddr, "eio3")
	for _, eio := range []int{3, 4} {
		t.Run(fmt.Sprintf("EIO%d", eio), func(t *testing.T) {
			missed := func(url string) int {
				var rep struct {
					clientReport
					Missed int `json:"missed"`
				}
				nodetest.Run(t, 120*time.Second, "eio-open-late.js", map[string]any{"url": url, "eio": eio, "rounds": rounds}, &rep)
				if !rep.OK {
					t.Fatalf("client failed: %s", rep.Error)
				}
				return rep.Missed
			}
			node, siogo := missed("http://"+nodeAddr), missed(e.URL)
			t.Logf("open packet missed by a client listening once open: Node %d, siogo %d of %d", node, siogo, rounds)
			if siogo > node && siogo > rounds/20 {
				t.Fatalf("siogo's open packet missed %d times of %d, Node's %d", siogo, rounds, node)
			}
		})
	}
}
