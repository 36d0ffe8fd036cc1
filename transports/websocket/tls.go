package websocket

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"reflect"
	"unsafe"

	ltls "github.com/lesismal/llib/std/crypto/tls"
	"github.com/lesismal/nbio"
)

// TLS that the event loop can take over.
//
// A crypto/tls connection keeps its record state (keys, sequence numbers)
// inside the standard library, so a WebSocket upgraded from it must keep a
// goroutine that reads it. ServeTLS serves HTTPS with lesismal/llib's fork
// of crypto/tls instead, the TLS of nbio's own HTTP engine: net/http serves
// the handshakes and HTTP requests (long-polling) over it in blocking mode,
// a goroutine per connection as net/http always does, and Upgrade moves an
// upgraded connection's TLS state onto the event loop, switched to
// non-blocking mode, so that an idle WSS connection holds no goroutine, and
// no buffer either (llib frees its record buffers once they are consumed,
// where crypto/tls keeps them grown).

// ErrTLSConfig is returned by ServeTLS for a tls.Config that uses what the
// event loop's TLS does not offer.
var ErrTLSConfig = errors.New("websocket: unsupported TLS configuration")

// ServeTLS serves hs over TLS on ln, as hs.ServeTLS would, but with a TLS
// whose connections Upgrade moves to the event loop. It speaks HTTP/1.1
// only (as Node's https server does). cfg gives the certificates
// (Certificates), and may set MinVersion, MaxVersion, CipherSuites,
// CurvePreferences and NextProtos; callbacks (GetCertificate,
// GetConfigForClient) and client certificates are not supported. hs's
// handlers see r.TLS filled in as with crypto/tls. ServeTLS sets
// hs.ConnContext (calling any that was there).
func ServeTLS(hs *http.Server, ln net.Listener, cfg *tls.Config) error {
	lcfg, err := loopTLSConfig(cfg)
	if err != nil {
		return err
	}
	prev := hs.ConnContext
	hs.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if prev != nil {
			ctx = prev(ctx, c)
		}
		if sc, ok := c.(serverConn); ok {
			ctx = context.WithValue(ctx, tlsConnKey{}, sc.Conn)
		}
		return ctx
	}
	h := hs.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	hs.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tc, ok := r.Context().Value(tlsConnKey{}).(*ltls.Conn); ok && r.TLS == nil {
			r.TLS = stdState(tc.ConnectionState())
		}
		h.ServeHTTP(w, r)
	})
	return hs.Serve(&tlsListener{Listener: ln, cfg: lcfg})
}

type tlsConnKey struct{}

// tlsListener hands out server connections of llib's TLS in blocking
// mode; their handshake runs on the first read, in net/http's goroutine
// for the connection, under its read deadline.
type tlsListener struct {
	net.Listener
	cfg *ltls.Config
}

func (l *tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return serverConn{ltls.NewConn(&recordConn{Conn: c}, l.cfg, false, false)}, nil
}

// serverConn is what net/http serves: llib's Close frees the record
// buffers without the read lock, under a read that net/http's background
// reader may have running (Server.Close, Shutdown), so Close closes the
// socket only, and the blocked read returns with its error. No
// close_notify is sent: net/http closes connections whose handler may be
// writing, and llib's alert is not ordered with writes.
type serverConn struct{ *ltls.Conn }

func (c serverConn) Close() error { return c.Conn.Conn().Close() }

// recordConn hands llib's blocking reads whole TLS records only.
//
// llib reads a record with two io.ReadFull calls (header, then body) into
// its buffer, and drops what one read when it fails. net/http interrupts
// its background read with a deadline in the past once a response is
// written, just as a fast client's next request arrives: a record cut
// there would leave llib reading the rest of it as the next header, and
// wait for a length that never comes. So bytes are kept here until their
// record is complete: a read that fails has handed out nothing of it.
// The buffer is dropped whenever it empties, so an idle connection holds
// none.
type recordConn struct {
	net.Conn
	buf   []byte // read from the socket, not yet handed out
	ready int    // the bytes at the start of buf that end a record
}

// maxRecord bounds what one record holds: a 5-byte header and a
// length of at most 2^16-1 (llib refuses more than about 16 KB).
const maxRecord = 5 + 0xffff

func (c *recordConn) Read(p []byte) (int, error) {
	for c.ready == 0 {
		if c.ready = wholeRecords(c.buf); c.ready > 0 {
			break
		}
		if c.buf == nil {
			c.buf = make([]byte, 0, 4096)
		} else if len(c.buf) == cap(c.buf) {
			c.buf = append(c.buf, make([]byte, min(2*cap(c.buf), maxRecord+4096)-len(c.buf))...)[:len(c.buf)]
		}
		n, err := c.Conn.Read(c.buf[len(c.buf):cap(c.buf)])
		c.buf = c.buf[:len(c.buf)+n]
		if err != nil {
			if c.ready = wholeRecords(c.buf); c.ready > 0 {
				break
			}
			return 0, err
		}
	}
	n := copy(p, c.buf[:c.ready])
	c.ready -= n
	if n == len(c.buf) {
		c.buf = nil
	} else {
		c.buf = c.buf[n:]
	}
	return n, nil
}

// take returns the bytes read from the socket that were not handed out.
func (c *recordConn) take() []byte {
	b := c.buf
	c.buf, c.ready = nil, 0
	return b
}

// wholeRecords is the length of the complete TLS records at the start of b.
func wholeRecords(b []byte) int {
	i := 0
	for len(b)-i >= 5 {
		l := 5 + (int(b[i+3])<<8 | int(b[i+4]))
		if len(b)-i < l {
			break
		}
		i += l
	}
	return i
}

// loopTLSConfig translates cfg for llib's TLS.
func loopTLSConfig(cfg *tls.Config) (*ltls.Config, error) {
	switch {
	case cfg == nil || len(cfg.Certificates) == 0:
		return nil, errors.Join(ErrTLSConfig, errors.New("no certificate"))
	case cfg.GetCertificate != nil || cfg.GetConfigForClient != nil:
		return nil, errors.Join(ErrTLSConfig, errors.New("GetCertificate and GetConfigForClient are not supported"))
	case cfg.ClientAuth != tls.NoClientCert:
		return nil, errors.Join(ErrTLSConfig, errors.New("client certificates are not supported"))
	}
	lc := &ltls.Config{
		MinVersion:   cfg.MinVersion,
		MaxVersion:   cfg.MaxVersion,
		CipherSuites: cfg.CipherSuites,
		NextProtos:   []string{"http/1.1"},
	}
	if lc.MinVersion == 0 {
		lc.MinVersion = tls.VersionTLS12 // crypto/tls's default for servers
	}
	if len(cfg.NextProtos) > 0 {
		lc.NextProtos = nil
		for _, p := range cfg.NextProtos {
			if p != "h2" { // net/http serves HTTP/2 only over crypto/tls
				lc.NextProtos = append(lc.NextProtos, p)
			}
		}
	}
	for _, id := range cfg.CurvePreferences {
		lc.CurvePreferences = append(lc.CurvePreferences, ltls.CurveID(id))
	}
	for _, c := range cfg.Certificates {
		lc.Certificates = append(lc.Certificates, ltls.Certificate{
			Certificate:                 c.Certificate,
			PrivateKey:                  c.PrivateKey,
			OCSPStaple:                  c.OCSPStaple,
			SignedCertificateTimestamps: c.SignedCertificateTimestamps,
			Leaf:                        c.Leaf,
		})
	}
	return lc, nil
}

// stdState is st in crypto/tls's form, for r.TLS.
func stdState(st ltls.ConnectionState) *tls.ConnectionState {
	return &tls.ConnectionState{
		Version:            st.Version,
		HandshakeComplete:  st.HandshakeComplete,
		DidResume:          st.DidResume,
		CipherSuite:        st.CipherSuite,
		NegotiatedProtocol: st.NegotiatedProtocol,
		ServerName:         st.ServerName,
		PeerCertificates:   st.PeerCertificates,
		VerifiedChains:     st.VerifiedChains,
	}
}

// loopTLS is the plain connection under an llib TLS connection net/http
// served, or nil for any other connection.
func loopTLS(raw net.Conn) (*ltls.Conn, *recordConn, *net.TCPConn) {
	sc, ok := raw.(serverConn)
	if !ok {
		return nil, nil, nil
	}
	tc := sc.Conn
	if tc.IsNonBlock() {
		return nil, nil, nil
	}
	rc, ok := tc.Conn().(*recordConn)
	if !ok {
		return nil, nil, nil
	}
	tcp, ok := rc.Conn.(*net.TCPConn)
	if !ok {
		return nil, nil, nil
	}
	return tc, rc, tcp
}

// countedConn is the event loop's connection under a TLS one: what TLS
// writes to it (records, alerts) counts as handed to nbio, so that
// Conn.backlog compares bytes with the bytes nbio reports written.
type countedConn struct {
	*nbio.Conn
	c *Conn
}

func (cc countedConn) Write(b []byte) (int, error) {
	cc.c.handed.Add(int64(len(b)))
	return cc.Conn.Write(b)
}

// moveTLS puts tc, its handshake done, on nbc in non-blocking mode, with
// the record bytes rc read but did not hand out, and returns the
// plaintext tc had decrypted but not yet handed out.
func (c *Conn) moveTLS(tc *ltls.Conn, rc *recordConn, nbc *nbio.Conn) ([]byte, error) {
	// In blocking mode llib holds no record bytes between reads, but a
	// read that failed (net/http's background read, interrupted by the
	// hijack) leaves the header-sized buffer it was filling: dropped, or
	// the loop would take it for a record.
	tc.ResetRawInput()
	dropHandshake(tc)
	tc.ResetConn(countedConn{Conn: nbc, c: c}, true)
	if raw := rc.take(); len(raw) > 0 {
		if _, err := tc.Append(raw); err != nil {
			return nil, err
		}
	}
	defer tc.ResetOrFreeBuffer()
	var left []byte
	buf := make([]byte, 4096)
	for {
		// Non-blocking, with no record bytes held: Read returns what a
		// record decrypted earlier still holds, then 0.
		n, err := tc.Read(buf)
		left = append(left, buf[:n]...)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return left, nil
		}
	}
}

// onTLSData takes ciphertext from the event loop: nbio's read buffer is
// copied into the TLS record buffer and serves as the plaintext's, as
// nbio's HTTP engine does.
func (c *Conn) onTLSData(nbc *nbio.Conn, data []byte) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	in := data
	for {
		_, n, err := c.tls.AppendAndRead(in, data)
		in = nil
		if n > 0 {
			c.readLocked(data[:n])
		}
		if err != nil {
			// A close_notify (io.EOF) or a bad record: on the loop's
			// goroutine, where nbio itself closes.
			_ = nbc.CloseWithError(err)
			return
		}
		if n == 0 {
			break
		}
	}
	c.tls.ResetOrFreeBuffer()
	releaseInput(c.tls)
}

// inputOffset is where llib's connection keeps the plaintext of the last
// record it read (a bytes.Reader over the record's buffer), or -1.
var inputOffset = func() uintptr {
	f, ok := reflect.TypeFor[ltls.Conn]().FieldByName("input")
	if !ok || f.Type != reflect.TypeFor[bytes.Reader]() {
		return ^uintptr(0)
	}
	return f.Offset
}()

// releaseInput lets go of the record buffer llib's reader still points
// into once all of it was read (llib drops its own reference, not the
// reader's), so that an idle connection holds none: about 600 bytes per
// idle WSS connection. TestDropHandshake checks the field is there.
func releaseInput(tc *ltls.Conn) {
	if inputOffset == ^uintptr(0) {
		return
	}
	if r := (*bytes.Reader)(unsafe.Add(unsafe.Pointer(tc), inputOffset)); r.Len() == 0 {
		r.Reset(nil)
	}
}

// handshakeFields are the fields of an llib connection that hold its
// handshake (messages, transcript, secrets, the handshake buffer) after it
// is done: llib keeps them for a handshake that resumes on the next read
// in non-blocking mode, and never lets go of them; crypto/tls keeps none.
// Read again only by a handshake, which never runs again on a server
// connection (renegotiation is a client's; TLS 1.3 has none).
var handshakeFields = []string{"hs", "hs13", "clientHello", "serverHello", "certMsg", "certMsgVerified", "hand"}

// dropHandshake lets tc's finished handshake go, so that an idle WSS
// connection does not keep it (about 6 KB; bench/README.md "TLS"). llib
// has no call for it: the fields are cleared through reflection, and
// TestDropHandshake fails should an llib upgrade rename them.
func dropHandshake(tc *ltls.Conn) int {
	if !tc.ConnectionState().HandshakeComplete {
		return 0
	}
	v := reflect.ValueOf(tc).Elem()
	n := 0
	for _, name := range handshakeFields {
		f := v.FieldByName(name)
		if !f.IsValid() {
			continue
		}
		reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().SetZero()
		n++
	}
	if f := v.FieldByName("handOff"); f.IsValid() && f.Kind() == reflect.Int {
		reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().SetInt(0)
	}
	return n
}
