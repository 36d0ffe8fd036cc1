package adapterwire_test

import (
	"encoding/json"
	"fmt"

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
