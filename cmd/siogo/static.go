package main

import (
	"io/fs"
	"net/http"
	"os"
	"path"

	"github.com/siogo/siogo/admin"
	"github.com/siogo/siogo/public"
)

// The client bundles served beside the Socket.IO endpoint, as the Node
// server serves them, from the npm packages installed in public/ (or, in
// the embedded build, carried in the binary).
var bundles = []string{
	"socket.io.js", "socket.io.js.map", "socket.io.min.js", "socket.io.min.js.map",
	"socket.io.msgpack.min.js", "socket.io.msgpack.min.js.map", "socket.io.esm.min.js", "socket.io.esm.min.js.map",
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

// mountStatic adds the demo page, the client bundles at sioPath, the
// socket.io-client 2 bundle of the page's legacy mode and, with withAdmin,
// the Admin UI at /admin/.
func mountStatic(mux *http.ServeMux, sioPath string, files fs.FS, withAdmin bool) {
	page, _ := fs.Sub(public.Files, ".")
	// "/" without a method: with one it would clash with the Socket.IO
	// endpoint's prefix, which takes every method.
	mux.Handle("/", http.FileServerFS(page))
	for _, name := range bundles {
		mux.HandleFunc("GET "+sioPath+name, serveBundle(files, path.Join("socket.io-client", "dist", name)))
	}
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
