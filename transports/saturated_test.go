package transports_test

import (
	"testing"

	"github.com/siogo/siogo/internal/cpuhog"
)

// TestOfficialClientsSaturated is TestOfficialClients with every core kept
// busy by processes the test starts. The official clients' first WebSocket
// exchange used to stall there about 2 rounds in 10: nbio's dup of the
// upgraded descriptor was inherited by the clients' own processes, started
// while other connections were open. siogo's loop takes every descriptor
// close-on-exec from birth. Twenty rounds in a row: go test -race -run
// OfficialClientsSaturated -count=20 ./transports (make saturated),
// recorded in docs/reliability.md.
func TestOfficialClientsSaturated(t *testing.T) {
	cpuhog.Start(t, 0)
	TestOfficialClients(t)
}

// TestOfficialClientsEventLoopSaturated is the same on the event-loop HTTP
// server (transports.HTTPServer), clients in parallel, under the race
// detector: where they once stalled, when nbio's accepted sockets were
// not close-on-exec (bench/README.md, "Long-polling memory").
func TestOfficialClientsEventLoopSaturated(t *testing.T) {
	cpuhog.Start(t, 0)
	onEventLoop = true
	defer func() { onEventLoop = false }()
	TestOfficialClients(t)
}
