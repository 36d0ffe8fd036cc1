package http1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// recConn records what a Response writes.
type recConn struct {
	writes     [][]byte
	done       int
	closeAfter bool
	err        error // returned by Write
}

func (c *recConn) Write(b []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	c.writes = append(c.writes, append([]byte(nil), b...))
	return len(b), nil
}

func (c *recConn) ResponseDone(closeAfter bool) {
	c.done++
	c.closeAfter = closeAfter
}

func (c *recConn) all() []byte { return bytes.Join(c.writes, nil) }

// upConn is a Conn a handler may take over.
type upConn struct {
	recConn
	taken bool
}

func (c *upConn) Upgrade() (net.Conn, []byte, error) {
	c.taken = true
	a, _ := net.Pipe()
	return a, []byte("rest"), nil
}

func request(method, proto, extra string) *http.Request {
	p := NewParser(nil)
	host := "Host: a\r\n"
	if proto == "HTTP/1.0" {
		host = ""
	}
	if err := p.Feed([]byte(method + " / " + proto + "\r\n" + host + extra + "\r\n")); err != nil {
		panic(err)
	}
	r, err := p.Next()
	if err != nil || r == nil {
		panic(err)
	}
	return r
}

var dateRE = regexp.MustCompile(`Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n`)

func serve(t *testing.T, r *http.Request, cfg *Config, h http.HandlerFunc) (*recConn, string) {
	t.Helper()
	c := &recConn{}
	w := NewResponse(c, r, cfg)
	h(w, r)
	if err := w.End(); err != nil {
		t.Fatalf("End: %v", err)
	}
	if c.done != 1 {
		t.Fatalf("ResponseDone called %d times", c.done)
	}
	out := c.all()
	if !dateRE.Match(out) {
		t.Errorf("no Date in %q", out)
	}
	return c, dateRE.ReplaceAllString(string(out), "Date: D\r\n")
}

func TestResponseBytes(t *testing.T) {
	get := request("GET", "HTTP/1.1", "")
	tests := []struct {
		name  string
		req   *http.Request
		cfg   *Config
		h     http.HandlerFunc
		want  string
		close bool
	}{
		{"text, one write", get, nil, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
			w.Header().Set("Access-Control-Allow-Origin", "*")
			io.WriteString(w, "ok")
		}, "HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\nContent-Type: text/plain; charset=UTF-8\r\nDate: D\r\n" +
			"Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok", false},
		{"nothing written", get, nil, func(w http.ResponseWriter, r *http.Request) {},
			"HTTP/1.1 200 OK\r\nDate: D\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n", false},
		{"sniffed type", get, nil, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) },
			"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nDate: D\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 6\r\n\r\n<html>", false},
		{"no Keep-Alive advertised", get, &Config{KeepAlive: -1}, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) },
			"HTTP/1.1 404 Not Found\r\nDate: D\r\nContent-Length: 0\r\n\r\n", false},
		{"handler asks to close", get, nil, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			w.Header().Set("Content-Length", "1")
			w.Write([]byte("x"))
		}, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nDate: D\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", true},
		{"client asks to close", request("GET", "HTTP/1.1", "Connection: close\r\n"), nil, func(w http.ResponseWriter, r *http.Request) {},
			"HTTP/1.1 200 OK\r\nDate: D\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", true},
		{"HTTP/1.0", request("GET", "HTTP/1.0", ""), nil, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "a") },
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nDate: D\r\nConnection: close\r\nContent-Length: 1\r\n\r\na", true},
		{"HTTP/1.0 keep-alive", request("GET", "HTTP/1.0", "Connection: keep-alive\r\n"), &Config{KeepAlive: -1}, func(w http.ResponseWriter, r *http.Request) {},
			"HTTP/1.1 200 OK\r\nDate: D\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", false},
		{"HEAD counts the body", request("HEAD", "HTTP/1.1", ""), nil, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "hello")
		}, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: D\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 5\r\n\r\n", false},
		{"HEAD without body", request("HEAD", "HTTP/1.1", ""), nil, func(w http.ResponseWriter, r *http.Request) {},
			"HTTP/1.1 200 OK\r\nDate: D\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n", false},
		{"204", get, nil, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "3")
			w.WriteHeader(204)
			if _, err := w.Write([]byte("x")); err != http.ErrBodyNotAllowed {
				panic(err)
			}
		}, "HTTP/1.1 204 No Content\r\nDate: D\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n", false},
		{"304 drops Content-Type", get, nil, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Etag", `"x"`)
			w.WriteHeader(304)
		}, "HTTP/1.1 304 Not Modified\r\nEtag: \"x\"\r\nDate: D\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n", false},
		{"unknown status", get, nil, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(599) },
			"HTTP/1.1 599 status code 599\r\nDate: D\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n", false},
		{"short of its Content-Length", get, nil, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "abc")
		}, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nDate: D\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 10\r\n\r\nabc", true},
		{"no splitting", get, nil, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Evil", "a\r\nSet-Cookie: x=1\r\n\r\n<html>")
			w.Header()["Bad Name\r\nX"] = []string{"v"}
			w.Header()["X-Nul"] = []string{"a\x00b"}
		}, "HTTP/1.1 200 OK\r\nX-Evil: a  Set-Cookie: x=1    <html>\r\nX-Nul: a b\r\nDate: D\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n", false},
		{"own framing fields win", get, nil, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Transfer-Encoding", "chunked")
			w.Header().Set("Keep-Alive", "timeout=99")
			w.Header().Set("Connection", "keep-alive")
			io.WriteString(w, "{}")
		}, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nDate: D\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\n{}", false},
		{"interim 103", get, nil, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(103)
			w.Header().Del("Link")
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "x")
		}, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" +
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: D\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 1\r\n\r\nx", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, got := serve(t, tt.req, tt.cfg, tt.h)
			if got != tt.want {
				t.Errorf("wrote\n%q\nwant\n%q", got, tt.want)
			}
			if c.closeAfter != tt.close {
				t.Errorf("closeAfter %v", c.closeAfter)
			}
			if n := len(c.writes); n != 1 && !strings.Contains(tt.name, "interim") {
				t.Errorf("%d writes", n)
			}
		})
	}
}

func TestResponseStreams(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 10000) // 160 KB
	cfg := &Config{StreamThreshold: 4096}
	for _, tt := range []struct {
		name    string
		req     *http.Request
		h       http.HandlerFunc
		chunked bool
		close   bool
	}{
		{"large write, chunked", request("GET", "HTTP/1.1", ""), func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, big) }, true, false},
		{"many writes, chunked", request("GET", "HTTP/1.1", ""), func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i < len(big); i += 1000 {
				w.Write([]byte(big[i:min(i+1000, len(big))]))
			}
		}, true, false},
		{"declared length, identity", request("GET", "HTTP/1.1", ""), func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "160000")
			io.Copy(w, strings.NewReader(big)) // through ReadFrom
		}, false, false},
		{"io.Copy, chunked", request("GET", "HTTP/1.1", ""), func(w http.ResponseWriter, r *http.Request) {
			io.Copy(w, struct{ io.Reader }{strings.NewReader(big)})
		}, true, false},
		{"flush", request("GET", "HTTP/1.1", ""), func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, big[:10])
			w.(http.Flusher).Flush()
			io.WriteString(w, big[10:])
		}, true, false},
		{"HTTP/1.0 streams until close", request("GET", "HTTP/1.0", "Connection: keep-alive\r\n"), func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, big)
		}, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &recConn{}
			w := NewResponse(c, tt.req, cfg)
			tt.h(w, tt.req)
			if err := w.End(); err != nil {
				t.Fatal(err)
			}
			for _, b := range c.writes {
				if len(b) > 4096+outReserve+16 {
					t.Fatalf("a write of %d bytes", len(b))
				}
			}
			res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(c.all())), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(res.Body)
			if err != nil || string(b) != big {
				t.Fatalf("body of %d bytes, %v", len(b), err)
			}
			if chunked := len(res.TransferEncoding) > 0; chunked != tt.chunked {
				t.Errorf("chunked %v", chunked)
			}
			if c.closeAfter != tt.close {
				t.Errorf("closeAfter %v", c.closeAfter)
			}
		})
	}
}

func TestResponseContentLengthOverrun(t *testing.T) {
	c := &recConn{}
	w := NewResponse(c, request("GET", "HTTP/1.1", ""), nil)
	w.Header().Set("Content-Length", "2")
	if _, err := w.Write([]byte("abc")); err != http.ErrContentLength {
		t.Fatalf("Write over the declared length: %v", err)
	}
	if _, err := io.Copy(w, strings.NewReader("abc")); err != http.ErrContentLength {
		t.Fatalf("ReadFrom over the declared length: %v", err)
	}
}

func TestResponseWriteError(t *testing.T) {
	c := &recConn{err: net.ErrClosed}
	w := NewResponse(c, request("GET", "HTTP/1.1", ""), nil)
	io.WriteString(w, "x")
	if err := w.End(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("End: %v", err)
	}
	if !c.closeAfter || c.done != 1 {
		t.Fatalf("closeAfter %v, done %d", c.closeAfter, c.done)
	}
}

func TestDetach(t *testing.T) {
	c := &recConn{}
	r := request("GET", "HTTP/1.1", "")
	w := NewResponse(c, r, nil)
	var d Detacher
	func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		var ok bool
		if d, ok = w.(Detacher); !ok {
			t.Fatal("not a Detacher")
		}
		if err := d.Detach(func() { t.Error("onClose of a finished response") }); err != nil {
			t.Fatal(err)
		}
	}(w, r)
	if err := w.End(); err != nil || len(c.writes) != 0 || c.done != 0 {
		t.Fatalf("End of a detached response: %v, %d writes, done %d", err, len(c.writes), c.done)
	}
	// Later, from elsewhere: the answer.
	d.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	io.WriteString(d, "6")
	if err := d.Finish(); err != nil {
		t.Fatal(err)
	}
	if len(c.writes) != 1 || c.done != 1 || !strings.HasSuffix(string(c.writes[0]), "\r\nContent-Length: 1\r\n\r\n6") {
		t.Fatalf("%q, done %d", c.writes, c.done)
	}
	w.ConnClosed() // after Finish: nothing runs
	if err := d.Finish(); err != ErrFinished {
		t.Fatalf("second Finish: %v", err)
	}

	// The client leaves while the response waits.
	c2 := &recConn{}
	w2 := NewResponse(c2, r, nil)
	lost := 0
	w2.Detach(func() { lost++ })
	w2.ConnClosed()
	w2.ConnClosed()
	if lost != 1 {
		t.Fatalf("onClose ran %d times", lost)
	}
	if err := w2.Detach(nil); err == nil {
		t.Fatal("Detach on a closed connection")
	}
}

func TestUpgrade(t *testing.T) {
	r := request("GET", "HTTP/1.1", "Connection: Upgrade\r\nUpgrade: websocket\r\n")
	w := NewResponse(&recConn{}, r, nil)
	if _, _, err := w.Upgrade(); err != http.ErrNotSupported {
		t.Fatalf("Upgrade on a Conn that cannot: %v", err)
	}
	c := &upConn{}
	w = NewResponse(c, r, nil)
	var u Upgrader = w
	nc, rest, err := u.Upgrade()
	if err != nil || nc == nil || string(rest) != "rest" || !c.taken {
		t.Fatalf("Upgrade: %v %q %v", nc, rest, err)
	}
	nc.Close()
	if _, err := w.Write([]byte("x")); err != http.ErrHijacked {
		t.Fatalf("Write after Upgrade: %v", err)
	}
	if err := w.End(); err != nil || c.done != 0 || len(c.writes) != 0 {
		t.Fatalf("End after Upgrade: %v, done %d, %d writes", err, c.done, len(c.writes))
	}
}

// TestResponsesParse checks the answers to many requests with net/http's
// client-side reader: each is a well-framed response.
func TestResponsesParse(t *testing.T) {
	bodies := []string{"", "x", strings.Repeat("y", 5000), strings.Repeat("z", 70000)}
	for _, method := range []string{"GET", "HEAD"} {
		for _, proto := range []string{"HTTP/1.0", "HTTP/1.1"} {
			for _, status := range []int{200, 201, 204, 304, 404, 500} {
				for _, body := range bodies {
					for _, flush := range []bool{false, true} {
						r := request(method, proto, "")
						c := &recConn{}
						w := NewResponse(c, r, &Config{StreamThreshold: 4096})
						w.WriteHeader(status)
						io.WriteString(w, body)
						if flush {
							w.Flush()
						}
						w.End()
						out := c.all()
						res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), r)
						if err != nil {
							t.Fatalf("%s %s %d %d: %v in %q", method, proto, status, len(body), err, out)
						}
						got, err := io.ReadAll(res.Body)
						want := body
						if method == "HEAD" || !bodyAllowed(status) {
							want = ""
						}
						if err != nil || string(got) != want {
							t.Fatalf("%s %s %d %d: body %d bytes, %v", method, proto, status, len(body), len(got), err)
						}
						if res.Close != c.closeAfter {
							t.Fatalf("%s %s %d %d: response says close %v, server closes %v", method, proto, status, len(body), res.Close, c.closeAfter)
						}
					}
				}
			}
		}
	}
}

func TestDateCache(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if got := string(appendDate(nil, now)); got != "Fri, 02 Jan 2026 03:04:05 GMT" {
		t.Fatal(got)
	}
	if got := string(appendDate(nil, now.Add(time.Second))); got != "Fri, 02 Jan 2026 03:04:06 GMT" {
		t.Fatal(got)
	}
}

func TestSetCloseAfter(t *testing.T) {
	r := request("GET", "HTTP/1.1", "")
	c := &recConn{}
	w := NewResponse(c, r, nil)
	w.SetCloseAfter()
	w.End()
	if !c.closeAfter || !strings.Contains(string(c.all()), "\r\nConnection: close\r\n") {
		t.Fatalf("%q, closeAfter %v", c.all(), c.closeAfter)
	}
}

// TestHeadSent: a body within the threshold stays buffered, so a server
// may still answer in the handler's place; a flush sends the head.
func TestHeadSent(t *testing.T) {
	c := &recConn{}
	w := NewResponse(c, request("GET", "HTTP/1.1", ""), nil)
	_, _ = w.Write([]byte("partial"))
	if w.HeadSent() || len(c.writes) != 0 {
		t.Fatalf("head sent %v after a small write (%d writes)", w.HeadSent(), len(c.writes))
	}
	w.Flush()
	if !w.HeadSent() {
		t.Fatal("head not sent after Flush")
	}
}
