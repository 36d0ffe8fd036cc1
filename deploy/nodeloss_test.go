package deploy

import (
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/nodetest"
)

// waitNodeReady polls a node's /readyz until 200.
func waitNodeReady(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port)); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node on port %d not ready", port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var clientsRe = regexp.MustCompile(`(?m)^siogo_connected_clients(?:\{[^}]*\})? (\S+)$`)

// connectedClients is a node's siogo_connected_clients gauge, -1 if unreadable.
func connectedClients(port int) float64 {
	res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	var b [1 << 16]byte
	n, _ := readAll(res, b[:])
	total, found := 0.0, false
	for _, m := range clientsRe.FindAllSubmatch(b[:n], -1) {
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		total, found = total+v, true
	}
	if !found {
		return -1
	}
	return total
}

func readAll(res *http.Response, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := res.Body.Read(b[n:])
		n += m
		if err != nil {
			return n, nil
		}
	}
	return n, nil
}

// loadAddresses are the client addresses of the load: nginx hashes on the
// client address, so they spread over the nodes.
func loadAddresses(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("127.0.0.%d", 10+i))
	}
	return out
}

// lostAcked lists, for each client, the acknowledged broadcasts it missed
// although it was connected from before the broadcast was sent until
// margin after its ack.
func lostAcked(rep *nodetest.LoadReport, margin int64) map[int][]int64 {
	lost := map[int][]int64{}
	for i, c := range rep.Clients {
		seqs := c.Seqs()
		for _, a := range rep.Acks {
			if connectedThroughout(c, a[1], a[2]+margin) && !seqs[a[0]] {
				lost[i] = append(lost[i], a[0])
			}
		}
	}
	return lost
}

// senderGap is the longest time in [from, to] the sender sent nothing
// that was acknowledged.
func senderGap(rep *nodetest.LoadReport, from, to int64) int64 {
	prev, gap := from, int64(0)
	for _, a := range rep.Acks {
		if a[1] < from || a[1] > to {
			continue
		}
		gap = max(gap, a[1]-prev)
		prev = a[1]
	}
	return max(gap, to-prev)
}

func connectedThroughout(c nodetest.LoadClient, from, to int64) bool {
	// The last connect at or before from, and no disconnect after it
	// before to.
	last := int64(-1)
	for _, t := range c.Connects {
		if t <= from {
			last = t
		}
	}
	if last < 0 {
		return false
	}
	for _, t := range c.Disconnects {
		if t >= last && t <= to {
			return false
		}
	}
	return true
}

// TestNodeLoss runs the local three-node topology behind nginx under a
// steady stream of acknowledged broadcasts (a sender on node 1, fifteen
// socket.io-client 4 clients through nginx on WebSocket):
//   - a node killed with SIGKILL: its clients reconnect to the others
//     within the client's reconnection delay (1s, ±50%), and the clients
//     of the other nodes see no gap of a second and lose no acknowledged
//     broadcast;
//   - every node restarted in turn with SIGTERM (graceful drain): no
//     client loses an acknowledged broadcast sent while it was connected,
//     and every client ends up connected.
func TestNodeLoss(t *testing.T) {
	lc := startLocal(t, "")
	for _, p := range lc.nodePorts {
		waitNodeReady(t, p)
	}
	nginx := fmt.Sprintf("http://127.0.0.1:%d", lc.nginxPort)
	node := func(i int) string { return fmt.Sprintf("http://127.0.0.1:%d", lc.nodePorts[i]) }
	const reconnectionDelay = 1000 // socket.io-client's default

	t.Run("SIGKILL", func(t *testing.T) {
		// The sender stays on node 1; node 3 dies.
		load := nodetest.StartLoad(t, nodetest.LoadConfig{URLs: []string{nginx}, PerURL: 15, SenderURL: node(0),
			IntervalMs: 20, ReconnectionDelay: reconnectionDelay, LocalAddresses: loadAddresses(15)})
		if n := connectedClients(lc.nodePorts[2]); n < 1 {
			t.Fatalf("no client on node 3 (%v): the test would prove nothing", n)
		}
		time.Sleep(time.Second)
		killed := time.Now().UnixMilli()
		if err := lc.script("kill-node", "3"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * time.Second)
		end := time.Now().UnixMilli()
		rep := load.End()

		// The client process itself may be starved of CPU on a loaded
		// machine: the bounds allow for the sender's own longest pause.
		stall := max(0, senderGap(rep, killed-1000, end)-20)
		if stall > 200 {
			t.Logf("the client process sent nothing for %d ms: the bounds allow for it", stall)
		}
		moved := 0
		var slowestMove, othersGap int64
		for i, c := range rep.Clients {
			if len(c.Disconnects) == 0 {
				// Not on node 3: no interruption.
				gap := c.MaxGap(killed-1000, end)
				othersGap = max(othersGap, gap)
				if gap > 1000+stall {
					t.Errorf("client %d (not on the killed node) went %d ms without a broadcast", i, gap)
				}
				continue
			}
			moved++
			if len(c.Connects) < 2 || !c.Connected {
				t.Errorf("client %d of the killed node did not reconnect: connects %v, disconnects %v", i, c.Connects, c.Disconnects)
				continue
			}
			// The first attempt comes after reconnectionDelay ± 50%; it
			// must land on another node at once.
			took := c.Connects[1] - c.Disconnects[0]
			slowestMove = max(slowestMove, took)
			if took > reconnectionDelay*3/2+500+stall {
				t.Errorf("client %d reconnected %d ms after the kill, beyond the client's reconnection delay", i, took)
			}
		}
		if moved == 0 {
			t.Error("no client was disconnected by the kill")
		}
		if lost := lostAcked(rep, 500); len(lost) > 0 {
			t.Errorf("acknowledged broadcasts lost by connected clients: %v", lost)
		}
		if len(rep.Acks) < rep.Sent-1 {
			t.Errorf("%d of %d broadcasts acknowledged", len(rep.Acks), rep.Sent)
		}
		t.Logf("%d clients moved off the killed node, the slowest reconnected in %d ms; the others' longest gap %d ms (the sender's %d ms); %d broadcasts, %d acked",
			moved, slowestMove, othersGap, stall+20, rep.Sent, len(rep.Acks))
		if err := lc.script("restart-node", "3"); err != nil {
			t.Fatal(err)
		}
		waitNodeReady(t, lc.nodePorts[2])
	})

	t.Run("rolling SIGTERM", func(t *testing.T) {
		load := nodetest.StartLoad(t, nodetest.LoadConfig{URLs: []string{nginx}, PerURL: 15, SenderURL: nginx,
			IntervalMs: 20, ReconnectionDelay: reconnectionDelay, ReconnectionDelayMax: 2000,
			LocalAddresses: loadAddresses(16), SettleMs: 10000})
		time.Sleep(time.Second)
		for i := range lc.nodePorts {
			began := time.Now()
			if err := lc.script("restart-node", strconv.Itoa(i+1)); err != nil {
				t.Fatal(err)
			}
			waitNodeReady(t, lc.nodePorts[i])
			t.Logf("node %d restarted and ready in %v", i+1, time.Since(began).Round(time.Millisecond))
			time.Sleep(1500 * time.Millisecond)
		}
		rep := load.End()
		restarted := 0
		for i, c := range rep.Clients {
			if len(c.Disconnects) > 0 {
				restarted++
			}
			if !c.Connected {
				t.Errorf("client %d ended disconnected: connects %v, disconnects %v, %d failed attempts, the last: %s",
					i, c.Connects, c.Disconnects, c.ConnectErrors, c.LastError)
			}
		}
		if restarted == 0 {
			t.Error("no client was moved by the restarts")
		}
		if lost := lostAcked(rep, 500); len(lost) > 0 {
			t.Errorf("acknowledged broadcasts lost by connected clients: %v", lost)
		}
		if len(rep.Acks) == 0 || len(rep.Sender.Disconnects) == 0 {
			t.Errorf("the sender: %d acks, disconnects %v", len(rep.Acks), rep.Sender.Disconnects)
		}
		t.Logf("%d clients moved by the restarts; %d broadcasts, %d acked", restarted, rep.Sent, len(rep.Acks))
		if t.Failed() {
			logs, _ := exec.Command("sh", "-c", "tail -n 40 "+lc.dir+"/logs/siogo*.log "+lc.dir+"/logs/nginx.log").CombinedOutput()
			t.Logf("node logs:\n%s", logs)
		}
	})
}
