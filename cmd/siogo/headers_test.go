package main

import (
	"io"
	"reflect"
	"testing"
)

// TestKeepHeaders: by default the program keeps no handshake header field
// (the demo reads none); * keeps all, as Node; a list keeps those.
func TestKeepHeaders(t *testing.T) {
	cfg, err := parseConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := keepHeaders(cfg.KeepHeaders); got == nil || len(got) != 0 {
		t.Errorf("default keeps %#v, want none", got)
	}
	for v, want := range map[string][]string{
		"*":                  nil,
		"none":               {},
		"User-Agent, origin": {"User-Agent", "origin"},
	} {
		got := keepHeaders(v)
		if (got == nil) != (want == nil) || (want != nil && !reflect.DeepEqual(got, want)) {
			t.Errorf("%q: %#v, want %#v", v, got, want)
		}
	}
	cfg, err = parseConfig(nil, func(k string) string { return map[string]string{"SIOGO_KEEP_HEADERS": "*"}[k] }, io.Discard)
	if err != nil || keepHeaders(cfg.KeepHeaders) != nil {
		t.Errorf("SIOGO_KEEP_HEADERS=*: %v %#v", err, keepHeaders(cfg.KeepHeaders))
	}
}
