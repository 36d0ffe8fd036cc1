// Package polling is the long-polling transport's configuration, as in
// googollee/go-socket.io v1.7.0's engineio/transport/polling; siogo's
// internal/polling serves it, XHR and JSONP.
package polling

import (
	"net/http"
	"time"
)

// Transport configures long-polling.
type Transport struct {
	// Client was googollee's HTTP client for its Go client; the server
	// does not use it.
	Client *http.Client
	// CheckOrigin, when it returns true for a request, answers it with
	// Access-Control-Allow-Origin (the request's Origin, with
	// credentials, or * without one), and answers preflights. When nil,
	// Default's is asked, as in googollee; when both are nil, no CORS
	// header is sent.
	CheckOrigin func(r *http.Request) bool
}

// Default is the default polling transport.
var Default = &Transport{
	Client: &http.Client{
		Timeout: time.Minute,
	},
}

// Name is "polling".
func (t *Transport) Name() string { return "polling" }
