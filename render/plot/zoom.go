package plot

import "time"

// Zoom keeps the part of the graph between from and to, times since the
// flow's first packet (to 0: until the last mark), and fits both axes to
// it, as zooming into Wireshark's graph does: the data segments seen in
// the window; the acknowledgements in it, led by the one in force when it
// opens (without its SACK blocks, which belong to its own time); the
// unseen ranges open during it, cut to it, and those drawn across all
// time that meet the window's sequence span. The legend then counts what
// the window holds, and the caption says which window it is. Zoom returns
// false and changes nothing when no data segment falls in the window.
func (g *TimeSequence) Zoom(from, to time.Duration) bool {
	if to <= 0 {
		to = g.lastAt()
	}
	if from < 0 || to <= from {
		return false
	}
	in := func(t time.Duration) bool { return t >= from && t <= to }
	var segs []Segment
	lo, hi := int64(0), int64(0)
	for _, seg := range g.Segments {
		if !in(seg.At) {
			continue
		}
		if len(segs) == 0 || seg.Seq < lo {
			lo = seg.Seq
		}
		if len(segs) == 0 || seg.Seq+max(seg.Len, 0) > hi {
			hi = seg.Seq + max(seg.Len, 0)
		}
		segs = append(segs, seg)
	}
	if len(segs) == 0 {
		return false
	}
	var acks []Ack
	opening := -1
	for i, a := range g.Acks {
		switch {
		case in(a.At):
			acks = append(acks, a)
		case a.At < from && (opening < 0 || a.At >= g.Acks[opening].At):
			opening = i
		}
	}
	if opening >= 0 {
		a := g.Acks[opening]
		acks = append(acks, Ack{At: from, Ack: a.Ack, Window: a.Window})
	}
	clip := func(gaps []Gap) []Gap {
		var out []Gap
		for _, gp := range gaps {
			if gp.To <= gp.From {
				if gp.End >= lo && gp.Start <= hi {
					out = append(out, gp)
				}
				continue
			}
			gp.From, gp.To = max(gp.From, from), min(gp.To, to)
			if gp.To > gp.From {
				out = append(out, gp)
			}
		}
		return out
	}
	g.Segments, g.Acks = segs, acks
	g.Lost, g.NotCaptured = clip(g.Lost), clip(g.NotCaptured)
	g.From, g.To = from, to
	return true
}

// lastAt is the time of the graph's last mark.
func (g *TimeSequence) lastAt() time.Duration {
	var t time.Duration
	for _, seg := range g.Segments {
		t = max(t, seg.At)
	}
	for _, a := range g.Acks {
		t = max(t, a.At)
	}
	for _, gaps := range [][]Gap{g.Lost, g.NotCaptured} {
		for _, gp := range gaps {
			t = max(t, gp.To)
		}
	}
	return t
}

// zoomed says whether Zoom has narrowed the time axis.
func (g *TimeSequence) zoomed() bool { return g.To > g.From }

// zoomCaption is the caption line of a zoomed graph.
func (g *TimeSequence) zoomCaption() string {
	return "zoomed to " + formatDuration(g.From.Seconds()) + " – " + formatDuration(g.To.Seconds()) +
		" after the flow's first packet: counts are of what falls in this window"
}
