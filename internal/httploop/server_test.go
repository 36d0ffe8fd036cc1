package httploop

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/siogo/siogo/internal/http1"
	"github.com/siogo/siogo/internal/netpoll"
	"github.com/siogo/siogo/internal/testcert"
)

// TestMain checks that every server the tests start stops everything it
// started: loops, workers, handlers.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start serves h at a fresh loopback address until the test ends.
func start(t testing.TB, h http.Handler, opts Options) (*Server, string) {
	t.Helper()
	s := New(h, opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s, ln.Addr().String()
}

// rawConn is a client speaking bytes.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t, c, bufio.NewReader(c)}
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawConn) response() (*http.Response, string) {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatalf("reading a response: %v", err)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("reading a body: %v", err)
	}
	return res, string(b)
}

// ended reports whether the server closed the connection, and what it
// sent before.
func (c *rawConn) ended(within time.Duration) (string, bool) {
	_ = c.c.SetReadDeadline(time.Now().Add(within))
	b, err := io.ReadAll(c.br)
	return string(b), err == nil
}

var hello = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s %s %d", r.Method, r.URL.RequestURI(), len(body))
})

func TestGoClient(t *testing.T) {
	_, addr := start(t, hello, Options{})
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	reused := 0
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if i.Reused {
			reused++
		}
	}})
	for i, c := range []struct{ method, body, want string }{
		{"GET", "", "GET /a?x=1 0"},
		{"POST", strings.Repeat("y", 100000), "POST /a?x=1 100000"},
		{"PUT", "z", "PUT /a?x=1 1"},
	} {
		req, _ := http.NewRequestWithContext(ctx, c.method, "http://"+addr+"/a?x=1", strings.NewReader(c.body))
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != c.want || res.Header.Get("Keep-Alive") != "timeout=5" {
			t.Errorf("request %d: %q (Keep-Alive %q), want %q", i, b, res.Header.Get("Keep-Alive"), c.want)
		}
	}
	if reused != 2 {
		t.Errorf("%d requests reused the connection, want 2", reused)
	}
}

// TestPipelined: requests sent at once are answered in order, one at a
// time.
func TestPipelined(t *testing.T) {
	var inFlight, most atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(time.Millisecond)
		fmt.Fprint(w, r.URL.Path)
	})
	_, addr := start(t, h, Options{})
	c := dialRaw(t, addr)
	var all strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&all, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
	}
	c.send(all.String())
	for i := 0; i < 50; i++ {
		if _, body := c.response(); body != fmt.Sprintf("/%d", i) {
			t.Fatalf("answer %d: %q", i, body)
		}
	}
	if most.Load() != 1 {
		t.Errorf("%d requests of one connection ran at once", most.Load())
	}
}

// TestHeadBounds: a head of 16 KiB is served, one byte more gets Node's
// 431 and the end of the connection.
func TestHeadBounds(t *testing.T) {
	_, addr := start(t, hello, Options{})
	head := func(pad int) string {
		return "GET /" + strings.Repeat("a", pad) + " HTTP/1.1\r\nHost: x\r\n\r\n"
	}
	fixed := len(head(0))
	c := dialRaw(t, addr)
	c.send(head(http1.DefaultMaxHeaderBytes - fixed))
	if res, _ := c.response(); res.StatusCode != 200 {
		t.Fatalf("a head of 16 KiB: %d", res.StatusCode)
	}
	c = dialRaw(t, addr)
	c.send(head(http1.DefaultMaxHeaderBytes - fixed + 1))
	got, closed := c.ended(5 * time.Second)
	if !closed || got != "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n" {
		t.Fatalf("a head over 16 KiB: %q (closed %v)", got, closed)
	}
	// A smaller bound, as --max-header-bytes sets it.
	_, addr = start(t, hello, Options{MaxHeaderBytes: 1024})
	c = dialRaw(t, addr)
	c.send(head(1100))
	if got, _ := c.ended(5 * time.Second); !strings.HasPrefix(got, "HTTP/1.1 431 ") {
		t.Fatalf("over MaxHeaderBytes 1024: %q", got)
	}
}

// TestTimeouts: Node's three bounds, shortened.
func TestTimeouts(t *testing.T) {
	const d = 300 * time.Millisecond
	_, addr := start(t, hello, Options{KeepAlive: d, HeadersTimeout: d, RequestTimeout: 2 * d})
	t.Run("keep-alive", func(t *testing.T) {
		c := dialRaw(t, addr)
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.response()
		t0 := time.Now()
		got, closed := c.ended(10 * time.Second)
		if !closed || got != "" {
			t.Fatalf("an idle keep-alive connection: %q, closed %v", got, closed)
		}
		if e := time.Since(t0); e < d-50*time.Millisecond {
			t.Fatalf("closed after %v, before KeepAlive %v", e, d)
		}
	})
	t.Run("headers", func(t *testing.T) {
		c := dialRaw(t, addr)
		c.send("GET / HTTP/1.1\r\nHost: x\r\n")
		if got, closed := c.ended(10 * time.Second); !closed || got != string(resp408) {
			t.Fatalf("a head unfinished: %q, closed %v", got, closed)
		}
	})
	t.Run("nothing", func(t *testing.T) {
		c := dialRaw(t, addr)
		if got, closed := c.ended(10 * time.Second); !closed || got != string(resp408) {
			t.Fatalf("a connection that sends nothing: %q, closed %v", got, closed)
		}
	})
	t.Run("body", func(t *testing.T) {
		c := dialRaw(t, addr)
		c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
		// Still within RequestTimeout after HeadersTimeout: the head is in.
		time.Sleep(d + 100*time.Millisecond)
		c.send("6")
		if got, closed := c.ended(10 * time.Second); !closed || got != string(resp408) {
			t.Fatalf("a body unfinished: %q, closed %v", got, closed)
		}
	})
	t.Run("handler", func(t *testing.T) {
		// No bound while the handler runs, however long.
		slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(4 * d)
			fmt.Fprint(w, "late")
		})
		_, addr := start(t, slow, Options{KeepAlive: d, HeadersTimeout: d, RequestTimeout: d})
		c := dialRaw(t, addr)
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, body := c.response(); body != "late" {
			t.Fatalf("a slow handler: %q", body)
		}
	})
}

// TestDetach: a handler returns with its response detached; the answer
// comes later from another goroutine, and the connection goes on.
func TestDetach(t *testing.T) {
	parked := make(chan http1.Detacher, 1)
	lost := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/park" {
			d := w.(http1.Detacher)
			if err := d.Detach(func() { lost <- struct{}{} }); err != nil {
				t.Error(err)
			}
			parked <- d
			return
		}
		fmt.Fprint(w, "next")
	})
	_, addr := start(t, h, Options{KeepAlive: 200 * time.Millisecond})
	c := dialRaw(t, addr)
	c.send("GET /park HTTP/1.1\r\nHost: x\r\n\r\n")
	d := <-parked
	time.Sleep(400 * time.Millisecond) // a parked poll is not idle
	fmt.Fprint(d, "answer")
	if err := d.Finish(); err != nil {
		t.Fatal(err)
	}
	if _, body := c.response(); body != "answer" {
		t.Fatalf("detached answer: %q", body)
	}
	c.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := c.response(); body != "next" {
		t.Fatalf("after the detached answer: %q", body)
	}

	// The client leaves before the answer: onClose runs.
	c = dialRaw(t, addr)
	c.send("GET /park HTTP/1.1\r\nHost: x\r\n\r\n")
	d = <-parked
	c.c.Close()
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("a detached response was not told its client left")
	}
	if err := d.Finish(); err == nil {
		// Finish on a closed connection writes nowhere; no error is due,
		// but nothing may block either.
		_ = err
	}
}

// TestContextCancelled: a handler waiting on its request's context sees
// its client leave.
func TestContextCancelled(t *testing.T) {
	waiting := make(chan struct{})
	done := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(waiting)
		<-r.Context().Done()
		done <- r.Context().Err()
	})
	_, addr := start(t, h, Options{})
	c := dialRaw(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-waiting
	c.c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("context ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never saw its client leave")
	}
}

// TestPanic: a handler's panic is answered 500, logged and counted, and
// closes its connection only.
func TestPanic(t *testing.T) {
	var panics atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/panic":
			w.Header().Set("X-Half", "1")
			fmt.Fprint(w, "half an answer")
			panic("injected")
		case "/flushed":
			fmt.Fprint(w, "sent")
			w.(http.Flusher).Flush()
			panic("injected after the head")
		}
		fmt.Fprint(w, "fine")
	})
	_, addr := start(t, h, Options{Logger: slog.New(slog.DiscardHandler), OnPanic: func(where string) {
		if where == "http" {
			panics.Add(1)
		}
	}})
	other := dialRaw(t, addr)
	other.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	other.response()

	c := dialRaw(t, addr)
	c.send("GET /panic HTTP/1.1\r\nHost: x\r\n\r\n")
	if got, closed := c.ended(10 * time.Second); !closed || got != string(resp500) {
		t.Fatalf("a panic before the head: %q, closed %v", got, closed)
	}
	c = dialRaw(t, addr)
	c.send("GET /flushed HTTP/1.1\r\nHost: x\r\n\r\n")
	if got, closed := c.ended(10 * time.Second); !closed || !strings.HasPrefix(got, "HTTP/1.1 200 OK") || strings.Contains(got, "500") {
		t.Fatalf("a panic after the head: %q, closed %v", got, closed)
	}
	if n := panics.Load(); n != 2 {
		t.Fatalf("OnPanic counted %d, want 2", n)
	}
	other.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := other.response(); body != "fine" {
		t.Fatalf("another connection after the panics: %q", body)
	}
}

// upper is a protocol after an upgrade: it answers in upper case.
type upper struct{ closed chan error }

func (u upper) OnData(c *netpoll.Conn, b []byte) { _, _ = c.Write([]byte(strings.ToUpper(string(b)))) }
func (u upper) OnClose(_ *netpoll.Conn, err error) {
	if u.closed != nil {
		u.closed <- err
	}
}

// TestUpgradeSwitch: an upgraded connection stays on the loop under a new
// handler, gets the bytes sent with the request first, and no HTTP timer
// reaches it (the keep-alive deadline that once closed WebSockets 120 s
// after their accept).
func TestUpgradeSwitch(t *testing.T) {
	const d = 200 * time.Millisecond
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, rest, err := w.(http1.Upgrader).Upgrade()
		if err != nil {
			t.Error(err)
			return
		}
		u := nc.(*Upgraded)
		_, _ = u.Conn().Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: upper\r\nConnection: Upgrade\r\n\r\n"))
		u.Switch(upper{}, rest)
	})
	s, addr := start(t, h, Options{KeepAlive: d, HeadersTimeout: d, RequestTimeout: d})
	c := dialRaw(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: upper\r\nConnection: Upgrade\r\n\r\nearly")
	res, err := http.ReadResponse(c.br, nil)
	if err != nil || res.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(c.br, got); err != nil || string(got) != "EARLY" {
		t.Fatalf("the bytes sent with the request: %q %v", got, err)
	}
	time.Sleep(3 * d)
	c.send("later")
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c.br, got); err != nil || string(got) != "LATER" {
		t.Fatalf("after the HTTP timeouts: %q %v", got, err)
	}
	s.mu.Lock()
	n := s.n
	s.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d HTTP connections listed, want 0: the upgraded one left the list", n)
	}
}

// TestHijack: a handler written for net/http's Hijacker reads and writes
// the connection as a net.Conn.
func TestHijack(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer nc.Close()
		_, _ = nc.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n"))
		line, err := brw.ReadString('\n')
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = nc.Write([]byte("echo " + line))
		_ = nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := brw.ReadByte(); !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
			t.Errorf("a read past its deadline: %v", err)
		}
	})
	_, addr := start(t, h, Options{})
	c := dialRaw(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\nfirst li")
	if res, err := http.ReadResponse(c.br, nil); err != nil || res.StatusCode != 101 {
		t.Fatalf("hijack: %v %v", res, err)
	}
	c.send("ne\n")
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := c.br.ReadString('\n')
	if err != nil || line != "echo first line\n" {
		t.Fatalf("%q %v", line, err)
	}
	if got, closed := c.ended(5 * time.Second); !closed || got != "" {
		t.Fatalf("after the handler closed: %q %v", got, closed)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestShutdown: idle connections close at once, a request being served
// finishes with Connection: close, a detached one once it is finished;
// new clients are refused.
func TestShutdown(t *testing.T) {
	inHandler := make(chan struct{})
	release := make(chan struct{})
	parked := make(chan http1.Detacher, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			close(inHandler)
			<-release
		case "/park":
			d := w.(http1.Detacher)
			_ = d.Detach(nil)
			parked <- d
			return
		}
		fmt.Fprint(w, "ok")
	})
	s := New(h, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()

	idle := dialRaw(t, addr)
	idle.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	idle.response()
	slow := dialRaw(t, addr)
	slow.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-inHandler
	park := dialRaw(t, addr)
	park.send("GET /park HTTP/1.1\r\nHost: x\r\n\r\n")
	d := <-parked

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	if got, closed := idle.ended(5 * time.Second); !closed || got != "" {
		t.Fatalf("an idle connection at shutdown: %q, closed %v", got, closed)
	}
	idle.c.Close()
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("a client connected during shutdown")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a request in its handler", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	res, body := slow.response()
	if body != "ok" || !res.Close {
		t.Fatalf("the request in flight: %q, close %v", body, res.Close)
	}
	slow.c.Close() // as a client told Connection: close does
	fmt.Fprint(d, "parked")
	_ = d.Finish()
	if _, body := park.response(); body != "parked" {
		t.Fatalf("the detached request: %q", body)
	}
	park.c.Close()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
}

// TestShutdownContext: Shutdown gives up when ctx ends, closing what is
// left, and every handler returns (goleak checks).
func TestShutdownContext(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	s := New(h, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	c := dialRaw(t, ln.Addr().String())
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	<-served
}

// TestTLS: HTTPS on the loop with Go's crypto/tls: r.TLS is set, TLS 1.2
// at least, and an upgrade stays encrypted on the loop.
func TestTLS(t *testing.T) {
	cert := testcert.New(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/up" {
			nc, rest, err := w.(http1.Upgrader).Upgrade()
			if err != nil {
				return
			}
			u := nc.(*Upgraded)
			_, _ = u.Conn().Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: upper\r\nConnection: Upgrade\r\n\r\n"))
			u.Switch(upper{}, rest)
			return
		}
		if r.TLS == nil || !r.TLS.HandshakeComplete {
			http.Error(w, "no TLS state", 500)
			return
		}
		fmt.Fprint(w, tls.VersionName(r.TLS.Version))
	})
	_, addr := start(t, h, Options{TLS: &tls.Config{Certificates: []tls.Certificate{cert.TLS}}})
	tr := &http.Transport{TLSClientConfig: cert.Client(), ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "TLS 1.3" || res.ProtoMajor != 1 {
		t.Fatalf("over TLS: %q, %s", b, res.Proto)
	}
	old := cert.Client()
	old.MaxVersion = tls.VersionTLS11
	if c, err := tls.Dial("tcp", addr, old); err == nil {
		c.Close()
		t.Fatal("a TLS 1.1 client was served")
	}
	tc, err := tls.Dial("tcp", addr, cert.Client())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	fmt.Fprint(tc, "GET /up HTTP/1.1\r\nHost: x\r\nUpgrade: upper\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(tc)
	if res, err := http.ReadResponse(br, nil); err != nil || res.StatusCode != 101 {
		t.Fatalf("upgrade over TLS: %v %v", res, err)
	}
	fmt.Fprint(tc, "secret")
	got := make([]byte, 6)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "SECRET" {
		t.Fatalf("after the upgrade over TLS: %q %v", got, err)
	}
}

// TestManyClients: concurrent clients, keep-alive and not, through Go's
// client, with bodies; nothing lost.
func TestManyClients(t *testing.T) {
	_, addr := start(t, hello, Options{})
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				body := strings.Repeat("b", i*100)
				req, _ := http.NewRequest("POST", "http://"+addr+"/m", strings.NewReader(body))
				req.Close = i%5 == 0
				res, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if want := fmt.Sprintf("POST /m %d", len(body)); string(b) != want {
					t.Errorf("%q, want %q", b, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}
