//go:build unix

package websocket

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/lesismal/nbio"
)

// awaitPollers returns once each of the engine's n pollers runs its event
// loop.
//
// nbio's Engine.Start only starts the pollers' goroutines, and each loop
// begins by clearing its stop flag. A Stop that comes first (server.New
// then Close at once) sets the flag and signals the poller's eventfd
// before the loop clears the flag; the loop then never ends, spinning on
// that eventfd (which it never reads), and Stop waits for it forever.
// So a probe goes through each poller: a socket pair whose one end is on
// the loop and whose other end writes a byte; the byte reaching the probe's
// data handler proves that poller's loop has begun. The writing end is
// closed then, so that the poller sees the end of the stream and closes
// its end itself, on its own goroutine.
func awaitPollers(g *nbio.Engine, n int) error {
	if n <= 0 {
		n = 1
	}
	seen := make(map[int]bool, n)
	var spare []*nbio.Conn // probes not needed, held so fd numbers vary
	defer func() {
		for _, c := range spare {
			_ = c.Close() // never on a poller: a plain close
		}
	}()
	for tries := 0; len(seen) < n; tries++ {
		if tries > 8*n+8 {
			return errors.New("websocket: could not reach every nbio poller")
		}
		nbc, peer, err := probePair()
		if err != nil {
			return err
		}
		idx := nbc.Hash() % n
		if seen[idx] {
			_ = peer.Close()
			spare = append(spare, nbc)
			continue
		}
		reached := make(chan struct{}, 1)
		nbc.OnData(func(*nbio.Conn, []byte) {
			select {
			case reached <- struct{}{}:
			default:
			}
		})
		if _, err := g.AddConn(nbc); err != nil {
			_ = peer.Close()
			return err
		}
		_, err = peer.Write([]byte{0})
		if err == nil {
			select {
			case <-reached:
			case <-time.After(10 * time.Second):
				err = errors.New("websocket: an nbio poller did not start in 10 s")
			}
		}
		_ = peer.Close()
		if err != nil {
			return err
		}
		seen[idx] = true
	}
	return nil
}

// probePair returns the two ends of a Unix socket pair, one as an nbio
// connection not yet on a poller.
func probePair() (*nbio.Conn, *os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
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
