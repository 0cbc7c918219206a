package capture

import (
	"cmp"
	"slices"
	"time"
)

// Recording: Options.Record names TCP flows whose every data segment,
// acknowledgement and unseen range the analysis keeps, classified exactly
// as the counts are: a segment is recorded where it is counted, so a
// recording's kinds add up to its flow's counters (see Recording). Flows
// not named carry a nil recorder: the per-packet cost of recording being
// off is a nil check where a segment is classified. Memory grows with
// the recorded flows' packets only.

// SegmentKind is what a recorded data segment was.
type SegmentKind uint8

// Segment kinds, one per segment.
const (
	// SegOriginal: first transmission, in order.
	SegOriginal SegmentKind = iota
	// SegTimeout and SegFast: a retransmission counted in
	// Retransmission.Timeout or Fast.
	SegTimeout
	SegFast
	// SegOther: data seen again that is neither retransmitted nor
	// reordered: a hole filler nothing decided (Decided.Undecided) or a
	// network duplicate (LateDuplicates).
	SegOther
	// SegSpurious: a retransmission later proven unnecessary (counted in
	// Retransmission.Spurious, and in Timeout or Fast as Cause says).
	SegSpurious
	// SegReordered: a late original (Reorder.Reordered).
	SegReordered
	// SegCaptureDup: a data frame the capture saw twice (in Duplicates).
	SegCaptureDup
)

// Recording is one recorded TCP flow. For each direction the recorded
// segments' Segs add up by kind to the flow's counters: SegTimeout plus
// the spurious ones of Cause SegTimeout to Retransmission.Timeout (SYN
// retransmissions included, as one-byte segments at sequence -1), the
// same for SegFast, SegSpurious to Spurious, SegReordered to
// Reorder.Reordered, SegOther to Decided.Undecided plus LateDuplicates;
// the Lost ranges' bytes to LostBytes and the NotCaptured ranges' bytes
// to NotCapturedBytes.
type Recording struct {
	// Flow is the flow's report, as Result.Flows would list it.
	Flow *Flow
	// Dir[0] is the client's data and the server's acknowledgements of
	// it, Dir[1] the server's.
	Dir [2]RecordedDirection
}

// RecordedDirection is one direction's data and the acknowledgements of
// it. Times are from the flow's first packet; sequence numbers are
// relative to the direction's first (its ISN + 1 after a SYN).
type RecordedDirection struct {
	Segments []RecordedSegment
	Acks     []RecordedAck
	// Lost are ranges lost before the capture point; NotCaptured ranges
	// the receiver acknowledged but the capture never saw.
	Lost, NotCaptured []RecordedGap
}

// RecordedSegment is one data frame.
type RecordedSegment struct {
	At       time.Duration
	Seq, Len int64
	// Segs is how many wire-size segments the frame counts as where the
	// counters count segments (a GSO frame of a retransmission several);
	// 1 otherwise.
	Segs uint64
	Kind SegmentKind
	// Cause is SegTimeout or SegFast for a retransmission, spurious ones
	// included; SegOriginal otherwise.
	Cause SegmentKind
}

// RecordedAck is one acknowledgement of the direction's data.
type RecordedAck struct {
	At  time.Duration
	Ack int64
	// Window is the scaled receive window in bytes, -1 when the scale
	// is unknown.
	Window int64
	// SACK and DSACK are the blocks it carried, [start, end).
	SACK, DSACK [][2]int64
}

// RecordedGap is a range [Start, End) the capture never saw, open from
// From (data above it seen) to To (filled, or the flow's end).
type RecordedGap struct {
	Start, End int64
	From, To   time.Duration
}

// recDir records one endpoint's data. Times are absolute (ns) until the
// flow ends.
type recDir struct {
	segs []RecordedSegment
	acks []RecordedAck
	// lostBy is the segment whose retransmission counted each lost range
	// (-1 for a hole given up): a retransmission proven spurious takes
	// its lost bytes back, and its ranges go with them.
	lost    []RecordedGap
	lostBy  []int
	notCap  []RecordedGap
	pending []pendingGap // the ranges a hole filler is filling
}

type pendingGap struct {
	g     RecordedGap
	acked bool
}

// seg records a segment and returns its index.
func (r *recDir) seg(at, seq, n int64, segs uint64, kind, cause SegmentKind) int {
	r.segs = append(r.segs, RecordedSegment{At: time.Duration(at), Seq: seq, Len: n, Segs: segs, Kind: kind, Cause: cause})
	return len(r.segs) - 1
}

// filling notes the parts of real holes [s, e) covers, before fill takes
// them: a retransmission counts them lost or not captured (owned).
func (r *recDir) filling(h holes, s, e, at int64) {
	r.pending = r.pending[:0]
	for i := range h {
		x := &h[i]
		if x.e <= s || x.pre {
			continue
		}
		if x.s >= e {
			break
		}
		g := RecordedGap{Start: max(s, x.s), End: min(e, x.e), From: time.Duration(x.c.at), To: time.Duration(at)}
		r.pending = append(r.pending, pendingGap{g, x.ackedAt != 0})
	}
}

// owned moves the pending ranges to the lost and not-captured lists, the
// lost ones owned by segment i.
func (r *recDir) owned(i int) {
	for _, p := range r.pending {
		if p.acked {
			r.notCap = append(r.notCap, p.g)
			continue
		}
		r.lost = append(r.lost, p.g)
		r.lostBy = append(r.lostBy, i)
	}
	r.pending = r.pending[:0]
}

// gaveUp records a hole that will not be filled.
func (r *recDir) gaveUp(h hole) {
	g := RecordedGap{Start: h.s, End: h.e, From: time.Duration(h.c.at)}
	if h.ackedAt != 0 {
		r.notCap = append(r.notCap, g)
		return
	}
	r.lost = append(r.lost, g)
	r.lostBy = append(r.lostBy, -1)
}

// ack records an acknowledgement; sack adds a block to it.
func (r *recDir) ack(at, ack, win int64) {
	r.acks = append(r.acks, RecordedAck{At: time.Duration(at), Ack: ack, Window: win})
}

func (r *recDir) sack(s, e int64, dsack bool) {
	if len(r.acks) == 0 {
		return
	}
	a := &r.acks[len(r.acks)-1]
	if dsack {
		a.DSACK = append(a.DSACK, [2]int64{s, e})
	} else {
		a.SACK = append(a.SACK, [2]int64{s, e})
	}
}

// result turns the record into a RecordedDirection with times from first;
// ranges still open end at last.
func (r *recDir) result(first, last int64) RecordedDirection {
	rel := func(at time.Duration) time.Duration { return at - time.Duration(first) }
	end := func(g RecordedGap) RecordedGap {
		if g.To == 0 {
			g.To = time.Duration(last)
		}
		g.From, g.To = rel(g.From), rel(g.To)
		return g
	}
	var out RecordedDirection
	out.Segments = r.segs
	for i := range out.Segments {
		out.Segments[i].At = rel(out.Segments[i].At)
	}
	out.Acks = r.acks
	for i := range out.Acks {
		out.Acks[i].At = rel(out.Acks[i].At)
	}
	for i, g := range r.lost {
		if by := r.lostBy[i]; by >= 0 && r.segs[by].Kind == SegSpurious {
			continue // the receiver had it after all
		}
		out.Lost = append(out.Lost, end(g))
	}
	for _, g := range r.notCap {
		out.NotCaptured = append(out.NotCaptured, end(g))
	}
	return out
}

// recording starts recording flow f when Options.Record names it.
func (a *analyzer) recording(f *flow) {
	c, s := f.endpoint(0), f.endpoint(1)
	for _, fs := range a.o.Record {
		if fs.A == c && fs.B == s || fs.A == s && fs.B == c {
			f.tcp.d[0].rec, f.tcp.d[1].rec = &recDir{}, &recDir{}
			return
		}
	}
}

// recorded files a finalized recorded flow's recording.
func (a *analyzer) recorded(f *flow) {
	rec := &Recording{Flow: f.result()}
	for i, ep := range [2]uint8{f.client, 1 - f.client} {
		rec.Dir[i] = f.tcp.d[ep].rec.result(f.first, f.last)
		f.tcp.d[ep].rec = nil
	}
	a.res.Recorded = append(a.res.Recorded, rec)
}

// sortRecorded orders recordings by first packet, then endpoints.
func sortRecorded(rs []*Recording) {
	slices.SortStableFunc(rs, func(x, y *Recording) int {
		return cmp.Or(x.Flow.First.Compare(y.Flow.First), cmp.Compare(x.Flow.Client.String(), y.Flow.Client.String()),
			cmp.Compare(x.Flow.Server.String(), y.Flow.Server.String()))
	})
}
