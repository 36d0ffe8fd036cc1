package shared_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"

	"github.com/siogo/siogo/adapters/cluster"
	"github.com/siogo/siogo/transports"
	"github.com/siogo/siogo/transports/shared"
)

// Two Engine.IO nodes on one broker (here in memory; in production the
// Redis or PostgreSQL adapter's client): a session opened on the first is
// served by the second, which relays its requests to the first.
func ExampleSessions_Handler() {
	broker := cluster.NewMemoryBroker()
	defer broker.Close()
	newNode := func() (*httptest.Server, func()) {
		sh, err := shared.New(broker, shared.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			panic(err)
		}
		eng, err := transports.NewServer(transports.Options{
			NewSessionID: sh.NewSessionID, // the ids name their owner
			OnSession: func(s *transports.Session) {
				s.OnMessage(func(data []byte, binary bool) {
					s.Send(transports.Packet{Type: transports.PacketMessage, Data: bytes.Clone(data), Binary: binary})
				})
			},
		})
		if err != nil {
			panic(err)
		}
		hs := httptest.NewServer(sh.Handler(eng))
		return hs, func() { hs.Close(); sh.Close(); eng.Close() }
	}
	first, stop1 := newNode()
	defer stop1()
	second, stop2 := newNode()
	defer stop2()

	res, _ := http.Get(first.URL + "/engine.io/?EIO=4&transport=polling")
	open, _ := io.ReadAll(res.Body)
	res.Body.Close()
	sid := regexp.MustCompile(`"sid":"([^"]+)"`).FindSubmatch(open)[1]

	// Every later request goes to the other node, as a round-robin
	// balancer may send it.
	url := second.URL + "/engine.io/?EIO=4&transport=polling&sid=" + string(sid)
	res, _ = http.Post(url, "text/plain", strings.NewReader("4hello"))
	res.Body.Close()
	res, _ = http.Get(url)
	echo, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Printf("%s %q\n", res.Status, echo)
	// Output: 200 OK "4hello"
}
