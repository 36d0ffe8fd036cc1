package admin_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/siogo/siogo/admin"
	"github.com/siogo/siogo/internal/nodetest"
	"github.com/siogo/siogo/server"
	"github.com/siogo/siogo/transports"
)

type abuseReport struct {
	OK          bool     `json:"ok"`
	Steps       []string `json:"steps"`
	Error       string   `json:"error"`
	Refusals    int      `json:"refusals"`
	CloseReason string   `json:"closeReason"`
}

func abuse(t *testing.T, url string, arg map[string]any) abuseReport {
	t.Helper()
	arg["url"], arg["username"], arg["password"] = url, user, password
	var rep abuseReport
	nodetest.Run(t, 60*time.Second, "admin-abuse.js", arg, &rep)
	if !rep.OK {
		t.Fatalf("after %v: %s", rep.Steps, rep.Error)
	}
	return rep
}

// TestLoginRetriesCloseTheConnection: wrong passwords again and again on
// one connection are refused, as in Node, and the third refusal closes
// it (Node keeps it for ever).
func TestLoginRetriesCloseTheConnection(t *testing.T) {
	url, _ := start(t, server.Options{}, admin.Options{Auth: &admin.BasicAuth{Username: user, PasswordHash: hash(t)}})
	rep := abuse(t, url, map[string]any{"case": "retries"})
	if rep.Refusals != 3 {
		t.Errorf("%d refusals before the close (%s), want 3", rep.Refusals, rep.CloseReason)
	}
}

// TestLoginFailuresPerAddress: past its failures an address is refused
// even the right password, with its own message and when to come back; a
// session id the UI kept still logs in.
func TestLoginFailuresPerAddress(t *testing.T) {
	url, _ := start(t, server.Options{}, admin.Options{Auth: &admin.BasicAuth{Username: user, PasswordHash: hash(t)},
		Login: admin.LoginLimits{PerAddress: 4}})
	abuse(t, url, map[string]any{"case": "address", "perAddress": 4})
}

// TestLoginFailuresPerAddressBehindProxy: the address is the engine's
// (Session.ClientAddr): behind a trusted proxy, the client's that the
// proxy names, so that one client does not lock out the others.
func TestLoginFailuresPerAddressBehindProxy(t *testing.T) {
	sopts := server.Options{Engine: transports.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}}
	url, _ := start(t, sopts, admin.Options{Auth: &admin.BasicAuth{Username: user, PasswordHash: hash(t)},
		Login: admin.LoginLimits{PerAddress: 4}})
	abuse(t, url, map[string]any{"case": "address", "perAddress": 4, "proxy": true})
}

// TestLoginFlood: 60 logins of 990 KB sent at once on one connection.
// Over WebSocket the server held each behind the password's check (60 MB,
// RSS from 16 to 101 MB); now a connection that asks to log in may send
// 8 KB until it is logged in: the second login closes it (over polling,
// 413 to its POST), and at most the first is answered.
func TestLoginFlood(t *testing.T) {
	for _, transport := range []string{"websocket", "polling"} {
		t.Run(transport, func(t *testing.T) {
			url, _ := start(t, server.Options{}, admin.Options{Auth: &admin.BasicAuth{Username: user, PasswordHash: hash(t)}})
			rep := abuse(t, url, map[string]any{"case": "flood", "transport": transport})
			t.Logf("%d logins answered; %s", rep.Refusals, rep.CloseReason)
			if rep.Refusals > 1 {
				t.Errorf("%d of 60 logins answered before the close (%s)", rep.Refusals, rep.CloseReason)
			}
		})
	}
}

// TestLoginLiftsTheBound: a connection logged in sends as much as any.
func TestLoginLiftsTheBound(t *testing.T) {
	url, _ := start(t, server.Options{}, admin.Options{Auth: &admin.BasicAuth{Username: user, PasswordHash: hash(t)}})
	abuse(t, url, map[string]any{"case": "lifted"})
}
