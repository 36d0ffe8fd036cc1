package redis

import "testing"

func TestUnknownScheme(t *testing.T) {
	if _, err := NewClient(Options{URL: "cluster://h1:1"}); err == nil {
		t.Error("an unknown scheme accepted")
	}
}
