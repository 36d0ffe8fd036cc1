package main

import (
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/pgtest"
	"github.com/siogo/siogo/internal/redistest"
	"github.com/siogo/siogo/transports/shared"
)

// TestSessionsFlag: --sessions takes local or shared; shared wants a
// cluster adapter.
func TestSessionsFlag(t *testing.T) {
	none := func(string) string { return "" }
	if _, err := parseConfig([]string{"--sessions", "sticky"}, none, io.Discard); err == nil {
		t.Error("--sessions sticky accepted")
	}
	_, err := parseConfig([]string{"--sessions", "shared"}, none, io.Discard)
	if !errors.Is(err, errSharedNeedsBroker) || !strings.Contains(err.Error(), "redis://") {
		t.Errorf("--sessions shared on the memory adapter: %v", err)
	}
	cfg, err := parseConfig(nil, func(k string) string {
		return map[string]string{"SIOGO_SESSIONS": "shared", "SIOGO_ADAPTER": "redis://127.0.0.1:1/0"}[k]
	}, io.Discard)
	if err != nil || cfg.Sessions != "shared" {
		t.Errorf("SIOGO_SESSIONS=shared: %v %q", err, cfg.Sessions)
	}
}

// TestSharedSessionsProgram: two nodes of the program with --sessions
// shared on each kind of broker (Redis pub/sub, Redis Streams,
// PostgreSQL); a session opened on one is served by the other, and
// /metrics counts what was relayed.
func TestSharedSessionsProgram(t *testing.T) {
	for _, broker := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"redis", func(t *testing.T) string { return redistest.Start(t).URL }},
		{"redis-streams", func(t *testing.T) string {
			return strings.Replace(redistest.Start(t).URL, "redis://", "redis-streams://", 1)
		}},
		{"postgres", func(t *testing.T) string { return pgtest.Start(t).URL }},
	} {
		t.Run(broker.name, func(t *testing.T) { testSharedSessions(t, broker.url(t)) })
	}
}

func testSharedSessions(t *testing.T, adapter string) {
	a := start(t, "--adapter", adapter, "--sessions", "shared")
	b := start(t, "--adapter", adapter, "--sessions", "shared")
	// Ready once each node's relay channel is subscribed.
	for _, n := range []string{a, b} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			code, _ := get(t, n+"/readyz")
			if code == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready: %d", n, code)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	_, open := get(t, a+"/socket.io/?EIO=4&transport=polling")
	m := regexp.MustCompile(`"sid":"([^"]+)"`).FindStringSubmatch(open)
	if m == nil || shared.Owner(m[1]) == "" {
		t.Fatalf("handshake: %q", open)
	}
	u := b + "/socket.io/?EIO=4&transport=polling&sid=" + m[1]
	res, err := http.Post(u, "text/plain", strings.NewReader(`40`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("relayed post: %d", res.StatusCode)
	}
	if code, body := get(t, u); code != 200 || !strings.HasPrefix(body, "40{") {
		t.Fatalf("relayed poll: %d %q", code, body)
	}
	// The client closes: the nodes' shutdown has no session to drain.
	if res, err := http.Post(u, "text/plain", strings.NewReader("1")); err == nil {
		res.Body.Close()
	}
	_, metrics := get(t, b+"/metrics")
	for _, want := range []string{
		`siogo_forwarded_requests_total{kind="post",outcome="ok"} 2`,
		`siogo_forwarded_requests_total{kind="poll",outcome="ok"} 1`,
		`siogo_forwarded_request_seconds_count{kind="poll"} 1`,
		`siogo_relayed_websockets 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
