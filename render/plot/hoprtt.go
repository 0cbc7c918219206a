package plot

import (
	"io"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// HopRTT is the round-trip time of every probe of a trace over time, one
// row per hop, as Trippy's and mtr's charts show it.
type HopRTT struct {
	// Target names what was traced: "example.net (198.18.0.9)".
	Target string
	// Method is the probe method: "icmp", "udp", "tcp".
	Method string
	// Notes are extra caption lines.
	Notes []string
	// Hops in the order drawn, usually by TTL.
	Hops []Hop
}

// Hop is one TTL of a trace.
type Hop struct {
	TTL int
	// Responders answered at this TTL, most replies first; empty when
	// none did.
	Responders []Responder
	// Dest marks the hop at which the destination answered.
	Dest bool
	// Note is a short verdict shown with the hop ("rate-limited 1/s").
	Note string
	// Probes are the probes sent at this TTL, in any order.
	Probes []Probe
}

// Responder is an address that answered at a hop.
type Responder struct {
	Addr netip.Addr
	Name string
}

// Probe is one probe and its fate.
type Probe struct {
	// Sent is when it was sent, from the start of the trace.
	Sent time.Duration
	// RTT is its round-trip time when Fate is Answered.
	RTT  time.Duration
	Fate ProbeFate
}

// ProbeFate is what became of a probe.
type ProbeFate uint8

// Probe fates.
const (
	// Answered: a reply came back; Probe.RTT holds the round trip.
	Answered ProbeFate = iota
	// ForwardLost: no reply, and the hop's ICMP rate limit does not
	// explain it: loss, as the trace's forwarding loss counts it
	// (probes.Hop.Lost).
	ForwardLost
	// NoReply: no reply that the hop's ICMP rate limit explains: the
	// router had no token to answer with (probes.ProbeRecord.Limited).
	// Not packet loss; left out of the loss share.
	NoReply
	// Pending: still waiting for its reply (a live snapshot).
	Pending
	numFates
)

// String names the fate as the SVG's data-kind attributes do.
func (f ProbeFate) String() string {
	if f < numFates {
		return rttStyles[f].key
	}
	return "fate-" + strconv.Itoa(int(f))
}

// aboveScale is the mark kind of an answered probe whose RTT is above
// the chart's scale.
const aboveScale = uint8(numFates)

// rttStyle is how one kind of probe mark looks.
type rttStyle struct {
	key, label string
	// attrs style the kind's group; shape is a relative path drawn at
	// each mark.
	attrs, shape string
}

var rttStyles = [numFates + 1]rttStyle{
	Answered:    {"answered", "answered (x: send time, y: RTT)", `fill="none" stroke="#0072B2" stroke-opacity="0.75" stroke-width="4.4" stroke-linecap="round"`, "v0.1"},
	ForwardLost: {"forward-lost", "lost: no reply, counted as loss", `fill="none" stroke="#D55E00" stroke-width="1.7"`, "m-3.2 -3.2l6.4 6.4m0 -6.4l-6.4 6.4"},
	NoReply: {"no-reply", "no reply the hop's ICMP rate limit explains", `fill="none" stroke="#8C8C8C" stroke-width="1.3"`,
		"m-3 0a3 3 0 1 0 6 0a3 3 0 1 0 -6 0"},
	Pending:    {"pending", "pending", `fill="none" stroke="#56B4E9" stroke-width="2"`, "m-3.5 0h7"},
	aboveScale: {"above-scale", "RTT above the scale", `fill="#0072B2"`, "m0 -1l3.5 6h-7z"},
}

// Layout of the hop chart, in pixels.
const (
	hrWidth      = 1280.0
	hrLabelX     = 16.0
	hrPlotLeft   = 350.0
	hrPlotRight  = hrWidth - 70
	hrCaptionTop = 48.0
	hrLineH      = 16.0
	hrBottom     = 52.0
	hrLaneH      = 11.0 // strip under each row's RTT band: unanswered probes
	// Row heights shrink with more hops, within these bounds.
	hrRowMax  = 60.0
	hrRowMin  = 46.0
	hrRowsFit = 800.0
)

// rttGeom is the computed layout of one chart.
type rttGeom struct {
	top, rowH float64
	x, y      axis // y's pixel range is set per row
	// colW is the width of the columns marks merge in, cols their
	// number per row.
	colW float64
	cols int
}

// WriteSVG draws the chart as one SVG document.
func (h *HopRTT) WriteSVG(w io.Writer) error {
	var s svg
	title := "RTT per hop over time: trace to " + h.Target
	if h.Method != "" {
		title += " (" + h.Method + ")"
	}
	title = clip(title, maxText)

	var counts [numFates + 1]int
	var rtts []float64
	var tHi time.Duration
	most := 0
	for _, hop := range h.Hops {
		most = max(most, len(hop.Probes))
		for _, p := range hop.Probes {
			tHi = max(tHi, p.Sent)
			if p.Fate >= numFates {
				continue
			}
			counts[p.Fate]++
			if p.Fate == Answered {
				rtts = append(rtts, max(p.RTT, 0).Seconds())
			}
		}
	}
	yHi := rttScale(rtts)
	for _, r := range rtts {
		if r > yHi {
			counts[aboveScale]++
			counts[Answered]--
		}
	}

	caption := []string{h.summary(counts, tHi)}
	caption = append(caption, h.Notes...)
	if len(caption) > maxCaptionLines {
		caption = append(caption[:maxCaptionLines-1], "… "+count(len(caption)-maxCaptionLines+1)+" more caption lines left out")
	}
	legend, below := rttLegend(hrCaptionTop+float64(len(caption)-1)*hrLineH+10, &counts)
	geom := rttGeom{top: below + 22}
	geom.rowH = math.Max(hrRowMin, math.Min(hrRowMax, hrRowsFit/float64(max(len(h.Hops), 1))))
	height := geom.top + geom.rowH*float64(max(len(h.Hops), 1)) + hrBottom
	geom.x = newAxis(0, tHi.Seconds(), timeUnits, 1e-3, 10, tight)
	geom.x.from, geom.x.to = hrPlotLeft, hrPlotRight
	geom.y = newAxis(0, yHi, timeUnits, 1e-3, 3, extended)
	geom.colW = 1
	if float64(most) > hrSparseProbes {
		geom.colW = hrDenseColumn
	}
	geom.cols = int(math.Ceil((hrPlotRight - hrPlotLeft + 1) / geom.colW))

	s.begin(hrWidth, height, title)
	s.label(hrLabelX, 28, anchorStart, `font-size="17" font-weight="bold"`, title)
	for i, c := range caption {
		s.label(hrLabelX, hrCaptionTop+float64(i)*hrLineH, anchorStart, `fill="#444"`, clip(c, 170))
	}
	drawRTTLegend(&s, legend)
	s.label(hrLabelX, geom.top-6, anchorStart, `font-size="11" fill="#666"`, "TTL  responder · loss · median RTT")

	bottom := geom.top + geom.rowH*float64(max(len(h.Hops), 1))
	for i, v := range geom.x.ticks {
		x := geom.x.at(v)
		s.line(x, geom.top, x, bottom, `stroke="#e8e8e8"`)
		s.line(x, bottom, x, bottom+5, `stroke="#666"`)
		s.label(x, bottom+18, anchorMid, "", geom.x.labels[i])
	}
	s.label((hrPlotLeft+hrPlotRight)/2, bottom+40, anchorMid, `font-size="13"`, geom.x.title("send time since the trace started"))

	marks := make([]mark, 0, counts[Answered]+counts[aboveScale]+counts[ForwardLost]+counts[NoReply]+counts[Pending])
	for i := range h.Hops {
		marks = h.drawRow(&s, &geom, i, marks)
	}
	if len(h.Hops) == 0 {
		s.label((hrPlotLeft+hrPlotRight)/2, geom.top+geom.rowH/2+5, anchorMid, `font-size="15" fill="#888"`, "no hops in this trace")
	}
	drawRTTMarks(&s, &geom, mergeMarks(marks))
	return s.end(w)
}

// summary is the caption's first line.
func (h *HopRTT) summary(counts [numFates + 1]int, tHi time.Duration) string {
	probes := 0
	for _, n := range counts {
		probes += n
	}
	return plural(len(h.Hops), "hop") + ", " + plural(probes, "probe") + " over " + formatDuration(tHi.Seconds()) +
		". Every row has the same RTT scale; unanswered probes sit on the strip under each row."
}

// rttScale is the top of the RTT scale: the largest RTT, unless a few
// outliers stand far above the rest; then the 98th percentile with room,
// and the outliers are drawn at the top of their rows.
func rttScale(rtts []float64) float64 {
	if len(rtts) == 0 {
		return 0
	}
	v := slices.Clone(rtts)
	slices.Sort(v)
	top := v[len(v)-1]
	if len(v) >= 20 {
		if p := v[(len(v)-1)*98/100]; top > 2*p {
			return p * 1.25
		}
	}
	return top
}

// Probe marks are merged in columns: one pixel wide while probes lie
// far apart, hrDenseColumn pixels (less than a dot's diameter, so merging
// moves nothing visibly) once a row holds more probes than
// hrSparseProbes: a long trace then stays a few hundred marks per row.
const (
	hrDenseColumn  = 3.0
	hrSparseProbes = (hrPlotRight - hrPlotLeft) / 8
)

// dotRadius is the radius of an answered probe's dot.
const dotRadius = 2.2

// rttMark places a mark of one row: each row has its own columns, so
// marks of different rows never merge.
func (g *rttGeom) rttMark(kind uint8, row int, x, y float64) mark {
	c := min(max(int((x-hrPlotLeft)/g.colW), 0), g.cols-1)
	// Dots within a radius of each other merge into one stroke.
	return mark{kind: kind, col: int32(row*g.cols + c), y0: y - dotRadius/2, y1: y + dotRadius/2}
}

// markX is the centre of a mark's column.
func (g *rttGeom) markX(m *mark) float64 {
	return hrPlotLeft + (float64(int(m.col)%g.cols)+0.5)*g.colW
}

// drawRow draws one hop's label, band and grid, and collects its marks.
func (h *HopRTT) drawRow(s *svg, geom *rttGeom, i int, marks []mark) []mark {
	hop := &h.Hops[i]
	top := geom.top + geom.rowH*float64(i)
	bandTop, bandBottom := top+7, top+geom.rowH-hrLaneH-2
	lane := top + geom.rowH - hrLaneH/2 - 1
	if i%2 == 1 {
		s.rect(hrLabelX-6, top, hrWidth-hrLabelX, geom.rowH, `fill="#f4f6f8"`)
	}
	s.line(hrPlotLeft, bandBottom, hrPlotRight, bandBottom, `stroke="#bbb"`)
	y := geom.y
	y.from, y.to = bandBottom, bandTop
	for j, v := range y.ticks[1:] {
		py := y.at(v)
		s.line(hrPlotLeft, py, hrPlotRight, py, `stroke="#e0e0e0" stroke-dasharray="2 3"`)
		if j == len(y.ticks)-2 {
			s.label(hrPlotRight+6, py+4, anchorStart, `font-size="10" fill="#777"`, y.labels[j+1]+" "+y.unit.name)
		}
	}

	// The median as a tinted area: down the rows, it shows where the
	// round trip grows.
	med, answered := medianRTT(hop)
	if answered {
		my := math.Max(y.at(med.Seconds()), bandTop)
		s.rect(hrPlotLeft, my, hrPlotRight-hrPlotLeft, bandBottom-my, `fill="#0072B2" fill-opacity="0.1"`)
		s.line(hrPlotLeft, my, hrPlotRight, my, `stroke="#0072B2" stroke-opacity="0.3"`)
	}

	// The label: TTL, responders, loss and median.
	s.label(hrLabelX+22, top+16, anchorEnd, `font-weight="bold"`, strconv.Itoa(hop.TTL))
	s.label(hrLabelX+30, top+16, anchorStart, "", clip(hopName(hop), 50))
	s.spans(hrLabelX+30, top+31, `font-size="11"`, hopStats(hop, med, answered))

	// The marks.
	for _, p := range hop.Probes {
		if p.Fate >= numFates {
			continue
		}
		x := geom.x.at(p.Sent.Seconds())
		switch {
		case p.Fate != Answered:
			marks = append(marks, geom.rttMark(uint8(p.Fate), i, x, lane))
		case p.RTT.Seconds() > geom.y.hi:
			marks = append(marks, geom.rttMark(aboveScale, i, x, bandTop))
		default:
			marks = append(marks, geom.rttMark(uint8(Answered), i, x, y.at(max(p.RTT, 0).Seconds())))
		}
	}
	return marks
}

// hopName is the responder line: address, name, and how many more
// answered.
func hopName(hop *Hop) string {
	if len(hop.Responders) == 0 {
		for _, p := range hop.Probes {
			if p.Fate == Answered {
				return "(address unknown)"
			}
		}
		return "(no reply)"
	}
	r := hop.Responders[0]
	name := addr(r.Addr)
	if r.Name != "" && r.Name != name {
		name += "  " + clip(r.Name, 60)
	}
	if n := len(hop.Responders) - 1; n > 0 {
		name += "  +" + strconv.Itoa(n) + " more"
	}
	if hop.Dest {
		name += "  (destination)"
	}
	return name
}

// Label colours: lost probes in red, notes in amber, the rest grey.
const (
	lossText  = "#B84A00"
	noteText  = "#8A5A00"
	quietText = "#666"
)

// hopStats is the second label line: loss (lost over the probes that are
// evidence: rate-limited ones left out, as the trace's forwarding loss),
// rate-limited probes, median RTT, the note.
func hopStats(hop *Hop, med time.Duration, answered bool) []span {
	var n [numFates]int
	for _, p := range hop.Probes {
		if p.Fate < numFates {
			n[p.Fate]++
		}
	}
	done := n[Answered] + n[ForwardLost] + n[NoReply]
	var line []span
	switch {
	case done == 0:
		line = append(line, span{"no probe completed", quietText})
	case n[ForwardLost] > 0:
		line = append(line, span{"loss " + pct(n[ForwardLost], n[Answered]+n[ForwardLost]), lossText})
	default:
		line = append(line, span{"no loss", quietText})
	}
	if n[NoReply] > 0 {
		line = append(line, span{" · " + pct(n[NoReply], done) + " rate-limited (not loss)", quietText})
	}
	if answered {
		line = append(line, span{" · median " + formatDuration(med.Seconds()), quietText})
	}
	if hop.Note != "" {
		line = append(line, span{" · " + clip(hop.Note, 40), noteText})
	}
	return line
}

// medianRTT is the median round trip of the hop's answered probes.
func medianRTT(hop *Hop) (time.Duration, bool) {
	rtts := make([]time.Duration, 0, len(hop.Probes))
	for _, p := range hop.Probes {
		if p.Fate == Answered {
			rtts = append(rtts, max(p.RTT, 0))
		}
	}
	if len(rtts) == 0 {
		return 0, false
	}
	slices.Sort(rtts)
	return rtts[len(rtts)/2], true
}

// drawRTTMarks writes one group per kind present; ms is sorted by kind.
// Answered probes are round-capped strokes: a dot, or a short bar where
// several probes of one column lie close together.
func drawRTTMarks(s *svg, geom *rttGeom, ms []mark) {
	for _, k := range []uint8{uint8(NoReply), uint8(Pending), uint8(Answered), aboveScale, uint8(ForwardLost)} {
		st := &rttStyles[k]
		open := false
		for i := range ms {
			m := &ms[i]
			if m.kind != k {
				continue
			}
			if !open {
				s.raw(`<g data-kind="` + st.key + `" ` + st.attrs + ">\n")
				open = true
			}
			s.raw(`<path d="M`)
			s.num(geom.markX(m))
			s.raw(" ")
			if k == uint8(Answered) {
				s.num(m.y0 + dotRadius/2)
				s.raw("V")
				// A zero-length line may not be drawn at all.
				s.num(max(m.y1-dotRadius/2, m.y0+dotRadius/2+0.1))
			} else {
				s.num((m.y0 + m.y1) / 2)
				s.raw(st.shape)
			}
			s.raw("\"/>\n")
		}
		if open {
			s.raw("</g>\n")
		}
	}
}

// legendEntry is one legend entry placed on the page.
type legendEntry struct {
	kind  uint8
	label string
	x, y  float64
}

// rttLegend places an entry for every kind present with its count,
// wrapping lines at the page's width, and returns the entries and the
// y below them.
func rttLegend(y float64, counts *[numFates + 1]int) ([]legendEntry, float64) {
	var es []legendEntry
	x := hrLabelX
	for _, k := range []uint8{uint8(Answered), aboveScale, uint8(ForwardLost), uint8(NoReply), uint8(Pending)} {
		if counts[k] == 0 {
			continue
		}
		label := rttStyles[k].label + " (" + count(counts[k]) + ")"
		w := 14 + textWidth(label, 11.5) + 22
		if x > hrLabelX && x+w > hrWidth-hrLabelX {
			x, y = hrLabelX, y+18
		}
		es = append(es, legendEntry{k, label, x, y})
		x += w
	}
	if len(es) > 0 {
		y += 18
	}
	return es, y
}

// drawRTTLegend draws the placed entries.
func drawRTTLegend(s *svg, es []legendEntry) {
	for _, e := range es {
		st := &rttStyles[e.kind]
		s.raw(`<g data-legend="` + st.key + `" ` + st.attrs + `><path d="M`)
		s.num(e.x + 5)
		s.raw(" ")
		s.num(e.y + 6)
		s.raw(st.shape + "\"/>")
		s.label(e.x+14, e.y+10, anchorStart, `fill="#222" fill-opacity="1" stroke="none" font-size="11.5"`, e.label)
		s.raw("</g>\n")
	}
}
