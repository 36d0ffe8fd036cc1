package redact

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"memory", "memory"},
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://user:s3cret@host:6379/0", "redis://user:xxxxx@host:6379/0"},
		{"rediss://:s3cret@host:6380/2", "rediss://xxxxx@host:6380/2"},
		{"redis://s3cret@host:6379", "redis://xxxxx@host:6379"},
		{"redis-cluster://user:s3cret@h1:7000,h2:7001", "redis-cluster://user:xxxxx@h1:7000,h2:7001"},
		{"redis-streams-cluster://u:p%40ss@h1:7000,h2:7001/0", "redis-streams-cluster://u:xxxxx@h1:7000,h2:7001/0"},
		// A raw @, / or ? in the password: the last @ ends the credentials.
		{"redis://u:p@ss/w?rd@host:6379/0", "redis://u:xxxxx@host:6379/0"},
		{"postgres://host/db?user=u&password=s3cret&sslmode=require", "postgres://host/db?user=u&password=xxxxx&sslmode=require"},
		{"postgres://u:pw@host/db?sslpassword=k3y#frag", "postgres://u:xxxxx@host/db?sslpassword=xxxxx#frag"},
		// Malformed: whatever stands before the @ goes.
		{"redis:/user:s3cret@host:1/0", "redis:xxxxx@host:1/0"},
		{"user:s3cret@host", "user:xxxxx@host"},
		{"", ""},
	} {
		if got := URL(c.in); got != c.want {
			t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
		}
		if strings.Contains(URL(c.in), "s3cret") {
			t.Errorf("URL(%q) keeps the secret", c.in)
		}
	}
}

// TestScrub: whatever quotes a URL (Go's own url.Parse error, a library's
// message) loses its secrets; short passwords are masked in their URL only.
func TestScrub(t *testing.T) {
	raw := "redis://user:s3cret%21@host:bad/0"
	s := NewScrubber("memory", raw)
	_, perr := url.Parse(raw)
	for _, text := range []string{
		perr.Error(),
		"dial " + raw + ": refused",
		"AUTH user s3cret! failed",
		"AUTH user s3cret%21 failed",
		"user:s3cret%21@host",
	} {
		got := s.Scrub(text)
		if strings.Contains(got, "s3cret") {
			t.Errorf("Scrub(%q) = %q", text, got)
		}
	}
	if got := s.Scrub("redis://user:xxxxx@host:bad/0 is unchanged"); got != "redis://user:xxxxx@host:bad/0 is unchanged" {
		t.Errorf("Scrub changed clean text: %q", got)
	}
	short := NewScrubber("redis://:ab@host:6379")
	if got := short.Scrub("redis://:ab@host:6379 about"); got != "redis://xxxxx@host:6379 about" {
		t.Errorf("short password: %q", got)
	}
	if !NewScrubber("memory", "redis://host:6379/0").Empty() {
		t.Error("a scrubber of URLs without secrets is not empty")
	}
	base := errors.New("base")
	err := s.Error(fmt.Errorf("connect %s: %w", raw, base))
	if strings.Contains(err.Error(), "s3cret") || !errors.Is(err, base) {
		t.Errorf("Error: %v (wraps base: %v)", err, errors.Is(err, base))
	}
	hash := "$2a$10$abcdefghijklmnopqrstuv"
	w := s.WithSecrets(hash, "")
	if got := w.Scrub("hash " + hash + " of user:s3cret%21@host"); got != "hash xxxxx of user:xxxxx@host" {
		t.Errorf("WithSecrets: %q", got)
	}
	if got := NewScrubber().WithSecrets(hash).Scrub(hash); got != Mask {
		t.Errorf("WithSecrets alone: %q", got)
	}
	if s.Error(nil) != nil {
		t.Error("Error(nil) is not nil")
	}
}

type stringer struct{ s string }

func (x stringer) String() string { return x.s }

// TestHandler: every part of a record is scrubbed, in the text and the
// JSON form, attributes given to With and groups included.
func TestHandler(t *testing.T) {
	raw := "redis://user:s3cret@host:6379/0"
	s := NewScrubber(raw)
	for _, form := range []string{"text", "json"} {
		var buf bytes.Buffer
		var h slog.Handler = slog.NewTextHandler(&buf, nil)
		if form == "json" {
			h = slog.NewJSONHandler(&buf, nil)
		}
		log := slog.New(s.Handler(h)).With("adapter", raw)
		_, perr := url.Parse("redis://user:s3cret@host:x/0")
		log.Warn("connecting to "+raw, "err", perr, "addr", stringer{raw},
			slog.Group("redis", "url", raw, "n", 3), "ok", true)
		log.WithGroup("g").Info("m", "u", raw)
		out := buf.String()
		if strings.Contains(out, "s3cret") {
			t.Errorf("%s log keeps the secret:\n%s", form, out)
		}
		if !strings.Contains(out, "user:xxxxx@host") || !strings.Contains(out, "n=3") && !strings.Contains(out, `"n":3`) {
			t.Errorf("%s log lost what is not secret:\n%s", form, out)
		}
	}
	plain := slog.NewTextHandler(&bytes.Buffer{}, nil)
	if NewScrubber("memory").Handler(plain) != slog.Handler(plain) {
		t.Error("a handler wrapped for nothing to scrub")
	}
}

// FuzzScrub: a URL scrubbed with its own secrets keeps none of them, and
// URL never panics. (A secret with an x can reappear where the mask meets
// the text around it: 000x in 000000x.)
func FuzzScrub(f *testing.F) {
	for _, s := range []string{"redis://u:p4ssw0rd@h:1/0", "x@y@z", "://@", "redis://h?password=s3cret&x=1#f", "u:pass%zz@h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		_ = URL(raw)
		got := NewScrubber(raw).Scrub(raw)
		for _, sec := range secretsOf(raw) {
			if len(sec) >= minBare && !strings.Contains(sec, "x") && strings.Contains(got, sec) {
				t.Fatalf("Scrub(%q) = %q keeps %q", raw, got, sec)
			}
		}
	})
}
