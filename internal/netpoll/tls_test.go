package netpoll_test

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/siogo/siogo/internal/netpoll"
	"github.com/siogo/siogo/internal/testcert"
)

func serverTLS(t testing.TB) (*tls.Config, *tls.Config) {
	cert := testcert.New(t)
	return &tls.Config{Certificates: []tls.Certificate{cert.TLS}}, cert.Client()
}

func dialTLS(t testing.TB, addr string, cfg *tls.Config) *tls.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// stateEcho echoes, and answers "state?" with the TLS version and key
// exchange the server sees.
func stateEcho(r *closes) func(*netpoll.Conn) netpoll.Handler {
	return func(c *netpoll.Conn) netpoll.Handler {
		return netpoll.HandlerFuncs{
			Data: func(c *netpoll.Conn, b []byte) {
				if string(b) == "state?" {
					st, ok := c.ConnectionState()
					if !ok {
						_, _ = c.Write([]byte("no TLS state"))
						return
					}
					_, _ = c.Write([]byte(tls.VersionName(st.Version) + " " + st.CurveID.String() + " " + tls.CipherSuiteName(st.CipherSuite) + "\n"))
					return
				}
				_, _ = c.Write(b)
			},
			Close: func(c *netpoll.Conn, err error) {
				if r != nil {
					r.record(c, err)
				}
			},
		}
	}
}

// TestTLSVersions: Go's defaults, TLS 1.3 with X25519MLKEM768 for a Go
// client, TLS 1.2 with ECDHE and an AEAD for a client that stops there.
func TestTLSVersions(t *testing.T) {
	srv, client := serverTLS(t)
	l := newLoop(t, netpoll.Options{})
	addr := serve(t, l, stateEcho(nil), netpoll.TLS(srv))
	for _, tc := range []struct {
		max  uint16
		want string
	}{
		{tls.VersionTLS13, "TLS 1.3 X25519MLKEM768 TLS_AES_128_GCM_SHA256"},
		{tls.VersionTLS12, "TLS 1.2 X25519 TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"},
	} {
		cfg := client.Clone()
		cfg.MaxVersion = tc.max
		c := dialTLS(t, addr, cfg)
		if _, err := c.Write([]byte("state?")); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(line); got != tc.want {
			t.Errorf("server sees %q, want %q", got, tc.want)
		}
		if _, err := c.Write([]byte("echo")); err != nil {
			t.Fatal(err)
		}
	}
}

// rsaCert is a self-signed RSA certificate for 127.0.0.1: the suites
// in question (3DES, RSA key exchange) exist only with RSA.
func rsaCert(t testing.TB) tls.Certificate {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestTLSRefusesWeak: no TLS 1.1, no 3DES, no RSA key exchange, with an
// RSA certificate that would allow them; ECDHE with it works.
func TestTLSRefusesWeak(t *testing.T) {
	cert := rsaCert(t)
	srv := &tls.Config{Certificates: []tls.Certificate{cert}}
	client := &tls.Config{RootCAs: x509.NewCertPool()}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	client.RootCAs.AddCert(leaf)
	l := newLoop(t, netpoll.Options{})
	addr := serve(t, l, stateEcho(nil), netpoll.TLS(srv))
	for _, tc := range []struct {
		name string
		set  func(*tls.Config)
	}{
		{"TLS 1.1", func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 }},
		{"3DES", func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA}
		}},
		{"RSA key exchange", func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}
		}},
	} {
		cfg := client.Clone()
		tc.set(cfg)
		if c, err := tls.Dial("tcp", addr, cfg); err == nil {
			c.Close()
			t.Errorf("%s: handshake succeeded", tc.name)
		}
	}
	for l.Stats().HandshakeErrors < 3 {
		time.Sleep(time.Millisecond)
	}
	cfg := client.Clone()
	cfg.MaxVersion = tls.VersionTLS12
	cfg.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	c := dialTLS(t, addr, cfg)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
}

// TestTLSLargeMessages: megabytes each way, split over many records, while
// the other side reads.
func TestTLSLargeMessages(t *testing.T) {
	srv, client := serverTLS(t)
	for _, size := range []int{64 << 10, 512 << 10} {
		l := newLoop(t, netpoll.Options{ReadBufferSize: size})
		addr := serve(t, l, stateEcho(nil), netpoll.TLS(srv))
		c := dialTLS(t, addr, client)
		want := pattern(3 << 20)
		errc := make(chan error, 1)
		go func() { _, err := c.Write(want); errc <- err }()
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatal("the echo differs")
		}
	}
}

// TestTLSRecordsSplitOverReads: with a read buffer of 7 bytes, every
// record of the handshake and after it reaches crypto/tls in pieces, and
// a piece often ends inside a record's header.
func TestTLSRecordsSplitOverReads(t *testing.T) {
	srv, client := serverTLS(t)
	for _, max := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		l := newLoop(t, netpoll.Options{ReadBufferSize: 7})
		addr := serve(t, l, stateEcho(nil), netpoll.TLS(srv))
		cfg := client.Clone()
		cfg.MaxVersion = max
		c := dialTLS(t, addr, cfg)
		want := pattern(100 << 10)
		go func() { _, _ = c.Write(want) }()
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: the echo differs", tls.VersionName(max))
		}
	}
}

// TestTLSCloseNotify: the client's close_notify ends the connection with
// io.EOF on the server; the server's Close sends one, so the client reads
// a clean io.EOF after everything written before it.
func TestTLSCloseNotify(t *testing.T) {
	srv, client := serverTLS(t)
	l := newLoop(t, netpoll.Options{})
	r := newCloses()
	conns := make(chan *netpoll.Conn, 2)
	addr := serve(t, l, func(c *netpoll.Conn) netpoll.Handler {
		conns <- c
		return stateEcho(r)(c)
	}, netpoll.TLS(srv))

	c := dialTLS(t, addr, client)
	<-conns
	if err := c.Close(); err != nil { // close_notify
		t.Fatal(err)
	}
	if err := r.next(t); !errors.Is(err, io.EOF) {
		t.Fatalf("OnClose: %v, want io.EOF", err)
	}

	c = dialTLS(t, addr, client)
	sc := <-conns
	want := pattern(1 << 20)
	if _, err := sc.Write(want); err != nil {
		t.Fatal(err)
	}
	_ = sc.Close()
	got, err := io.ReadAll(c) // io.EOF only after a close_notify
	if err != nil {
		t.Fatalf("read %d bytes then %v", len(got), err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want %d", len(got), len(want))
	}
	c.Close()
	if err := r.next(t); err != nil {
		t.Fatalf("OnClose: %v, want nil", err)
	}
}

func TestTLSHandshakeTimeout(t *testing.T) {
	srv, _ := serverTLS(t)
	l := newLoop(t, netpoll.Options{HandshakeTimeout: 100 * time.Millisecond, TimerTick: 10 * time.Millisecond})
	addr := serve(t, l, stateEcho(nil), netpoll.TLS(srv))
	c := dial(t, addr)
	_, _ = c.Write([]byte{0x16, 0x03, 0x01}) // a ClientHello that never ends
	start := time.Now()
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read a byte")
	}
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Fatalf("closed after %v", d)
	}
	for l.Stats().Conns != 0 { // counted just after the close
		time.Sleep(time.Millisecond)
	}
	if s := l.Stats(); s.HandshakeErrors != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestTLSCloseDuringHandshake: Loop.Close ends a handshake that waits for
// bytes (goleak in TestMain sees its goroutine gone).
func TestTLSCloseDuringHandshake(t *testing.T) {
	srv, _ := serverTLS(t)
	l := newLoop(t, netpoll.Options{})
	addr := serve(t, l, stateEcho(nil), netpoll.TLS(srv))
	c := dial(t, addr)
	_, _ = c.Write([]byte{0x16, 0x03, 0x01})
	for l.Stats().Conns == 0 {
		time.Sleep(time.Millisecond)
	}
	_ = l.Close()
	if s := l.Stats(); s.Conns != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestTLSKeyUpdate sends TLS 1.3 KeyUpdate messages the Go client has no
// API for: the client's traffic secret comes from KeyLogWriter, and the
// test encrypts its records itself, then reads the server's answers with
// the client's tls.Conn (which follows the server's KeyUpdate).
func TestTLSKeyUpdate(t *testing.T) {
	srv, client := serverTLS(t)
	l := newLoop(t, netpoll.Options{})
	addr := serve(t, l, stateEcho(nil), netpoll.TLS(srv))
	var keylog bytes.Buffer
	cfg := client.Clone()
	cfg.MinVersion = tls.VersionTLS13
	cfg.KeyLogWriter = &keylog
	cfg.ServerName = "127.0.0.1"
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, cfg)
	defer c.Close()
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	w := newRecordWriter(t, c.ConnectionState().CipherSuite, keylog.String())
	// KeyUpdate asking for the server's, data under the new key, a
	// KeyUpdate asking nothing, data under the next key.
	var out []byte
	out = w.seal(out, 0x16, []byte{24, 0, 0, 1, 1})
	w.update()
	out = w.seal(out, 0x17, []byte("after one update;"))
	out = w.seal(out, 0x16, []byte{24, 0, 0, 1, 0})
	w.update()
	out = w.seal(out, 0x17, []byte("after two"))
	if _, err := raw.Write(out); err != nil {
		t.Fatal(err)
	}
	want := "after one update;after two"
	got := make([]byte, len(want))
	_ = raw.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read %q: %v", got, err)
	}
	if string(got) != want {
		t.Fatalf("echo %q, want %q", got, want)
	}
}

// recordWriter encrypts TLS 1.3 records with the client's application
// traffic keys (RFC 8446 sections 5.2, 5.3, 7.1, 7.2).
type recordWriter struct {
	t      testing.TB
	hash   func() hash.Hash
	keyLen int
	chacha bool
	secret []byte
	aead   cipher.AEAD
	iv     []byte
	seq    uint64
}

func newRecordWriter(t testing.TB, suite uint16, keylog string) *recordWriter {
	w := &recordWriter{t: t, hash: sha256.New, keyLen: 16}
	switch suite {
	case tls.TLS_AES_128_GCM_SHA256:
	case tls.TLS_AES_256_GCM_SHA384:
		w.hash, w.keyLen = sha512.New384, 32
	case tls.TLS_CHACHA20_POLY1305_SHA256:
		w.keyLen, w.chacha = 32, true
	default:
		t.Fatalf("suite %x", suite)
	}
	for _, line := range strings.Split(keylog, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "CLIENT_TRAFFIC_SECRET_0" {
			s, err := hex.DecodeString(f[2])
			if err != nil {
				t.Fatal(err)
			}
			w.secret = s
		}
	}
	if w.secret == nil {
		t.Fatal("no CLIENT_TRAFFIC_SECRET_0 in the key log")
	}
	w.keys()
	return w
}

func (w *recordWriter) expandLabel(secret []byte, label string, n int) []byte {
	var info []byte
	info = binary.BigEndian.AppendUint16(info, uint16(n))
	info = append(info, byte(len("tls13 "+label)))
	info = append(info, "tls13 "+label...)
	info = append(info, 0)
	out, err := hkdf.Expand(w.hash, secret, string(info), n)
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

func (w *recordWriter) keys() {
	key := w.expandLabel(w.secret, "key", w.keyLen)
	w.iv = w.expandLabel(w.secret, "iv", 12)
	var err error
	if w.chacha {
		w.aead, err = chacha20poly1305.New(key)
	} else {
		var b cipher.Block
		if b, err = aes.NewCipher(key); err == nil {
			w.aead, err = cipher.NewGCM(b)
		}
	}
	if err != nil {
		w.t.Fatal(err)
	}
	w.seq = 0
}

// update moves to the next traffic secret, as after a KeyUpdate.
func (w *recordWriter) update() {
	w.secret = w.expandLabel(w.secret, "traffic upd", w.hash().Size())
	w.keys()
}

func (w *recordWriter) seal(out []byte, typ byte, content []byte) []byte {
	inner := append(append([]byte(nil), content...), typ)
	n := len(inner) + w.aead.Overhead()
	hdr := []byte{0x17, 3, 3, byte(n >> 8), byte(n)}
	nonce := append([]byte(nil), w.iv...)
	var seq [8]byte
	binary.BigEndian.PutUint64(seq[:], w.seq)
	for i := range seq {
		nonce[4+i] ^= seq[i]
	}
	w.seq++
	out = append(out, hdr...)
	return w.aead.Seal(out, nonce, inner, hdr)
}

// TestTLSWritesFromManyGoroutines: tls.Conn.Write from several goroutines
// while the loop decrypts what the client sends.
func TestTLSWritesFromManyGoroutines(t *testing.T) {
	srv, client := serverTLS(t)
	l := newLoop(t, netpoll.Options{})
	conns := make(chan *netpoll.Conn, 1)
	received := 0 // on the loop
	addr := serve(t, l, func(c *netpoll.Conn) netpoll.Handler {
		conns <- c
		return netpoll.HandlerFuncs{Data: func(c *netpoll.Conn, b []byte) { received += len(b) }}
	}, netpoll.TLS(srv))
	c := dialTLS(t, addr, client)
	sc := <-conns
	const writers, each, sent = 4, 500, 1 << 20
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := sc.Writev([][]byte{{byte(w)}, {byte(i >> 8), byte(i)}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	errc := make(chan error, 1)
	go func() { _, err := c.Write(pattern(sent)); errc <- err }()
	next := make([]int, writers)
	var b [3]byte
	for n := 0; n < writers*each; n++ {
		if _, err := io.ReadFull(c, b[:]); err != nil {
			t.Fatal(err)
		}
		w, i := int(b[0]), int(b[1])<<8|int(b[2])
		if w >= writers || i != next[w] {
			t.Fatalf("message %d: writer %d number %d", n, w, i)
		}
		next[w]++
	}
	wg.Wait()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// The client's bytes are all decrypted once a task queued after
	// their last read has run; they may still be on the wire before.
	for {
		got := make(chan int)
		sc.Exec(func() { got <- received })
		if n := <-got; n == sent {
			break
		} else if n > sent {
			t.Fatalf("received %d bytes, sent %d", n, sent)
		}
		time.Sleep(time.Millisecond)
	}
}
