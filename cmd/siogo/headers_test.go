package main

import (
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestKeepHeaders: by default the program keeps no handshake header field
// (the demo reads none), and all of them with the Admin UI on, whose
// socket page shows them; * keeps all, as Node; a list keeps those.
func TestKeepHeaders(t *testing.T) {
	cfg, err := parseConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := keepHeaders(cfg.KeepHeaders, false); got == nil || len(got) != 0 {
		t.Errorf("default keeps %#v, want none", got)
	}
	if got := keepHeaders(cfg.KeepHeaders, true); got != nil {
		t.Errorf("default with the Admin UI keeps %#v, want all", got)
	}
	for v, want := range map[string][]string{
		"*":                  nil,
		"none":               {},
		"User-Agent, origin": {"User-Agent", "origin"},
	} {
		for _, admin := range []bool{false, true} {
			got := keepHeaders(v, admin)
			if (got == nil) != (want == nil) || (want != nil && !reflect.DeepEqual(got, want)) {
				t.Errorf("%q (admin %v): %#v, want %#v", v, admin, got, want)
			}
		}
	}
	cfg, err = parseConfig(nil, func(k string) string { return map[string]string{"SIOGO_KEEP_HEADERS": "*"}[k] }, io.Discard)
	if err != nil || keepHeaders(cfg.KeepHeaders, false) != nil {
		t.Errorf("SIOGO_KEEP_HEADERS=*: %v %#v", err, keepHeaders(cfg.KeepHeaders, false))
	}
}

// TestDebugAddr: --debug-addr serves the pprof profiles apart from --addr.
func TestDebugAddr(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := start(t, "--debug-addr", addr)
	for i := 0; i < 100; i++ { // run starts it in the background
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, body := get(t, "http://"+addr+"/debug/pprof/heap?debug=1")
	if code != http.StatusOK || !strings.Contains(body, "heap profile") {
		t.Errorf("heap profile: %d %.200s", code, body)
	}
	if code, _ := get(t, base+"/debug/pprof/heap"); code == http.StatusOK {
		t.Error("profiles reachable on the public address")
	}
}
