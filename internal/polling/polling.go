// Package polling holds the HTTP mechanics of Engine.IO long-polling: reading
// a bounded POST body, the JSONP envelope both ways (for the oldest
// browsers), and writing a poll response with optional gzip or deflate.
//
// It knows nothing of sessions or packets; the transports package drives it.
package polling

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/siogo/siogo/internal/jsonstr"
)

// ErrTooLarge is returned by ReadBody when the body exceeds its limit.
var ErrTooLarge = errors.New("polling: request body too large")

// ErrBadJSONP is returned by DecodeJSONP for a form without a d field.
var ErrBadJSONP = errors.New("polling: JSONP body has no d field")

// ReadBody reads r's body, at most limit bytes. A larger body, announced or
// not, gives ErrTooLarge without reading the rest.
func ReadBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, ErrTooLarge
	}
	n := r.ContentLength
	if n < 0 || n > 64<<10 {
		n = 512
	}
	buf := bytes.NewBuffer(make([]byte, 0, n+1))
	m, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if m > limit {
		return nil, ErrTooLarge
	}
	return buf.Bytes(), nil
}

// DecodeJSONP extracts the payload of a JSONP POST: the form field d, with
// newlines restored the way the engine.io 3 client escaped them (a lone
// "\n" escape is a newline; an escaped backslash before n is kept).
func DecodeJSONP(body []byte) ([]byte, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, ErrBadJSONP
	}
	d, ok := form["d"]
	if !ok || len(d) == 0 {
		return nil, ErrBadJSONP
	}
	s := d[0]
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+2 < len(s) && s[i+1] == '\\' && s[i+2] == 'n':
			// "\\n": an escaped backslash-n, which Node then turns into "\n".
			b.WriteString(`\n`)
			i += 2
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == 'n':
			b.WriteByte('\n')
			i++
		default:
			b.WriteByte(s[i])
		}
	}
	return []byte(b.String()), nil
}

// AppendJSONP wraps payload in the JSONP envelope ___eio[index]("..."), the
// string quoted as JavaScript's JSON.stringify quotes it, with U+2028 and
// U+2029 escaped too since JSON is not quite a subset of JavaScript.
func AppendJSONP(dst []byte, index string, payload []byte) []byte {
	dst = append(dst, "___eio["...)
	for i := 0; i < len(index); i++ {
		if c := index[i]; c >= '0' && c <= '9' {
			dst = append(dst, c)
		}
	}
	dst = append(dst, `](`...)
	dst = jsonstr.Append(dst, string(payload))
	return append(dst, `);`...)
}

// Content types of poll responses, as the Node server sends them.
const (
	ContentTypeText   = "text/plain; charset=UTF-8"
	ContentTypeBinary = "application/octet-stream"
	ContentTypeJSONP  = "text/javascript; charset=UTF-8"
)

// Response describes a poll response body.
type Response struct {
	ContentType string
	// CompressThreshold is the smallest body compressed when the client
	// accepts gzip or deflate; 0 disables compression.
	CompressThreshold int
}

// Write sends body as a 200 poll response, compressed when it is at least
// the threshold and the client accepts gzip or deflate.
func (resp Response) Write(w http.ResponseWriter, r *http.Request, body []byte) error {
	h := w.Header()
	h.Set("Content-Type", resp.ContentType)
	h.Set("Cache-Control", "no-store")
	noXSSProtectionForIE(h, r)
	enc := ""
	if resp.CompressThreshold > 0 && len(body) >= resp.CompressThreshold {
		enc = AcceptedEncoding(r.Header.Get("Accept-Encoding"))
	}
	if enc == "" {
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, err := w.Write(body)
		return err
	}
	h.Set("Content-Encoding", enc)
	h.Add("Vary", "Accept-Encoding")
	w.WriteHeader(http.StatusOK)
	return compress(w, enc, body)
}

// WriteOK answers a POST as Node does: 200, text/html, "ok".
func WriteOK(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// text/html rather than text/plain avoids a download dialog in some
	// browsers (engine.io GH-43).
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", "2")
	h.Set("Cache-Control", "no-store")
	noXSSProtectionForIE(h, r)
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "ok")
}

func noXSSProtectionForIE(h http.Header, r *http.Request) {
	ua := r.Header.Get("User-Agent")
	if strings.Contains(ua, ";MSIE") || strings.Contains(ua, "Trident/") {
		h.Set("X-XSS-Protection", "0")
	}
}

// AcceptedEncoding picks gzip or deflate from an Accept-Encoding header, in
// the client's order of preference (q values), gzip first on a tie, or ""
// when neither is acceptable.
func AcceptedEncoding(header string) string {
	best, bestQ := "", 0.0
	star := 0.0
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		switch name {
		case "*":
			star = q
		case "gzip", "deflate":
			if q > 0 && (q > bestQ || (q == bestQ && name == "gzip")) {
				best, bestQ = name, q
			}
		}
	}
	if best == "" && star > 0 {
		return "gzip"
	}
	return best
}

var (
	gzipPool = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed); return w }}
	zlibPool = sync.Pool{New: func() any { w, _ := zlib.NewWriterLevel(nil, zlib.BestSpeed); return w }}
)

func compress(w io.Writer, enc string, body []byte) error {
	if enc == "gzip" {
		zw := gzipPool.Get().(*gzip.Writer)
		defer gzipPool.Put(zw)
		zw.Reset(w)
		if _, err := zw.Write(body); err != nil {
			return err
		}
		return zw.Close()
	}
	zw := zlibPool.Get().(*zlib.Writer)
	defer zlibPool.Put(zw)
	zw.Reset(w)
	if _, err := zw.Write(body); err != nil {
		return err
	}
	return zw.Close()
}
