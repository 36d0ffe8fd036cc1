// Package public holds the demo page that cmd/siogo serves at /. The
// client bundles it loads come from npm (public/package.json), installed
// with `npm ci`, never committed.
package public

import "embed"

// Files are the page's own files.
//
//go:embed index.html app.js style.css
var Files embed.FS
