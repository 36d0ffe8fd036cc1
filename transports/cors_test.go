package transports_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siogo/siogo/transports"
)

// corsHeaders is what a client sees of CORS in a response: each field's
// lines as they came (a Vary in two lines differs from one line naming
// both).
func corsHeaders(h http.Header) map[string][]string {
	out := map[string][]string{}
	for k, v := range h {
		if strings.HasPrefix(k, "Access-Control-") || k == "Vary" {
			out[k] = v
		}
	}
	return out
}

// wsHeader sends a WebSocket handshake with extra header lines and
// returns the status and header of the answer.
func wsHeader(t *testing.T, base, query, extra string) (int, http.Header) {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /engine.io/?transport=websocket&%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
		query, u.Host, extra)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header
}

// TestCORSLikeNode: each configuration answers as Node's cors package
// does under engine.io (cmd/siogo compares with Node itself): a wildcard
// is a literal * without Vary, a list reflects only an origin it names and
// always varies on Origin, credentials are said on every response, a
// preflight always names the methods and varies on the request's headers,
// in one Vary line; the headers reach a WebSocket's 101 too.
func TestCORSLikeNode(t *testing.T) {
	const methods = "GET,HEAD,PUT,PATCH,POST,DELETE"
	type hdr = map[string][]string
	cases := []struct {
		name    string
		cors    transports.CORS
		method  string
		origin  string
		reqHdrs string
		status  int
		want    hdr
	}{
		{"any, GET", transports.CORS{Origins: []string{"*"}}, "GET", "https://x.example", "", 200,
			hdr{"Access-Control-Allow-Origin": {"*"}}},
		{"any, GET without Origin", transports.CORS{Origins: []string{"*"}}, "GET", "", "", 200,
			hdr{"Access-Control-Allow-Origin": {"*"}}},
		{"any with credentials, GET", transports.CORS{Origins: []string{"*"}, Credentials: true}, "GET", "https://x.example", "", 200,
			hdr{"Access-Control-Allow-Origin": {"*"}, "Access-Control-Allow-Credentials": {"true"}}},
		{"any, preflight", transports.CORS{Origins: []string{"*"}}, "OPTIONS", "https://x.example", "content-type", 204,
			hdr{"Access-Control-Allow-Origin": {"*"}, "Access-Control-Allow-Methods": {methods},
				"Access-Control-Allow-Headers": {"content-type"}, "Vary": {"Access-Control-Request-Headers"}}},
		{"list, named origin", transports.CORS{Origins: []string{"https://a.example", "https://b.example"}, Credentials: true}, "GET", "https://b.example", "", 200,
			hdr{"Access-Control-Allow-Origin": {"https://b.example"}, "Vary": {"Origin"}, "Access-Control-Allow-Credentials": {"true"}}},
		{"list, other origin", transports.CORS{Origins: []string{"https://a.example"}, Credentials: true}, "GET", "https://evil.example", "", 200,
			hdr{"Vary": {"Origin"}, "Access-Control-Allow-Credentials": {"true"}}},
		{"list, no origin", transports.CORS{Origins: []string{"https://a.example"}}, "GET", "", "", 200,
			hdr{"Vary": {"Origin"}}},
		{"list, preflight", transports.CORS{Origins: []string{"https://a.example"}, Credentials: true}, "OPTIONS", "https://a.example", "content-type, x-token", 204,
			hdr{"Access-Control-Allow-Origin": {"https://a.example"}, "Vary": {"Origin, Access-Control-Request-Headers"},
				"Access-Control-Allow-Credentials": {"true"}, "Access-Control-Allow-Methods": {methods},
				"Access-Control-Allow-Headers": {"content-type, x-token"}}},
		{"list, preflight of another origin", transports.CORS{Origins: []string{"https://a.example"}, Credentials: true}, "OPTIONS", "https://evil.example", "", 204,
			hdr{"Vary": {"Origin, Access-Control-Request-Headers"}, "Access-Control-Allow-Credentials": {"true"},
				"Access-Control-Allow-Methods": {methods}}},
		{"configured preflight", transports.CORS{Origins: []string{"*"}, Methods: []string{"GET", "POST"}, AllowedHeaders: []string{"x-a", "x-b"},
			ExposedHeaders: []string{"x-c"}, MaxAge: time.Minute}, "OPTIONS", "https://x.example", "x-z", 204,
			hdr{"Access-Control-Allow-Origin": {"*"}, "Access-Control-Allow-Methods": {"GET,POST"}, "Access-Control-Allow-Headers": {"x-a,x-b"},
				"Access-Control-Max-Age": {"60"}, "Access-Control-Expose-Headers": {"x-c"}}},
		{"function, allowed", transports.CORS{AllowOrigin: func(o string) bool { return o == "https://f.example" }}, "GET", "https://f.example", "", 200,
			hdr{"Access-Control-Allow-Origin": {"https://f.example"}, "Vary": {"Origin"}}},
		// cors then calls next() alone: no header, and the OPTIONS goes
		// on to Engine.IO, which refuses a handshake that is not a GET.
		{"function, refused preflight", transports.CORS{AllowOrigin: func(o string) bool { return o == "https://f.example" }, Credentials: true}, "OPTIONS", "https://evil.example", "", 400,
			hdr{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cors := c.cors
			e := newEchoServer(t, transports.Options{CORS: &cors})
			var h []string
			if c.origin != "" {
				h = append(h, "Origin", c.origin)
			}
			if c.reqHdrs != "" {
				h = append(h, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", c.reqHdrs)
			}
			r := do(t, c.method, e.URL+"/engine.io/?EIO=4&transport=polling", "", nil, h...)
			if r.Status != c.status {
				t.Fatalf("status %d, want %d (%s)", r.Status, c.status, r.Body)
			}
			if got := corsHeaders(r.Header); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("headers\n got %v\nwant %v", got, c.want)
			}
			if c.status == 204 && len(r.Body) != 0 {
				t.Fatalf("preflight body %q", r.Body)
			}
			if c.method != "GET" || c.origin == "" {
				return
			}
			// The WebSocket handshake's 101 carries them too.
			status, hdr := wsHeader(t, e.URL, "EIO=4", "Origin: "+c.origin+"\r\n")
			if status == http.StatusForbidden {
				return // the origin check, siogo's own
			}
			if status != http.StatusSwitchingProtocols {
				t.Fatalf("websocket: %d", status)
			}
			if got := corsHeaders(hdr); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("101 headers\n got %v\nwant %v", got, c.want)
			}
		})
	}
}

// TestCORSVaryKept: a Vary set before the Engine.IO handler (by a
// middleware) is extended, as Node's vary package does, not repeated.
func TestCORSVaryKept(t *testing.T) {
	e := newEchoServer(t, transports.Options{CORS: &transports.CORS{Origins: []string{"https://a.example"}}})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Encoding, origin")
		e.Server.ServeHTTP(w, r)
	})
	rec := &headerRecorder{h: http.Header{}}
	req, _ := http.NewRequest("OPTIONS", "/engine.io/?EIO=4&transport=polling", nil)
	req.Header.Set("Origin", "https://a.example")
	h.ServeHTTP(rec, req)
	if got := rec.h.Values("Vary"); !slices.Equal(got, []string{"Accept-Encoding, origin, Access-Control-Request-Headers"}) {
		t.Fatalf("Vary %q", got)
	}
}

type headerRecorder struct {
	h      http.Header
	status int
}

func (r *headerRecorder) Header() http.Header         { return r.h }
func (r *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *headerRecorder) WriteHeader(s int)           { r.status = s }
