//go:build linux

package httploop

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/cpuhog"
	"github.com/siogo/siogo/internal/http1"
)

// TestCloseOnExec: a process started while connections are open (plain,
// parked, upgraded) inherits none of the server's descriptors, so that
// the server's close still reaches its clients at once.
func TestCloseOnExec(t *testing.T) {
	parked := make(chan http1.Detacher, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/park":
			d := w.(http1.Detacher)
			_ = d.Detach(nil)
			parked <- d
		case "/up":
			nc, rest, err := w.(http1.Upgrader).Upgrade()
			if err != nil {
				return
			}
			u := nc.(*Upgraded)
			_, _ = u.Conn().Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: upper\r\nConnection: Upgrade\r\n\r\n"))
			u.Switch(upper{}, rest)
		default:
			fmt.Fprint(w, "ok")
		}
	})
	_, addr := start(t, h, Options{})
	plain := dialRaw(t, addr)
	plain.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	plain.response()
	park := dialRaw(t, addr)
	park.send("GET /park HTTP/1.1\r\nHost: x\r\n\r\n")
	d := <-parked
	up := dialRaw(t, addr)
	up.send("GET /up HTTP/1.1\r\nHost: x\r\nUpgrade: upper\r\nConnection: Upgrade\r\n\r\n")
	if res, err := http.ReadResponse(up.br, nil); err != nil || res.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", res, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	child := exec.CommandContext(ctx, "sleep", "60")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = child.Wait() })
	dir := "/proc/" + strconv.Itoa(child.Process.Pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		link, _ := os.Readlink(dir + "/" + e.Name())
		if strings.HasPrefix(link, "socket:") || strings.HasPrefix(link, "anon_inode:") {
			t.Errorf("the child inherited descriptor %s (%s)", e.Name(), link)
		}
	}
	// The server's close reaches the client while the child lives.
	fmt.Fprint(d, "bye")
	d.Header().Set("Connection", "close")
	_ = d.Finish()
	if _, body := park.response(); body != "bye" {
		t.Fatalf("parked answer: %q", body)
	}
	if got, closed := park.ended(5 * time.Second); !closed || got != "" {
		t.Fatalf("after Connection: close: %q, closed %v: a child holds the socket", got, closed)
	}
}

// TestCloseAndReuseUnderLoad closes connections off the loop (a handler
// that hijacks and closes, answers with Connection: close) while half the
// clients reset theirs at once, thousands of times: descriptor numbers
// are reused at once, and no fresh connection may be lost. Under nbio an
// event for the old socket reached the new one (docs/reliability.md).
func TestCloseAndReuseUnderLoad(t *testing.T) { closeAndReuse(t, 6000) }

// TestCloseAndReuseSaturated is the same with every core kept busy.
func TestCloseAndReuseSaturated(t *testing.T) {
	cpuhog.Start(t, 0)
	closeAndReuse(t, 2000)
}

func closeAndReuse(t *testing.T, cycles int) {
	mux := http.NewServeMux()
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = c.Close()
		}
	})
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	_, addr := start(t, mux, Options{})
	const workers = 16
	var next, lost atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first []string
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(cycles); i = next.Add(1) {
				if err := reuseCycle(addr, i); err != nil {
					lost.Add(1)
					mu.Lock()
					if len(first) < 5 {
						first = append(first, fmt.Sprintf("cycle %d: %v", i, err))
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if n := lost.Load(); n > 0 {
		t.Errorf("%d of %d fresh connections lost their answer; first: %s", n, cycles/2, strings.Join(first, "; "))
	}
}

// reuseCycle: odd cycles ask for /close and reset at once; even ones ask
// for /ok and must read it.
func reuseCycle(addr string, i int64) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil // the listener's backlog under load: not what is tested
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if i%2 == 1 {
		fmt.Fprintf(conn, "GET /close HTTP/1.1\r\nHost: x\r\n\r\n")
		_ = conn.(*net.TCPConn).SetLinger(0)
		return nil
	}
	fmt.Fprintf(conn, "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || string(b) != "ok" {
		return fmt.Errorf("body %q, %v", b, err)
	}
	return nil
}
