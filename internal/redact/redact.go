// Package redact keeps secrets out of what the program prints: URL turns
// a connection URL into one safe to show, and a Scrubber removes a URL's
// secrets from any text, error or log record that may quote it (Go's own
// url.Parse errors quote the whole URL, password included).
package redact

import (
	"context"
	"log/slog"
	"net/url"
	"slices"
	"strings"
)

// Mask stands for a secret removed, as url.URL.Redacted writes it.
const Mask = "xxxxx"

// secretParams are query parameters whose values are secrets.
var secretParams = []string{"password", "passwd", "pass", "pwd", "secret", "token", "sslpassword", "auth", "authtoken", "apikey", "api_key", "access_token"}

func secretParam(k string) bool { return slices.Contains(secretParams, strings.ToLower(k)) }

// URL returns raw with its password, and any secret query parameter,
// replaced by Mask: redis://user:xxxxx@host:6379/0. A user alone is
// masked too, since Redis reads redis://secret@host as a password. Any
// text is taken, malformed ones included: whatever comes before its last
// @ is credentials (a password may hold a raw / or ?). Several hosts
// (redis-cluster://h1,h2) are kept as they are.
func URL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		scheme, rest = "", raw
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = maskUserinfo(rest[:at]) + "@" + maskQuery(rest[at+1:])
	} else {
		rest = maskQuery(rest)
	}
	if ok {
		return scheme + "://" + rest
	}
	return rest
}

func maskUserinfo(ui string) string {
	user, _, hasPass := strings.Cut(ui, ":")
	if !hasPass || user == "" {
		return Mask
	}
	return user + ":" + Mask
}

// maskQuery masks the values of secret parameters in tail (path, query,
// fragment).
func maskQuery(tail string) string {
	path, query, ok := strings.Cut(tail, "?")
	if !ok {
		return tail
	}
	query, frag, hasFrag := strings.Cut(query, "#")
	parts := strings.Split(query, "&")
	for i, p := range parts {
		k, _, hasV := strings.Cut(p, "=")
		if hasV && secretParam(k) {
			parts[i] = k + "=" + Mask
		}
	}
	out := path + "?" + strings.Join(parts, "&")
	if hasFrag {
		out += "#" + frag
	}
	return out
}

// Scrubber removes the secrets of some URLs from text.
type Scrubber struct {
	// pairs of (old, new), longest old first.
	pairs []string
}

// minBare is the shortest secret also removed where it stands alone, out
// of its URL: a shorter one would mask common words.
const minBare = 4

// NewScrubber returns a Scrubber of the secrets in urls: each URL whole
// (as URL shows it), its credentials as written and as decoded, and the
// password or secret parameter values on their own. A URL without secrets
// adds nothing; with none at all, Scrub returns its text unchanged.
func NewScrubber(urls ...string) *Scrubber {
	seen := map[string]string{}
	add := func(old, repl string) {
		if old != "" && old != repl {
			seen[old] = repl
		}
	}
	for _, raw := range urls {
		red := URL(raw)
		if red == raw {
			continue
		}
		add(raw, red)
		for _, s := range secretsOf(raw) {
			if len(s) >= minBare {
				add(s, Mask)
			}
			if d, err := url.PathUnescape(s); err == nil && len(d) >= minBare {
				add(d, Mask)
			}
			if d, err := url.QueryUnescape(s); err == nil && len(d) >= minBare {
				add(d, Mask)
			}
		}
		// The credentials with their delimiters, whatever their length.
		_, rest, ok := strings.Cut(raw, "://")
		if !ok {
			rest = raw
		}
		if at := strings.LastIndexByte(rest, '@'); at >= 0 {
			add(rest[:at+1], maskUserinfo(rest[:at])+"@")
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return len(b) - len(a) })
	s := &Scrubber{}
	for _, k := range keys {
		s.pairs = append(s.pairs, k, seen[k])
	}
	return s
}

// secretsOf is the password (or lone user) and secret parameter values of
// raw, as written.
func secretsOf(raw string) []string {
	var out []string
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		rest = raw
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		user, pass, hasPass := strings.Cut(rest[:at], ":")
		if hasPass && user != "" {
			out = append(out, pass)
		} else {
			out = append(out, rest[:at])
		}
		rest = rest[at+1:]
	}
	if _, q, ok := strings.Cut(rest, "?"); ok {
		q, _, _ = strings.Cut(q, "#")
		for p := range strings.SplitSeq(q, "&") {
			if k, v, ok := strings.Cut(p, "="); ok && secretParam(k) {
				out = append(out, v)
			}
		}
	}
	return out
}

// WithSecrets returns a Scrubber that also masks each of secrets (a
// password hash, a key) wherever it appears; empty ones are ignored.
func (s *Scrubber) WithSecrets(secrets ...string) *Scrubber {
	out := &Scrubber{pairs: slices.Clone(s.pairs)}
	for _, sec := range secrets {
		if sec != "" && !slices.Contains(out.pairs, sec) {
			out.pairs = append(out.pairs, sec, Mask)
		}
	}
	// Longest first, so that a secret inside another goes with it.
	type pair struct{ old, repl string }
	ps := make([]pair, 0, len(out.pairs)/2)
	for i := 0; i < len(out.pairs); i += 2 {
		ps = append(ps, pair{out.pairs[i], out.pairs[i+1]})
	}
	slices.SortStableFunc(ps, func(a, b pair) int { return len(b.old) - len(a.old) })
	out.pairs = out.pairs[:0]
	for _, p := range ps {
		out.pairs = append(out.pairs, p.old, p.repl)
	}
	return out
}

// Scrub returns text with the secrets masked.
func (s *Scrubber) Scrub(text string) string {
	if s == nil || len(s.pairs) == 0 {
		return text
	}
	for i := 0; i < len(s.pairs); i += 2 {
		if strings.Contains(text, s.pairs[i]) {
			text = strings.ReplaceAll(text, s.pairs[i], s.pairs[i+1])
		}
	}
	return text
}

// Empty reports whether s has no secret to remove.
func (s *Scrubber) Empty() bool { return s == nil || len(s.pairs) == 0 }

// Error returns err with its text scrubbed, or err itself when nothing in
// it was secret (nil stays nil).
func (s *Scrubber) Error(err error) error {
	if err == nil || s.Empty() {
		return err
	}
	msg := err.Error()
	if clean := s.Scrub(msg); clean != msg {
		return scrubbed{clean, err}
	}
	return err
}

// scrubbed is an error whose text was scrubbed; errors.Is and As still
// see what it wraps.
type scrubbed struct {
	msg string
	err error
}

func (e scrubbed) Error() string { return e.msg }
func (e scrubbed) Unwrap() error { return e.err }

// Handler returns h with every record's message and attributes (strings,
// errors, anything printed) scrubbed; h itself when s is empty.
func (s *Scrubber) Handler(h slog.Handler) slog.Handler {
	if s.Empty() {
		return h
	}
	return &handler{h: h, s: s}
}

type handler struct {
	h slog.Handler
	s *Scrubber
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.s.Scrub(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = h.attr(a)
	}
	return &handler{h: h.h.WithAttrs(clean), s: h.s}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{h: h.h.WithGroup(name), s: h.s}
}

func (h *handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.s.Scrub(v.String()))
	case slog.KindGroup:
		g := v.Group()
		clean := make([]any, len(g))
		for i, ga := range g {
			clean[i] = h.attr(ga)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindAny:
		// Errors, stringers, structs: as the handler would print them.
		var text string
		if err, ok := v.Any().(error); ok {
			text = err.Error()
		} else {
			text = v.String()
		}
		if clean := h.s.Scrub(text); clean != text {
			return slog.String(a.Key, clean)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
