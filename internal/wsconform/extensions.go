package wsconform

import (
	"errors"
	"strings"
)

// The harness's own reading of Sec-WebSocket-Extensions (RFC 6455 section
// 9.1), independent of the server's, so that the two cannot share a bug.

type extension struct {
	name   string
	params []extParam
}

type extParam struct {
	name, value string
	hasValue    bool
}

var errExtSyntax = errors.New("malformed extension list")

func isTokenChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	return !strings.ContainsRune("()<>@,;:\\\"/[]?={}", rune(c))
}

// parseExtensions reads every header line as one list; empty elements are
// allowed, as in any HTTP list.
func parseExtensions(values []string) ([]extension, error) {
	var exts []extension
	s := strings.Join(values, ",")
	i := 0
	skip := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	token := func() string {
		j := i
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		return s[j:i]
	}
	for {
		skip()
		if i == len(s) {
			return exts, nil
		}
		if s[i] == ',' {
			i++
			continue
		}
		name := token()
		if name == "" {
			return nil, errExtSyntax
		}
		e := extension{name: name}
		for {
			skip()
			if i == len(s) || s[i] == ',' {
				break
			}
			if s[i] != ';' {
				return nil, errExtSyntax
			}
			i++
			skip()
			p := extParam{name: strings.ToLower(token())}
			if p.name == "" {
				return nil, errExtSyntax
			}
			skip()
			if i < len(s) && s[i] == '=' {
				i++
				skip()
				p.hasValue = true
				if i < len(s) && s[i] == '"' {
					i++
					var b strings.Builder
					for {
						if i == len(s) {
							return nil, errExtSyntax
						}
						c := s[i]
						i++
						if c == '"' {
							break
						}
						if c == '\\' {
							if i == len(s) {
								return nil, errExtSyntax
							}
							c = s[i]
							i++
						}
						b.WriteByte(c)
					}
					p.value = b.String()
				} else {
					p.value = token()
				}
				if p.value == "" || strings.IndexFunc(p.value, func(r rune) bool { return r > 0x7f || !isTokenChar(byte(r)) }) >= 0 {
					return nil, errExtSyntax
				}
			}
			e.params = append(e.params, p)
		}
		exts = append(exts, e)
	}
}
