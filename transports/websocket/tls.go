package websocket

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"

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
		if tc, ok := c.(*ltls.Conn); ok {
			ctx = context.WithValue(ctx, tlsConnKey{}, tc)
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
	return ltls.NewConn(c, l.cfg, false, false), nil
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
func loopTLS(raw net.Conn) (*ltls.Conn, *net.TCPConn) {
	tc, ok := raw.(*ltls.Conn)
	if !ok || tc.IsNonBlock() {
		return nil, nil
	}
	tcp, ok := tc.Conn().(*net.TCPConn)
	if !ok {
		return nil, nil
	}
	return tc, tcp
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

// moveTLS puts tc, its handshake done, on nbc in non-blocking mode and
// returns the plaintext it had decrypted but not yet handed out.
func (c *Conn) moveTLS(tc *ltls.Conn, nbc *nbio.Conn) ([]byte, error) {
	// In blocking mode llib reads a record exactly, so no record bytes
	// wait in its buffer, but net/http's background read, interrupted
	// by the hijack, leaves the header-sized buffer it was filling (the
	// client sends nothing before the 101): dropped, or the loop would
	// take it for a record.
	tc.ResetRawInput()
	tc.ResetConn(countedConn{Conn: nbc, c: c}, true)
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
}
