package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/siogo/siogo/internal/jsonstr"
)

// The JSON of Socket.IO packets, decoded and encoded here rather than by
// encoding/json's reflection, which was a fifth of the server's CPU per
// echo: the values are only ever nil, bool, float64, string, []any and
// map[string]any on the way in, and mostly those on the way out. The
// results are encoding/json's, byte for byte and value for value (the
// differential fuzz targets FuzzJSONDecode and FuzzJSONEncode hold them
// to it); any other Go type on the way out is encoded by encoding/json.

// errJSON is any JSON text encoding/json.Unmarshal would refuse.
var errJSON = errors.New("socket.io: bad JSON")

// maxJSONNesting is encoding/json's own bound on nesting.
const maxJSONNesting = 10000

// decodeJSON decodes b as json.Unmarshal does into an any: objects as
// map[string]any (the last of duplicate keys wins), arrays as []any
// (empty, not nil, when empty), numbers as float64, invalid UTF-8 and lone
// surrogates as U+FFFD.
func decodeJSON(b []byte) (any, error) {
	d := jsonReader{b: b}
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	d.space()
	if d.i != len(d.b) {
		return nil, errJSON
	}
	return v, nil
}

type jsonReader struct {
	b     []byte
	i     int
	depth int
}

func (d *jsonReader) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *jsonReader) value() (any, error) {
	d.space()
	if d.i >= len(d.b) {
		return nil, errJSON
	}
	switch c := d.b[d.i]; {
	case c == '"':
		return d.str()
	case c == '[':
		return d.array()
	case c == '{':
		return d.object()
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	}
	return nil, errJSON
}

func (d *jsonReader) literal(s string) error {
	if !bytes.HasPrefix(d.b[d.i:], []byte(s)) {
		return errJSON
	}
	d.i += len(s)
	return nil
}

func (d *jsonReader) enter() error {
	if d.depth++; d.depth > maxJSONNesting {
		return errJSON
	}
	d.i++
	return nil
}

func (d *jsonReader) array() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	// Sized for an event's name and a few arguments: not nil when empty,
	// as encoding/json's.
	a := make([]any, 0, 4)
	d.space()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		d.depth--
		return a, nil
	}
	for {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		d.space()
		if d.i >= len(d.b) {
			return nil, errJSON
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			d.depth--
			return a, nil
		default:
			return nil, errJSON
		}
	}
}

func (d *jsonReader) object() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	m := make(map[string]any)
	d.space()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		d.depth--
		return m, nil
	}
	for {
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, errJSON
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, errJSON
		}
		d.i++
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		m[k] = v
		d.space()
		if d.i >= len(d.b) {
			return nil, errJSON
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			d.depth--
			return m, nil
		default:
			return nil, errJSON
		}
	}
}

// number reads a number of JSON's grammar, converted as encoding/json
// does, by strconv.ParseFloat (one out of float64's range is refused).
func (d *jsonReader) number() (any, error) {
	b, start := d.b, d.i
	i := start
	neg := b[i] == '-'
	if neg {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		digits()
	default:
		return nil, errJSON
	}
	intEnd := i
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return nil, errJSON
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return nil, errJSON
		}
	}
	d.i = i
	// An integer of up to 15 digits is exact in a float64, as
	// ParseFloat makes it; -0 is left to ParseFloat (negative zero).
	if i == intEnd {
		first := start
		if neg {
			first++
		}
		if n := intEnd - first; n <= 15 && !(neg && b[first] == '0') {
			var u int64
			for _, c := range b[first:intEnd] {
				u = u*10 + int64(c-'0')
			}
			if neg {
				u = -u
			}
			return float64(u), nil
		}
	}
	f, err := strconv.ParseFloat(string(b[start:i]), 64)
	if err != nil {
		return nil, errJSON
	}
	return f, nil
}

// str reads a string at d.i (its opening quote).
func (d *jsonReader) str() (string, error) {
	b := d.b
	start := d.i + 1
	i := start
	for i < len(b) {
		c := b[i]
		if c == '"' {
			d.i = i + 1
			return string(b[start:i]), nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		i++
	}
	// Escapes, control bytes, or bytes past ASCII: find the end as
	// encoding/json's scanner does, then unquote as it does.
	j := i
	needs := false
	for {
		if j >= len(b) {
			return "", errJSON
		}
		c := b[j]
		switch {
		case c == '"':
			d.i = j + 1
			if !needs {
				return string(b[start:j]), nil
			}
			return unquoteJSON(b[start:j]), nil
		case c < 0x20:
			return "", errJSON
		case c == '\\':
			needs = true
			if j+1 >= len(b) {
				return "", errJSON
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(b) {
					return "", errJSON
				}
				for _, h := range b[j+2 : j+6] {
					if !isHex(h) {
						return "", errJSON
					}
				}
				j += 6
			default:
				return "", errJSON
			}
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(b[j:])
			if r == utf8.RuneError && size == 1 {
				needs = true
			}
			j += size
		default:
			j++
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// hex4 is the value of the \uXXXX at the start of s, or -1.
func hex4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// unquoteJSON is encoding/json's unquoting of a string the scanner took:
// escapes resolved, a surrogate pair joined, a lone surrogate and each
// byte of invalid UTF-8 as U+FFFD.
func unquoteJSON(s []byte) string {
	out := make([]byte, 0, len(s)+2*utf8.UTFMax)
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			switch s[r+1] {
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				rr := hex4(s[r:])
				r += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, hex4(s[r:])); dec != utf8.RuneError {
						r += 6
						out = utf8.AppendRune(out, dec)
						continue
					}
					rr = utf8.RuneError
				}
				out = utf8.AppendRune(out, rr)
				continue
			default: // '"', '\\', '/'
				out = append(out, s[r+1])
			}
			r += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			out = utf8.AppendRune(out, rr)
		}
	}
	return string(out)
}

// errJSONSlow sends an encoding to encoding/json, for its error.
var errJSONSlow = errors.New("socket.io: encode with encoding/json")

// errJSONBinary stops appendJSONArgs at a []byte: the arguments need
// their attachments taken out first.
var errJSONBinary = errors.New("socket.io: arguments carry binary")

// appendJSONArgs appends the arguments of an event or an ack, v, as
// appendJSON does once deconstruct found no binary in them; it returns
// errJSONBinary at a []byte where deconstruct would find one, and
// errJSONSlow past max of nesting, for the caller to take the long way.
func appendJSONArgs(b []byte, v any, depth, max int) ([]byte, error) {
	if depth > max {
		return nil, errJSONSlow
	}
	switch x := v.(type) {
	case []byte:
		return nil, errJSONBinary
	case []any:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSONArgs(b, e, depth+1, max); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		if x == nil {
			return append(b, "null"...), nil
		}
		return appendJSONMap(b, x, func(b []byte, e any) ([]byte, error) { return appendJSONArgs(b, e, depth+1, max) })
	}
	return appendJSONValue(b, v)
}

func appendJSONMap(b []byte, x map[string]any, elem func([]byte, any) ([]byte, error)) ([]byte, error) {
	keys := make([]string, 0, len(x))
	for k := range x {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonstr.Append(b, k)
		b = append(b, ':')
		var err error
		if b, err = elem(b, x[k]); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendJSONValue appends v as encoding/json with SetEscapeHTML(false)
// writes it; types other than the decoder's and Go's integers go to
// encoding/json one by one.
func appendJSONValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return jsonstr.Append(b, x), nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return nil, errJSONSlow
		}
		return appendJSONFloat(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case []any:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSONValue(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		if x == nil {
			return append(b, "null"...), nil
		}
		return appendJSONMap(b, x, appendJSONValue)
	}
	buf := bytes.NewBuffer(b)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, errJSONSlow
	}
	out := buf.Bytes()
	return out[:len(out)-1], nil // Encode adds a newline
}

// appendJSONFloat is encoding/json's float64: as ES6 converts a number to
// a string.
func appendJSONFloat(b []byte, f float64) []byte {
	if f != 0 && f == math.Trunc(f) && f > -1<<53 && f < 1<<53 {
		// An integer, as 'f' writes it (not -0: it has no int64).
		return strconv.AppendInt(b, int64(f), 10)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
