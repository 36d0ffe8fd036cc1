package main

import (
	"io/fs"
	"log/slog"
	"net/http"
	"os"

	"github.com/siogo/siogo/admin"
	"github.com/siogo/siogo/public"
)

// clientDist is the dist directory of socket.io-client among the npm
// packages' files: the bundles the Socket.IO server serves beside its
// endpoint (server.Options.ClientFiles), as the Node server does. It
// warns when they are not there: those paths then answer 404.
func clientDist(files fs.FS, log *slog.Logger) fs.FS {
	dist, err := fs.Sub(files, "socket.io-client/dist")
	if err == nil {
		_, err = fs.Stat(dist, "socket.io.js")
	}
	if err != nil {
		log.Warn("client bundles not installed: run `cd public && npm ci` (or set --client-dir)")
	}
	return dist
}

// adminUIDir is where @socket.io/admin-ui keeps the built UI.
const adminUIDir = "@socket.io/admin-ui/ui/dist"

// assets are the npm packages' files: from --client-dir on disk or, in the
// embedded build without --client-dir, from the binary.
func assets(clientDir string) fs.FS {
	if clientDir == "" {
		return embeddedAssets()
	}
	return os.DirFS(clientDir)
}

// mountStatic adds the demo page, the socket.io-client 2 bundle of the
// page's legacy mode and, with withAdmin, the Admin UI at /admin/ (the
// Socket.IO server serves the version 4 bundles itself).
func mountStatic(mux *http.ServeMux, sioPath string, files fs.FS, withAdmin bool) {
	page, _ := fs.Sub(public.Files, ".")
	// "/" without a method: with one it would clash with the Socket.IO
	// endpoint's prefix, which takes every method.
	mux.Handle("/", http.FileServerFS(page))
	mux.HandleFunc("GET /vendor/socket.io-client-2/socket.io.js",
		serveBundle(files, "socket.io-client-v2/dist/socket.io.js"))
	if withAdmin {
		ui, _ := fs.Sub(files, adminUIDir)
		mux.Handle("GET /admin/", http.StripPrefix("/admin/", admin.UIHandler(ui, admin.UIOptions{Path: sioPath})))
	}
}

func serveBundle(files fs.FS, name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, err := fs.Stat(files, name); err != nil {
			http.Error(w, "client bundle not installed: run `cd public && npm ci` (or set --client-dir)", http.StatusNotFound)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=0")
		http.ServeFileFS(w, r, files, name)
	}
}
