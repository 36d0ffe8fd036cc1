// Package mpack is the msgpack codec that siogo's msgpack parser and its
// adapters share: the checks that bound what a peer's bytes can make the
// decoder do, and JavaScript's undefined (notepack's extension 0) as nil.
package mpack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"

	"github.com/vmihailenco/msgpack/v5"
)

// ErrInvalid is what Check and Decode return for bytes that are not one
// well-formed msgpack value within the bounds.
var ErrInvalid = errors.New("invalid msgpack")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// Undefined is JavaScript's undefined, which notepack (the npm parser's
// msgpack) writes as the extension 0 with one zero byte. It decodes to nil,
// and a packet's data that is undefined is absent.
type Undefined struct{}

func init() {
	// Extension 0 is registered for the whole program: a program that
	// also uses vmihailenco/msgpack with its own extension 0 would clash.
	msgpack.RegisterExtDecoder(0, Undefined{}, func(d *msgpack.Decoder, _ reflect.Value, n int) error {
		for i := 0; i < n; i++ {
			if _, err := d.DecodeUint8(); err != nil {
				return err
			}
		}
		return nil
	})
}

// DropUndefined replaces undefined with nil; depth was bounded before.
func DropUndefined(v any) any {
	switch x := v.(type) {
	case Undefined:
		return nil
	case []any:
		for i, e := range x {
			x[i] = DropUndefined(e)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = DropUndefined(e)
		}
	}
	return v
}

// Check walks one msgpack value without recursion and refuses one
// nested deeper than max, truncated, or whose lengths claim more than the
// bytes that follow (which would make the decoder allocate for nothing).
func Check(b []byte, max int) error {
	var open []uint64 // items still to read in each open container
	i := 0
	need := func(n uint64) bool { return uint64(len(b)-i) >= n }
	for {
		if i >= len(b) {
			return invalid("truncated msgpack")
		}
		c := b[i]
		i++
		var items uint64 // items of a container just opened
		var skip uint64  // bytes of a scalar's body
		switch {
		case c <= 0x7f || c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
		case c >= 0x80 && c <= 0x8f:
			items = 2 * uint64(c&0x0f)
		case c >= 0x90 && c <= 0x9f:
			items = uint64(c & 0x0f)
		case c >= 0xa0 && c <= 0xbf:
			skip = uint64(c & 0x1f)
		default:
			var n int // size of the length field
			switch c {
			case 0xc4, 0xc7, 0xd9:
				n = 1
			case 0xc5, 0xc8, 0xda, 0xdc, 0xde:
				n = 2
			case 0xc6, 0xc9, 0xdb, 0xdd, 0xdf:
				n = 4
			case 0xca, 0xce, 0xd2:
				skip = 4
			case 0xcb, 0xcf, 0xd3:
				skip = 8
			case 0xcc, 0xd0:
				skip = 1
			case 0xcd, 0xd1:
				skip = 2
			case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
				skip = 1 + 1<<(c-0xd4)
			default:
				return invalid("bad msgpack byte %#x", c)
			}
			if n > 0 {
				if !need(uint64(n)) {
					return invalid("truncated msgpack")
				}
				var l uint64
				switch n {
				case 1:
					l = uint64(b[i])
				case 2:
					l = uint64(binary.BigEndian.Uint16(b[i:]))
				case 4:
					l = uint64(binary.BigEndian.Uint32(b[i:]))
				}
				i += n
				switch c {
				case 0xdc, 0xdd:
					items = l
				case 0xde, 0xdf:
					items = 2 * l
				case 0xc7, 0xc8, 0xc9:
					skip = l + 1 // ext: type byte and data
				default:
					skip = l
				}
			}
		}
		if !need(skip) || !need(items) {
			return invalid("msgpack length past the end")
		}
		i += int(skip)
		if items > 0 {
			open = append(open, items)
			if len(open) > max {
				return invalid("payload nested deeper than %d", max)
			}
			continue
		}
		// A value is complete: close the containers it completes.
		for len(open) > 0 {
			open[len(open)-1]--
			if open[len(open)-1] > 0 {
				break
			}
			open = open[:len(open)-1]
		}
		if len(open) == 0 {
			if i != len(b) {
				return invalid("bytes after the msgpack value")
			}
			return nil
		}
	}
}

// Decode decodes one msgpack value as the msgpack parser does:
// nesting and lengths checked first, JavaScript's undefined as nil. For
// adapters that read messages other nodes wrote with notepack.
func Decode(b []byte) (any, error) {
	if err := Check(b, 1000); err != nil {
		return nil, err
	}
	var v any
	if err := msgpack.Unmarshal(b, &v); err != nil {
		return nil, invalid("bad msgpack: %v", err)
	}
	return DropUndefined(v), nil
}

// Encode encodes v as msgpack, struct fields named by their json
// tags, as JSON would name them.
func Encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetCustomStructTag("json")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
