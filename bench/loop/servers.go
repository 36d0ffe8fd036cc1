package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log"
	"math/big"
	"net"
	"time"

	ltls "github.com/lesismal/llib/std/crypto/tls"
	"github.com/lesismal/nbio"
	ntls "github.com/lesismal/nbio/extension/tls"
	"github.com/lesismal/nbio/logging"

	"github.com/siogo/siogo/internal/netpoll"
)

// Each server echoes what it reads on addr, with TLS when tlsOn, until
// stop is called. The same bare echo on each, so that what differs is the
// loop (and its TLS).
var pollers = 0

var servers = map[string]func(addr string, tlsOn bool) (stop func()){
	"netpoll":   serveNetpoll,
	"nbio":      serveNbio,
	"goroutine": serveGoroutine,
}

// --- siogo's loop.

func serveNetpoll(addr string, tlsOn bool) func() {
	l, err := netpoll.New(netpoll.Options{Pollers: pollers})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	var opts []netpoll.ServeOption
	if tlsOn {
		cert, _ := certs()
		opts = append(opts, netpoll.TLS(&tls.Config{Certificates: []tls.Certificate{cert}}))
	}
	echo := netpoll.HandlerFuncs{Data: func(c *netpoll.Conn, b []byte) { _, _ = c.Write(b) }}
	go func() { _ = l.Serve(ln, func(*netpoll.Conn) netpoll.Handler { return echo }, opts...) }()
	return func() { _ = l.Close() }
}

// --- lesismal/nbio, and its TLS (lesismal/llib's fork of crypto/tls).

func serveNbio(addr string, tlsOn bool) func() {
	logging.SetLevel(logging.LevelNone)
	e := nbio.NewEngine(nbio.Config{Network: "tcp", Addrs: []string{addr}, MaxWriteBufferSize: 4 << 20})
	if tlsOn {
		_, lc := certs()
		cfg := &ltls.Config{Certificates: []ltls.Certificate{lc}}
		e.OnOpen(ntls.WrapOpen(cfg, false, nil))
		e.OnClose(ntls.WrapClose(nil))
		e.OnData(ntls.WrapData(func(c *nbio.Conn, tc *ntls.Conn, b []byte) { _, _ = tc.Write(b) }))
	} else {
		e.OnData(func(c *nbio.Conn, b []byte) { _, _ = c.Write(b) })
	}
	if err := e.Start(); err != nil {
		log.Fatal(err)
	}
	return e.Stop
}

// --- a goroutine per connection (net and crypto/tls), for reference.

func serveGoroutine(addr string, tlsOn bool) func() {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	if tlsOn {
		cert, _ := certs()
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4<<10)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return func() { _ = ln.Close() }
}

var (
	stdCert  tls.Certificate
	llibCert ltls.Certificate
)

// certs is one self-signed ECDSA P-256 certificate, for crypto/tls and for
// llib's fork.
func certs() (tls.Certificate, ltls.Certificate) {
	if stdCert.Certificate != nil {
		return stdCert, llibCert
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		log.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	if stdCert, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		log.Fatal(err)
	}
	if llibCert, err = ltls.X509KeyPair(certPEM, keyPEM); err != nil {
		log.Fatal(err)
	}
	return stdCert, llibCert
}
