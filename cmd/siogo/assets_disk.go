//go:build !embed

package main

import "io/fs"

// The plain build reads the npm packages from --client-dir.
const (
	defaultClientDir = "public/node_modules"
	clientDirUsage   = "where npm installed the client bundles and the Admin UI (cd public && npm ci)"
	embedded         = false
)

// embeddedAssets is empty: this build carries no assets (see assets_embed.go).
func embeddedAssets() fs.FS { return noFiles{} }

type noFiles struct{}

func (noFiles) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}
