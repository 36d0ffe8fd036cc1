package transports

import "time"

// SetClock sets the clock of s's per-address limits, for tests at their
// edges.
func SetClock(s *Server, now func() time.Time) { s.limits.now = now }

// SetSettleAccepts turns the settling of HTTPServer's accepts on or off.
func SetSettleAccepts(on bool) { settleAccepts = on }

// SettleStats is how many of hs's accepts waited for a barrier, and how
// long in all.
func SettleStats(hs *HTTPServer) (int64, time.Duration) { return hs.settler.Barriers() }
