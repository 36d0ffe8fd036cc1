package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/wsconform"
)

// The Autobahn testsuite's cases (internal/wsconform) against the program's
// two WebSocket endpoints. The program runs with a tick of an hour: /ws
// would otherwise send its timestamp into the cases' echoes (the Socket.IO
// endpoint's timestamp events are told apart and ignored by the harness).
//
// By default the run is sized for `go test ./...` (every case, smaller):
// 10 messages per 9.7 and 9.8 case and 1 per 12 and 13 case where
// Autobahn sends 1000, and the messages of 9.1 to 9.6 (64 KiB to 16 MiB)
// cut to 256 KiB. SIOGO_AUTOBAHN=full (make
// autobahn) runs Autobahn's counts and sizes, up to 16 MiB messages, with
// --max-payload raised to 20 MB.

func TestAutobahnPlainWS(t *testing.T) {
	t.Parallel()
	runAutobahn(t, wsconform.Echo, "/ws", "autobahn-ws")
}

func TestAutobahnSocketIO(t *testing.T) {
	t.Parallel()
	runAutobahn(t, wsconform.SocketIO, "/socket.io/?EIO=4&transport=websocket", "autobahn-socketio")
}

// TestAutobahnLargePayload: with --max-payload past the 4 MiB write
// buffer, a message of the largest size is still sent back on both
// endpoints (the write buffers follow --max-payload).
func TestAutobahnLargePayload(t *testing.T) {
	t.Parallel()
	base := start(t, "--tick", "1h", "--max-payload", "6000000")
	for ep, path := range map[wsconform.Endpoint]string{wsconform.Echo: "/ws", wsconform.SocketIO: "/socket.io/?EIO=4&transport=websocket"} {
		rep := wsconform.Run(wsconform.Config{URL: "ws" + strings.TrimPrefix(base, "http") + path, Endpoint: ep,
			MaxMessage: 6e6, Cases: []string{"9.1.4", "L.1", "L.3"}, Timeout: 10 * time.Second})
		for _, r := range rep.Results {
			if r.Verdict != wsconform.OK {
				t.Errorf("%s %s: %s: %s", ep, r.ID, r.Verdict, r.Result)
			}
		}
	}
}

func runAutobahn(t *testing.T, ep wsconform.Endpoint, path, name string) {
	args := []string{"--tick", "1h"}
	// Timeout bounds only what a failing server makes the harness wait:
	// a long one costs nothing here, and spares a loaded machine.
	cfg := wsconform.Config{Endpoint: ep, Count: 10, DeflateCount: 1, SizeCap: 256 << 10, Timeout: 10 * time.Second}
	if os.Getenv("SIOGO_AUTOBAHN") == "full" {
		args = append(args, "--max-payload", "20000000")
		// A long run on a shared machine: each wait gets 30 s.
		cfg = wsconform.Config{Endpoint: ep, MaxMessage: 20e6, Timeout: 30 * time.Second, Log: t.Logf}
	}
	if ids := os.Getenv("SIOGO_AUTOBAHN_CASES"); ids != "" {
		cfg.Cases = strings.Split(ids, ",")
	}
	base := start(t, args...)
	cfg.URL = "ws" + strings.TrimPrefix(base, "http") + path
	rep := wsconform.Run(cfg)
	t.Logf("%s, %d cases:\n%s", cfg.URL, len(rep.Results), rep.Table())
	writeReport(t, name, rep)
	for _, l := range rep.Lines() {
		t.Log(l)
	}
	for _, r := range rep.Failed() {
		t.Errorf("case %s failed: %s / %s: %s", r.ID, r.Behavior, r.BehaviorClose, r.Result)
	}
	// Compression is on by default: no deflate case may find it declined.
	for _, r := range rep.Results {
		if r.Verdict == wsconform.Unimplemented {
			t.Errorf("case %s: %s", r.ID, r.Result)
		}
	}
}

// writeReport keeps the run's results in test/output for reading.
func writeReport(t *testing.T, name string, rep *wsconform.Report) {
	out := filepath.Join(repoRoot(t), "test", "output")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(rep, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, name+".json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
