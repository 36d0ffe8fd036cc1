package websocket_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/websocket"
	"github.com/siogo/siogo/internal/wsconform"
)

// TestAutobahn runs the Autobahn testsuite's cases (internal/wsconform)
// against an echo server on this package alone, compression on, sized
// down for a quick run; cmd/siogo runs them against the program's /ws and
// Socket.IO endpoints, and make autobahn at Autobahn's full sizes.
func TestAutobahn(t *testing.T) {
	ws, err := websocket.NewServer(websocket.Config{Compression: true})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = ws.Upgrade(w, r, nil, echo{})
	}))
	defer ws.Close()
	defer hs.Close()
	rep := wsconform.Run(wsconform.Config{
		URL:   "ws" + strings.TrimPrefix(hs.URL, "http"),
		Count: 5, DeflateCount: 1, SizeCap: 64 << 10,
		Timeout: 10 * time.Second, // reached only by a failing server
	})
	t.Logf("%d cases:\n%s", len(rep.Results), rep.Table())
	for _, l := range rep.Lines() {
		t.Log(l)
	}
	for _, r := range rep.Results {
		if r.Verdict != wsconform.OK && r.Verdict != wsconform.Informational {
			t.Errorf("case %s: %s (%s / %s): %s", r.ID, r.Verdict, r.Behavior, r.BehaviorClose, r.Result)
		}
	}
}
