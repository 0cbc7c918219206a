package capture

import "slices"

// maxHoles bounds the unfilled ranges kept per sequence; past it the
// lowest hole is given up (lost, or not captured when the receiver
// acknowledged it), so hostile or pathological input cannot grow memory
// without end.
const maxHoles = 256

// creator describes the packet that jumped over a hole: the first packet
// to arrive that was sent after the hole's data. A packet that later fills
// the hole is compared with it.
type creator struct {
	at     int64  // arrival time, ns
	idx    uint64 // arrival index among the stream's originals
	size   int32  // payload length
	ts     uint32 // TCP TSval
	id     uint16 // IPv4 ID
	idSpan uint16 // how far below id the originals' IDs may lie
	prevID uint16 // the IPv4 ID of the sender's packet just before it (crPrev)
	outer  uint64 // the tunnel's outer sequence (GRE sequence or outer IPv4 ID)
	flags  uint8
}

const (
	crTS    = 1 << iota // ts is valid
	crID                // id is valid
	crGRE               // outer is a GRE sequence number
	crOutID             // outer is an outer IPv4 ID
	// crPrev: prevID is valid and id follows it closely, as a counter
	// does across the hole's originals.
	crPrev
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
	// ackedAt is when the receiver acknowledged the range (cumulative ACK
	// or SACK) although the capture had not seen it; 0 when it has not.
	// The capture missed such data, or has not seen it yet: an ACK can
	// be captured before the data it acknowledges.
	ackedAt int64
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
// holes the receiver had not acknowledged (lost, unless a late original
// fills them), in holes it had (acked) and in the pre-capture region.
func (h *holes) fill(s, e int64) (lost, acked, pre int64) {
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
		switch {
		case x.pre:
			pre += n
		case x.ackedAt != 0:
			acked += n
		default:
			lost += n
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
	return lost, acked, pre
}

// ack marks the parts of real holes inside [s, e) as acknowledged at time
// at, splitting a hole the range cuts.
func (h *holes) ack(s, e, at int64) {
	hs := *h
	for i := 0; i < len(hs); i++ {
		if hs[i].e <= s || hs[i].pre || hs[i].ackedAt != 0 {
			continue
		}
		if hs[i].s >= e {
			break
		}
		if hs[i].s < s { // keep [x.s, s) apart, unacknowledged
			left := hs[i]
			left.e = s
			hs[i].s = s
			hs = slices.Insert(hs, i, left)
			i++
		}
		if hs[i].e > e { // keep [e, x.e) apart, unacknowledged
			right := hs[i]
			right.s = e
			hs[i].e = e
			hs = slices.Insert(hs, i+1, right)
		}
		hs[i].ackedAt = at
	}
	*h = hs
}

// dropPre removes the pre-capture region below x: the receiver
// acknowledged it, so data there comes again only as a retransmission or
// an old copy.
func (h *holes) dropPre(x int64) {
	hs := *h
	for i := 0; i < len(hs) && hs[i].s < x; i++ {
		if !hs[i].pre {
			continue
		}
		if hs[i].e > x {
			hs[i].s = x
			break
		}
		hs = append(hs[:i], hs[i+1:]...)
		i--
	}
	*h = hs
}

// add appends a hole above every existing one.
func (h *holes) add(x hole) { *h = append(*h, x) }

// trim gives up the lowest real holes while there are more than maxHoles
// and returns them, for the caller to count.
func (h *holes) trim(fn func(hole)) {
	if len(*h) <= maxHoles {
		return
	}
	hs := *h
	for len(hs) > maxHoles {
		i := 0
		for i < len(hs) && hs[i].pre {
			i++
		}
		if i == len(hs) {
			break
		}
		fn(hs[i])
		hs = append(hs[:i], hs[i+1:]...)
	}
	*h = hs
}
