package transports_test

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/siogo/siogo/transports"
)

// TestKeepHeaders: with KeepHeaders a session keeps the fields named (in
// any case) and nothing else, over polling and over WebSocket; without it,
// every field.
func TestKeepHeaders(t *testing.T) {
	extra := [][2]string{{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0"}, {"Accept-Language", "en-US,en;q=0.9"}, {"X-Token", "abc"}}
	for _, tc := range []struct {
		name string
		keep []string
		want []string // fields expected among extra's
	}{
		{"all", nil, []string{"User-Agent", "Accept-Language", "X-Token"}},
		{"some", []string{"user-agent", "x-token", "X-Absent"}, []string{"User-Agent", "X-Token"}},
		{"none", []string{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEchoServer(t, transports.Options{KeepHeaders: tc.keep})
			check := func(transport string, h http.Header) {
				t.Helper()
				var got []string
				for _, kv := range extra {
					if v := h.Get(kv[0]); v != "" {
						if v != kv[1] {
							t.Errorf("%s: %s = %q, want %q", transport, kv[0], v, kv[1])
						}
						got = append(got, kv[0])
					}
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("%s: kept %v, want %v (header %v)", transport, got, tc.want, h)
				}
				if tc.keep != nil && len(h) != len(tc.want) {
					t.Errorf("%s: kept %d fields, want %d: %v", transport, len(h), len(tc.want), h)
				}
				if tc.keep == nil && h.Get("Sec-Websocket-Key") != "" {
					t.Errorf("%s: kept the WebSocket handshake's own fields: %v", transport, h)
				}
			}

			var hdr []string
			lines := ""
			for _, kv := range extra {
				hdr = append(hdr, kv[0], kv[1])
				lines += kv[0] + ": " + kv[1] + "\r\n"
			}
			r := do(t, "GET", e.URL+"/engine.io/?EIO=4&transport=polling", "", nil, hdr...)
			m := sidPattern.FindSubmatch(r.Body)
			if m == nil {
				t.Fatalf("handshake %q", r.Body)
			}
			check("polling", e.session(t, string(m[1])).Header())

			c, _ := dialWSHeader(t, e.URL, "EIO=4", lines)
			_, open := c.read()
			m = sidPattern.FindSubmatch([]byte(open))
			if m == nil {
				t.Fatalf("open packet %q", open)
			}
			check("websocket", e.session(t, string(m[1])).Header())
		})
	}
}

// TestKeepHeadersXDomainSecure: XDomain and Secure come from the handshake
// itself, so a session that keeps no header still reports them, as Node's
// handshake.xdomain and handshake.secure do.
func TestKeepHeadersXDomainSecure(t *testing.T) {
	e := newEchoServer(t, transports.Options{KeepHeaders: []string{}})
	sid := func(hdr ...string) string {
		r := do(t, "GET", e.URL+"/engine.io/?EIO=4&transport=polling", "", nil, hdr...)
		m := sidPattern.FindSubmatch(r.Body)
		if m == nil {
			t.Fatalf("handshake %q", r.Body)
		}
		return string(m[1])
	}
	s := e.session(t, sid("Origin", "http://example.com", "X-Forwarded-Proto", "https"))
	if !s.XDomain() || !s.Secure() || len(s.Header()) != 0 {
		t.Errorf("XDomain %v, Secure %v, header %v: want true, true, none", s.XDomain(), s.Secure(), s.Header())
	}
	s = e.session(t, sid())
	if s.XDomain() || s.Secure() {
		t.Errorf("XDomain %v, Secure %v without Origin or TLS, want false", s.XDomain(), s.Secure())
	}
}
