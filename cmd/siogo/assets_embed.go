//go:build embed

package main

import (
	"embed"
	"io/fs"
)

// The embedded build (`make build`, go build -tags embed) carries the npm
// packages' files that make build copied into cmd/siogo/embedded (never
// committed): the client bundles and the Admin UI, so that the one file
// serves everything. --client-dir still serves them from disk instead.
const (
	defaultClientDir = ""
	clientDirUsage   = "serve the client bundles and the Admin UI from this directory (an npm node_modules) instead of the copies in the binary"
	embedded         = true
)

//go:embed all:embedded
var embeddedFiles embed.FS

func embeddedAssets() fs.FS {
	sub, _ := fs.Sub(embeddedFiles, "embedded")
	return sub
}
