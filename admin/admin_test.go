package admin_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	redisadapter "github.com/siogo/siogo/adapters/redis"
	"github.com/siogo/siogo/admin"
	"github.com/siogo/siogo/internal/nodetest"
	"github.com/siogo/siogo/internal/redistest"
	"github.com/siogo/siogo/server"
)

const (
	user     = "admin"
	password = "s3cret"
	statsMs  = 300
)

func hash(t testing.TB) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// app is a small application on "/": echo (acknowledged) and join.
func app(srv *server.Server) {
	srv.OnConnection(func(s *server.Socket) {
		s.On("message", func(args []any, ack server.Ack) {
			_ = s.Emit("message", args...)
			if ack != nil {
				ack(args...)
			}
		})
		s.On("set-data", func(args []any, _ server.Ack) {
			s.SetData(map[string]any{"name": args[0]})
		})
		s.On("join", func(args []any, ack server.Ack) {
			if room, ok := args[0].(string); ok {
				s.Join(room)
			}
			if ack != nil {
				ack()
			}
		})
	})
}

// start serves an instrumented server with the application and returns
// its URL.
func start(t *testing.T, sopts server.Options, opts admin.Options) (string, *admin.Admin) {
	t.Helper()
	srv, err := server.New(sopts)
	if err != nil {
		t.Fatal(err)
	}
	if opts.StatsInterval == 0 {
		opts.StatsInterval = statsMs * time.Millisecond
	}
	adm, err := admin.Instrument(srv, opts)
	if err != nil {
		t.Fatal(err)
	}
	app(srv)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		_ = adm.Close()
		_ = srv.Close()
		hs.Close()
	})
	return hs.URL, adm
}

type report struct {
	OK         bool     `json:"ok"`
	Steps      []string `json:"steps"`
	Error      string   `json:"error"`
	Aggregated []string `json:"aggregated"`
}

func drive(t *testing.T, arg map[string]any) report {
	t.Helper()
	arg["username"], arg["password"], arg["statsMs"] = user, password, statsMs
	var rep report
	nodetest.Run(t, 60*time.Second, "admin-client.js", arg, &rep)
	if !rep.OK {
		t.Fatalf("after %v: %s", rep.Steps, rep.Error)
	}
	return rep
}

var allFeatures = []string{"EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS"}

// TestProtocol drives the whole protocol with socket.io-client: the login
// refused and accepted, the session id, config, stats, every socket and
// its events, each command.
func TestProtocol(t *testing.T) {
	url, _ := start(t, server.Options{}, admin.Options{Auth: &admin.BasicAuth{Username: user, PasswordHash: hash(t)}})
	rep := drive(t, map[string]any{"url": url, "case": "full", "features": allFeatures})
	t.Logf("steps %v; aggregated events %v", rep.Steps, rep.Aggregated)
}

func TestReadOnly(t *testing.T) {
	url, _ := start(t, server.Options{}, admin.Options{Auth: &admin.BasicAuth{Username: user, PasswordHash: hash(t)}, ReadOnly: true})
	drive(t, map[string]any{"url": url, "case": "readonly", "features": []string{"AGGREGATED_EVENTS", "ALL_EVENTS"}})
}

func TestProductionMode(t *testing.T) {
	url, _ := start(t, server.Options{}, admin.Options{Auth: &admin.BasicAuth{Username: user, PasswordHash: hash(t)}, Mode: admin.Production})
	drive(t, map[string]any{"url": url, "case": "production", "features": allFeatures[:8]})
}

func TestNoAuth(t *testing.T) {
	url, adm := start(t, server.Options{}, admin.Options{NoAuth: true})
	drive(t, map[string]any{"url": url, "case": "noauth"})

	// Options Instrument refuses. (On a server that has been serving: a
	// server.Server closed right after server.New can hang in nbio's Stop.)
	srv := adm.Namespace().Server()
	if _, err := admin.Instrument(srv, admin.Options{}); err != admin.ErrNoAuth {
		t.Errorf("no auth: %v, want ErrNoAuth", err)
	}
	if _, err := admin.Instrument(srv, admin.Options{Auth: &admin.BasicAuth{Username: "a", PasswordHash: "plain"}}); err == nil {
		t.Error("a plain password was taken for a bcrypt hash")
	}
	if _, err := admin.Instrument(srv, admin.Options{NoAuth: true, Mode: "debug"}); err == nil {
		t.Error("mode debug accepted")
	}
	other, err := admin.Instrument(srv, admin.Options{NoAuth: true, Namespace: "custom", Mode: admin.Production})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if other.Namespace().Name() != "/custom" {
		t.Errorf("namespace %q", other.Namespace().Name())
	}
}

// TestCluster runs two nodes over a real Redis: an admin on the first
// sees the sockets and stats of both, and steers a socket of the second.
func TestCluster(t *testing.T) {
	nodetest.Require(t)
	rs := redistest.Start(t)
	h := hash(t)
	store := admin.NewRedisStore(rs.URL, admin.RedisStoreOptions{})
	t.Cleanup(func() { _ = store.Close() })
	var urls []string
	for _, id := range []string{"node-a", "node-b"} {
		rc, err := redisadapter.NewClient(redisadapter.Options{URL: rs.URL})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rc.Close() })
		url, _ := start(t, server.Options{NewAdapter: rc.NewAdapter},
			admin.Options{Auth: &admin.BasicAuth{Username: user, PasswordHash: h}, ServerID: id, Store: store})
		urls = append(urls, url)
	}
	drive(t, map[string]any{"url": urls[0], "url2": urls[1], "case": "cluster", "serverIds": []string{"node-a", "node-b"}})
}
