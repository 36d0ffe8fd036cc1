package main

import (
	"regexp"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/redistest"
	"github.com/siogo/siogo/internal/siotest"
)

// TestRecoveryFlag: with --recovery the demo's events carry their offset
// as a last argument, as Node's do; acknowledgements do not. With the
// streams adapter the offset of an echo or a broadcast is its stream
// entry id, and a local broadcast (the tick) carries none, as with Node's
// cluster adapters.
func TestRecoveryFlag(t *testing.T) {
	rs := redistest.Start(t)
	cases := []struct {
		args            []string
		echo, broadcast *regexp.Regexp
		tick            *regexp.Regexp
	}{
		{[]string{"--tick", "200ms"},
			regexp.MustCompile(`^42\["message","hi"\]$`), regexp.MustCompile(`^42\["broadcast","all"\]$`), regexp.MustCompile(`^42\["timestamp",\d+\]$`)},
		{[]string{"--tick", "200ms", "--recovery", "1m"},
			regexp.MustCompile(`^42\["message","hi","[0-9a-z]+-[0-9a-z]+"\]$`), regexp.MustCompile(`^42\["broadcast","all","[0-9a-z]+-[0-9a-z]+"\]$`), regexp.MustCompile(`^42\["timestamp",\d+,"[0-9a-z]+-[0-9a-z]+"\]$`)},
		{[]string{"--tick", "200ms", "--recovery", "1m", "--adapter", "redis-streams://" + rs.URL[len("redis://"):]},
			regexp.MustCompile(`^42\["message","hi","\d+-\d+"\]$`), regexp.MustCompile(`^42\["broadcast","all","\d+-\d+"\]$`), regexp.MustCompile(`^42\["timestamp",\d+\]$`)},
	}
	for _, tc := range cases {
		base := start(t, append([]string{"--shutdown-timeout", "1s"}, tc.args...)...)
		waitReady(t, base, 200)
		c := siotest.Dial(t, base)
		c.Connect()
		c.Send(`421["message","hi"]`)
		c.Send(`42["broadcast","all"]`)
		var echo, ack, bc, tick bool
		deadline := time.Now().Add(5 * time.Second)
		for !(echo && ack && bc && tick) {
			if time.Now().After(deadline) {
				t.Fatalf("%v: echo %v ack %v broadcast %v tick %v", tc.args, echo, ack, bc, tick)
			}
			for _, p := range c.Poll() {
				switch {
				case tc.echo.MatchString(p):
					echo = true
				case p == `431["hi"]`:
					ack = true
				case tc.broadcast.MatchString(p):
					bc = true
				case tc.tick.MatchString(p):
					tick = true
				case p == "43[]":
				default:
					t.Fatalf("%v: unexpected %q", tc.args, p)
				}
			}
		}
	}
}
