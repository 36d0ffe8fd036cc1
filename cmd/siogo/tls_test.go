package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/nodetest"
	"github.com/siogo/siogo/internal/testcert"
)

// startTLS runs the program with --tls-cert and returns its https:// URL
// and the certificate, which clients trust.
func startTLS(t *testing.T, args ...string) (string, *testcert.Cert) {
	t.Helper()
	cert := testcert.New(t)
	cf, kf := cert.Files(t)
	base := start(t, append([]string{"--tls-cert", cf, "--tls-key", kf}, args...)...)
	return "https://" + strings.TrimPrefix(base, "http://"), cert
}

// TestTLSClients: the official socket.io-client 4 and 2 over the
// program's own TLS, on WebSocket, on polling, and from polling upgraded
// to WebSocket, verifying the server's certificate.
func TestTLSClients(t *testing.T) {
	nodetest.Require(t)
	base, cert := startTLS(t, "--tick", "200ms")
	for _, version := range []int{4, 2} {
		for _, transport := range []string{"websocket", "polling", "upgrade"} {
			t.Run(fmt.Sprintf("v%d-%s", version, transport), func(t *testing.T) {
				t.Parallel()
				var rep struct {
					OK        bool     `json:"ok"`
					Steps     []string `json:"steps"`
					Transport string   `json:"transport"`
					Error     string   `json:"error"`
				}
				nodetest.Run(t, 60*time.Second, "demo-client.js", map[string]any{
					"url": base, "version": version, "transport": transport, "ca": string(cert.CertPEM),
				}, &rep)
				if !rep.OK {
					t.Fatalf("%s after %v", rep.Error, rep.Steps)
				}
			})
		}
	}
}

// dialWSS opens an Engine.IO 4 WebSocket over TLS and joins namespace /.
func dialWSS(t *testing.T, base string, cert *testcert.Cert) *rawWS {
	t.Helper()
	host := strings.TrimPrefix(base, "https://")
	conn, err := tls.Dial("tcp", host, cert.Client())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", host)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", err, res)
	}
	c := &rawWS{t, conn, br}
	if _, p := c.read(); !strings.HasPrefix(p, "0{") {
		t.Fatalf("open packet %q", p)
	}
	c.send(1, true, "40")
	if _, p := c.read(); !strings.HasPrefix(p, "40{") {
		t.Fatalf("CONNECT answer %q", p)
	}
	return c
}

// TestTLSIdleNoGoroutine: an idle WSS client of the program (Socket.IO,
// joined to /) holds no goroutine: its connection is on the event loop.
func TestTLSIdleNoGoroutine(t *testing.T) {
	base, cert := startTLS(t, "--tick", "1h")
	dialWSS(t, base, cert) // the loop, pools and flushers started
	time.Sleep(200 * time.Millisecond)
	before := runtime.NumGoroutine()
	const n = 100
	for range n {
		dialWSS(t, base, cert)
	}
	var after int
	for range 50 { // the upgraded requests' net/http goroutines end
		time.Sleep(100 * time.Millisecond)
		if after = runtime.NumGoroutine(); after-before < n/10 {
			break
		}
	}
	if after-before >= n/10 {
		t.Fatalf("%d idle WSS clients hold %d goroutines more (want none each)", n, after-before)
	}
	t.Logf("%d idle WSS clients: %d goroutines more", n, after-before)
}
