package admin

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/http"
	"strings"
)

// UIOptions say where the UI served by UIHandler finds its server.
type UIOptions struct {
	// Namespace is the admin namespace. Default "/admin".
	Namespace string
	// Path is the Socket.IO endpoint's path. Default "/socket.io".
	Path string
}

// UIHandler serves the Admin UI from dist, the ui/dist folder of npm
// @socket.io/admin-ui; mount it under a prefix with http.StripPrefix:
//
//	mux.Handle("/admin/", http.StripPrefix("/admin/", admin.UIHandler(dist, admin.UIOptions{})))
//
// The UI's first screen asks for the server's address, which it keeps in
// the browser's localStorage; the page served here fills in the address
// it came from (and the namespace and path of opts) when nothing is kept
// yet, so that the form only needs the username and password.
func UIHandler(dist fs.FS, opts UIOptions) http.Handler {
	if opts.Namespace == "" {
		opts.Namespace = "/admin"
	}
	if opts.Path == "" {
		opts.Path = "/socket.io"
	}
	opts.Path = strings.TrimSuffix(opts.Path, "/")
	files := http.FileServerFS(dist)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		if name != "" && name != "index.html" {
			files.ServeHTTP(w, r)
			return
		}
		page, err := fs.ReadFile(dist, "index.html")
		if err != nil {
			http.Error(w, "the Admin UI is not installed: run `cd public && npm ci`", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(prefill(page, opts))
	})
}

// prefill adds, before the UI's own scripts, one that sets the UI's
// connection settings when the browser has none.
func prefill(page []byte, opts UIOptions) []byte {
	ns, _ := json.Marshal(opts.Namespace)
	path, _ := json.Marshal(opts.Path)
	script := `<script>(function(){try{var s=localStorage;` +
		`if(!s.getItem("server_url")){s.setItem("server_url",location.origin);` +
		`s.setItem("namespace",` + string(ns) + `);s.setItem("path",` + string(path) + `);}}catch(e){}})();</script>`
	i := bytes.Index(page, []byte("<script"))
	if i < 0 {
		i = bytes.Index(page, []byte("</body>"))
	}
	if i < 0 {
		return append(page, script...)
	}
	out := make([]byte, 0, len(page)+len(script))
	out = append(out, page[:i]...)
	out = append(out, script...)
	return append(out, page[i:]...)
}
