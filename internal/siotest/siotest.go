// Package siotest is a raw protocol-5 Socket.IO client over long-polling,
// for tests that must see or send exact packets: against siogo or any
// Socket.IO server.
package siotest

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Client is one Engine.IO polling session.
type Client struct {
	t   testing.TB
	URL string // the session's polling URL
	// SID is the Engine.IO session id.
	SID string
}

var sidRe = regexp.MustCompile(`"sid":"([^"]+)"`)

var client = &http.Client{Timeout: 40 * time.Second}

// Do sends one request and returns the body.
func Do(t testing.TB, method, url, body string) string {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// Dial opens a session with the server at base (http://host:port).
func Dial(t testing.TB, base string) *Client {
	t.Helper()
	return DialQuery(t, base, "")
}

// DialQuery is Dial with query (k=v&...) added to the handshake's URL.
func DialQuery(t testing.TB, base, query string) *Client {
	t.Helper()
	u := base + "/socket.io/?EIO=4&transport=polling"
	if query != "" {
		u += "&" + query
	}
	body := Do(t, "GET", u, "")
	m := sidRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("handshake %q", body)
	}
	return &Client{t: t, URL: base + "/socket.io/?EIO=4&transport=polling&sid=" + m[1], SID: m[1]}
}

// Send posts packets in one payload.
func (c *Client) Send(pkts ...string) {
	c.t.Helper()
	if r := Do(c.t, "POST", c.URL, strings.Join(pkts, "\x1e")); r != "ok" {
		c.t.Fatalf("post: %q", r)
	}
}

// Poll returns the packets of the next poll that has any, pings answered
// and left out.
func (c *Client) Poll() []string {
	c.t.Helper()
	for {
		var out []string
		for _, p := range strings.Split(Do(c.t, "GET", c.URL, ""), "\x1e") {
			if p == "2" {
				c.Send("3")
				continue
			}
			out = append(out, p)
		}
		if len(out) > 0 {
			return out
		}
	}
}

// Connect joins the root namespace and returns the socket id.
func (c *Client) Connect() string {
	c.t.Helper()
	c.Send("40")
	got := c.Poll()
	m := sidRe.FindStringSubmatch(got[0])
	if !strings.HasPrefix(got[0], "40{") || m == nil {
		c.t.Fatalf("connect: %q", got)
	}
	return m[1]
}
