package netpoll

import "sync"

// outBuf holds the bytes waiting for a slow peer, in chunks taken from
// shared pools and given back as soon as they are written: a connection
// with nothing waiting holds no outBuf at all.
type outBuf struct {
	chunks []*[]byte // each chunk's len is what it holds
	head   int       // bytes of chunks[0] already written
	size   int       // bytes waiting
}

const (
	smallChunk = 4 << 10
	largeChunk = 32 << 10
)

var (
	smallPool = sync.Pool{New: func() any { b := make([]byte, 0, smallChunk); return &b }}
	largePool = sync.Pool{New: func() any { b := make([]byte, 0, largeChunk); return &b }}
	outPool   = sync.Pool{New: func() any { return new(outBuf) }}
)

func getChunk(need int) *[]byte {
	if need <= smallChunk {
		return smallPool.Get().(*[]byte)
	}
	return largePool.Get().(*[]byte)
}

func putChunk(b *[]byte) {
	*b = (*b)[:0]
	if cap(*b) == smallChunk {
		smallPool.Put(b)
	} else {
		largePool.Put(b)
	}
}

func newOutBuf() *outBuf { return outPool.Get().(*outBuf) }

// append copies p to the end of what waits.
func (o *outBuf) append(p []byte) {
	o.size += len(p)
	if n := len(o.chunks); n > 0 {
		last := o.chunks[n-1]
		k := copy((*last)[len(*last):cap(*last)], p)
		*last = (*last)[:len(*last)+k]
		p = p[k:]
	}
	for len(p) > 0 {
		c := getChunk(len(p))
		k := copy((*c)[:cap(*c)], p)
		*c = (*c)[:k]
		p = p[k:]
		o.chunks = append(o.chunks, c)
	}
}

// iovecs appends to dst the waiting bytes, at most max slices.
func (o *outBuf) iovecs(dst [][]byte, max int) [][]byte {
	for i, c := range o.chunks {
		if i == max {
			break
		}
		b := *c
		if i == 0 {
			b = b[o.head:]
		}
		dst = append(dst, b)
	}
	return dst
}

// consume drops n written bytes, giving back the chunks they emptied.
func (o *outBuf) consume(n int) {
	o.size -= n
	k := 0
	for n > 0 {
		c := o.chunks[k]
		rest := len(*c) - o.head
		if n < rest {
			o.head += n
			break
		}
		n -= rest
		o.head = 0
		putChunk(c)
		k++
	}
	if k > 0 {
		m := copy(o.chunks, o.chunks[k:])
		clear(o.chunks[m:])
		o.chunks = o.chunks[:m]
	}
}

// release gives back every chunk and o itself.
func (o *outBuf) release() {
	for i, c := range o.chunks {
		putChunk(c)
		o.chunks[i] = nil
	}
	o.chunks = o.chunks[:0]
	o.head, o.size = 0, 0
	outPool.Put(o)
}
