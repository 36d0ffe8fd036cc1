package redis

import (
	"encoding/json"

	"github.com/siogo/siogo/internal/mpack"
	"github.com/siogo/siogo/internal/num"
)

func intOf(v any) (int64, bool) { return num.Int64(v) }

// decodeRequest reads a request or response: JSON when it starts with
// '{', msgpack otherwise, as Node's adapter decides.
func decodeRequest(b []byte) (map[string]any, bool) {
	var v any
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, false
		}
	} else {
		var err error
		if v, err = mpack.Decode(b); err != nil {
			return nil, false
		}
	}
	m, ok := v.(map[string]any)
	return m, ok
}
