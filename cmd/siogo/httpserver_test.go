package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHTTPBounds: both engines bound a request's head by
// --max-header-bytes (431, before any handler runs), serve TLS with Go's
// crypto/tls at --tls-min-version or later, and refuse what Go's defaults
// refuse (3DES, RSA key exchange).
func TestHTTPBounds(t *testing.T) {
	for _, engine := range []string{"loop", "net"} {
		t.Run(engine, func(t *testing.T) {
			base := start(t, "--http-engine", engine, "--max-header-bytes", "4096")
			host := strings.TrimPrefix(base, "http://")
			head := func(pad int) string {
				c, err := net.Dial("tcp", host)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				fmt.Fprintf(c, "GET /healthz?pad=%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", strings.Repeat("p", pad))
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				b, _ := io.ReadAll(c)
				line, _, _ := strings.Cut(string(b), "\r\n")
				return line
			}
			if got := head(1000); got != "HTTP/1.1 200 OK" {
				t.Fatalf("a 1 KB URL: %q", got)
			}
			if got := head(5000); !strings.HasPrefix(got, "HTTP/1.1 431 ") {
				t.Fatalf("a 5 KB URL over --max-header-bytes 4096: %q", got)
			}

			for _, min := range []string{"1.2", "1.3"} {
				base, cert := startTLS(t, "--http-engine", engine, "--tls-min-version", min)
				for _, c := range []struct {
					version uint16
					suites  []uint16
					ok      bool
				}{
					{tls.VersionTLS13, nil, true},
					{tls.VersionTLS12, nil, min == "1.2"},
					{tls.VersionTLS11, nil, false},
					{tls.VersionTLS12, []uint16{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}, false},
					{tls.VersionTLS12, []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}, false},
				} {
					cfg := cert.Client()
					cfg.MinVersion, cfg.MaxVersion, cfg.CipherSuites = c.version, c.version, c.suites
					conn, err := tls.Dial("tcp", strings.TrimPrefix(base, "https://"), cfg)
					if err == nil {
						conn.Close()
					}
					if (err == nil) != c.ok {
						t.Errorf("--tls-min-version %s, a client of %s with suites %v: %v, want served %v", min, tls.VersionName(c.version), c.suites, err, c.ok)
					}
				}
			}
		})
	}
}

// TestHTTPEngineConfig: the net engine gets Node's timers and the header
// bound; nbio is a deprecated name of loop.
func TestHTTPEngineConfig(t *testing.T) {
	cfg, err := parseConfig([]string{"--http-engine", "net", "--max-header-bytes", "8192"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := newHTTPServer(cfg, http.NotFoundHandler(), slog.New(slog.DiscardHandler), newMetrics())
	if err != nil {
		t.Fatal(err)
	}
	if n := hs.net; n == nil || n.MaxHeaderBytes != 8192-4096 || n.ReadHeaderTimeout != 60*time.Second || n.IdleTimeout != 5*time.Second {
		t.Fatalf("net/http server: %+v", hs.net)
	}
	cfg, err = parseConfig([]string{"--http-engine", "nbio"}, func(string) string { return "" }, io.Discard)
	if err != nil || cfg.HTTPEngine != "loop" || len(cfg.Notes) != 1 {
		t.Fatalf("--http-engine nbio: %q, notes %q, %v", cfg.HTTPEngine, cfg.Notes, err)
	}
	for _, bad := range [][]string{{"--http-engine", "epoll"}, {"--tls-min-version", "1.1"}, {"--max-header-bytes", "100"}} {
		if _, err := parseConfig(bad, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
