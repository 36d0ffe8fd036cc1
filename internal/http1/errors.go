package http1

import (
	"errors"
	"time"
)

// Error is a request the Parser refused. Status is the HTTP status the
// server answers with (ErrorResponse gives the bytes); the connection is
// closed afterwards in every case, as Node closes it.
type Error struct {
	Status   int    // 400, 413, 417 or 431
	Reason   string // what was wrong, for logs; never echoed to the client
	kind     errKind
	sentinel bool
}

type errKind uint8

const (
	kindPlain       errKind = iota // Node's canned response for the status
	kindMissingHost                // Node answers through a ServerResponse
	kindSilent                     // Node closes without a word
)

func (e *Error) Error() string { return "http1: " + e.Reason }

// Is matches the sentinel of the same status, so that
// errors.Is(err, ErrHeaderTooLarge) holds for every 431.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.sentinel && t.Status == e.Status
}

// The sentinels, one a status; compare with errors.Is.
var (
	ErrBadRequest        = &Error{Status: 400, Reason: "bad request", sentinel: true}            // malformed, or a smuggling attempt
	ErrBodyTooLarge      = &Error{Status: 413, Reason: "body too large", sentinel: true}         // over Config.MaxBodyBytes, or chunk extensions over 16 KiB
	ErrExpectationFailed = &Error{Status: 417, Reason: "expectation failed", sentinel: true}     // an Expect other than 100-continue
	ErrHeaderTooLarge    = &Error{Status: 431, Reason: "request head too large", sentinel: true} // over Config.MaxHeaderBytes or Config.MaxHeaders
)

// ErrBufferFull is returned by Feed when the caller fed a parser that
// reported Full: a request is being answered and the bytes sent ahead of
// the next one have reached their bound. It is the caller's bug, not the
// client's; the connection is closed.
var ErrBufferFull = errors.New("http1: read ahead of a pipelined request while the parser is full")

// ErrClosed is returned by a Parser after Rest handed its bytes over.
var ErrClosed = errors.New("http1: parser closed")

func bad(reason string) *Error      { return &Error{Status: 400, Reason: reason} }
func tooLarge(reason string) *Error { return &Error{Status: 431, Reason: reason} }
func bodyTooLarge(reason string) *Error {
	return &Error{Status: 413, Reason: reason}
}

// Node 20's canned answers (lib/_http_server.js, socketOnError): written
// as is, then the socket is destroyed.
var (
	resp400 = []byte("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
	resp413 = []byte("HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n\r\n")
	resp417 = []byte("HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\n\r\n")
	resp431 = []byte("HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n")
)

// ErrorResponse returns the bytes to write before closing the connection
// on a Feed or Next error: what Node 20 writes for the same request, or
// nil when Node writes nothing (a CONNECT, or an error that is not a
// client's). The slice must not be modified.
func ErrorResponse(err error) []byte {
	var e *Error
	if !errors.As(err, &e) {
		return nil
	}
	switch e.kind {
	case kindSilent:
		return nil
	case kindMissingHost:
		// Node answers an HTTP/1.1 request without Host through a
		// ServerResponse: res.writeHead(400, ['Connection', 'close']).end().
		b := make([]byte, 0, 128)
		b = append(b, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nDate: "...)
		b = appendDate(b, time.Now())
		return append(b, "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"...)
	}
	switch e.Status {
	case 413:
		return resp413
	case 417:
		return resp417
	case 431:
		return resp431
	}
	return resp400
}
