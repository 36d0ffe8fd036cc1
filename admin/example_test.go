package admin_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing/fstest"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/siogo/siogo/admin"
	"github.com/siogo/siogo/server"
	"github.com/siogo/siogo/transports"
)

// The Admin UI's login is a username and the bcrypt hash of a password;
// it then connects to the /admin namespace of the server.
func ExampleInstrument() {
	srv, _ := server.New(server.Options{})
	hash, _ := bcrypt.GenerateFromPassword([]byte("change me"), bcrypt.MinCost)
	adm, err := admin.Instrument(srv, admin.Options{
		Auth: &admin.BasicAuth{Username: "admin", PasswordHash: string(hash)},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer adm.Close()
	// Then the application's own handlers, and the server as usual.
	srv.OnConnection(func(s *server.Socket) { s.Join("lobby") })
	http.Handle("/socket.io/", srv)
	fmt.Println(adm.Namespace().Name(), adm.Features())
	// Output: /admin [EMIT JOIN LEAVE DISCONNECT MJOIN MLEAVE MDISCONNECT AGGREGATED_EVENTS ALL_EVENTS]
}

// In production mode the UI gets the statistics only; read-only, it
// cannot act on sockets.
func ExampleInstrument_production() {
	srv, _ := server.New(server.Options{})
	hash, _ := bcrypt.GenerateFromPassword([]byte("change me"), bcrypt.MinCost)
	adm, err := admin.Instrument(srv, admin.Options{
		Auth:     &admin.BasicAuth{Username: "admin", PasswordHash: string(hash)},
		Mode:     admin.Production,
		ReadOnly: true,
		ServerID: "eu-1",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer adm.Close()
	st := adm.Stats()
	fmt.Println(adm.Features(), st["serverId"], st["clientsCount"])
	// Output: [AGGREGATED_EVENTS] eu-1 0
}

// The login's bounds, on a server behind a proxy that names each client
// in X-Forwarded-For: trusted, so that the failures count per client.
func ExampleLoginLimits() {
	srv, _ := server.New(server.Options{Engine: transports.Options{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	}})
	hash, _ := bcrypt.GenerateFromPassword([]byte("change me"), bcrypt.MinCost)
	adm, err := admin.Instrument(srv, admin.Options{
		Auth: &admin.BasicAuth{Username: "admin", PasswordHash: string(hash)},
		// 5 failures an hour per address; 3 refusals close a connection.
		Login: admin.LoginLimits{PerAddress: 5, Window: time.Hour},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer adm.Close()
	fmt.Println(adm.Namespace().Name())
	// Output: /admin
}

// UIHandler serves the UI's files (ui/dist of npm @socket.io/admin-ui),
// its page set to connect to the server it came from.
func ExampleUIHandler() {
	dist := fstest.MapFS{"index.html": {Data: []byte(`<html><body><script src="js/app.js"></script></body></html>`)}}
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin/", admin.UIHandler(dist, admin.UIOptions{})))

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/admin/", nil))
	page := rec.Body.String()
	fmt.Println(rec.Code, strings.Contains(page, `setItem("server_url",location.origin)`), strings.Contains(page, `"/admin"`))
	// Output: 200 true true
}
