package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/siogo/siogo/internal/nodetest"
	"github.com/siogo/siogo/internal/redistest"
)

const adminPassword = "demo-password"

func adminHash(t *testing.T) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(adminPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func outputDir(t *testing.T) string {
	t.Helper()
	out := filepath.Join(repoRoot(t), "test", "output")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

type uiReport struct {
	OK      bool     `json:"ok"`
	Steps   []string `json:"steps"`
	Error   string   `json:"error"`
	Servers []string `json:"servers"`
}

func driveUI(t *testing.T, arg map[string]any) {
	t.Helper()
	arg["username"], arg["password"] = "admin", adminPassword
	var rep uiReport
	nodetest.Run(t, 120*time.Second, "admin-ui.js", arg, &rep)
	if !rep.OK {
		t.Fatalf("after %v: %s", rep.Steps, rep.Error)
	}
	t.Logf("steps %v; servers %q; screenshots %s*", rep.Steps, rep.Servers, arg["shots"])
}

// TestAdminUIBrowser opens the official Admin UI that siogo serves at
// /admin/ in headless Chromium: it logs in, sees two demo pages' sockets
// and rooms, and disconnects one, whose page shows it.
func TestAdminUIBrowser(t *testing.T) {
	nodetest.Require(t)
	// --keep-headers *: the socket page shows the handshake's header.
	base := start(t, "--tick", "1s", "--keep-headers", "*", "--admin-user", "admin", "--admin-password-hash", adminHash(t))
	host, _ := os.Hostname()
	driveUI(t, map[string]any{
		"adminUrl": base + "/admin/", "demoUrls": []string{base + "/", base + "/"}, "serverIds": []string{host},
		"shots": filepath.Join(outputDir(t), "admin-"),
	})
}

// TestAdminUILockout: with --admin-login-failures 1, the UI's form shows
// the first refusal as wrong credentials, and the next, the right password
// included, as the lockout, in its own words.
func TestAdminUILockout(t *testing.T) {
	nodetest.Require(t)
	base := start(t, "--admin-user", "admin", "--admin-password-hash", adminHash(t), "--admin-login-failures", "1")
	driveUI(t, map[string]any{"adminUrl": base + "/admin/", "demoUrls": []string{}, "lockout": true,
		"shots": filepath.Join(outputDir(t), "admin-")})
}

// TestAdminUICluster does the same over a two-node Redis cluster: the UI
// on the first node lists both nodes, sees a client of each, and
// disconnects the one on the second node.
func TestAdminUICluster(t *testing.T) {
	nodetest.Require(t)
	rs := redistest.Start(t)
	h := adminHash(t)
	a := start(t, "--tick", "1s", "--keep-headers", "*", "--adapter", rs.URL, "--admin-user", "admin", "--admin-password-hash", h, "--admin-server-id", "node-a")
	b := start(t, "--tick", "1s", "--keep-headers", "*", "--adapter", rs.URL, "--admin-user", "admin", "--admin-password-hash", h, "--admin-server-id", "node-b")
	driveUI(t, map[string]any{
		"adminUrl": a + "/admin/", "demoUrls": []string{a + "/", b + "/"}, "serverIds": []string{"node-a", "node-b"},
		"shots": filepath.Join(outputDir(t), "admin-cluster-"),
	})
}

func TestAdminFlags(t *testing.T) {
	env := map[string]string{"SIOGO_ADMIN_USER": "root", "SIOGO_ADMIN_PASSWORD_HASH": "$2a$10$x", "SIOGO_ADMIN_READONLY": "true", "SIOGO_ADMIN_MODE": "production",
		"SIOGO_ADMIN_LOGIN_FAILURES": "0"}
	cfg, err := parseConfig(nil, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AdminUser != "root" || cfg.AdminPasswordHash != "$2a$10$x" || !cfg.AdminReadonly || cfg.AdminMode != "production" || cfg.AdminLoginFailures != 0 {
		t.Errorf("from the environment: %+v", cfg)
	}
	if cfg, _ := parseConfig(nil, func(string) string { return "" }, &bytes.Buffer{}); cfg.AdminLoginFailures != 10 {
		t.Errorf("--admin-login-failures defaults to %d", cfg.AdminLoginFailures)
	}
	for _, args := range [][]string{{"--admin-user", "a"}, {"--admin-password-hash", "h"}, {"--admin-mode", "debug"}, {"--admin-login-failures", "-1"}} {
		if _, err := parseConfig(args, func(string) string { return "" }, &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	// Off by default: no /admin/.
	base := start(t)
	if code, _ := get(t, base+"/admin/"); code != 404 {
		t.Errorf("/admin/ without --admin-user: %d", code)
	}
	// --hash-password.
	var out bytes.Buffer
	if err := hashPassword(strings.NewReader(adminPassword+"\n"), &out, bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	if bcrypt.CompareHashAndPassword(bytes.TrimSpace(out.Bytes()), []byte(adminPassword)) != nil {
		t.Errorf("--hash-password printed %q", out.String())
	}
}
