package server_test

import (
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/siogo/siogo/server"
	"github.com/siogo/siogo/transports"
)

func fetch(t *testing.T, srv http.Handler, method, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	r := res.Body
	if res.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The client bundles, as Node's serveClient serves them: cache headers,
// an ETag that If-None-Match turns into 304, gzip, the source maps as
// JSON, and the other paths left to Engine.IO.
func TestServeClient(t *testing.T) {
	src := "/* Socket.IO v4 */ " + strings.Repeat("var io = 1; ", 200)
	files := fstest.MapFS{
		"socket.io.js":     {Data: []byte(src)},
		"socket.io.js.map": {Data: []byte(`{"version":3}`)},
	}
	srv, err := server.New(server.Options{ClientFiles: files})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	res := fetch(t, srv, "GET", "/socket.io/socket.io.js?v=1")
	etag := res.Header.Get("ETag")
	if res.StatusCode != 200 || body(t, res) != src || res.Header.Get("Content-Type") != "application/javascript; charset=utf-8" ||
		res.Header.Get("Cache-Control") != "public, max-age=0" || !strings.HasPrefix(etag, `"`) {
		t.Fatalf("%d %v", res.StatusCode, res.Header)
	}
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag} {
		if res := fetch(t, srv, "GET", "/socket.io/socket.io.js", "If-None-Match", inm); res.StatusCode != 304 {
			t.Fatalf("If-None-Match %s: %d", inm, res.StatusCode)
		}
	}
	if res := fetch(t, srv, "GET", "/socket.io/socket.io.js", "If-None-Match", `"other"`); res.StatusCode != 200 {
		t.Fatalf("another ETag: %d", res.StatusCode)
	}
	res = fetch(t, srv, "GET", "/socket.io/socket.io.js", "Accept-Encoding", "br, gzip;q=0.8")
	if res.Header.Get("Content-Encoding") != "gzip" || body(t, res) != src {
		t.Fatalf("gzip: %v", res.Header)
	}
	if res := fetch(t, srv, "GET", "/socket.io/socket.io.js", "Accept-Encoding", "gzip;q=0"); res.Header.Get("Content-Encoding") != "" {
		t.Fatal("gzip sent to a client that refuses it")
	}
	if res := fetch(t, srv, "HEAD", "/socket.io/socket.io.js"); res.StatusCode != 200 || body(t, res) != "" || res.ContentLength != int64(len(src)) {
		t.Fatalf("HEAD: %d %d", res.StatusCode, res.ContentLength)
	}
	if res := fetch(t, srv, "GET", "/socket.io/socket.io.js.map"); res.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("map: %v", res.Header)
	}
	if res := fetch(t, srv, "GET", "/socket.io/socket.io.min.js"); res.StatusCode != 404 {
		t.Fatalf("a bundle not in ClientFiles: %d", res.StatusCode)
	}
	if res := fetch(t, srv, "GET", "/socket.io/other.js"); res.StatusCode != 400 || !strings.Contains(body(t, res), "Transport unknown") {
		t.Fatalf("another path: %d", res.StatusCode)
	}
	if res := fetch(t, srv, "POST", "/socket.io/socket.io.js"); res.StatusCode != 400 {
		t.Fatalf("POST: %d", res.StatusCode)
	}
}

// Without ClientFiles the bundles' paths say why they are missing; with
// DisableServeClient they are Engine.IO's, as with Node's serveClient:
// false.
func TestServeClientUnset(t *testing.T) {
	srv, _ := server.New(server.Options{})
	defer srv.Close()
	if res := fetch(t, srv, "GET", "/socket.io/socket.io.min.js"); res.StatusCode != 404 || !strings.Contains(body(t, res), "ClientFiles") {
		t.Fatalf("%d", res.StatusCode)
	}
	off, _ := server.New(server.Options{DisableServeClient: true})
	defer off.Close()
	if res := fetch(t, off, "GET", "/socket.io/socket.io.min.js"); res.StatusCode != 400 {
		t.Fatalf("disabled: %d", res.StatusCode)
	}
}

// The bundles of the npm package, as the program serves them.
func TestServeClientNpmBundle(t *testing.T) {
	dir := filepath.Join("..", "public", "node_modules", "socket.io-client", "dist")
	if _, err := os.Stat(filepath.Join(dir, "socket.io.min.js")); err != nil {
		t.Fatalf("socket.io-client is not installed: run: cd public && npm ci (%v)", err)
	}
	srv, _ := server.New(server.Options{ClientFiles: os.DirFS(dir)})
	defer srv.Close()
	for _, name := range []string{"socket.io.js", "socket.io.min.js", "socket.io.msgpack.min.js", "socket.io.esm.min.js", "socket.io.min.js.map"} {
		if res := fetch(t, srv, "GET", "/socket.io/"+name); res.StatusCode != 200 || !strings.Contains(body(t, res), "io") {
			t.Errorf("%s: %d", name, res.StatusCode)
		}
	}
}

// New refuses options it cannot honour.
func TestNewRefusesOptions(t *testing.T) {
	for name, opts := range map[string]server.Options{
		"OnSession":       {Engine: transports.Options{OnSession: func(*transports.Session) {}}},
		"ConnectTimeout":  {ConnectTimeout: -1},
		"MaxPending":      {MaxPendingEvents: -1},
		"HandlerMode":     {HandlerMode: 9},
		"ClientFiles":     {ClientFiles: fstest.MapFS{}, DisableServeClient: true},
		"RecoveryPackets": {Recovery: &server.RecoveryOptions{MaxPackets: -1}},
	} {
		if _, err := server.New(opts); !errors.Is(err, server.ErrOptions) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
