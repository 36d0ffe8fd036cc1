package socketio

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// funcHandler is an event handler or an acknowledgement callback of any
// signature, called through reflection as googollee calls it.
type funcHandler struct {
	argTypes []reflect.Type
	f        reflect.Value
}

// newEventFunc checks an OnEvent handler: a func whose first parameter is
// a type named Conn. It panics otherwise, as googollee does.
func newEventFunc(f interface{}) *funcHandler {
	fv := reflect.ValueOf(f)
	if fv.Kind() != reflect.Func {
		panic("event handler must be a func.")
	}
	ft := fv.Type()
	if ft.NumIn() < 1 || ft.In(0).Name() != "Conn" {
		panic("handler function should be like func(socketio.Conn, ...)")
	}
	types := make([]reflect.Type, ft.NumIn()-1)
	for i := range types {
		types[i] = ft.In(i + 1)
	}
	return &funcHandler{argTypes: types, f: fv}
}

// newAckFunc wraps the callback given as Emit's last argument: every
// parameter is an argument of the client's acknowledgement.
func newAckFunc(f interface{}) *funcHandler {
	fv := reflect.ValueOf(f)
	ft := fv.Type()
	types := make([]reflect.Type, ft.NumIn())
	for i := range types {
		types[i] = ft.In(i)
	}
	return &funcHandler{argTypes: types, f: fv}
}

// decode turns the client's arguments into the declared types, as
// googollee's decoder does: missing arguments are zero values, extra ones
// are dropped, a pointer parameter gets a new value, and a value JSON
// cannot put in its type is an error.
func (h *funcHandler) decode(args []any) ([]reflect.Value, error) {
	ret := make([]reflect.Value, len(h.argTypes))
	for i, typ := range h.argTypes {
		elem := typ
		if typ.Kind() == reflect.Pointer {
			elem = typ.Elem()
		}
		p := reflect.New(elem)
		if i < len(args) {
			if err := assign(p, args[i]); err != nil {
				return nil, err
			}
		}
		if typ.Kind() == reflect.Pointer {
			ret[i] = p
		} else {
			ret[i] = p.Elem()
		}
	}
	return ret, nil
}

// assign decodes v into *p.
func assign(p reflect.Value, v any) error {
	switch x := v.(type) {
	case rawArg:
		return json.Unmarshal(x, p.Interface())
	case nil:
		return nil
	}
	// A value of a binary packet: attachments are []byte.
	rv := reflect.ValueOf(v)
	if t := p.Elem().Type(); rv.Type().AssignableTo(t) {
		p.Elem().Set(rv)
		return nil
	}
	b, err := json.Marshal(v) // []byte becomes base64, which json decodes into []byte
	if err != nil {
		return err
	}
	return json.Unmarshal(b, p.Interface())
}

// call runs the handler; a panic is returned as an error, as googollee's
// funcHandler.Call does.
func (h *funcHandler) call(args []reflect.Value) (ret []reflect.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			var ok bool
			if err, ok = r.(error); !ok {
				err = fmt.Errorf("event call error: %s", r)
			}
		}
	}()
	return h.f.Call(args), nil
}

// values returns the results of a call as the arguments of an ack.
func values(ret []reflect.Value) []any {
	out := make([]any, len(ret))
	for i, v := range ret {
		out[i] = v.Interface()
	}
	return out
}
