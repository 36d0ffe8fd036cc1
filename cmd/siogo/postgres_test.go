package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/siogo/siogo/internal/pgtest"
	"github.com/siogo/siogo/internal/siotest"
)

// TestPostgresAdapterFlag runs two programs with --adapter postgres:// on
// one PostgreSQL: they get ready (the attachments table created), a
// broadcast crosses, /readyz follows the listening connection through an
// outage, and the URL's password reaches no log.
func TestPostgresAdapterFlag(t *testing.T) {
	pg := pgtest.Start(t)
	url := strings.Replace(pg.URL, "postgres@", "postgres:s3cret@", 1)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := startLogged(t, log, "--adapter", url, "--shutdown-timeout", "1s")
	b := startLogged(t, log, "--adapter", url, "--shutdown-timeout", "1s")
	for _, base := range []string{a, b} {
		waitReady(t, base, 200)
	}
	ca, cb := siotest.Dial(t, a), siotest.Dial(t, b)
	ca.Connect()
	cb.Connect()
	// Large, to go through the attachments table.
	big := strings.Repeat("x", 9000)
	ca.Send(`42["broadcast","across","` + big + `"]`)
	for _, c := range []*siotest.Client{ca, cb} {
		for !slices.Contains(c.Poll(), `42["broadcast","across","`+big+`"]`) {
		}
	}
	pg.Kill()
	waitReady(t, a, 503)
	waitReady(t, b, 503)
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, a, 200)
	waitReady(t, b, 200)
	// The outage is on /metrics: each node lost its LISTENing connection once.
	for _, base := range []string{a, b} {
		_, metrics := get(t, base+"/metrics")
		if !regexp.MustCompile(`(?m)^siogo_postgres_listen_losses_total 1$`).MatchString(metrics) ||
			!regexp.MustCompile(`(?m)^siogo_postgres_dropped_total 0$`).MatchString(metrics) {
			t.Errorf("%s/metrics: the PostgreSQL counters are not as the outage left them:\n%s", base, metrics)
		}
	}
	if strings.Contains(logs.String(), "s3cret") {
		t.Fatalf("the password is in the logs:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "postgres://postgres:xxxxx@") {
		t.Errorf("the adapter's URL is not logged, redacted:\n%s", logs.String())
	}
	// A database that does not exist stops the program, naming no password.
	cfg, err := parseConfig([]string{"--adapter", strings.Replace(url, "/postgres?", "/nosuchdb?", 1)}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = run(context.Background(), cfg, ln, log)
	if err == nil || !strings.Contains(err.Error(), "database refused") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("run with a missing database: %v", err)
	}
}
