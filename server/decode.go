package server

import (
	"encoding"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// Decoding the arguments a parser made (nil, bool, float64 or msgpack's
// integers, string, []byte, []any, map[string]any) into Go types, with
// encoding/json's rules: structs by their json tags (exact name first,
// then any case), numbers into any numeric type that holds them exactly,
// null leaving a value as it was, json.Unmarshaler and
// encoding.TextUnmarshaler honoured. A binary attachment decodes into a
// []byte, as does a base64 string (what encoding/json writes for one).

// ArgumentError reports an argument that does not decode into the type
// its handler declared.
type ArgumentError struct {
	// Index is the argument's position, from 0 (for AcksAs, the answer's).
	Index int
	// Path is where in the argument, such as ".items[2].id"; empty for
	// the argument itself.
	Path string
	// Type is the Go type it should have decoded into.
	Type reflect.Type
	// Value is what came: "string", "number", "bool", "object", "array",
	// "binary" or "null".
	Value string
	// Err is the error of an UnmarshalJSON, UnmarshalText or base64, or of
	// a number out of Type's range.
	Err error
}

func (e *ArgumentError) Error() string {
	msg := fmt.Sprintf("socket.io: argument %d%s: cannot decode %s into %v", e.Index, e.Path, e.Value, e.Type)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *ArgumentError) Unwrap() error { return e.Err }

// DecodeArgs decodes arguments (of an event, or of an acknowledgement
// EmitWithAck returned) into dst, one pointer per argument in order; an
// argument that is missing leaves its destination as it was, as null
// does. A mismatch is an *ArgumentError.
//
//	var room string
//	var opts struct{ Private bool `json:"private"` }
//	if err := server.DecodeArgs(args, &room, &opts); err != nil {
//		_ = ack(map[string]any{"error": err.Error()})
//		return
//	}
func DecodeArgs(args []any, dst ...any) error {
	for i, d := range dst {
		rv := reflect.ValueOf(d)
		if rv.Kind() != reflect.Pointer || rv.IsNil() {
			return fmt.Errorf("socket.io: DecodeArgs: destination %d is %T, not a pointer", i, d)
		}
		var v any
		if i < len(args) {
			v = args[i]
		}
		if err := decodeArg(i, v, d); err != nil {
			return err
		}
	}
	return nil
}

// decodeArg decodes v, argument i, into the pointer dst: the common types
// without reflection.
func decodeArg(i int, v any, dst any) error {
	switch p := dst.(type) {
	case *any:
		*p = v
		return nil
	case *string:
		if s, ok := v.(string); ok {
			*p = s
			return nil
		}
	case *float64:
		if f, ok := v.(float64); ok {
			*p = f
			return nil
		}
	case *bool:
		if b, ok := v.(bool); ok {
			*p = b
			return nil
		}
	case *map[string]any:
		if m, ok := v.(map[string]any); ok {
			*p = m
			return nil
		}
	case *[]any:
		if a, ok := v.([]any); ok {
			*p = a
			return nil
		}
	}
	if err := decodeValue(reflect.ValueOf(dst).Elem(), v); err != nil {
		return argumentError(i, err)
	}
	return nil
}

// typeError is a mismatch found deep in a value; the path grows as it
// comes back up.
type typeError struct {
	path []string // innermost first
	typ  reflect.Type
	got  string
	err  error
}

func (e *typeError) Error() string { return "socket.io: cannot decode " + e.got }

func (e *typeError) at(seg string) *typeError {
	e.path = append(e.path, seg)
	return e
}

func argumentError(i int, err error) error {
	te, ok := err.(*typeError)
	if !ok {
		return err
	}
	var b strings.Builder
	for j := len(te.path) - 1; j >= 0; j-- {
		b.WriteString(te.path[j])
	}
	return &ArgumentError{Index: i, Path: b.String(), Type: te.typ, Value: te.got, Err: te.err}
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "bool"
	case []byte:
		return "binary"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	if _, ok := toFloat(v); ok {
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

func mismatch(t reflect.Type, v any) *typeError {
	return &typeError{typ: t, got: kindOf(v)}
}

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	jsonNumberType      = reflect.TypeFor[json.Number]()
)

// The unmarshalers a type's pointer implements, looked up once per type.
const (
	jsonUnmarshaler = 1 << iota
	textUnmarshaler
	unmarshalersKnown
)

var unmarshalers sync.Map // reflect.Type -> int

func unmarshalersOf(t reflect.Type) int {
	if v, ok := unmarshalers.Load(t); ok {
		return v.(int) &^ unmarshalersKnown
	}
	um := unmarshalersKnown
	if t.Kind() != reflect.Interface {
		pt := reflect.PointerTo(t)
		if pt.Implements(jsonUnmarshalerType) {
			um |= jsonUnmarshaler
		}
		if pt.Implements(textUnmarshalerType) {
			um |= textUnmarshaler
		}
	}
	unmarshalers.Store(t, um)
	return um &^ unmarshalersKnown
}

// decodeValue decodes v into dst, which is settable.
func decodeValue(dst reflect.Value, v any) error {
	t := dst.Type()
	if t.Kind() == reflect.Pointer {
		if v == nil {
			dst.SetZero()
			return nil
		}
		if dst.IsNil() {
			dst.Set(reflect.New(t.Elem()))
		}
		return decodeValue(dst.Elem(), v)
	}
	if um := unmarshalersOf(t); um != 0 && dst.CanAddr() {
		if um&jsonUnmarshaler != 0 {
			b, err := appendJSON(nil, v)
			if err == nil {
				err = dst.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(b)
			}
			if err != nil {
				return &typeError{typ: t, got: kindOf(v), err: err}
			}
			return nil
		}
		if s, ok := v.(string); ok && um&textUnmarshaler != 0 {
			if err := dst.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
				return &typeError{typ: t, got: "string", err: err}
			}
			return nil
		}
	}
	if v == nil {
		switch t.Kind() {
		case reflect.Interface, reflect.Map, reflect.Slice:
			dst.SetZero()
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Interface:
		if t.NumMethod() != 0 {
			return mismatch(t, v)
		}
		dst.Set(reflect.ValueOf(v))
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			return mismatch(t, v)
		}
		dst.SetBool(b)
	case reflect.String:
		switch x := v.(type) {
		case string:
			dst.SetString(x)
		default:
			f, ok := toFloat(v)
			if !ok || t != jsonNumberType {
				return mismatch(t, v)
			}
			dst.SetString(string(appendJSONFloat(nil, f)))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := toInt(v)
		if !ok || dst.OverflowInt(n) {
			return rangeError(t, v)
		}
		dst.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, ok := toUint(v)
		if !ok || dst.OverflowUint(n) {
			return rangeError(t, v)
		}
		dst.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, ok := toFloat(v)
		if !ok {
			return mismatch(t, v)
		}
		if dst.OverflowFloat(f) {
			return rangeError(t, v)
		}
		dst.SetFloat(f)
	case reflect.Slice:
		return decodeSlice(dst, v)
	case reflect.Array:
		a, ok := v.([]any)
		if !ok {
			return mismatch(t, v)
		}
		for i := 0; i < dst.Len(); i++ {
			if i >= len(a) {
				dst.Index(i).SetZero()
				continue
			}
			if err := decodeValue(dst.Index(i), a[i]); err != nil {
				return at(err, "["+strconv.Itoa(i)+"]")
			}
		}
	case reflect.Map:
		return decodeMap(dst, v)
	case reflect.Struct:
		return decodeStruct(dst, v)
	default:
		return mismatch(t, v)
	}
	return nil
}

func at(err error, seg string) error {
	if te, ok := err.(*typeError); ok {
		return te.at(seg)
	}
	return err
}

func rangeError(t reflect.Type, v any) error {
	te := mismatch(t, v)
	if _, ok := toFloat(v); ok {
		te.err = fmt.Errorf("%v out of range or not a whole number", v)
	}
	return te
}

func decodeSlice(dst reflect.Value, v any) error {
	t := dst.Type()
	if t.Elem().Kind() == reflect.Uint8 {
		switch x := v.(type) {
		case []byte:
			dst.Set(reflect.ValueOf(x).Convert(t))
			return nil
		case string:
			b, err := base64.StdEncoding.DecodeString(x)
			if err != nil {
				return &typeError{typ: t, got: "string", err: err}
			}
			dst.Set(reflect.ValueOf(b).Convert(t))
			return nil
		}
	}
	a, ok := v.([]any)
	if !ok {
		return mismatch(t, v)
	}
	out := reflect.MakeSlice(t, len(a), len(a))
	for i, e := range a {
		if err := decodeValue(out.Index(i), e); err != nil {
			return at(err, "["+strconv.Itoa(i)+"]")
		}
	}
	dst.Set(out)
	return nil
}

func decodeMap(dst reflect.Value, v any) error {
	t := dst.Type()
	m, ok := v.(map[string]any)
	if !ok {
		return mismatch(t, v)
	}
	kt := t.Key()
	textKey := reflect.PointerTo(kt).Implements(textUnmarshalerType)
	switch kt.Kind() {
	case reflect.String, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
	default:
		if !textKey {
			return mismatch(t, v)
		}
	}
	if dst.IsNil() {
		dst.Set(reflect.MakeMapWithSize(t, len(m)))
	}
	for k, e := range m {
		key := reflect.New(kt).Elem()
		switch {
		case textKey:
			if err := key.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(k)); err != nil {
				return &typeError{typ: kt, got: "string", err: err, path: []string{"[" + strconv.Quote(k) + "]"}}
			}
		case kt.Kind() == reflect.String:
			key.SetString(k)
		case key.CanInt():
			n, err := strconv.ParseInt(k, 10, 64)
			if err != nil || key.OverflowInt(n) {
				return &typeError{typ: kt, got: "string", path: []string{"[" + strconv.Quote(k) + "]"}}
			}
			key.SetInt(n)
		default:
			n, err := strconv.ParseUint(k, 10, 64)
			if err != nil || key.OverflowUint(n) {
				return &typeError{typ: kt, got: "string", path: []string{"[" + strconv.Quote(k) + "]"}}
			}
			key.SetUint(n)
		}
		elem := reflect.New(t.Elem()).Elem()
		if old := dst.MapIndex(key); old.IsValid() {
			elem.Set(old)
		}
		if err := decodeValue(elem, e); err != nil {
			return at(err, "."+k)
		}
		dst.SetMapIndex(key, elem)
	}
	return nil
}

func decodeStruct(dst reflect.Value, v any) error {
	t := dst.Type()
	m, ok := v.(map[string]any)
	if !ok {
		return mismatch(t, v)
	}
	info := structInfoOf(t)
	for k, e := range m {
		f := info.byName[k]
		if f == nil {
			// A key naming a field under case folding only, unless the
			// object also names it exactly: that one wins (the object's
			// order, by which encoding/json lets the last win, is gone).
			if f = info.folded(k); f == nil {
				continue // unknown keys are ignored, as encoding/json does
			}
			if _, exact := m[f.name]; exact {
				continue
			}
		}
		if err := decodeField(dst, f, k, e); err != nil {
			return err
		}
	}
	return nil
}

// decodeField decodes e, the value of key k, into dst's field f.
func decodeField(dst reflect.Value, f *structField, k string, e any) error {
	fv, ok := fieldByIndex(dst, f.index)
	if !ok {
		return nil
	}
	if s, isStr := e.(string); isStr && f.quoted {
		inner, err := decodeJSON([]byte(s))
		if err != nil {
			return (&typeError{typ: fv.Type(), got: "string", err: fmt.Errorf("invalid ,string value %q", s)}).at("." + k)
		}
		e = inner
	}
	if err := decodeValue(fv, e); err != nil {
		return at(err, "."+k)
	}
	return nil
}

// fieldByIndex is dst's field at index, allocating the embedded pointers
// on the way; false where one cannot be set (an unexported embedded
// pointer), whose fields are skipped, as encoding/json does.
func fieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !v.CanSet() {
					return reflect.Value{}, false
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

// structField is a field of a struct as encoding/json sees it.
type structField struct {
	name   string
	index  []int
	quoted bool // the ",string" option
}

type structInfo struct {
	fields []structField
	byName map[string]*structField
}

// folded is the field whose name equals key under case folding, as
// encoding/json matches a key that names no field exactly.
func (s *structInfo) folded(key string) *structField {
	for i := range s.fields {
		if strings.EqualFold(s.fields[i].name, key) {
			return &s.fields[i]
		}
	}
	return nil
}

var structInfos sync.Map // reflect.Type -> *structInfo

func structInfoOf(t reflect.Type) *structInfo {
	if v, ok := structInfos.Load(t); ok {
		return v.(*structInfo)
	}
	info := &structInfo{fields: typeFields(t)}
	info.byName = make(map[string]*structField, len(info.fields))
	for i := range info.fields {
		info.byName[info.fields[i].name] = &info.fields[i]
	}
	v, _ := structInfos.LoadOrStore(t, info)
	return v.(*structInfo)
}

// typeFields lists the fields encoding/json decodes into for t: exported
// ones by their tag's name or their own, those of embedded structs
// promoted, and of the fields sharing a name the shallowest one (a tagged
// one first at the same depth), none when that leaves a tie.
func typeFields(t reflect.Type) []structField {
	type candidate struct {
		structField
		depth  int
		tagged bool
	}
	type level struct {
		t     reflect.Type
		index []int
	}
	var all []candidate
	current := []level{{t: t}}
	visited := map[reflect.Type]bool{}
	for depth := 0; len(current) > 0; depth++ {
		var next []level
		for _, l := range current {
			if visited[l.t] {
				continue
			}
			visited[l.t] = true
			for i := 0; i < l.t.NumField(); i++ {
				sf := l.t.Field(i)
				ft := sf.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if sf.Anonymous {
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !validTagName(name) {
					name = ""
				}
				index := append(append([]int(nil), l.index...), i)
				if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
					next = append(next, level{t: ft, index: index})
					continue
				}
				tagged := name != ""
				if name == "" {
					name = sf.Name
				}
				quoted := false
				for _, o := range strings.Split(opts, ",") {
					if o == "string" {
						switch ft.Kind() {
						case reflect.Bool, reflect.String, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
							reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
							reflect.Float32, reflect.Float64:
							quoted = true
						}
					}
				}
				all = append(all, candidate{structField{name: name, index: index, quoted: quoted}, depth, tagged})
			}
		}
		current = next
	}
	// The dominant field of each name.
	var out []structField
	seen := map[string]bool{}
	for _, c := range all {
		if seen[c.name] {
			continue
		}
		seen[c.name] = true
		var best []candidate
		for _, d := range all {
			if d.name != c.name {
				continue
			}
			switch {
			case len(best) == 0 || d.depth < best[0].depth:
				best = []candidate{d}
			case d.depth == best[0].depth:
				best = append(best, d)
			}
		}
		if len(best) > 1 {
			var tagged []candidate
			for _, b := range best {
				if b.tagged {
					tagged = append(tagged, b)
				}
			}
			if len(tagged) != 1 {
				continue
			}
			best = tagged
		}
		out = append(out, best[0].structField)
	}
	return out
}

// validTagName is encoding/json's rule for a tag's name.
func validTagName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case c == '\\' || c == '"' || c == '\'' || c == '`' || c == ',':
			return false
		case !isLetterOrDigit(c):
			return false
		}
	}
	return true
}

func isLetterOrDigit(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c > 127
}

// Numbers as the parsers make them: float64 from JSON, Go integers and
// floats from msgpack.

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

// toInt is v as an int64, when it is a whole number in range.
func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint:
		return int64(x), uint64(x) <= math.MaxInt64
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		return int64(x), x <= math.MaxInt64
	}
	f, ok := toFloat(v)
	if !ok || f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}

// toUint is v as a uint64, when it is a whole number in range.
func toUint(v any) (uint64, bool) {
	switch x := v.(type) {
	case uint:
		return uint64(x), true
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	case int, int8, int16, int32, int64:
		n, _ := toInt(v)
		return uint64(n), n >= 0
	}
	f, ok := toFloat(v)
	if !ok || f != math.Trunc(f) || f < 0 || f >= 1<<64 {
		return 0, false
	}
	return uint64(f), true
}
