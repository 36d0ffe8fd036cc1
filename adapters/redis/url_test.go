package redis

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/siogo/siogo/internal/redistest"
)

func TestUnknownScheme(t *testing.T) {
	if _, err := NewClient(Options{URL: "cluster://h1:1"}); err == nil {
		t.Error("an unknown scheme accepted")
	}
}

// TestRefused: NewClient returns a *RefusedError, naming the address and
// not the password, when Redis refuses the first connection; none when it
// cannot be reached (it is retried).
func TestRefused(t *testing.T) {
	rs := redistest.StartWith(t, redistest.Options{Password: "right-pass"})
	for url, why := range map[string]string{
		"redis://:wrong-pass@" + rs.Addr + "/0":  "authentication failed",
		"redis://:right-pass@" + rs.Addr + "/77": "database refused",
		"redis-cluster://:right-pass@" + rs.Addr: "not a Redis Cluster",
	} {
		_, err := NewClient(Options{URL: url})
		var refused *RefusedError
		if !errors.As(err, &refused) || refused.Addr != rs.Addr || refused.Reason != why {
			t.Errorf("%s: %v, want %q at %s", url, err, why, rs.Addr)
		} else if strings.Contains(err.Error(), "wrong-pass") || strings.Contains(err.Error(), "right-pass") {
			t.Errorf("%s: the error shows the password: %v", url, err)
		}
	}
	rs.Kill()
	rc, err := NewClient(Options{URL: "redis://:right-pass@" + rs.Addr + "/0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("an unreachable Redis at start: %v", err)
	}
	rc.Close()
}
