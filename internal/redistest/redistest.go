// Package redistest starts a real redis-server for a test, on a port of
// its own, and can kill and restart it; StartCluster and NewCluster start a
// Redis Cluster of such servers (redis-cli --cluster create), whose masters
// can be killed for a failover and whose slots can be moved. Either may
// require a password, and serve TLS only with a certificate the test made
// (internal/testcert). A missing redis-server fails the test with the
// command that installs it.
package redistest

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/siogo/siogo/internal/testcert"
)

// Options shape a redis-server for a test; the zero value is Start's.
type Options struct {
	// Password is requirepass: a client must AUTH with it.
	Password string
	// TLS serves TLS only (tls-port, no plain port) with this certificate,
	// which is also the authority a client certificate must chain to.
	TLS *testcert.Cert
	// ClientCerts asks each TLS client for a certificate
	// (tls-auth-clients yes); without it Redis asks none.
	ClientCerts bool
}

// Server is a redis-server the test started.
type Server struct {
	t    testing.TB
	Port int
	// URL is redis://127.0.0.1:port/0, or rediss:// with TLS; without
	// the password.
	URL  string
	Addr string // 127.0.0.1:port
	opts Options
	args []string // the TLS and password arguments
	cmd  *exec.Cmd
}

// Start starts redis-server on a free loopback port; it stops with t.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith starts redis-server with opts on a free loopback port; it
// stops with t.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redistest: redis-server is not installed: apt-get install -y redis-server")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &Server{t: t, Port: port, Addr: fmt.Sprintf("127.0.0.1:%d", port), opts: opts}
	s.URL = "redis://" + s.Addr + "/0"
	if opts.Password != "" {
		s.args = append(s.args, "--requirepass", opts.Password)
	}
	if opts.TLS != nil {
		s.URL = "rediss://" + s.Addr + "/0"
		dir := t.TempDir()
		args, err := tlsArgs(dir, opts.TLS, opts.ClientCerts)
		if err != nil {
			t.Fatal(err)
		}
		s.args = append(s.args, args...)
	}
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// tlsArgs writes cert into dir and returns redis-server's arguments to
// serve TLS with it, and to trust it for client certificates.
func tlsArgs(dir string, cert *testcert.Cert, clientCerts bool) ([]string, error) {
	certFile, keyFile := filepath.Join(dir, "redis-cert.pem"), filepath.Join(dir, "redis-key.pem")
	if err := os.WriteFile(certFile, cert.CertPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyFile, cert.KeyPEM, 0o600); err != nil {
		return nil, err
	}
	auth := "no"
	if clientCerts {
		auth = "yes"
	}
	return []string{"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", certFile,
		"--tls-auth-clients", auth}, nil
}

// Dial connects to the server as a test's own client: TLS and password
// as the server wants them (the server's certificate as client one).
func (s *Server) Dial() (redis.Conn, error) {
	opts := []redis.DialOption{redis.DialConnectTimeout(2 * time.Second),
		redis.DialReadTimeout(5 * time.Second), redis.DialWriteTimeout(5 * time.Second)}
	if s.opts.Password != "" {
		opts = append(opts, redis.DialPassword(s.opts.Password))
	}
	if c := s.opts.TLS; c != nil {
		conf := c.Client()
		conf.Certificates = []tls.Certificate{c.TLS}
		opts = append(opts, redis.DialUseTLS(true), redis.DialTLSConfig(conf))
	}
	return redis.Dial("tcp", s.Addr, opts...)
}

// Restart starts the server again on the same port.
func (s *Server) Restart() {
	s.t.Helper()
	port := []string{"--port", strconv.Itoa(s.Port)}
	if s.opts.TLS != nil {
		port = []string{"--port", "0", "--tls-port", strconv.Itoa(s.Port)}
	}
	s.cmd = exec.Command("redis-server", append(append(port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "no"), s.args...)...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("redistest: starting redis-server: %v", err)
	}
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatal("redistest: redis-server did not listen")
}

// Pause stops the server with SIGSTOP: it keeps its sockets and port open
// and answers nothing, as a hung Redis does. Resume, Kill or Restart ends
// the pause.
func (s *Server) Pause() {
	s.t.Helper()
	if s.cmd == nil || s.cmd.Process == nil {
		s.t.Fatal("redistest: Pause of a server that does not run")
	}
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatalf("redistest: SIGSTOP: %v", err)
	}
}

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() {
	s.t.Helper()
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// Kill stops the server at once (a paused one too).
func (s *Server) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_, _ = s.cmd.Process.Wait()
		s.cmd = nil
	}
}
