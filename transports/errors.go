package transports

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// ErrorCode is the code of a refused request, the "code" of the JSON body
// the Node server answers with.
type ErrorCode int

// The Engine.IO error codes, with the Node server's numbers.
const (
	CodeUnknownTransport           ErrorCode = 0
	CodeUnknownSID                 ErrorCode = 1
	CodeBadHandshakeMethod         ErrorCode = 2
	CodeBadRequest                 ErrorCode = 3
	CodeForbidden                  ErrorCode = 4
	CodeUnsupportedProtocolVersion ErrorCode = 5
)

// Sentinels for the error codes, for errors.Is on a *RequestError.
var (
	ErrUnknownTransport           = errors.New("Transport unknown")
	ErrUnknownSession             = errors.New("Session ID unknown")
	ErrBadHandshakeMethod         = errors.New("Bad handshake method")
	ErrBadRequest                 = errors.New("Bad request")
	ErrForbidden                  = errors.New("Forbidden")
	ErrUnsupportedProtocolVersion = errors.New("Unsupported protocol version")
)

var codeErrors = [...]error{
	ErrUnknownTransport, ErrUnknownSession, ErrBadHandshakeMethod,
	ErrBadRequest, ErrForbidden, ErrUnsupportedProtocolVersion,
}

// RequestError is a request the server refused, with the code and message
// the client receives.
type RequestError struct {
	Code    ErrorCode
	Message string
	// Status overrides the HTTP status (400, or 403 for Forbidden).
	Status int
}

func (e *RequestError) Error() string { return "engine.io: " + e.Message }

// Unwrap gives the sentinel of the code.
func (e *RequestError) Unwrap() error {
	if int(e.Code) < len(codeErrors) {
		return codeErrors[e.Code]
	}
	return nil
}

func requestError(code ErrorCode, message string) *RequestError {
	if message == "" {
		message = codeErrors[code].Error()
	}
	return &RequestError{Code: code, Message: message}
}

// status is the HTTP status of a refusal: 403 for Forbidden, 400 otherwise.
func (e *RequestError) status() int {
	if e.Status != 0 {
		return e.Status
	}
	if e.Code == CodeForbidden {
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}

// ServeHTTP answers with the refusal as the Engine.IO endpoint answers a
// plain HTTP request: its status and the JSON body
// {"code":N,"message":"..."}.
func (e *RequestError) ServeHTTP(w http.ResponseWriter, _ *http.Request) { e.writeJSON(w) }

// writeJSON answers a plain HTTP request as Node's abortRequest does.
func (e *RequestError) writeJSON(w http.ResponseWriter) {
	body, _ := json.Marshal(struct {
		Code    ErrorCode `json:"code"`
		Message string    `json:"message"`
	}{e.Code, e.Message})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.status())
	_, _ = w.Write(body)
}

// writeUpgrade answers a WebSocket upgrade request as Node's abortUpgrade
// does: 400 with the message as text/html, whatever the code.
func (e *RequestError) writeUpgrade(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", strconv.Itoa(len(e.Message)))
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte(e.Message))
}

// errOriginForbidden refuses a WebSocket from an origin CORS does not allow:
// 403 and the body Node gives a Forbidden request.
var errOriginForbidden = &RequestError{Code: CodeForbidden, Message: "Forbidden", Status: http.StatusForbidden}

// Errors of a session.
var (
	// ErrSessionClosed is returned when sending on a closed session.
	ErrSessionClosed = errors.New("engine.io: session closed")
	// ErrQueueFull is returned when a session's outgoing queue is at its
	// bound; the session closes with ReasonQueueFull.
	ErrQueueFull = errors.New("engine.io: outgoing queue full")
	// ErrServerClosed is returned by Shutdown on a server already shut down.
	ErrServerClosed = errors.New("engine.io: server closed")
)

// Reasons a session closes, given to the close handler. The first five are
// the Node server's strings.
const (
	ReasonTransportClose = "transport close"
	ReasonTransportError = "transport error"
	ReasonPingTimeout    = "ping timeout"
	ReasonParseError     = "parse error"
	ReasonForcedClose    = "forced close"
	// ReasonServerShutdown is given when the server shuts down.
	ReasonServerShutdown = "server shutting down"
	// ReasonQueueFull is siogo's: the client did not take its packets fast
	// enough: its outgoing queue reached MaxQueuedPackets, or the bytes
	// waiting for its WebSocket MaxWriteBuffer.
	ReasonQueueFull = "write queue full"
)
