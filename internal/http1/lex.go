package http1

// Character classes of RFC 9110 and 9112, as tables indexed by byte.

// isToken: tchar, the bytes of a method, a header name, a chunk
// extension name.
var isToken = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// isValueByte: field-vchar, SP and HTAB; obs-text (0x80-0xFF) included,
// as RFC 9110 5.5, net/http and Node accept it. Every other control byte
// (CR and LF among them) is refused.
var isValueByte = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = true
	}
	for c := 0x80; c <= 0xff; c++ {
		t[c] = true
	}
	t['\t'] = true
	return t
}()

// isTargetByte: what a request-target may hold, visible ASCII only (Node
// refuses the rest; net/http lets obs-text through to the URL parser).
var isTargetByte = func() (t [256]bool) {
	for c := 0x21; c < 0x7f; c++ {
		t[c] = true
	}
	return t
}()

// isHostByte: the bytes net/http's server accepts in a Host header
// (httpguts.ValidHostHeader): those of reg-name, IP literals and a port.
var isHostByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!$%&'()*+,-.:;=[]_~" {
		t[c] = true
	}
	return t
}()

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFoldASCII reports whether b equals the lower-case s, ignoring case.
func equalFoldASCII[T string | []byte](b T, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds the lower-case
// token tok, ignoring case and optional whitespace (Connection, Expect).
func hasToken(v, tok string) bool {
	for len(v) > 0 {
		var item string
		item, v = v, ""
		for i := 0; i < len(item); i++ {
			if item[i] == ',' {
				item, v = item[:i], item[i+1:]
				break
			}
		}
		for len(item) > 0 && (item[0] == ' ' || item[0] == '\t') {
			item = item[1:]
		}
		for len(item) > 0 && (item[len(item)-1] == ' ' || item[len(item)-1] == '\t') {
			item = item[:len(item)-1]
		}
		if equalFoldASCII(item, tok) {
			return true
		}
	}
	return false
}

// methods are those Node 20's parser knows (http.METHODS), as constants, so
// that a request's Method costs nothing and pins nothing. Node refuses any
// other method with 400; net/http lets any token through.
var methods = func() map[string]string {
	m := map[string]string{}
	for _, s := range []string{
		"ACL", "BIND", "CHECKOUT", "CONNECT", "COPY", "DELETE", "GET", "HEAD",
		"LINK", "LOCK", "M-SEARCH", "MERGE", "MKACTIVITY", "MKCALENDAR", "MKCOL",
		"MOVE", "NOTIFY", "OPTIONS", "PATCH", "POST", "PROPFIND", "PROPPATCH",
		"PURGE", "PUT", "QUERY", "REBIND", "REPORT", "SEARCH", "SOURCE",
		"SUBSCRIBE", "TRACE", "UNBIND", "UNLINK", "UNLOCK", "UNSUBSCRIBE",
	} {
		m[s] = s
	}
	return m
}()

// commonKey is a header name seen often enough to keep its canonical form
// as a constant; values says whether its values repeat often enough to be
// looked up in commonValues.
type commonKey struct {
	name   string
	values bool
}

var commonKeys = func() map[string]commonKey {
	m := map[string]commonKey{}
	for _, s := range []string{
		"Accept-Charset", "Accept-Ranges", "Authorization", "Content-Id",
		"Content-Language", "Content-Length", "Cookie", "Date", "Etag",
		"Expires", "From", "Host", "If-Modified-Since", "If-None-Match",
		"If-Range", "Keep-Alive", "Last-Modified", "Location", "Origin",
		"Range", "Referer", "Sec-Ch-Ua", "Sec-Websocket-Key",
		"Sec-Websocket-Protocol", "Set-Cookie", "User-Agent", "Via",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Real-Ip", "X-Request-Id",
		"Access-Control-Request-Headers", "Traceparent",
	} {
		m[s] = commonKey{name: s}
	}
	for _, s := range []string{
		"Accept", "Accept-Encoding", "Accept-Language", "Access-Control-Request-Method",
		"Cache-Control", "Connection", "Content-Type", "Dnt", "Expect", "Pragma",
		"Priority", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Sec-Fetch-Dest",
		"Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-User", "Sec-Gpc",
		"Sec-Websocket-Extensions", "Sec-Websocket-Version", "Te",
		"Transfer-Encoding", "Upgrade", "Upgrade-Insecure-Requests",
		"X-Forwarded-Proto",
	} {
		m[s] = commonKey{name: s, values: true}
	}
	return m
}()

// commonValues are the values browsers and the Socket.IO clients send
// again and again under the names marked values above.
var commonValues = func() map[string]string {
	m := map[string]string{}
	for _, s := range []string{
		"*/*", "0", "1", "13", "100-continue", "?0", "?1", `"Android"`, `"Linux"`,
		`"Windows"`, `"macOS"`, `"Chrome OS"`, "Upgrade", "upgrade", "application/json",
		"application/octet-stream", "chunked", "close", "cors", "cross-site",
		"document", "empty", "en-US,en;q=0.9", "en-US,en;q=0.5", "en-US", "gzip",
		"gzip, deflate", "gzip, deflate, br", "gzip, deflate, br, zstd", "http",
		"https", "keep-alive", "Keep-Alive", "max-age=0", "navigate", "no-cache", "none",
		"permessage-deflate; client_max_window_bits", "same-origin", "same-site",
		"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"text/plain;charset=UTF-8", "text/plain;charset=utf-8", "trailers",
		"u=0, i", "u=1, i", "u=4", "websocket", "GET", "POST",
	} {
		m[s] = s
	}
	return m
}()

// canonicalKey returns the canonical form of the header name k (a
// validated token), as textproto.CanonicalMIMEHeaderKey gives it: upper
// case at the start and after each hyphen, lower case elsewhere. Common
// names come back as constants; the rest in a string of their own.
func canonicalKey(k []byte) (string, commonKey) {
	var a [64]byte
	var c []byte
	if len(k) <= len(a) {
		c = a[:len(k)]
	} else {
		c = make([]byte, len(k))
	}
	upper := true
	for i, b := range k {
		if upper && 'a' <= b && b <= 'z' {
			b -= 'a' - 'A'
		} else if !upper && 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		c[i] = b
		upper = b == '-'
	}
	if ck, ok := commonKeys[string(c)]; ok {
		return ck.name, ck
	}
	return string(c), commonKey{}
}
