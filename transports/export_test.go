package transports

import "time"

// SetClock sets the clock of s's per-address limits, for tests at their
// edges.
func SetClock(s *Server, now func() time.Time) { s.limits.now = now }
