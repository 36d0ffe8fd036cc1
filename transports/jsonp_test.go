package transports_test

import (
	"net/http"
	"testing"

	"github.com/siogo/siogo/transports"
)

// TestDisableJSONP: with JSONP off a JSONP handshake (the j parameter, any
// value, even empty) gets what Node answers a transport it does not serve;
// XHR polling and WebSocket go on, and an XHR session's requests are not
// refused for a stray j (Node picks JSONP at the handshake only).
func TestDisableJSONP(t *testing.T) {
	e := newEchoServer(t, transports.Options{DisableJSONP: true})
	const unknown = `{"code":0,"message":"Transport unknown"}`
	for _, q := range []string{"EIO=3&transport=polling&j=0", "EIO=4&transport=polling&j=", "EIO=3&j=1&transport=polling&b64=1"} {
		r := do(t, "GET", e.URL+"/engine.io/?"+q, "", nil)
		if r.Status != http.StatusBadRequest || string(r.Body) != unknown || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %q %s", q, r.Status, r.Header.Get("Content-Type"), r.Body)
		}
	}
	sid := handshake(t, e.URL, "EIO=3")
	r := do(t, "POST", e.URL+"/engine.io/?EIO=3&transport=polling&j=0&sid="+sid, "text/plain", []byte("6:4hello"))
	if r.Status != 200 {
		t.Fatalf("post of an XHR session with j: %d %s", r.Status, r.Body)
	}
	if r := do(t, "GET", e.URL+"/engine.io/?EIO=3&transport=polling&j=0&sid="+sid, "", nil); string(r.Body) != "6:4hello" {
		t.Fatalf("poll of an XHR session with j: %d %q", r.Status, r.Body)
	}
	if status, body := wsAttempt(t, e.URL, "EIO=4&j=0", ""); status != http.StatusSwitchingProtocols {
		t.Fatalf("WebSocket: %d %s", status, body)
	}
	// On by default, as Node.
	on := newEchoServer(t, transports.Options{})
	if r := do(t, "GET", on.URL+"/engine.io/?EIO=3&transport=polling&j=0", "", nil); r.Status != 200 {
		t.Fatalf("JSONP by default: %d %s", r.Status, r.Body)
	}
}
