package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gomodule/redigo/redis"

	"github.com/siogo/siogo/internal/redistest"
	"github.com/siogo/siogo/internal/siotest"
	"github.com/siogo/siogo/internal/testcert"
)

// crossBroadcast starts two programs with args, waits until both are
// ready, and sees a broadcast sent on the first reach a client of each.
func crossBroadcast(t *testing.T, args ...string) (a, b string) {
	t.Helper()
	args = append([]string{"--shutdown-timeout", "1s"}, args...)
	a, b = start(t, args...), start(t, args...)
	for _, base := range []string{a, b} {
		waitReady(t, base, 200)
	}
	ca, cb := siotest.Dial(t, a), siotest.Dial(t, b)
	ca.Connect()
	cb.Connect()
	ca.Send(`42["broadcast","across"]`)
	for _, c := range []*siotest.Client{ca, cb} {
		for !slices.ContainsFunc(c.Poll(), func(p string) bool { return strings.HasPrefix(p, `42["broadcast","across"`) }) {
		}
	}
	return a, b
}

// TestRedisTLS: every Redis form of --adapter has its TLS twin. Programs
// on a redis-server that serves TLS only, asks for a client certificate
// and a password, trusted through --redis-ca-file, get ready and carry a
// broadcast across, on pub/sub (rediss://) and on streams
// (rediss-streams://), and the Admin UI's sessions go to that Redis over
// TLS; the same on a Redis Cluster whose nodes speak TLS only, to clients
// and among themselves (rediss-cluster://, rediss-streams-cluster://).
func TestRedisTLS(t *testing.T) {
	cert := testcert.New(t)
	cf, kf := cert.Files(t)
	tlsFlags := []string{"--redis-ca-file", cf, "--redis-cert-file", cf, "--redis-key-file", kf}
	rs := redistest.StartWith(t, redistest.Options{TLS: cert, ClientCerts: true, Password: "s3cret"})
	for _, scheme := range []string{"rediss", "rediss-streams"} {
		t.Run(scheme, func(t *testing.T) {
			adapter := scheme + "://:s3cret@" + rs.Addr + "/0"
			a, _ := crossBroadcast(t, append([]string{"--adapter", adapter, "--admin-user", "admin", "--admin-password-hash", adminHash(t)}, tlsFlags...)...)
			// The Admin UI's login: its session id is kept in that Redis.
			c := siotest.Dial(t, a)
			c.Send(`40/admin,{"username":"admin","password":"` + adminPassword + `"}`)
			session := regexp.MustCompile(`^42/admin,\["session","([0-9a-f]+)"\]$`)
			var id string
			for id == "" {
				for _, p := range c.Poll() {
					if m := session.FindStringSubmatch(p); m != nil {
						id = m[1]
					}
				}
			}
			conn, err := rs.Dial()
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if n, err := redis.Int(conn.Do("EXISTS", "socket.io-admin#"+id)); n != 1 {
				t.Errorf("the Admin UI's session is not in Redis: %v", err)
			}
		})
	}
	rc := redistest.StartCluster(t, redistest.ClusterOptions{Masters: 3, TLS: cert})
	if !strings.HasPrefix(rc.URL, "rediss-cluster://") {
		t.Fatalf("the cluster's URL is %s", rc.URL)
	}
	for _, adapter := range []string{rc.URL, "rediss-streams-cluster://" + strings.TrimPrefix(rc.URL, "rediss-cluster://")} {
		t.Run(strings.Split(adapter, ":")[0], func(t *testing.T) {
			crossBroadcast(t, append([]string{"--adapter", adapter}, tlsFlags...)...)
		})
	}
}

// TestRedisTLSFlags: the TLS flags need a rediss adapter (a forgotten "s"
// would send in clear what was meant to go over TLS), a certificate goes
// with its key, and the CA file must hold a certificate.
func TestRedisTLSFlags(t *testing.T) {
	cert := testcert.New(t)
	cf, kf := cert.Files(t)
	noenv := func(string) string { return "" }
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--adapter", "redis://h:1/0", "--redis-ca-file", cf}, "need a TLS adapter"},
		{[]string{"--adapter", "redis-streams://h:1/0", "--redis-tls-server-name", "x"}, "need a TLS adapter"},
		{[]string{"--redis-cert-file", cf, "--redis-key-file", kf}, "need a TLS adapter"},
		{[]string{"--adapter", "rediss://h:1/0", "--redis-cert-file", cf}, "go together"},
		{[]string{"--adapter", "rediss://h:1/0", "--redis-ca-file", kf}, "no PEM certificate"},
		{[]string{"--adapter", "rediss-streams://h:1/0", "--redis-ca-file", "/nonexistent"}, "--redis-ca-file"},
	} {
		if _, err := parseConfig(tc.args, noenv, &strings.Builder{}); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.err)
		}
	}
	env := map[string]string{"SIOGO_ADAPTER": "rediss-streams-cluster://h:1,h:2", "SIOGO_REDIS_CA_FILE": cf,
		"SIOGO_REDIS_CERT_FILE": cf, "SIOGO_REDIS_KEY_FILE": kf, "SIOGO_REDIS_TLS_SERVER_NAME": "redis.internal"}
	cfg, err := parseConfig(nil, func(k string) string { return env[k] }, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RedisTLS == nil || cfg.RedisTLS.ServerName != "redis.internal" || cfg.RedisTLS.RootCAs == nil || len(cfg.RedisTLS.Certificates) != 1 {
		t.Errorf("from the environment: %+v", cfg.RedisTLS)
	}
	for _, form := range []string{"rediss://h:1/0", "rediss-streams://h:1/0", "rediss-cluster://h:1", "rediss-streams-cluster://h:1"} {
		if _, err := parseConfig([]string{"--adapter", form}, noenv, &strings.Builder{}); err != nil {
			t.Errorf("%s: %v", form, err)
		}
	}
	var help strings.Builder
	_, _ = parseConfig([]string{"--help"}, noenv, &help)
	for _, want := range []string{"rediss://", "rediss-streams://", "rediss-cluster://", "rediss-streams-cluster://", "--redis-ca-file (SIOGO_REDIS_CA_FILE"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("--help does not say %q", want)
		}
	}
}
