package socketio

import (
	"encoding/json"
	"reflect"
	"testing"
)

type msg struct {
	A string `json:"a"`
	N int64  `json:"n"`
}

// decode follows googollee's decoder: declared types, zero values for
// missing arguments, extra ones dropped, pointers filled, mismatches
// refused.
func TestDecode(t *testing.T) {
	h := newEventFunc(func(Conn, string, int64, *msg, json.RawMessage, interface{}) {})
	cases := []struct {
		name string
		args []any
		want []any
		err  bool
	}{
		{"all", []any{rawArg(`"s"`), rawArg(`9007199254740993`), rawArg(`{"a":"x","n":2}`), rawArg(`{"z":1,  "a":2}`), rawArg(`[1,"x"]`)},
			[]any{"s", int64(9007199254740993), &msg{A: "x", N: 2}, json.RawMessage(`{"z":1,  "a":2}`), []any{float64(1), "x"}}, false},
		{"missing", []any{rawArg(`"s"`)}, []any{"s", int64(0), &msg{}, json.RawMessage(nil), nil}, false},
		{"extra", []any{rawArg(`"s"`), rawArg(`1`), rawArg(`null`), rawArg(`1`), rawArg(`2`), rawArg(`3`)},
			[]any{"s", int64(1), &msg{}, json.RawMessage(`1`), float64(2)}, false},
		{"binary", []any{"s", float64(1), map[string]any{"a": "b"}, rawArg(`1`), []byte{1, 2}},
			[]any{"s", int64(1), &msg{A: "b"}, json.RawMessage(`1`), []byte{1, 2}}, false},
		{"mismatch", []any{rawArg(`1`)}, nil, true},
	}
	for _, c := range cases {
		vals, err := h.decode(c.args)
		if (err != nil) != c.err {
			t.Errorf("%s: err %v", c.name, err)
			continue
		}
		if c.err {
			continue
		}
		got := make([]any, len(vals))
		for i, v := range vals {
			got[i] = v.Interface()
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.name, got, c.want)
		}
	}
}

func TestNewEventFuncPanics(t *testing.T) {
	for _, f := range []any{42, func() {}, func(string) {}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%T accepted", f)
				}
			}()
			newEventFunc(f)
		}()
	}
}

func TestRawDecoder(t *testing.T) {
	d := rawParser{}.NewDecoder()
	for _, c := range []struct {
		in   string
		want []any
	}{
		{`2["ev",1,{"b":2,"a":1}]`, []any{"ev", rawArg(`1`), rawArg(`{"b":2,"a":1}`)}},
		{`2/chat,7["ev","x"]`, []any{"ev", rawArg(`"x"`)}},
		{`3/chat?q=1,12[true,null]`, []any{rawArg(`true`), rawArg(`null`)}},
	} {
		p, err := d.Add([]byte(c.in), false)
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if !reflect.DeepEqual(p.Data, c.want) {
			t.Errorf("%s: %#v", c.in, p.Data)
		}
	}
}

// FuzzRawDecoder: any message decodes or fails, never panics, and the
// arguments kept as text are the array's elements.
func FuzzRawDecoder(f *testing.F) {
	for _, s := range []string{`2["ev",1]`, `3/a,1[{"x":[1,2]}]`, `2/n,["e"`, `51-["e",{"_placeholder":true,"num":0}]`, `2["ev","\"],["]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := rawParser{}.NewDecoder().Add([]byte(s), false)
		if err != nil || p == nil {
			return
		}
		if args, ok := p.Data.([]any); ok {
			for _, a := range args {
				if r, ok := a.(rawArg); ok && !json.Valid(r) {
					t.Fatalf("%q: argument %q is not JSON", s, r)
				}
			}
		}
	})
}

// BenchmarkDispatch is the reflection a googollee handler costs per
// event: decoding a struct and a string from their JSON text, the call,
// and the results.
func BenchmarkDispatch(b *testing.B) {
	h := newEventFunc(func(_ Conn, m msg, s string) (msg, string) { return m, s })
	args := []any{rawArg(`{"a":"hello","n":42}`), rawArg(`"text"`)}
	var c *conn
	b.ReportAllocs()
	for b.Loop() {
		vals, err := h.decode(args)
		if err != nil {
			b.Fatal(err)
		}
		ret, err := h.call(append([]reflect.Value{reflect.ValueOf(c)}, vals...))
		if err != nil {
			b.Fatal(err)
		}
		_ = values(ret)
	}
}
