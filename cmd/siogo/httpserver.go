package main

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/siogo/siogo/transports"
)

// httpServer is the program's HTTP server: transports.HTTPServer on
// siogo's own event loop, where an idle connection or a waiting long-poll
// holds no goroutine, or net/http (--http-engine). Both serve TLS with
// Go's crypto/tls, and bound HTTP as Node does: --max-header-bytes (431),
// Node's headersTimeout (60 s) and keepAliveTimeout (5 s).
type httpServer struct {
	engine string
	net    *http.Server
	loop   *transports.HTTPServer
}

// Node's http server's timers: a head must arrive within headersTimeout,
// an idle keep-alive connection closes after keepAliveTimeout.
const (
	headersTimeout   = 60 * time.Second
	keepAliveTimeout = 5 * time.Second
)

func newHTTPServer(cfg config, h http.Handler, log *slog.Logger, m *metrics) (*httpServer, error) {
	var tlsConf *tls.Config
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, err
		}
		// Go's defaults otherwise: ECDHE with AEAD ciphers only,
		// X25519MLKEM768 offered.
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: cfg.TLSMinVersion}
	}
	if cfg.HTTPEngine == "loop" {
		return &httpServer{engine: "loop", loop: transports.NewHTTPServer(h, transports.HTTPServerOptions{
			// Room for the Engine.IO bound to answer first, with its 413.
			MaxBodySize:    int(2*cfg.MaxPayload) + 64<<10,
			MaxHeaderBytes: cfg.MaxHeaderBytes,
			// The WebSocket servers' default (transports.Options), for
			// the WebSockets upgraded on this loop.
			MaxWriteBuffer: max(4<<20, int(2*cfg.MaxPayload)),
			KeepAlive:      keepAliveTimeout,
			HeadersTimeout: headersTimeout,
			TLS:            tlsConf,
			Logger:         log,
			OnPanic:        m.panicked,
		})}, nil
	}
	return &httpServer{engine: "net", net: &http.Server{
		Handler:           countPanics(h, m),
		TLSConfig:         tlsConf,
		MaxHeaderBytes:    netHeaderBytes(cfg.MaxHeaderBytes),
		ReadHeaderTimeout: headersTimeout,
		IdleTimeout:       keepAliveTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}, nil
}

// netHeaderBytes is the http.Server MaxHeaderBytes that bounds a request's
// head at n bytes: net/http reads 4,096 bytes past it ("bufio slop")
// before it refuses, so a bound under 4 KiB is 4 KiB there.
func netHeaderBytes(n int) int { return max(n-4096, 1) }

// countPanics counts a handler's panic for /metrics, and lets net/http
// recover it as it does (logged, the connection closed).
func countPanics(h http.Handler, m *metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v != http.ErrAbortHandler {
					m.panicked("http")
				}
				panic(v)
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// serve serves ln until shutdown; it returns nil after a shutdown.
func (s *httpServer) serve(ln net.Listener) error {
	var err error
	switch {
	case s.loop != nil:
		err = s.loop.Serve(ln)
	case s.net.TLSConfig != nil:
		err = s.net.ServeTLS(ln, "", "")
	default:
		err = s.net.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, transports.ErrHTTPServerClosed) {
		return nil
	}
	return err
}

func (s *httpServer) shutdown(ctx context.Context) error {
	if s.loop != nil {
		return s.loop.Shutdown(ctx)
	}
	return s.net.Shutdown(ctx)
}

func (s *httpServer) close() {
	if s.loop != nil {
		_ = s.loop.Close()
		return
	}
	_ = s.net.Close()
}
