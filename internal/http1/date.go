package http1

import (
	"sync/atomic"
	"time"
)

// dateCache holds the Date header value of the current second: formatting
// it costs more than the rest of a small response head.
type dateCache struct {
	sec int64
	b   [len(http1TimeFormatSample)]byte
}

const http1TimeFormatSample = "Mon, 02 Jan 2006 15:04:05 GMT"

var currentDate atomic.Pointer[dateCache]

// appendDate appends now in the form of the Date header (RFC 9110 IMF-fixdate).
func appendDate(b []byte, now time.Time) []byte {
	sec := now.Unix()
	d := currentDate.Load()
	if d == nil || d.sec != sec {
		d = &dateCache{sec: sec}
		now.UTC().AppendFormat(d.b[:0], "Mon, 02 Jan 2006 15:04:05 GMT")
		currentDate.Store(d)
	}
	return append(b, d.b[:]...)
}
