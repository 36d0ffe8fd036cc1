package adapterwire_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/siogo/siogo/internal/adapterwire"
	"github.com/siogo/siogo/server"
)

// Broadcast options as Node's cluster adapters write them, and back.
func ExampleOptions() {
	opts := server.BroadcastOptions{Rooms: []string{"news"}, Flags: server.BroadcastFlags{Volatile: true}}
	b, _ := json.Marshal(adapterwire.Options(opts))
	fmt.Println(string(b))
	var v any
	_ = json.Unmarshal(b, &v)
	back := adapterwire.OptionsFrom(v)
	fmt.Println(back.Rooms, back.Flags.Volatile)
	// Output:
	// {"except":[],"flags":{"volatile":true},"rooms":["news"]}
	// [news] true
}

// A request to two other nodes, answered by both.
func ExampleRequests() {
	r := adapterwire.NewRequests()
	p := &adapterwire.Pending{Expected: 2}
	err := r.Wait(context.Background(), "req1", p, func() error {
		// Publishing the request; the answers come in from the other nodes.
		go r.Answer(nil, "req1", nil, "pong from B", true)
		go r.Answer(nil, "req1", nil, "pong from C", true)
		return nil
	}, time.Second, func(answered, expected int) error {
		return errors.New("timeout")
	})
	fmt.Println(err, len(p.Answers))
	// Output: <nil> 2
}
