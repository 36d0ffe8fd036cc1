// Command siobench is a load generator for any Socket.IO server that speaks
// the demo contract (shared/demo-contract.md): siogo, the Node.js server,
// another. It holds, echoes, fans out and churns connections over Engine.IO
// 4 or 3, WebSocket or long-polling, with a browser's handshake headers,
// and reads the server's memory and CPU time from /proc when given its pid.
//
//	siobench --url http://127.0.0.1:3000 --pid $(pgrep -n siogo) -n 10000 conns
//	siobench --url http://127.0.0.1:3000 -c 100 --duration 10s echo
//	siobench --json -n 1000 -k 20 --bps 10 fanout
//	siobench --transport polling -n 5000 polling
//	siobench --url https://127.0.0.1:3443 --ca cert.pem -p 10 handshakes
//
// Scenarios: conns, echo, fanout, handshakes, polling, churn, and wsecho
// (echo on the contract's plain WebSocket path /ws), or all. A
// progress bar goes to stderr, a table to stdout at the end, or with --json
// one JSON object per scenario.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/siogo/siogo/internal/benchutil"
)

// Scenarios, in the order "all" runs them.
var scenarioNames = []string{"conns", "echo", "fanout", "handshakes", "polling", "churn", "wsecho"}

// Scenarios "all" leaves out: the soak runs for half an hour.
var longScenarios = []string{"soak"}

// browserHeader is what Chromium 131 on Linux sends with a page's
// WebSocket or XHR to a server on another port of the same host (about
// 500 bytes with the handshake's own fields), minus what the client adds.
var browserHeader = []string{
	"Pragma: no-cache",
	"Cache-Control: no-cache",
	`sec-ch-ua: "Chromium";v="131", "Not_A Brand";v="24"`,
	"sec-ch-ua-mobile: ?0",
	`sec-ch-ua-platform: "Linux"`,
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Accept: */*",
	"Origin: http://{host}",
	"Sec-Fetch-Site: same-origin",
	"Sec-Fetch-Mode: cors",
	"Sec-Fetch-Dest: empty",
	"Referer: http://{host}/",
	"Accept-Encoding: gzip, deflate, br, zstd",
	"Accept-Language: en-US,en;q=0.9",
	"Cookie: _ga=GA1.1.1186720613.1733011200; theme=dark",
}

func main() {
	benchutil.RaiseFileLimit()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is the program, apart from the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("siobench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rawURL := fs.String("url", "http://127.0.0.1:3000", "the server: http:// (or ws://), https:// (or wss://) for TLS")
	caFile := fs.String("ca", "", "https://: PEM file of the certificates to trust (a self-signed server's), beside the system's")
	insecure := fs.Bool("insecure", false, "https://: do not verify the server's certificate")
	path := fs.String("path", "/socket.io/", "the Socket.IO path")
	eio := fs.Int("eio", 4, "Engine.IO protocol: 4 (socket.io-client 3 and 4) or 3 (socket.io-client 2)")
	transport := fs.String("transport", transportWebSocket, "websocket, polling, or upgrade (polling first, then WebSocket)")
	headers := fs.String("headers", "browser", "handshake headers: browser (Chromium's, about 500 bytes) or minimal")
	deflate := fs.Bool("deflate", true, "offer permessage-deflate, as browsers do")
	sources := fs.Int("sources", -1, "loopback source addresses to spread clients over (127.0.0.2...); -1: 8 if the server is on loopback, else none")
	pid := fs.Int("pid", 0, "the server's process id: memory and CPU time read from /proc")
	asJSON := fs.Bool("json", false, "print one JSON object per scenario instead of a table")
	quiet := fs.Bool("quiet", false, "no progress bar")
	timeout := fs.Duration("timeout", 10*time.Second, "timeout of one connection's handshake")
	marks := fs.Bool("marks", false, `write "siobench: measuring SCENARIO" on a line of its own to stderr as each measured phase begins (the hold, the loop, the broadcasts), for a profiler to follow`)
	var o options
	fs.IntVar(&o.N, "n", 1000, "conns, polling, fanout: clients held")
	fs.IntVar(&o.Rate, "rate", 1000, "new connections per second while ramping (0: as fast as they go)")
	fs.DurationVar(&o.Hold, "hold", 5*time.Second, "conns, polling: how long the clients idle before the memory is read")
	fs.IntVar(&o.C, "c", 100, "echo, wsecho: clients in the closed loop")
	fs.IntVar(&o.P, "p", 10, "handshakes, churn: parallel loops")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "echo, wsecho, handshakes, churn: how long to run")
	fs.IntVar(&o.Size, "size", 32, "echo, wsecho: length of the message's string")
	fs.IntVar(&o.K, "k", 20, "fanout: broadcasts")
	fs.Float64Var(&o.BPS, "bps", 10, "fanout: broadcasts per second")
	fs.DurationVar(&o.Wait, "wait", 10*time.Second, "fanout: how long to wait for the last deliveries")
	var so soakOptions
	fs.StringVar(&so.CSV, "soak-csv", "", "soak: write a sample of the server and the counts every second to this CSV file")
	fs.StringVar(&so.DebugURL, "debug-url", "", "soak: the server's --debug-addr (http://host:port), to read its goroutines from pprof")
	fs.DurationVar(&so.Tick, "tick", 2500*time.Millisecond, "soak: the server's tick (--tick), to count lost ticks")
	fs.Float64Var(&so.EchoRate, "echo-rate", 100, "soak: echoes (message with an ack) per second, from clients picked at random")
	fs.Float64Var(&so.BPS, "soak-bps", 1, "soak: broadcasts per second, to every client")
	fs.Float64Var(&so.ChurnRate, "churn-rate", 10, "soak: clients replaced per second (one leaves, a new one joins)")
	fs.Float64Var(&so.Vanish, "vanish", 0.3, "soak: the fraction of leaving clients that vanish (connection kept open and silent) instead of closing")
	fs.DurationVar(&so.VanishFor, "vanish-for", 90*time.Second, "soak: how long a vanished client keeps its connection (past the server's ping interval plus timeout)")
	fs.DurationVar(&so.LostAfter, "lost-after", time.Minute, "soak: an echo or its ack not back within this is lost (one back after --timeout is late)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: siobench [flags] scenario... (%s, or all; and %s)\n", strings.Join(scenarioNames, ", "), strings.Join(longScenarios, ", "))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	names := fs.Args()
	if len(names) == 1 && names[0] == "all" {
		names = scenarioNames
	}
	if len(names) == 0 {
		fs.Usage()
		return 2
	}
	for _, n := range names {
		if !slices.Contains(scenarioNames, n) && !slices.Contains(longScenarios, n) {
			fmt.Fprintf(stderr, "siobench: unknown scenario %q\n", n)
			return 2
		}
	}
	u, err := url.Parse(*rawURL)
	if err != nil || !slices.Contains([]string{"http", "ws", "https", "wss"}, u.Scheme) || u.Host == "" {
		fmt.Fprintf(stderr, "siobench: --url %q: want http://host:port or https://host:port\n", *rawURL)
		return 2
	}
	secure := u.Scheme == "https" || u.Scheme == "wss"
	if *eio != 3 && *eio != 4 {
		fmt.Fprintln(stderr, "siobench: --eio must be 3 or 4")
		return 2
	}
	if !slices.Contains([]string{transportWebSocket, transportPolling, transportUpgrade}, *transport) {
		fmt.Fprintf(stderr, "siobench: --transport %q: want websocket, polling or upgrade\n", *transport)
		return 2
	}
	d := &Dialer{Addr: hostPort(u), Host: u.Host, Path: *path, EIO: *eio, Transport: *transport, Deflate: *deflate, Timeout: *timeout}
	if secure {
		if d.TLS, err = clientTLS(u.Hostname(), *caFile, *insecure); err != nil {
			fmt.Fprintf(stderr, "siobench: %v\n", err)
			return 2
		}
	}
	switch *headers {
	case "browser":
		d.Header = browserHeader
		if secure {
			d.Header = make([]string, len(browserHeader))
			for i, h := range browserHeader {
				d.Header[i] = strings.ReplaceAll(h, "http://", "https://")
			}
		}
	case "minimal":
	default:
		fmt.Fprintln(stderr, "siobench: --headers must be browser or minimal")
		return 2
	}
	d.Sources = loopbackSources(d.Addr, *sources)
	if !*quiet {
		o.Progress = stderr
	}
	o.ErrorsOut = stderr
	if *marks {
		o.Marks = stderr
	}
	o.PID = *pid
	b := &bench{d: d, o: o, so: so}
	if o.PID != 0 {
		b.proc = &proc{pid: o.PID}
		if _, err := b.proc.rss(); err != nil {
			fmt.Fprintf(stderr, "siobench: --pid %d: %v\n", o.PID, err)
			return 2
		}
	}
	var results []*Result
	for _, name := range names {
		if ctx.Err() != nil {
			break
		}
		r := b.runScenario(ctx, name)
		results = append(results, r)
		if *asJSON {
			line, _ := r.JSON(map[string]any{"target": u.String(), "eio": *eio, "transport": r.transport(d, name), "headers": *headers})
			fmt.Fprintf(stdout, "%s\n", line)
		}
	}
	if !*asJSON {
		printTable(stdout, results)
	}
	return 0
}

func (b *bench) runScenario(ctx context.Context, name string) *Result {
	switch name {
	case "conns":
		return b.conns(ctx, "conns")
	case "polling":
		pb := &bench{d: b.d.with(transportPolling), o: b.o, proc: b.proc}
		return pb.conns(ctx, "polling")
	case "echo":
		return b.echo(ctx)
	case "fanout":
		return b.fanout(ctx)
	case "handshakes":
		return b.cycles(ctx, "handshakes", false)
	case "churn":
		return b.cycles(ctx, "churn", true)
	case "wsecho":
		return b.wsecho(ctx)
	case "soak":
		return b.soak(ctx)
	}
	panic("unknown scenario " + name)
}

// with is a dialer like d on another transport.
func (d *Dialer) with(transport string) *Dialer {
	return &Dialer{Addr: d.Addr, Host: d.Host, Path: d.Path, EIO: d.EIO, Transport: transport, Header: d.Header, Deflate: d.Deflate, Sources: d.Sources, Timeout: d.Timeout, TLS: d.TLS}
}

func (r *Result) transport(d *Dialer, name string) string {
	switch name {
	case "polling":
		return transportPolling
	case "wsecho":
		return "plain websocket"
	}
	return d.Transport
}

// JSON encodes the result as one object: the scenario, the context given,
// each figure, and the latency distribution as [upper bound ms, count].
func (r *Result) JSON(ctx map[string]any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"scenario":`)
	s, _ := json.Marshal(r.Scenario)
	b.Write(s)
	keys := make([]string, 0, len(ctx))
	for k := range ctx {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	put := func(k string, v any) error {
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			v = nil
		}
		val, err := json.Marshal(v)
		if err != nil {
			return err
		}
		kb, _ := json.Marshal(k)
		b.WriteByte(',')
		b.Write(kb)
		b.WriteByte(':')
		b.Write(val)
		return nil
	}
	for _, k := range keys {
		if err := put(k, ctx[k]); err != nil {
			return nil, err
		}
	}
	for _, f := range r.Fields {
		if err := put(f.Key, f.Value); err != nil {
			return nil, err
		}
	}
	if r.Latency != nil && r.Latency.Count() > 0 {
		if err := put("latency_hist_ms", r.Latency.Buckets()); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func printTable(w io.Writer, results []*Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tfigure\tvalue")
	for _, r := range results {
		for _, f := range r.Fields {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Scenario, f.Key, formatValue(f.Value, f.Unit))
		}
	}
	_ = tw.Flush()
}

func formatValue(v any, unit string) string {
	switch x := v.(type) {
	case float64:
		switch {
		case math.IsNaN(x):
			return "-"
		case math.Abs(x) >= 1000:
			return fmt.Sprintf("%.0f %s", x, unit)
		case math.Abs(x) >= 10:
			return fmt.Sprintf("%.1f %s", x, unit)
		default:
			return fmt.Sprintf("%.3g %s", x, unit)
		}
	default:
		return strings.TrimSpace(fmt.Sprintf("%v %s", v, unit))
	}
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" || u.Scheme == "wss" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// clientTLS is the client side of every connection to an https:// server:
// crypto/tls with its defaults (what a current browser negotiates: TLS
// 1.3, X25519), no session resumption, so each connection costs the
// server a full handshake.
func clientTLS(host, caFile string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: host, InsecureSkipVerify: insecure, NextProtos: []string{"http/1.1"}} //nolint:gosec // --insecure says so
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca %s: no PEM certificate in it", caFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// loopbackSources spreads clients over 127.0.0.2... when the server is on
// loopback: one source address has about 28,000 ephemeral ports.
func loopbackSources(addr string, n int) []net.IP {
	host, _, _ := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	if host == "localhost" {
		ip = net.IPv4(127, 0, 0, 1)
	}
	if n < 0 {
		if ip == nil || !ip.IsLoopback() || ip.To4() == nil {
			return nil
		}
		n = 8
	}
	out := make([]net.IP, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, net.IPv4(127, 0, 0, byte(2+i)))
	}
	return out
}
