//go:build unix

package websocket

import (
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/lesismal/nbio"
)

// probe is a socket pair with one end on a poller: a byte written to the
// other end comes back through the poller's loop.
type probe struct {
	mu      sync.Mutex
	peer    *os.File
	reached chan struct{}
}

// close closes the probe's writing end (Engine.Stop closes the other).
func (p *probe) close() {
	p.mu.Lock()
	_ = p.peer.Close()
	p.mu.Unlock()
}

// roundTrip returns once the poller has read a byte from the probe.
func (p *probe) roundTrip() error {
	if _, err := p.peer.Write([]byte{0}); err != nil {
		return err
	}
	select {
	case <-p.reached:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("websocket: an nbio poller did not answer in 10 s")
	}
}

// barrier returns once every event the poller got from epoll_wait before
// the call has been handled: a first round trip ends in the batch of
// events being handled now or a later one, a second in a later batch
// still.
func (p *probe) barrier() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 0; i < 2; i++ {
		if p.roundTrip() != nil {
			return
		}
	}
}

// awaitPollers returns once each of the engine's n pollers runs its event
// loop, with a probe on each, by poller index.
//
// nbio's Engine.Start only starts the pollers' goroutines, and each loop
// begins by clearing its stop flag. A Stop that comes first (server.New
// then Close at once) sets the flag and signals the poller's eventfd
// before the loop clears the flag; the loop then never ends, spinning on
// that eventfd (which it never reads), and Stop waits for it forever.
// So a probe goes on each poller: a socket pair whose one end is on the
// loop and whose other end writes a byte; the byte reaching the probe's
// data handler proves that poller's loop has begun. The probes stay, for
// Server.barrier; Engine.Stop closes them.
func awaitPollers(g *nbio.Engine, n int) ([]*probe, error) {
	if n <= 0 {
		n = 1
	}
	probes := make([]*probe, n)
	found := 0
	var spare []*nbio.Conn // probes not needed, held so fd numbers vary
	defer func() {
		for _, c := range spare {
			_ = c.Close() // never on a poller: a plain close
		}
	}()
	fail := func(err error) ([]*probe, error) {
		for _, p := range probes {
			if p != nil {
				_ = p.peer.Close()
			}
		}
		return nil, err
	}
	for tries := 0; found < n; tries++ {
		if tries > 8*n+8 {
			return fail(errors.New("websocket: could not reach every nbio poller"))
		}
		nbc, peer, err := probePair()
		if err != nil {
			return fail(err)
		}
		idx := nbc.Hash() % n
		if probes[idx] != nil {
			_ = peer.Close()
			spare = append(spare, nbc)
			continue
		}
		p := &probe{peer: peer, reached: make(chan struct{}, 1)}
		nbc.OnData(func(*nbio.Conn, []byte) {
			select {
			case p.reached <- struct{}{}:
			default:
			}
		})
		if _, err := g.AddConn(nbc); err != nil {
			_ = peer.Close()
			return fail(err)
		}
		probes[idx] = p
		found++
		if err := p.roundTrip(); err != nil {
			return fail(err)
		}
	}
	return probes, nil
}

// probePair returns the two ends of a Unix socket pair, one as an nbio
// connection not yet on a poller.
func probePair() (*nbio.Conn, *os.File, error) {
	// Called under syscall.ForkLock (startEngine): no fork comes between
	// the socket pair and its marking close-on-exec.
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, nil, err
	}
	syscall.CloseOnExec(fds[0])
	syscall.CloseOnExec(fds[1])
	peer := os.NewFile(uintptr(fds[1]), "probe")
	f := os.NewFile(uintptr(fds[0]), "probe")
	nc, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		_ = peer.Close()
		return nil, nil, err
	}
	nbc, err := nbio.NBConn(nc) // closes nc
	if err != nil {
		_ = peer.Close()
		return nil, nil, err
	}
	closeOnExec(nbc)
	return nbc, peer, nil
}
