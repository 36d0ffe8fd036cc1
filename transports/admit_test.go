package transports_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/siogo/siogo/transports"
)

// TestAdmit: connections an application admits beside Engine.IO share the
// bounds with its sessions: per address, in all, and the handshake rate;
// a refusal is the one a handshake gets; release gives the place back,
// once; after Shutdown nothing is admitted.
func TestAdmit(t *testing.T) {
	e := newEchoServer(t, transports.Options{MaxSessions: 4, MaxSessionsPerAddr: 2})
	req := func(addr string) *http.Request {
		r := httptest.NewRequest("GET", "/ws", nil)
		r.RemoteAddr = addr
		return r
	}
	refusal := func(err error) string {
		var re *transports.RequestError
		if !errors.As(err, &re) {
			t.Fatalf("refusal %v is not a *RequestError", err)
		}
		w := httptest.NewRecorder()
		re.ServeHTTP(w, nil)
		return w.Result().Status + " " + w.Body.String()
	}
	relA, err := e.Admit(req("192.0.2.1:1000"))
	if err != nil {
		t.Fatal(err)
	}
	handshake(t, e.URL, "EIO=4") // from 127.0.0.1
	if _, err := e.Admit(req("192.0.2.1:1001")); err != nil {
		t.Fatal(err)
	}
	// 192.0.2.1 holds two: its bound.
	if _, err := e.Admit(req("192.0.2.1:1002")); err == nil {
		t.Fatal("a third connection of one address admitted")
	} else if got := refusal(err); got != `429 Too Many Requests {"code":3,"message":"Too many connections from this address"}` {
		t.Fatalf("refusal %s", got)
	}
	if _, err := e.Admit(req("192.0.2.2:1000")); err != nil {
		t.Fatal(err)
	}
	// Four in all, the Engine.IO session included: the server's bound.
	if _, err := e.Admit(req("192.0.2.3:1000")); err == nil {
		t.Fatal("a fifth connection admitted")
	} else if got := refusal(err); got != `503 Service Unavailable {"code":3,"message":"Server at capacity"}` {
		t.Fatalf("refusal %s", got)
	}
	if r := do(t, "GET", e.URL+"/engine.io/?EIO=4&transport=polling", "", nil); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("a handshake past the admitted ones: %d %s", r.Status, r.Body)
	}
	relA()
	relA() // a second call does nothing
	if e.Count() != 1 {
		t.Fatalf("Count %d, want the one session", e.Count())
	}
	relB, err := e.Admit(req("192.0.2.3:1000"))
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	defer relB()
	if _, err := e.Admit(req("192.0.2.4:1000")); err == nil {
		t.Fatal("the second release counted twice")
	}

	rate := newEchoServer(t, transports.Options{MaxHandshakesPerSecondPerAddr: 1})
	handshake(t, rate.URL, "EIO=4")
	if _, err := rate.Admit(req("127.0.0.1:1")); err == nil {
		t.Fatal("an admission past the handshake rate")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = rate.Shutdown(ctx) // its polling session never takes its close packet
	if _, err := rate.Admit(req("192.0.2.9:1")); err == nil {
		t.Fatal("admitted after Shutdown")
	}
}
