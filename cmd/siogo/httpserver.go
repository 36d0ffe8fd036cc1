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
	"github.com/siogo/siogo/transports/websocket"
)

// httpServer is the program's HTTP server: net/http, or the event loop of
// transports.HTTPServer, where a waiting long-poll holds no goroutine
// (--http-engine). TLS is always served by net/http, over the TLS of
// websocket.ServeTLS, whose WebSocket connections move to the event loop.
type httpServer struct {
	engine string
	net    *http.Server
	loop   *transports.HTTPServer
	cfg    config
}

func newHTTPServer(cfg config, h http.Handler, log *slog.Logger) *httpServer {
	if cfg.HTTPEngine == "nbio" && cfg.TLSCert == "" {
		return &httpServer{engine: "nbio", cfg: cfg, loop: transports.NewHTTPServer(h, transports.HTTPServerOptions{
			// Room for the Engine.IO bound to answer first, with its 413.
			MaxBodySize: int(2*cfg.MaxPayload) + 64<<10,
			// The WebSocket servers' default (transports.Options), for
			// the WebSockets upgraded on this loop.
			MaxWriteBuffer: max(4<<20, int(2*cfg.MaxPayload)),
		})}
	}
	return &httpServer{engine: "net", cfg: cfg, net: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}
}

// serve serves ln until shutdown; it returns nil after a shutdown.
func (s *httpServer) serve(ln net.Listener) error {
	var err error
	switch {
	case s.loop != nil:
		err = s.loop.Serve(ln)
	case s.cfg.TLSCert != "":
		// The event loop's TLS: a WebSocket moves to the loop with it.
		cert, cerr := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if cerr != nil {
			return cerr
		}
		err = websocket.ServeTLS(s.net, ln, &tls.Config{Certificates: []tls.Certificate{cert}})
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
	if s.net != nil {
		_ = s.net.Close()
	}
}
