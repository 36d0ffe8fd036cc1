package server_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/nodetest"
	"github.com/siogo/siogo/internal/siotest"
	"github.com/siogo/siogo/server"
)

// seriesObserver keeps what a metrics observer keeps: a series per
// namespace it was told of (sockets connected), until NamespaceRemoved.
type seriesObserver struct {
	mu      sync.Mutex
	series  map[string]int
	removed []string
}

func (o *seriesObserver) SocketConnected(nsp string) {
	o.mu.Lock()
	o.series[nsp]++
	o.mu.Unlock()
}

func (o *seriesObserver) SocketDisconnected(nsp, _ string) {
	o.mu.Lock()
	o.series[nsp]--
	o.mu.Unlock()
}

func (o *seriesObserver) Broadcast(nsp string) {
	o.mu.Lock()
	o.series[nsp] += 0 // a broadcast counter's series
	o.mu.Unlock()
}

func (o *seriesObserver) NamespaceRemoved(nsp string) {
	o.mu.Lock()
	delete(o.series, nsp)
	o.removed = append(o.removed, nsp)
	o.mu.Unlock()
}

// cleanupServer serves dynamic namespaces /dyn-N, whose middleware refuses
// the token "bad" and holds a client that asks to until the test says;
// "/" is the control namespace of test/node/sio-cleanup.js.
func cleanupServer(t *testing.T, cleanup bool) (string, *server.Server, *server.ParentNamespace, *seriesObserver) {
	t.Helper()
	obs := &seriesObserver{series: map[string]int{}}
	srv, err := server.New(server.Options{Observer: obs, CleanupEmptyChildNamespaces: cleanup})
	if err != nil {
		t.Fatal(err)
	}
	holding, release := make(chan struct{}, 1), make(chan struct{})
	parent := srv.OfRegexp(regexp.MustCompile(`^/dyn-\d+$`))
	parent.Use(func(s *server.Socket) error {
		auth := s.Handshake().Auth
		if auth["token"] == "bad" {
			return &server.ConnectError{Message: "Not authorized"}
		}
		if auth["hold"] == true {
			holding <- struct{}{}
			<-release
		}
		return nil
	})
	parent.OnConnection(func(s *server.Socket) {
		s.On("whoami", func(_ []any, ack server.Ack) { ack(s.Namespace().Name()) })
		// A broadcast after the namespace went must not bring its series back.
		s.OnDisconnect(func(string) { _ = s.Broadcast().Emit("left", s.ID()) })
	})
	srv.OnConnection(func(s *server.Socket) {
		s.On("state", func(_ []any, ack server.Ack) {
			var names []string
			for _, n := range srv.Namespaces() {
				names = append(names, n.Name())
			}
			obs.mu.Lock()
			series := map[string]any{}
			for k, v := range obs.series {
				series[k] = v
			}
			obs.mu.Unlock()
			ack(map[string]any{"namespaces": names, "series": series})
		})
		s.On("await-hold", func(_ []any, ack server.Ack) {
			select {
			case <-holding:
				ack()
			case <-time.After(10 * time.Second):
				ack("no client held")
			}
		})
		s.On("release", func(_ []any, ack server.Ack) {
			close(release)
			ack()
		})
		s.On("emit", func(args []any, ack server.Ack) {
			name, _ := args[0].(string)
			event, _ := args[1].(string)
			_ = srv.Of(name).Emit(event)
			ack()
		})
		s.On("of", func(args []any, ack server.Ack) {
			name, _ := args[0].(string)
			srv.Of(name)
			ack()
		})
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		_ = srv.Close()
		hs.Close()
	})
	return hs.URL, srv, parent, obs
}

// TestCleanupEmptyChildNamespaces: with the option, each dynamic namespace
// a client tried goes once empty, with its observer's series, as Node's
// cleanupEmptyChildNamespaces; a client joining keeps it.
func TestCleanupEmptyChildNamespaces(t *testing.T) {
	for _, transport := range []string{"websocket", "polling"} {
		t.Run(transport, func(t *testing.T) {
			url, srv, parent, obs := cleanupServer(t, true)
			var rep struct {
				OK    bool     `json:"ok"`
				Steps []string `json:"steps"`
				Error string   `json:"error"`
			}
			nodetest.Run(t, 60*time.Second, "sio-cleanup.js", map[string]any{"url": url, "transport": transport, "cleanup": true}, &rep)
			if !rep.OK {
				t.Fatalf("after %v: %s", rep.Steps, rep.Error)
			}
			if kids := parent.Children(); len(kids) != 0 {
				t.Errorf("%d children left", len(kids))
			}
			for _, n := range srv.Namespaces() {
				if n.Name() != "/" {
					t.Errorf("namespace %s left", n.Name())
				}
			}
			obs.mu.Lock()
			defer obs.mu.Unlock()
			// /dyn-1 twice (it came back), /dyn-1 to /dyn-20, 50, 60, 70, 80.
			if len(obs.removed) != 25 || !slices.Contains(obs.removed, "/dyn-50") || !slices.Contains(obs.removed, "/dyn-80") {
				t.Errorf("removed %v", obs.removed)
			}
		})
	}
}

// TestChildNamespacesKeptByDefault: without the option, as Node, an empty
// dynamic namespace stays.
func TestChildNamespacesKeptByDefault(t *testing.T) {
	url, srv, parent, _ := cleanupServer(t, false)
	var rep struct {
		OK    bool     `json:"ok"`
		Steps []string `json:"steps"`
		Error string   `json:"error"`
	}
	nodetest.Run(t, 30*time.Second, "sio-cleanup.js", map[string]any{"url": url, "transport": "websocket", "cleanup": false}, &rep)
	if !rep.OK {
		t.Fatalf("after %v: %s", rep.Steps, rep.Error)
	}
	if srv.Namespace("/dyn-1") == nil || len(parent.Children()) != 1 {
		t.Error("the empty namespace went")
	}
}

// closingAdapter records when adapters are made and closed, and can hold
// a Close until the test releases it.
type closingAdapter struct {
	server.Adapter
	name   string
	events *[]string
	mu     *sync.Mutex
	hold   chan struct{} // a Close waits on it, when set
	held   chan struct{}
}

func (a *closingAdapter) Close() error {
	if a.hold != nil {
		close(a.held)
		<-a.hold
	}
	a.mu.Lock()
	*a.events = append(*a.events, "close "+a.name)
	a.mu.Unlock()
	return a.Adapter.Close()
}

// TestRemovedNamespaceClosesBeforeItsNameIsFree: a namespace of the same
// name made while a removed one's adapter closes would share its channels
// (a Redis adapter's), which that close would undo: Of, and a client's
// lookup, wait until the old adapter is closed.
func TestRemovedNamespaceClosesBeforeItsNameIsFree(t *testing.T) {
	var (
		mu     sync.Mutex
		events []string
		first  = true
		hold   = make(chan struct{})
		held   = make(chan struct{})
	)
	srv, err := server.New(server.Options{CleanupEmptyChildNamespaces: true, NewAdapter: func(n *server.Namespace) server.Adapter {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, "new "+n.Name())
		a := &closingAdapter{Adapter: server.NewMemoryAdapter(n), name: n.Name(), events: &events, mu: &mu}
		if n.Name() == "/dyn-1" && first {
			first = false
			a.hold, a.held = hold, held
		}
		return a
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv.OfRegexp(regexp.MustCompile(`^/dyn-\d+$`))
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()

	c := siotest.Dial(t, hs.URL)
	c.Send("40/dyn-1,")
	c.Poll() // the CONNECT answer
	// The POST's answer may wait for the removal, held below.
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		c.Send("41/dyn-1,")
	}()
	<-held // the namespace is being removed: its adapter's Close waits
	made := make(chan *server.Namespace)
	go func() { made <- srv.Of("/dyn-1") }()
	// A negative: Of must not return meanwhile. A bounded wait can only
	// miss a wrong return, never fail a right one; the order of the
	// adapters' events below checks again.
	select {
	case n := <-made:
		t.Fatalf("Of returned %p while the old adapter was still closing", n)
	case <-time.After(50 * time.Millisecond):
	}
	close(hold)
	<-sent
	n := <-made
	if n == nil || srv.Namespace("/dyn-1") != n {
		t.Fatal("Of did not make the namespace anew")
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"new /", "new /dyn-1", "close /dyn-1", "new /dyn-1"}
	if !slices.Equal(events, want) {
		t.Errorf("adapters: %v, want %v", events, want)
	}
}
