package http1

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// The loop's part, on a goroutine per connection: what the server stage
// does on its event loop, in the simplest form that drives every call of
// the package. Only for these tests.

type testConn struct {
	nc       net.Conn
	p        *Parser
	done     chan bool
	upgraded bool
}

func (c *testConn) Write(b []byte) (int, error)  { return c.nc.Write(b) }
func (c *testConn) ResponseDone(closeAfter bool) { c.done <- closeAfter }
func (c *testConn) Upgrade() (net.Conn, []byte, error) {
	c.upgraded = true
	return c.nc, c.p.Rest(), nil
}

func serveConn(nc net.Conn, h http.Handler, cfg *Config) {
	p := NewParser(cfg)
	p.RemoteAddr = nc.RemoteAddr().String()
	c := &testConn{nc: nc, p: p, done: make(chan bool, 1)}
	buf := make([]byte, 4096)
	for {
		r, err := p.Next()
		if err != nil {
			nc.Write(ErrorResponse(err))
			nc.Close()
			return
		}
		if p.WantsContinue() {
			nc.Write([]byte(Continue100))
		}
		if r == nil {
			n, err := nc.Read(buf)
			if err != nil {
				nc.Close()
				return
			}
			if err := p.Feed(buf[:n]); err != nil {
				nc.Write(ErrorResponse(err))
				nc.Close()
				return
			}
			continue
		}
		w := NewResponse(c, r, cfg)
		h.ServeHTTP(w, r)
		w.End()
		if c.upgraded {
			return // the handler has the connection
		}
		if <-c.done { // a detached response: when it is finished
			nc.Close()
			return
		}
		p.Done()
	}
}

func startServer(t *testing.T, h http.Handler, cfg *Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	conns := map[net.Conn]bool{}
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[nc] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				serveConn(nc, h, cfg)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// echo answers with what it saw of the request.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/big":
		w.Header().Set("Content-Type", "application/octet-stream")
		io.Copy(w, io.LimitReader(zeros{}, 3<<20))
		return
	case "/flush":
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "part %d\n", i)
			w.(http.Flusher).Flush()
		}
		return
	}
	b, _ := io.ReadAll(r.Body)
	sum := sha256.Sum256(b)
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "%s %s %s %d %s", r.Method, r.URL.RequestURI(), r.Host, len(b), hex.EncodeToString(sum[:4]))
})

type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

func TestWithGoClient(t *testing.T) {
	addr := startServer(t, echo, nil)
	tr := &http.Transport{ExpectContinueTimeout: 10 * time.Second, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	reused := 0
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if i.Reused {
			reused++
		}
	}}
	got100 := false
	trace.Got100Continue = func() { got100 = true }
	do := func(req *http.Request) string {
		t.Helper()
		req = req.WithContext(httptrace.WithClientTrace(context.Background(), trace))
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		if res.Header.Get("Keep-Alive") != "timeout=5" && req.Method != "HEAD" {
			t.Errorf("Keep-Alive %q", res.Header.Get("Keep-Alive"))
		}
		return string(b)
	}
	url := "http://" + addr
	body := strings.Repeat("x", 100000)
	sum := sha256.Sum256([]byte(body))
	want := fmt.Sprintf(" %d %s", len(body), hex.EncodeToString(sum[:4]))

	get, _ := http.NewRequest("GET", url+"/socket.io/?EIO=4&transport=polling", nil)
	if got := do(get); got != "GET /socket.io/?EIO=4&transport=polling "+addr+" 0 e3b0c442" {
		t.Errorf("GET: %q", got)
	}
	post, _ := http.NewRequest("POST", url+"/p", strings.NewReader(body))
	if got := do(post); got != "POST /p "+addr+want {
		t.Errorf("POST: %q", got)
	}
	chunked, _ := http.NewRequest("POST", url+"/c", struct{ io.Reader }{strings.NewReader(body)})
	if got := do(chunked); got != "POST /c "+addr+want {
		t.Errorf("chunked POST: %q", got)
	}
	cont, _ := http.NewRequest("PUT", url+"/e", strings.NewReader(body))
	cont.Header.Set("Expect", "100-continue")
	if got := do(cont); got != "PUT /e "+addr+want || !got100 {
		t.Errorf("Expect: %q, 100 Continue %v", got, got100)
	}
	head, _ := http.NewRequest("HEAD", url+"/h", nil)
	if got := do(head); got != "" {
		t.Errorf("HEAD: %q", got)
	}
	big, _ := http.NewRequest("GET", url+"/big", nil)
	if got := do(big); len(got) != 3<<20 || strings.Trim(got, "\x00") != "" {
		t.Errorf("big: %d bytes", len(got))
	}
	fl, _ := http.NewRequest("GET", url+"/flush", nil)
	if got := do(fl); got != "part 0\npart 1\npart 2\n" {
		t.Errorf("flush: %q", got)
	}
	if reused != 6 {
		t.Errorf("%d of 7 requests reused the connection", reused)
	}
}

// rawExchange writes in to a fresh connection and reads until it closes.
func rawExchange(t *testing.T, addr, in string) string {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, in); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(nc)
	return string(b)
}

func TestWithRawClient(t *testing.T) {
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !IsUpgrade(r) {
			echo(w, r)
			return
		}
		nc, rest, err := w.(Upgrader).Upgrade()
		if err != nil {
			t.Error(err)
			return
		}
		fmt.Fprintf(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nrest=%q", rest)
		nc.Close()
	})
	addr := startServer(t, up, nil)

	got := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nGET / HTTP/1.1\r\n\x00\xff")
	if want := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nrest=\"GET / HTTP/1.1\\r\\n\\x00\\xff\""; got != want {
		t.Errorf("upgrade: %q", got)
	}
	got = rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nCookie: "+strings.Repeat("a", 20000)+"\r\n\r\n")
	if got != string(resp431) {
		t.Errorf("431: %q", got)
	}
	got = rawExchange(t, addr, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if strings.Count(got, "HTTP/1.1 200 OK") != 2 || !strings.Contains(got, "GET /2 a 0") || !strings.HasSuffix(got, "GET /2 a 0 e3b0c442") {
		t.Errorf("pipelined: %q", got)
	}
}

// TestWithNodeClient: Node 20's own http client reads the responses,
// reuses the connection as the Keep-Alive header invites it to, and
// streams a chunked upload.
func TestWithNodeClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found: install Node.js 20 (apt-get install nodejs, or nodesource)")
	}
	addr := startServer(t, echo, nil)
	script := `
const http = require('http');
const [host, port] = process.env.HTTP1_ADDR.split(':');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function req(method, path, body, chunked) {
  return new Promise((resolve, reject) => {
    const headers = chunked ? {} : body ? { 'Content-Length': Buffer.byteLength(body) } : {};
    const r = http.request({ host, port, method, path, agent, headers }, (res) => {
      let b = '';
      res.on('data', (d) => b += d);
      res.on('end', () => resolve(res.statusCode + ' ' + r.reusedSocket + ' ' + (method === 'GET' && path === '/big' ? b.length : b)));
    });
    r.on('error', reject);
    if (body && chunked) { r.write(body.slice(0, 10)); r.write(body.slice(10)); }
    else if (body) r.write(body);
    r.end();
  });
}
(async () => {
  const body = 'y'.repeat(70000);
  for (const [m, p, b, c] of [['GET', '/a?b=c'], ['POST', '/p', body], ['POST', '/c', body, true], ['GET', '/big'], ['GET', '/flush']]) {
    console.log(await req(m, p, b, c));
  }
  agent.destroy();
})().catch((e) => { console.error(e); process.exit(1); });
`
	cmd := exec.Command(node, "-e", script)
	cmd.Env = append(os.Environ(), "HTTP1_ADDR="+addr)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	sum := sha256.Sum256(bytes.Repeat([]byte("y"), 70000))
	h := hex.EncodeToString(sum[:4])
	want := "200 false GET /a?b=c " + addr + " 0 e3b0c442\n" +
		"200 true POST /p " + addr + " 70000 " + h + "\n" +
		"200 true POST /c " + addr + " 70000 " + h + "\n" +
		"200 true 3145728\n" +
		"200 true part 0\npart 1\npart 2\n\n"
	if string(out) != want {
		t.Errorf("node printed\n%s\nwant\n%s", out, want)
	}
}

func TestDetachedOnConnection(t *testing.T) {
	wake := make(chan Detacher, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/poll" {
			d := w.(Detacher)
			if err := d.Detach(func() {}); err != nil {
				t.Error(err)
			}
			wake <- d
			return
		}
		echo(w, r)
	})
	addr := startServer(t, h, nil)
	go func() {
		d := <-wake
		io.WriteString(d, "6")
		d.Finish()
	}()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	io.WriteString(nc, "GET /poll HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n")
	br := bufio.NewReader(nc)
	for _, want := range []string{"6", "GET /next a 0 e3b0c442"} {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		if string(b) != want {
			t.Fatalf("%q, want %q", b, want)
		}
	}
}
