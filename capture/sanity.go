package capture

import (
	"time"

	"github.com/netdx/netdx/capture/decode"
)

// What a capture can support: segment counts from bytes, and jumps of a
// sequence or an acknowledgement. Real streams move on from where they
// were: a segment after a long gap (a burst lost, a capture drop) is
// followed by the next one, and a long stride of the acknowledgements by
// the next acknowledgement beyond it. A damaged or crafted packet stands
// alone: the stream goes on from the old place. So a long jump is held
// until the sender's next segment (or acknowledgement) says which it was.
// A jump beyond any window that the next packet confirms is a new start
// (a new connection on the same ports without its SYN, a capture that
// missed more than a window): the stream is followed from there and what
// it skipped is not judged. Jumps that stood alone, and jumps beyond any
// window, are counted as sequence anomalies and named in a warning.

const (
	// minCountMSS is the smallest segment size bytes are counted in as
	// segments: the default MSS of RFC 879. Neither an MSS inferred from
	// small segments nor a tiny MSS option turns a gap into more segments
	// than any path carries.
	minCountMSS = 536
	// A jump longer than holdSegments segments, and at least minHold, is
	// held for the next packet to confirm: no reordering displaces a
	// segment that far in practice, while a loss burst or a capture drop
	// that long goes on from the new place.
	holdSegments = 64
	minHold      = 64 << 10
	// minJump is the jump within a window whatever the windows seen: 1 MiB.
	minJump = 1 << 20
	// maxWindow is TCP's largest window (65535 << 14): no sender has more
	// in flight.
	maxWindow = 1 << 30
	// unknownScaleShift scales a window whose scale the capture did not
	// see (no handshake): Linux's usual 7 and Windows' 8.
	unknownScaleShift = 8
)

// segments is how many wire segments of at most mss bytes carry n bytes,
// counting in segments of at least minCountMSS.
func segments(n int64, mss int) uint64 {
	if n <= 0 {
		return 0
	}
	m := int64(max(mss, minCountMSS))
	return uint64((n + m - 1) / m)
}

// notCaptured counts data the receiver acknowledged that the capture never
// saw.
func (d *tcpDir) notCaptured(bytes int64, mss int) {
	if bytes <= 0 {
		return
	}
	d.st.NotCapturedBytes += uint64(bytes)
	d.st.NotCapturedSegments += segments(bytes, mss)
}

// stamp is what orders a sender's packets: its timestamp and IPv4 ID.
type stamp struct {
	ts      uint32
	id      uint16
	hasTS   bool
	v4      bool
	payload int
}

func stampOf(p *decode.Packet) stamp {
	return stamp{ts: p.TCP.TSval, id: p.IPID, hasTS: p.TCP.HasTS, v4: p.Version == 4, payload: p.Payload}
}

// held is a jump held until the sender's next segment (or
// acknowledgement) confirms or refutes it. Allocated when a jump is held
// (rarely), it keeps the per-flow state small.
type held struct {
	v   int64 // the relative position jumped to
	at  int64
	pos position
}

// heldData is a held segment: its raw sequence number, its length in
// sequence space, the creator of the hole it opens, its stamp.
type heldData struct {
	held
	raw uint32
	n   int64
	c   creator
	st  stamp
}

// holdJump is how far endpoint ep's data or its peer's acknowledgement of
// it may jump without being held.
func (t *tcpFlow) holdJump(ep uint8) int64 {
	return max(holdSegments*int64(max(t.mss(ep), minCountMSS)), minHold)
}

// plausible is the longest jump of endpoint ep's data or its peer's
// acknowledgement that stays within a window: the largest window the peer
// advertised (scaled, or shifted by unknownScaleShift when the scale is
// unknown), at least minJump and at most maxWindow.
func (t *tcpFlow) plausible(ep uint8) int64 {
	return min(max(minJump, t.d[1-ep].maxWin), maxWindow)
}

// noteWindow remembers the largest window this endpoint advertised.
func (d *tcpDir) noteWindow(raw uint16, scaled int64) {
	w := scaled
	if w < 0 {
		w = int64(raw) << unknownScaleShift
	}
	d.maxWin = max(d.maxWin, w)
}

// anomaly counts a jump of this endpoint's sequence or acknowledgement
// that stood alone or went beyond any window, at position pos.
func (d *tcpDir) anomaly(t *tcpFlow, pos position) {
	if t.d[0].st.Anomalies+t.d[1].st.Anomalies == 0 {
		t.firstAnomaly = pos
	}
	d.st.Anomalies++
}

func abs64(x int64) int64 { return max(x, -x) }

// dataPlausible checks a segment of endpoint ep at raw sequence seq
// against a held jump and holds the segment when it jumps itself: forward
// by more than holdJump (unless the receiver already acknowledged data up
// to it), back by more than a window. A segment at or beyond the held one
// (within holdJump of its end, for a jump back) confirms it: the stream
// goes on from there. Segments from the old place leave it held — they
// are late originals a deep reordering left behind, or the stream going
// on without a packet that stood alone; a later jump replaces it (the
// held one stood alone). It returns false when the segment is held.
func (f *flow) dataPlausible(a *analyzer, ep uint8, p *decode.Packet, seq uint32, n int64, at int64) bool {
	t := f.tcp
	d, r := &t.d[ep], &t.d[1-ep]
	j := d.rel(seq) - d.hi
	jumps := j > t.holdJump(ep) && !(r.ackSeen && r.ack >= d.hi+j) || -j > t.plausible(ep)
	if pd := d.pend; pd != nil {
		s := d.hi + j
		switch {
		case s >= pd.v && (pd.v > d.hi || s <= pd.v+pd.n+t.holdJump(ep)):
			f.decideData(ep, true)
			j = d.rel(seq) - d.hi
			jumps = j > t.holdJump(ep) && !(r.ackSeen && r.ack >= d.hi+j) || -j > t.plausible(ep)
		case jumps:
			f.decideData(ep, false)
		}
	}
	if jumps {
		var c creator
		if j > 0 {
			c = f.creatorOf(d, p, at, j)
		}
		d.pend = &heldData{held: held{v: d.hi + j, at: at, pos: a.here()}, raw: seq, n: n, c: c, st: stampOf(p)}
		return false
	}
	return true
}

// decideData ends endpoint ep's held jump: confirmed by a segment at or
// beyond it or by the receiver acknowledging it, refuted by another jump
// or the end of the flow (then, or when the stream has passed its place
// meanwhile, it stood alone).
func (f *flow) decideData(ep uint8, confirmed bool) {
	t := f.tcp
	d := &t.d[ep]
	pd := d.pend
	d.pend = nil
	switch {
	case !confirmed:
		d.anomaly(t, pd.pos)
	case abs64(pd.v-d.hi) > t.plausible(ep): // the stream went on beyond any window: a new start
		d.anomaly(t, pd.pos)
		f.resync(ep, pd)
	case pd.v < d.hi: // the stream passed its place meanwhile
		d.anomaly(t, pd.pos)
	default: // a long gap within a window: new data after a hole
		f.advance(ep, pd.c, pd.at, pd.v, pd.v+pd.n)
		d.tsID(pd.st, pd.at, true)
		if d.rec != nil && pd.st.payload > 0 {
			d.rec.seg(pd.at, pd.v, int64(pd.st.payload), 1, SegOriginal, SegOriginal)
		}
	}
}

// ackPlausible does for endpoint ep's acknowledgement what dataPlausible
// does for data, with the acknowledgements it sent: one more than
// holdJump beyond all data seen and acknowledged is held for the next. A
// confirmed jump beyond any window becomes the reference, and the peer's
// data it skipped is not judged. It returns false when this
// acknowledgement is held.
func (f *flow) ackPlausible(a *analyzer, ep uint8, ack int64, at int64) bool {
	t := f.tcp
	d, r := &t.d[ep], &t.d[1-ep]
	ref := r.hi
	if d.ackSeen {
		ref = max(ref, d.ack)
	}
	if d.ackPend != nil {
		pd := d.ackPend
		d.ackPend = nil
		if abs64(ack-pd.v) >= abs64(ack-ref) {
			d.anomaly(t, pd.pos)
		} else {
			if pd.v-ref > t.plausible(1-ep) {
				d.anomaly(t, pd.pos)
				r.ncFrom = max(r.ncFrom, pd.v)
			}
			f.acked(ep, pd.v, pd.at)
			ref = pd.v
		}
	}
	if ack-ref > t.holdJump(1-ep) {
		d.ackPend = &held{v: ack, at: at, pos: a.here()}
		return false
	}
	return true
}

// unconfirmed counts the jumps still held when the flow ends: nothing
// came after them to confirm them.
func (d *tcpDir) unconfirmed(t *tcpFlow) {
	if d.pend != nil {
		d.anomaly(t, d.pend.pos)
		d.pend = nil
	}
	if d.ackPend != nil {
		d.anomaly(t, d.ackPend.pos)
		d.ackPend = nil
	}
}

// resync starts endpoint ep's sequence space again at a held segment the
// next one confirmed beyond any window: what was open in the old space is
// settled, and the peer's acknowledgements of it no longer apply.
func (f *flow) resync(ep uint8, pd *heldData) {
	t := f.tcp
	d, r := &t.d[ep], &t.d[1-ep]
	f.settle(ep)
	d.flushReorder()
	d.rtx = nil
	d.rttOn = false
	r.ackSeen, r.ackPend, r.nsack = false, nil, 0
	d.ncFrom = 0
	d.start(pd.raw)
	d.holes = append(d.holes[:0], hole{s: -preSpan, e: 0, c: creator{at: pd.at, idx: d.w.n}, pre: true})
	d.credit(pd.n, pd.at)
	d.hi, d.hiRaw = pd.n, pd.raw+uint32(pd.n)
}

// settle ends the judgement of endpoint ep's unseen data: holes never
// filled are lost, or not captured when the receiver acknowledged them;
// data the receiver acknowledged beyond all seen was not captured.
func (f *flow) settle(ep uint8) {
	t := f.tcp
	d, r := &t.d[ep], &t.d[1-ep]
	mss := t.mss(ep)
	for _, h := range d.holes {
		d.giveUp(h, mss)
	}
	d.holes = d.holes[:0]
	if from := max(d.hi, d.ncFrom); r.ackSeen && r.ack > from {
		d.credit(r.ack-from, r.ackAt)
		d.notCaptured(r.ack-from, mss)
		if d.rec != nil {
			d.rec.notCap = append(d.rec.notCap, RecordedGap{Start: from, End: r.ack, From: time.Duration(r.ackAt)})
		}
	}
}

// giveUp counts a hole that will not be filled: not captured when the
// receiver acknowledged it, lost otherwise; nothing for the region before
// the capture.
func (d *tcpDir) giveUp(h hole, mss int) {
	if d.rec != nil && !h.pre {
		d.rec.gaveUp(h)
	}
	switch {
	case h.pre:
	case h.ackedAt != 0:
		d.credit(h.e-h.s, h.ackedAt)
		d.notCaptured(h.e-h.s, mss)
	default:
		d.st.LostBytes += uint64(h.e - h.s)
		d.st.LostSegments += segments(h.e-h.s, mss)
	}
}
