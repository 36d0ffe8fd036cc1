package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clientFileNames are the files of socket.io-client's dist directory that
// Node's serveClient answers under the server's path.
var clientFileNames = []string{
	"socket.io.js", "socket.io.js.map",
	"socket.io.min.js", "socket.io.min.js.map",
	"socket.io.msgpack.min.js", "socket.io.msgpack.min.js.map",
	"socket.io.esm.min.js", "socket.io.esm.min.js.map",
}

// maxClientFile bounds a bundle read into memory; socket.io-client's
// largest, a source map, is about 300 KB.
const maxClientFile = 16 << 20

// clientFiles serves the bundles of Options.ClientFiles as Node's
// serveClient does: Cache-Control "public, max-age=0", an ETag (here a
// hash of the content, Node's is its version) answered 304 by
// If-None-Match, gzip when the client takes it (Node also has brotli). A
// file is read once, and again when its size or time changes.
type clientFiles struct {
	fsys fs.FS

	mu    sync.Mutex
	cache map[string]*clientFile
}

type clientFile struct {
	size    int64
	modTime time.Time
	body    []byte
	etag    string

	gzOnce sync.Once
	gz     []byte // nil until a client takes gzip, or when it does not pay
}

func newClientFiles(fsys fs.FS) *clientFiles {
	return &clientFiles{fsys: fsys, cache: map[string]*clientFile{}}
}

// serve answers r if it asks for a client bundle, and reports whether it
// did.
func (c *clientFiles) serve(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	name := path.Base(r.URL.Path)
	if !slices.Contains(clientFileNames, name) {
		return false
	}
	if c.fsys == nil {
		http.Error(w, "socket.io: no client bundle here: the server's Options.ClientFiles is not set (socket.io-client's dist directory)", http.StatusNotFound)
		return true
	}
	f, err := c.load(name)
	if errors.Is(err, fs.ErrNotExist) {
		http.Error(w, "socket.io: "+name+" is not among the server's client files", http.StatusNotFound)
		return true
	}
	if err != nil {
		http.Error(w, "socket.io: client bundle unreadable", http.StatusInternalServerError)
		return true
	}
	h := w.Header()
	h.Set("Cache-Control", "public, max-age=0")
	h.Set("ETag", f.etag)
	h.Set("Vary", "Accept-Encoding")
	if etagMatches(r.Header.Get("If-None-Match"), f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	if strings.HasSuffix(name, ".map") {
		h.Set("Content-Type", "application/json; charset=utf-8")
	} else {
		h.Set("Content-Type", "application/javascript; charset=utf-8")
	}
	body := f.body
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		if gz := f.gzipped(); gz != nil {
			body = gz
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
	return true
}

// load returns name's content, read anew when it changed.
func (c *clientFiles) load(name string) (*clientFile, error) {
	st, err := fs.Stat(c.fsys, name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	f := c.cache[name]
	c.mu.Unlock()
	if f != nil && f.size == st.Size() && f.modTime.Equal(st.ModTime()) {
		return f, nil
	}
	if st.Size() > maxClientFile {
		return nil, errors.New("socket.io: client file too large")
	}
	body, err := fs.ReadFile(c.fsys, name)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	f = &clientFile{size: st.Size(), modTime: st.ModTime(), body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	c.mu.Lock()
	c.cache[name] = f
	c.mu.Unlock()
	return f, nil
}

// gzipped is the file gzipped, made at the first request that takes it;
// nil when it does not get smaller.
func (f *clientFile) gzipped() []byte {
	f.gzOnce.Do(func() {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		_, _ = zw.Write(f.body)
		if zw.Close() == nil && b.Len() < len(f.body) {
			f.gz = b.Bytes()
		}
	})
	return f.gz
}

// etagMatches reports whether an If-None-Match header names etag, strong
// or weak, or is "*".
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || t == etag || t == "W/"+etag {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether an Accept-Encoding header takes gzip.
func acceptsGzip(header string) bool {
	for _, t := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(t), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.TrimSpace(name) != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		if v, ok := strings.CutPrefix(q, "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f == 0 {
				return false
			}
		}
		return true
	}
	return false
}
