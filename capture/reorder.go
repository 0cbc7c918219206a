package capture

import "time"

// DensityThreshold is RFC 5236's displacement threshold DT: displacements
// from -DT to +DT are counted; a packet later than DT positions is treated
// as lost for the density, as the RFC does, and counted in DensityBeyond.
const DensityThreshold = 8

// MaxNReordering is the largest n counted exactly for RFC 4737
// n-reordering; larger n are counted in the last bucket.
const MaxNReordering = 16

// ExtentBuckets are the upper bounds of the reordering extent histogram;
// the last bucket is open.
var ExtentBuckets = [...]uint64{1, 2, 3, 4, 8, 16, 32, 64, 128}

// LateTimeBuckets are the upper bounds of the late-time histogram; the
// last bucket is open.
var LateTimeBuckets = [...]time.Duration{100 * time.Microsecond, time.Millisecond, 10 * time.Millisecond,
	100 * time.Millisecond, time.Second}

// Reorder holds the reordering metrics of one packet stream in sending
// order: a TCP direction's original segments or a tunnel's counters.
type Reorder struct {
	// Packets counts the stream's packets in arrival order; retransmissions
	// and duplicates are not part of it.
	Packets uint64
	// Reordered counts RFC 4737 reordered packets: each arrived after a
	// packet sent after it.
	Reordered uint64
	// Extent is RFC 4737's reordering extent: how many packets earlier
	// the first packet that overtook it arrived. ExtentHist[i] counts
	// extents up to ExtentBuckets[i]; the last entry counts the rest.
	ExtentHist           [len(ExtentBuckets) + 1]uint64
	ExtentMax, ExtentSum uint64
	// NReordering[n-1] counts packets that are n-reordered (RFC 4737
	// section 5): the n packets that arrived just before were all sent
	// later. The last entry counts n >= MaxNReordering.
	NReordering [MaxNReordering]uint64
	// Density is RFC 5236's reorder density before normalisation:
	// Density[D+DensityThreshold] counts packets displaced by D positions
	// (positive late, negative early, 0 in place).
	Density       [2*DensityThreshold + 1]uint64
	DensityBeyond uint64
	// Late time: how long after the packet that first overtook it a late
	// packet arrived.
	LateTimeHist [len(LateTimeBuckets) + 1]uint64
	LateTimeMax  time.Duration
	LateTimeSum  time.Duration
	// Sizes of late packets compared with the packet that overtook them.
	LateSmaller, LateLarger, LateSameSize uint64
}

// Ratio is RFC 4737's reordered-packet ratio.
func (r *Reorder) Ratio() float64 {
	if r.Packets == 0 {
		return 0
	}
	return float64(r.Reordered) / float64(r.Packets)
}

// add folds o into r.
func (r *Reorder) add(o *Reorder) {
	r.Packets += o.Packets
	r.Reordered += o.Reordered
	for i := range r.ExtentHist {
		r.ExtentHist[i] += o.ExtentHist[i]
	}
	r.ExtentMax = max(r.ExtentMax, o.ExtentMax)
	r.ExtentSum += o.ExtentSum
	for i := range r.NReordering {
		r.NReordering[i] += o.NReordering[i]
	}
	for i := range r.Density {
		r.Density[i] += o.Density[i]
	}
	r.DensityBeyond += o.DensityBeyond
	for i := range r.LateTimeHist {
		r.LateTimeHist[i] += o.LateTimeHist[i]
	}
	r.LateTimeMax = max(r.LateTimeMax, o.LateTimeMax)
	r.LateTimeSum += o.LateTimeSum
	r.LateSmaller += o.LateSmaller
	r.LateLarger += o.LateLarger
	r.LateSameSize += o.LateSameSize
}

// late records one reordered packet: its extent in packets, how late it
// was and its size against the packet that overtook it.
func (r *Reorder) late(extent uint64, late time.Duration, size, overtaker int) {
	r.Reordered++
	i := 0
	for i < len(ExtentBuckets) && extent > ExtentBuckets[i] {
		i++
	}
	r.ExtentHist[i]++
	r.ExtentMax = max(r.ExtentMax, extent)
	r.ExtentSum += extent
	late = max(late, 0)
	j := 0
	for j < len(LateTimeBuckets) && late >= LateTimeBuckets[j] {
		j++
	}
	r.LateTimeHist[j]++
	r.LateTimeMax = max(r.LateTimeMax, late)
	r.LateTimeSum += late
	switch {
	case size < overtaker:
		r.LateSmaller++
	case size > overtaker:
		r.LateLarger++
	default:
		r.LateSameSize++
	}
}

// ringSize holds DT packets either side of the packet being judged.
const ringSize = 2*DensityThreshold + 1

// window computes n-reordering and reorder density over the last
// ringSize arrivals. Packet p's displacement D is the number of packets
// that arrived before it but were sent after it, less the number that
// arrived after it but were sent before it: its arrival position minus
// its sending position. Counting only within DT positions either side is
// RFC 5236's threshold; packets later than DT are left out of the window
// as the RFC treats them as lost.
type window struct {
	seq      [ringSize]int64
	far      uint32 // bit i: slot i holds a packet later than DT, left out
	n        uint64 // packets pushed
	lastLate uint64 // 1 + the arrival index of the latest late packet; 0 none
	moved    uint64 // packets judged with D != 0
	beyond   uint64 // packets later than DT
}

// push adds the next arrival with its position in sending order. late
// packets carry their RFC 4737 extent. r may be nil until the first late
// packet: nothing is recorded in it before.
func (w *window) push(r *Reorder, seq int64, late bool, extent uint64) {
	idx := w.n
	slot := idx % ringSize
	w.seq[slot] = seq
	w.far &^= 1 << slot
	w.n++
	if late {
		w.lastLate = idx + 1
		n := 0
		for k := uint64(1); k <= min(idx, MaxNReordering); k++ {
			if w.seq[(idx-k)%ringSize] <= seq {
				break
			}
			n++
		}
		if n > 0 {
			r.NReordering[min(n, MaxNReordering)-1]++
		}
		if extent > DensityThreshold {
			w.far |= 1 << slot
			w.beyond++
			r.DensityBeyond++
		}
	}
	if idx >= DensityThreshold {
		w.judge(r, idx-DensityThreshold)
	}
}

// judge counts the displacement of the packet at arrival index c once the
// DT packets after it have arrived (or the stream ended).
func (w *window) judge(r *Reorder, c uint64) {
	if w.lastLate == 0 || w.lastLate-1 < c {
		return // no late packet at or after c: c is in place (counted in flush)
	}
	slot := c % ringSize
	if w.far&(1<<slot) != 0 {
		return
	}
	s := w.seq[slot]
	d := 0
	for k := uint64(1); k <= DensityThreshold && k <= c; k++ {
		i := (c - k) % ringSize
		if w.far&(1<<i) == 0 && w.seq[i] > s {
			d++
		}
	}
	for k := uint64(1); k <= DensityThreshold && c+k < w.n; k++ {
		i := (c + k) % ringSize
		if w.far&(1<<i) == 0 && w.seq[i] < s {
			d--
		}
	}
	if d != 0 {
		r.Density[d+DensityThreshold]++
		w.moved++
	}
}

// flush judges the last packets at the end of the stream and counts every
// packet not displaced as D = 0.
func (w *window) flush(r *Reorder) {
	start := uint64(0)
	if w.n > DensityThreshold {
		start = w.n - DensityThreshold
	}
	for c := start; c < w.n; c++ {
		w.judge(r, c)
	}
	r.Packets += w.n
	r.Density[DensityThreshold] += w.n - w.moved - w.beyond
	*w = window{}
}
