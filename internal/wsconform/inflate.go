package wsconform

import (
	"errors"
	"fmt"
)

// inflater is a DEFLATE decoder (RFC 1951) that plays a client whose
// LZ77 window is window bytes: a back-reference further back is an error,
// as it is for zlib opened with fewer window bits. With takeover, the
// window carries over from one message to the next (RFC 7692 section
// 7.2.3). Go's compress/flate cannot be held to a window, hence this one.
type inflater struct {
	window   int
	takeover bool
	hist     []byte // the end of what earlier messages inflated to
}

var errInflate = errors.New("bad deflate data")

type bitReader struct {
	b     []byte
	pos   int
	bits  uint64
	nbits uint
}

func (r *bitReader) need(n uint) error {
	for r.nbits < n {
		if r.pos == len(r.b) {
			return fmt.Errorf("%w: ends inside a block", errInflate)
		}
		r.bits |= uint64(r.b[r.pos]) << r.nbits
		r.pos++
		r.nbits += 8
	}
	return nil
}

func (r *bitReader) get(n uint) (int, error) {
	if err := r.need(n); err != nil {
		return 0, err
	}
	v := int(r.bits & (1<<n - 1))
	r.bits >>= n
	r.nbits -= n
	return v, nil
}

// huffman is a canonical code: the number of codes of each length and
// the symbols in code order, and a table of the codes of up to fastBits
// bits, by their next fastBits input bits (symbol<<4 | length; 0: none).
type huffman struct {
	count  [16]int
	symbol []int
	fast   [1 << fastBits]uint16
}

const fastBits = 9

func newHuffman(lengths []int) (*huffman, error) {
	h := &huffman{symbol: make([]int, 0, len(lengths))}
	for _, l := range lengths {
		h.count[l]++
	}
	left := 1
	for l := 1; l < 16; l++ {
		left = left<<1 - h.count[l]
		if left < 0 {
			return nil, fmt.Errorf("%w: over-subscribed code", errInflate)
		}
	}
	for l := 1; l < 16; l++ {
		for s, sl := range lengths {
			if sl == l {
				h.symbol = append(h.symbol, s)
			}
		}
	}
	// Codes of one length are consecutive, in symbol order (RFC 1951
	// section 3.2.2); the input holds them most significant bit first.
	code, next := 0, [16]int{}
	for l := 1; l < 16; l++ {
		code = (code + h.count[l-1]*boolInt(l > 1)) << 1
		next[l] = code
	}
	for s, l := range lengths {
		if l == 0 || l > fastBits {
			continue
		}
		c := next[l]
		next[l]++
		rev := 0
		for i := 0; i < l; i++ {
			rev |= (c >> i & 1) << (l - 1 - i)
		}
		for f := rev; f < 1<<fastBits; f += 1 << l {
			h.fast[f] = uint16(s<<4 | l)
		}
	}
	return h, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// decode reads one symbol, a bit at a time: canonical codes of one length
// are consecutive, and each length's first code follows from the counts.
func (h *huffman) decode(r *bitReader) (int, error) {
	if r.need(fastBits) == nil {
		if e := h.fast[r.bits&(1<<fastBits-1)]; e != 0 {
			r.bits >>= e & 15
			r.nbits -= uint(e & 15)
			return int(e >> 4), nil
		}
	}
	code, first, index := 0, 0, 0
	for l := 1; l < 16; l++ {
		b, err := r.get(1)
		if err != nil {
			return 0, err
		}
		code |= b
		n := h.count[l]
		if code-first < n {
			return h.symbol[index+code-first], nil
		}
		index += n
		first = (first + n) << 1
		code <<= 1
	}
	return 0, fmt.Errorf("%w: no such code", errInflate)
}

var (
	lenBase  = [29]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra = [29]uint{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase = [30]int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtr = [30]uint{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	clOrder  = [19]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

var fixedLit, fixedDist = func() (*huffman, *huffman) {
	l := make([]int, 288)
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	d := make([]int, 30)
	for i := range d {
		d[i] = 5
	}
	lit, _ := newHuffman(l)
	dist, _ := newHuffman(d)
	return lit, dist
}()

// inflate decodes one message, its sync-flush tail restored, to at most
// max bytes.
func (f *inflater) inflate(in []byte, max int) ([]byte, error) {
	r := &bitReader{b: in}
	out := append([]byte(nil), f.hist...)
	start := len(out)
	for {
		if r.pos == len(r.b) && r.nbits < 8 {
			break // the message's blocks are all read
		}
		final, err := r.get(1)
		if err != nil {
			return nil, err
		}
		typ, err := r.get(2)
		if err != nil {
			return nil, err
		}
		switch typ {
		case 0:
			r.bits, r.nbits = r.bits>>(r.nbits%8), r.nbits-r.nbits%8
			v, err := r.get(16)
			if err != nil {
				return nil, err
			}
			nv, err := r.get(16)
			if err != nil {
				return nil, err
			}
			if v != ^nv&0xffff {
				return nil, fmt.Errorf("%w: stored block length", errInflate)
			}
			for ; v > 0; v-- {
				b, err := r.get(8)
				if err != nil {
					return nil, err
				}
				out = append(out, byte(b))
			}
		case 1:
			if out, err = f.codes(r, out, start, max, fixedLit, fixedDist); err != nil {
				return nil, err
			}
		case 2:
			lit, dist, err := dynamic(r)
			if err != nil {
				return nil, err
			}
			if out, err = f.codes(r, out, start, max, lit, dist); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%w: block type 3", errInflate)
		}
		if len(out)-start > max {
			return nil, errors.New("inflates past the harness's bound")
		}
		if final == 1 {
			break
		}
	}
	msg := append([]byte(nil), out[start:]...)
	if f.takeover {
		keep := min(len(out), f.window)
		f.hist = append(f.hist[:0], out[len(out)-keep:]...)
	}
	return msg, nil
}

// codes decodes a Huffman block, holding back-references to the window.
func (f *inflater) codes(r *bitReader, out []byte, start, max int, lit, dist *huffman) ([]byte, error) {
	for {
		s, err := lit.decode(r)
		if err != nil {
			return nil, err
		}
		switch {
		case s < 256:
			out = append(out, byte(s))
			continue
		case s == 256:
			return out, nil
		case s > 285:
			return nil, fmt.Errorf("%w: length symbol %d", errInflate, s)
		}
		s -= 257
		e, err := r.get(lenExtra[s])
		if err != nil {
			return nil, err
		}
		n := lenBase[s] + e
		ds, err := dist.decode(r)
		if err != nil {
			return nil, err
		}
		if ds > 29 {
			return nil, fmt.Errorf("%w: distance symbol %d", errInflate, ds)
		}
		e, err = r.get(distExtr[ds])
		if err != nil {
			return nil, err
		}
		d := distBase[ds] + e
		if d > f.window {
			return nil, fmt.Errorf("a back-reference %d bytes back, past the agreed window of %d", d, f.window)
		}
		if d > len(out) {
			return nil, fmt.Errorf("%w: a back-reference before the start", errInflate)
		}
		for i := 0; i < n; i++ {
			out = append(out, out[len(out)-d])
		}
		if len(out)-start > max {
			return nil, errors.New("inflates past the harness's bound")
		}
	}
}

// dynamic reads a block's own code tables.
func dynamic(r *bitReader) (*huffman, *huffman, error) {
	hlit, err := r.get(5)
	if err != nil {
		return nil, nil, err
	}
	hdist, err := r.get(5)
	if err != nil {
		return nil, nil, err
	}
	hclen, err := r.get(4)
	if err != nil {
		return nil, nil, err
	}
	nlen, ndist := hlit+257, hdist+1
	if nlen > 286 || ndist > 30 {
		return nil, nil, fmt.Errorf("%w: code counts", errInflate)
	}
	cl := make([]int, 19)
	for i := 0; i < hclen+4; i++ {
		if cl[clOrder[i]], err = r.get(3); err != nil {
			return nil, nil, err
		}
	}
	clh, err := newHuffman(cl)
	if err != nil {
		return nil, nil, err
	}
	lengths := make([]int, 0, nlen+ndist)
	for len(lengths) < nlen+ndist {
		s, err := clh.decode(r)
		if err != nil {
			return nil, nil, err
		}
		rep, val := 1, s
		switch s {
		case 16:
			if len(lengths) == 0 {
				return nil, nil, fmt.Errorf("%w: repeat with nothing before", errInflate)
			}
			val = lengths[len(lengths)-1]
			e, err := r.get(2)
			if err != nil {
				return nil, nil, err
			}
			rep = 3 + e
		case 17:
			e, err := r.get(3)
			if err != nil {
				return nil, nil, err
			}
			rep, val = 3+e, 0
		case 18:
			e, err := r.get(7)
			if err != nil {
				return nil, nil, err
			}
			rep, val = 11+e, 0
		}
		if len(lengths)+rep > nlen+ndist {
			return nil, nil, fmt.Errorf("%w: too many lengths", errInflate)
		}
		for ; rep > 0; rep-- {
			lengths = append(lengths, val)
		}
	}
	lit, err := newHuffman(lengths[:nlen])
	if err != nil {
		return nil, nil, err
	}
	dist, err := newHuffman(lengths[nlen:])
	if err != nil {
		return nil, nil, err
	}
	return lit, dist, nil
}
