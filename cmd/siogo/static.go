package main

import (
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/siogo/siogo/public"
)

// The client bundles served beside the Socket.IO endpoint, as the Node
// server serves them, from the npm package installed in --client-dir.
var bundles = []string{
	"socket.io.js", "socket.io.js.map", "socket.io.min.js", "socket.io.min.js.map",
	"socket.io.msgpack.min.js", "socket.io.msgpack.min.js.map", "socket.io.esm.min.js", "socket.io.esm.min.js.map",
}

// mountStatic adds the demo page, the client bundles at path, and the
// socket.io-client 2 bundle of the page's legacy mode.
func mountStatic(mux *http.ServeMux, path, clientDir string) {
	page, _ := fs.Sub(public.Files, ".")
	// "/" without a method: with one it would clash with the Socket.IO
	// endpoint's prefix, which takes every method.
	mux.Handle("/", http.FileServerFS(page))
	for _, name := range bundles {
		file := filepath.Join(clientDir, "socket.io-client", "dist", name)
		mux.HandleFunc("GET "+path+name, serveBundle(file))
	}
	mux.HandleFunc("GET /vendor/socket.io-client-2/socket.io.js",
		serveBundle(filepath.Join(clientDir, "socket.io-client-v2", "dist", "socket.io.js")))
}

func serveBundle(file string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, err := os.Stat(file); err != nil {
			http.Error(w, "client bundle not installed: run `cd public && npm ci` (or set --client-dir)", http.StatusNotFound)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=0")
		http.ServeFile(w, r, file)
	}
}
