// Package session holds the session types of googollee/go-socket.io
// v1.7.0's engineio/session that programs name: the id generator and the
// frame types.
package session

import (
	"strconv"
	"sync/atomic"
)

// IDGenerator makes session ids; set one in engineio.Options.
type IDGenerator interface {
	NewID() string
}

// DefaultIDGenerator counts: 1, 2, 3 in base 36, as googollee's default
// did. It is not the default here (ids must not be guessable), but a
// program may still choose it.
type DefaultIDGenerator struct {
	ID uint64
}

// NewID returns the next number.
func (g *DefaultIDGenerator) NewID() string {
	return strconv.FormatUint(atomic.AddUint64(&g.ID, 1), 36)
}

// FrameType is the type of a message frame.
type FrameType byte

// The frame types.
const (
	// TEXT is a text message.
	TEXT FrameType = iota
	// BINARY is a binary message.
	BINARY
)
