package capture

// maxHoles bounds the unfilled ranges kept per sequence; past it the
// lowest hole is given up as lost, so hostile or pathological input
// cannot grow memory without end.
const maxHoles = 256

// creator describes the packet that jumped over a hole: the first packet
// to arrive that was sent after the hole's data. A packet that later fills
// the hole is compared with it.
type creator struct {
	at    int64  // arrival time, ns
	idx   uint64 // arrival index among the stream's originals
	size  int32  // payload length
	ts    uint32 // TCP TSval
	id    uint16 // IPv4 ID
	outer uint64 // the tunnel's outer sequence (GRE sequence or outer IPv4 ID)
	flags uint8
}

const (
	crTS    = 1 << iota // ts is valid
	crID                // id is valid
	crGRE               // outer is a GRE sequence number
	crOutID             // outer is an outer IPv4 ID
)

// hole is a range [s, e) of a sequence not yet seen, below the highest
// sequence seen.
type hole struct {
	s, e int64
	c    creator
	// pre marks the region before the first packet of a stream the
	// capture joined midway: filling it is judged like a hole, but what
	// stays unfilled is not loss.
	pre bool
}

type holes []hole

// overlap returns the index of the first hole overlapping [s, e) (-1 if
// none) and how much of [s, e) lies in holes.
func (h holes) overlap(s, e int64) (int, int64) {
	first, in := -1, int64(0)
	for i := range h {
		x := &h[i]
		if x.e <= s {
			continue
		}
		if x.s >= e {
			break
		}
		if first < 0 {
			first = i
		}
		in += min(e, x.e) - max(s, x.s)
	}
	return first, in
}

// fill removes [s, e) from the holes and returns how much of it was in
// real holes and in the pre-capture region.
func (h *holes) fill(s, e int64) (filled, pre int64) {
	hs := *h
	for i := 0; i < len(hs); i++ {
		x := &hs[i]
		if x.e <= s {
			continue
		}
		if x.s >= e {
			break
		}
		n := min(e, x.e) - max(s, x.s)
		if x.pre {
			pre += n
		} else {
			filled += n
		}
		switch {
		case s <= x.s && e >= x.e: // covers the hole
			hs = append(hs[:i], hs[i+1:]...)
			i--
		case s <= x.s: // covers its start
			x.s = e
		case e >= x.e: // covers its end
			x.e = s
		default: // inside: split in two
			right := *x
			right.s = e
			x.e = s
			hs = append(hs, hole{})
			copy(hs[i+2:], hs[i+1:])
			hs[i+1] = right
			i++
		}
	}
	*h = hs
	return filled, pre
}

// below removes everything below x and returns how much of it was in real
// holes, with the number of holes touched.
func (h *holes) below(x int64) (removed int64, n int) {
	hs := *h
	i := 0
	for ; i < len(hs) && hs[i].s < x; i++ {
		if !hs[i].pre {
			removed += min(x, hs[i].e) - hs[i].s
			n++
		}
		if hs[i].e > x {
			hs[i].s = x
			break
		}
	}
	*h = hs[i:]
	if len(*h) == 0 {
		*h = hs[:0]
	}
	return removed, n
}

// add appends a hole above every existing one. When the list is full the
// lowest real hole is dropped and returned so the caller can count it.
func (h *holes) add(x hole) (dropped hole, ok bool) {
	hs := *h
	if len(hs) >= maxHoles {
		for i := range hs {
			if !hs[i].pre {
				dropped, ok = hs[i], true
				hs = append(hs[:i], hs[i+1:]...)
				break
			}
		}
	}
	*h = append(hs, x)
	return dropped, ok
}
