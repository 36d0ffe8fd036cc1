package http1

import (
	"io"
	"net/http"
)

// body is a request body the Parser read in full: a reader over its bytes.
type body struct {
	b      []byte
	off    int
	closed bool
}

func newBody(b []byte) io.ReadCloser {
	if len(b) == 0 {
		return http.NoBody
	}
	return &body{b: b}
}

func (r *body) Read(p []byte) (int, error) {
	if r.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	return n, nil
}

// WriteTo spares io.Copy and io.ReadAll a buffer of their own.
func (r *body) WriteTo(w io.Writer) (int64, error) {
	if r.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	n, err := w.Write(r.b[r.off:])
	r.off += n
	return int64(n), err
}

// Close drops the bytes, so that a request kept after its handler (a
// parked poll) does not keep its body.
func (r *body) Close() error {
	r.closed = true
	r.b = nil
	return nil
}
