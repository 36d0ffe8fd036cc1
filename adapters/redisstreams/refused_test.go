package redisstreams_test

import (
	"errors"
	"testing"

	"github.com/siogo/siogo/adapters/redisstreams"
	"github.com/siogo/siogo/internal/redistest"
)

// TestRefused: NewClient returns a *RefusedError naming the address when
// Redis refuses the first connection; none when it cannot be reached.
func TestRefused(t *testing.T) {
	rs := redistest.StartWith(t, redistest.Options{Password: "right-pass"})
	for url, why := range map[string]string{
		"redis://:wrong-pass@" + rs.Addr + "/0":  "authentication failed",
		"redis://" + rs.Addr + "/0":              "authentication failed",
		"redis://:right-pass@" + rs.Addr + "/77": "database refused",
		"redis-cluster://:right-pass@" + rs.Addr: "not a Redis Cluster",
	} {
		_, err := redisstreams.NewClient(redisstreams.Options{URL: url, Logger: quiet})
		var refused *redisstreams.RefusedError
		if !errors.As(err, &refused) || refused.Addr != rs.Addr || refused.Reason != why {
			t.Errorf("%s: %v, want %q at %s", url, err, why, rs.Addr)
		}
	}
	rs.Kill()
	rc, err := redisstreams.NewClient(redisstreams.Options{URL: "redis://:right-pass@" + rs.Addr + "/0", Logger: quiet})
	if err != nil {
		t.Fatalf("an unreachable Redis at start: %v", err)
	}
	rc.Close()
}

// TestKeyPrefixes: the live copies' prefix and the sessions' may not
// begin with one another, or a pid a client sends could name a live copy
// for Node's nodes, which take any key SessionKeyPrefix+pid.
func TestKeyPrefixes(t *testing.T) {
	for _, o := range []redisstreams.Options{
		{LiveKeyPrefix: "sio:session:live:"},
		{LiveKeyPrefix: "sio:"},
		{SessionKeyPrefix: "sio:live:s:"},
	} {
		o.URL, o.Logger = "redis://127.0.0.1:1/0", quiet
		if rc, err := redisstreams.NewClient(o); err == nil {
			rc.Close()
			t.Errorf("LiveKeyPrefix %q with SessionKeyPrefix %q accepted", o.LiveKeyPrefix, o.SessionKeyPrefix)
		}
	}
}
