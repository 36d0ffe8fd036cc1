//go:build unix

package shared_test

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/siogo/siogo/adapters/cluster"
	redisadapter "github.com/siogo/siogo/adapters/redis"
	"github.com/siogo/siogo/internal/redistest"
	"github.com/siogo/siogo/transports"
	"github.com/siogo/siogo/transports/shared"
)

func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkPoll is one echo over polling (a POST of "4x", then the poll
// that brings "4x" back), sent to the session's owner (local) or to the
// other node (forwarded: both requests relayed), over the in-memory broker
// and over a real redis-server. cpu-ns/op is the whole process's (client,
// both nodes, Redis client), so the difference between local and
// forwarded is what relaying costs the servers.
func BenchmarkPoll(b *testing.B) {
	// Two brokers, one per node: a Redis client holds one subscription
	// per namespace, as each node has its own client.
	brokers := map[string]func(b *testing.B) (cluster.Broker, cluster.Broker){
		"memory": func(b *testing.B) (cluster.Broker, cluster.Broker) {
			m := cluster.NewMemoryBroker()
			b.Cleanup(func() { _ = m.Close() })
			return m, m
		},
		"redis": func(b *testing.B) (cluster.Broker, cluster.Broker) {
			rs := redistest.Start(b)
			var out [2]cluster.Broker
			for i := range out {
				rc, err := redisadapter.NewClient(redisadapter.Options{URL: rs.URL, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = rc.Close() })
				out[i] = rc
			}
			return out[0], out[1]
		},
	}
	for _, name := range []string{"memory", "redis"} {
		for _, forwarded := range []bool{false, true} {
			mode := "local"
			if forwarded {
				mode = "forwarded"
			}
			b.Run(name+"/"+mode, func(b *testing.B) {
				br1, br2 := brokers[name](b)
				o := transports.Options{PingInterval: time.Minute, PingTimeout: time.Minute}
				owner, edge := startNode(b, br1, o, shared.Options{AckTimeout: 300 * time.Millisecond}), startNode(b, br2, o, shared.Options{AckTimeout: 300 * time.Millisecond})
				res, err := http.Get(owner.hs.URL + "/engine.io/?EIO=4&transport=polling")
				if err != nil {
					b.Fatal(err)
				}
				open, _ := io.ReadAll(res.Body)
				res.Body.Close()
				sid := sidRe.FindSubmatch(open)[1]
				base := owner.hs.URL
				if forwarded {
					base = edge.hs.URL
				}
				url := base + "/engine.io/?EIO=4&transport=polling&sid=" + string(sid)
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
				roundTrip := func(method, body string) string {
					req, _ := http.NewRequest(method, url, strings.NewReader(body))
					res, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					out, _ := io.ReadAll(res.Body)
					res.Body.Close()
					return string(out)
				}
				// The relay channel's subscription may still be on its way to
				// Redis: the first request may be lost, and fails.
				for i := 0; roundTrip("POST", "4x") != "ok"; i++ {
					if i == 20 {
						b.Fatal("the relay never worked")
					}
				}
				roundTrip("GET", "")
				b.ResetTimer()
				cpu0 := cpuTime()
				for i := 0; i < b.N; i++ {
					if r := roundTrip("POST", "4x"); r != "ok" {
						b.Fatalf("post: %q", r)
					}
					if r := roundTrip("GET", ""); r != "4x" {
						b.Fatalf("poll: %q", r)
					}
				}
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// BenchmarkWebSocket is one echo over an upgraded WebSocket (a frame of
// "4x" and its answer), the WebSocket opened on the session's owner
// (local) or on the other node (forwarded: its bytes relayed both ways),
// over a real redis-server.
func BenchmarkWebSocket(b *testing.B) {
	for _, forwarded := range []bool{false, true} {
		mode := "local"
		if forwarded {
			mode = "forwarded"
		}
		b.Run("redis/"+mode, func(b *testing.B) {
			rs := redistest.Start(b)
			var br [2]cluster.Broker
			for i := range br {
				rc, err := redisadapter.NewClient(redisadapter.Options{URL: rs.URL, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = rc.Close() })
				br[i] = rc
			}
			o := transports.Options{PingInterval: time.Minute, PingTimeout: time.Minute}
			owner, edge := startNode(b, br[0], o, shared.Options{}), startNode(b, br[1], o, shared.Options{})
			for owner.sh.Ready() != nil || edge.sh.Ready() != nil {
				time.Sleep(10 * time.Millisecond)
			}
			res, err := http.Get(owner.hs.URL + "/engine.io/?EIO=4&transport=polling")
			if err != nil {
				b.Fatal(err)
			}
			open, _ := io.ReadAll(res.Body)
			res.Body.Close()
			sid := string(sidRe.FindSubmatch(open)[1])
			target := owner
			if forwarded {
				target = edge
			}
			ws := dialWS(b, target.hs.URL, "/engine.io/?EIO=4&transport=websocket&sid="+sid)
			ws.send("2probe")
			if got := ws.read(); got != "3probe" {
				b.Fatalf("probe: %q", got)
			}
			ws.send("5")
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				ws.send("4x")
				if got := ws.read(); got != "4x" {
					b.Fatalf("echo: %q", got)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
