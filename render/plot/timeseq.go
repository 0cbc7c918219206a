package plot

import (
	"cmp"
	"io"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TimeSequence is a TCP time-sequence (Stevens) graph of one direction of
// one flow: every data segment that direction sent, placed by when it was
// seen and which bytes it carried, over the other direction's
// acknowledgements.
type TimeSequence struct {
	// Client and Server name the flow as capture.Flow does.
	Client, Server netip.AddrPort
	// FromServer says the graph shows the server's data (server to
	// client); false shows the client's.
	FromServer bool
	// Layers is the encapsulation the flow was seen through, outermost
	// first, with outer addresses in the client-to-server direction.
	Layers []Layer
	// Notes are extra caption lines ("capture started mid-flow").
	Notes []string
	// Segments are the data segments of the direction shown, in any
	// order.
	Segments []Segment
	// Acks are the acknowledgements the other direction sent, in any
	// order.
	Acks []Ack
	// Lost are sequence ranges the capture never saw and the receiver did
	// not acknowledge before they were sent again: lost upstream of the
	// capture point. NotCaptured are ranges the receiver acknowledged but
	// the capture never saw: missed by the capture, not by the path.
	Lost, NotCaptured []Gap
	// From and To, when To is after From, are the window the time axis
	// spans (set by Zoom); otherwise it runs from 0 to the last mark.
	From, To time.Duration
}

// SegmentKind says what a data segment was.
type SegmentKind uint8

// Segment kinds. Each segment has exactly one: a retransmission that
// turned out spurious is Spurious whatever triggered it.
const (
	// Original: first transmission, in order.
	Original SegmentKind = iota
	// RetransTimeout: sent again after a retransmission timeout or as a
	// tail-loss probe, with no loss signal from the receiver before it.
	RetransTimeout
	// RetransFast: sent again after duplicate ACKs or SACK.
	RetransFast
	// RetransOther: sent again for a reason the capture cannot tell.
	RetransOther
	// Spurious: sent again although the receiver already had it.
	Spurious
	// Reordered: an original that arrived after data sent later.
	Reordered
	// CaptureDuplicate: the same frame seen twice by the capture (SPAN,
	// several taps), not sent twice.
	CaptureDuplicate
	numSegmentKinds
)

// String names the kind as the SVG's data-kind attributes do.
func (k SegmentKind) String() string {
	if k < numSegmentKinds {
		return seqStyles[k].key
	}
	return "segment-kind-" + strconv.Itoa(int(k))
}

// Segment is one data segment as the capture saw it.
type Segment struct {
	// At is when it was seen, from the flow's first packet.
	At time.Duration
	// Seq is the relative sequence number of its first byte, Len its
	// payload length in bytes.
	Seq, Len int64
	Kind     SegmentKind
}

// end is the sequence number after the segment's last byte, in floating
// point so that no input overflows it.
func (seg *Segment) end() float64 { return float64(seg.Seq) + float64(max(seg.Len, 0)) }

// Ack is one acknowledgement from the other direction.
type Ack struct {
	At time.Duration
	// Ack is the cumulative acknowledgement number, relative like
	// Segment.Seq.
	Ack int64
	// Window is the receive window it advertised, in bytes after
	// scaling; negative when unknown (window scale not seen).
	Window int64
	// SACK holds the SACK blocks it carried, DSACK the D-SACK block(s)
	// (RFC 2883: data received twice).
	SACK, DSACK []Range
}

// Range is the byte range [Start, End) of relative sequence numbers.
type Range struct{ Start, End int64 }

// Gap is a range of sequence space the capture never saw, open from From
// (when data above it appeared) until To (when it was filled or
// acknowledged). When To is not after From the gap is drawn across the
// whole time axis.
type Gap struct {
	Range
	From, To time.Duration
}

// Layer is one encapsulation layer, as capture.Encap.
type Layer struct {
	// Kind: "vlan", "mpls", "gre", "erspan", "vxlan", "geneve", "4in4",
	// "6in4", "4in6", "6in6", "wireguard", "esp"; others are shown as
	// given.
	Kind  string
	ID    uint32
	HasID bool
	// Src and Dst are the outer addresses in the client-to-server
	// direction; invalid for VLAN and MPLS.
	Src, Dst netip.Addr
}

// Mark kinds beyond the segment kinds.
const (
	markSACK = uint8(numSegmentKinds) + iota
	markDSACK
	numMarkKinds
)

// markStyle is how one kind of mark looks and is named.
type markStyle struct {
	key   string // data-kind and data-legend value
	label string // legend text
	color string
	width float64 // stroke width
	glyph string  // relative path drawn at the mark's centre; "" none
	attrs string  // further attributes of the kind's group
}

// seqStyles are indexed by mark kind. Colours follow Okabe and Ito's
// palette, which stays distinct with the common colour-vision
// deficiencies; each non-original kind also has its own glyph, so kinds
// differ by shape as well as by colour.
var seqStyles = [numMarkKinds]markStyle{
	Original:         {"original", "original data", "#0072B2", 1, "", ""},
	RetransTimeout:   {"rtx-timeout", "retransmission, timeout", "#D55E00", 1.5, "m-3 -3h6v6h-6z", ""},
	RetransFast:      {"rtx-fast", "retransmission, fast", "#E69F00", 1.5, "m0 -4l3.6 6.5h-7.2z", ""},
	RetransOther:     {"rtx-other", "retransmission, other", "#CC79A7", 1.5, "m0 -4l4 4l-4 4l-4 -4z", ""},
	Spurious:         {"spurious", "spurious retransmission", "#6A3D9A", 1.5, "m-3.5 0a3.5 3.5 0 1 0 7 0a3.5 3.5 0 1 0 -7 0", ""},
	Reordered:        {"reordered", "reordered (late original)", "#009E73", 1.5, "m-2 -4l-4 4l4 4", ""},
	CaptureDuplicate: {"capture-dup", "capture duplicate", "#8C8C8C", 1.5, "m-4 -1.5h8m-8 3h8", ""},
	// SACK blocks repeat in every ACK of a recovery; drawn faint, they
	// shade the recovery without hiding the segments.
	markSACK:  {"sack", "SACK block", "#A6761D", 1, "", ` stroke-opacity="0.45"`},
	markDSACK: {"dsack", "D-SACK block", "#C51B7D", 2.5, "", ""},
}

// Line and band styles.
const (
	ackColor    = "#222222"
	windowColor = "#56B4E9"
	lostColor   = "#D55E00"
	notCapColor = "#8C8C8C"
	// The window line is dashed, so it differs from the data's blue by
	// more than a shade.
	windowDash = `stroke-dasharray="6 3"`
)

// Time-sequence layout, in pixels.
const (
	tsWidth      = 1280.0
	tsHeight     = 760.0
	tsLeft       = 84.0  // plot area's left edge
	tsLegendW    = 270.0 // legend panel
	tsGutter     = 12.0  // between plot and legend: gap marks
	tsBottom     = 56.0  // below the plot area: tick labels, axis title
	tsCaptionTop = 48.0
	tsLineH      = 16.0
	// maxCaptionLines bounds caption lines so notes cannot push the plot
	// off the page.
	maxCaptionLines = 6
)

// seqGeom is the computed layout of one graph.
type seqGeom struct {
	left, top, width, height float64
	x, y                     axis
}

// col returns the pixel column of time t and its centre's position.
func (g *seqGeom) col(t time.Duration) (int, float64) {
	c := int(math.Floor(g.x.at(t.Seconds()) - g.left))
	c = min(max(c, 0), int(g.width)-1)
	return c, g.left + float64(c) + 0.5
}

// WriteSVG draws the graph as one SVG document.
func (g *TimeSequence) WriteSVG(w io.Writer) error {
	var s svg
	title := "TCP time-sequence: " + g.direction()

	var counts [numMarkKinds]int
	unknown := 0
	for _, seg := range g.Segments {
		if seg.Kind >= numSegmentKinds {
			unknown++
			continue
		}
		counts[seg.Kind]++
	}
	for _, a := range g.Acks {
		counts[markSACK] += len(a.SACK)
		counts[markDSACK] += len(a.DSACK)
	}
	caption := g.caption(unknown)
	geom := g.geometry(len(caption))
	marks := g.marks(&geom)
	caption[0] = g.summary(marks, unknown)

	s.begin(tsWidth, tsHeight, title)
	s.label(tsLeft, 28, anchorStart, `font-size="17" font-weight="bold"`, clip(title, maxText))
	for i, c := range caption {
		s.label(tsLeft, tsCaptionTop+float64(i)*tsLineH, anchorStart, `fill="#444"`, clip(c, 160))
	}
	s.raw(`<defs><clipPath id="netdx-ts-clip">`)
	s.rect(geom.left, geom.top, geom.width, geom.height, "")
	s.raw(`</clipPath><pattern id="netdx-ts-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">` +
		`<rect width="6" height="6" fill="` + notCapColor + `" fill-opacity="0.2"/><path d="M0 0v6" stroke="` + notCapColor + `" stroke-width="2" stroke-opacity="0.8"/></pattern></defs>` + "\n")
	s.rect(geom.left, geom.top, geom.width, geom.height, `fill="#fcfcfc" stroke="#bbb"`)
	drawSeqAxes(&s, &geom)

	s.raw(`<g clip-path="url(#netdx-ts-clip)">` + "\n")
	g.drawGaps(&s, &geom)
	g.drawAckLines(&s, &geom)
	drawMarks(&s, marks)
	s.raw("</g>\n")
	g.drawGutter(&s, &geom)
	if len(g.Segments) == 0 && len(g.Acks) == 0 {
		s.label(geom.left+geom.width/2, geom.top+geom.height/2, anchorMid, `font-size="15" fill="#888"`, "no data segments or acknowledgements in this direction")
	}
	g.drawLegend(&s, &geom, &counts)
	return s.end(w)
}

// summary is the caption's first line: how much data over how long, and
// how many marks drew it when marks were merged.
func (g *TimeSequence) summary(marks []mark, unknown int) string {
	if len(g.Segments) == 0 {
		return "no data segments; " + plural(len(g.Acks), "ACK")
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	t0, t1 := g.Segments[0].At, g.Segments[0].At
	for _, seg := range g.Segments {
		lo, hi = math.Min(lo, float64(seg.Seq)), math.Max(hi, seg.end())
		t0, t1 = min(t0, seg.At), max(t1, seg.At)
	}
	line := plural(len(g.Segments), "data segment") + " over " + formatDuration(t1.Seconds()-t0.Seconds()) +
		", " + formatBytes(hi-lo) + " of sequence space; " + plural(len(g.Acks), "ACK")
	n := 0
	for _, m := range marks {
		if m.kind < uint8(numSegmentKinds) {
			n++
		}
	}
	if n < len(g.Segments)-unknown {
		line += "; drawn as " + count(n) + " marks (touching segments of one kind in one pixel column merged)"
	}
	return line
}

// direction names the flow in the direction shown.
func (g *TimeSequence) direction() string {
	src, dst, dir := g.Client, g.Server, "client to server"
	if g.FromServer {
		src, dst, dir = g.Server, g.Client, "server to client"
	}
	return addrPort(src) + " → " + addrPort(dst) + " (" + dir + ")"
}

func addrPort(a netip.AddrPort) string {
	if !a.IsValid() {
		return "?"
	}
	return a.String()
}

// caption is the lines under the title: a summary (filled in once the
// marks are known), tunnel layers, notes; at most maxCaptionLines.
func (g *TimeSequence) caption(unknown int) []string {
	lines := []string{""}
	if len(g.Layers) > 0 {
		parts := make([]string, 0, len(g.Layers))
		for i := len(g.Layers) - 1; i >= 0; i-- {
			parts = append(parts, layerName(g.Layers[i], g.FromServer))
		}
		lines = append(lines, "seen inside "+strings.Join(parts, ", inside "))
	}
	if g.zoomed() {
		lines = append(lines, g.zoomCaption())
	}
	lines = append(lines, g.Notes...)
	if unknown > 0 {
		lines = append(lines, plural(unknown, "segment")+" of an unknown kind left out")
	}
	if len(lines) > maxCaptionLines {
		lines = append(lines[:maxCaptionLines-1], "… "+count(len(lines)-maxCaptionLines+1)+" more caption lines left out")
	}
	return lines
}

// layerName describes one layer in the direction shown: "VXLAN VNI 42
// over 198.18.0.1→198.18.0.2".
func layerName(l Layer, reverse bool) string {
	name, idName := strings.ToUpper(l.Kind), "ID "
	switch l.Kind {
	case "vlan":
		name, idName = "VLAN", ""
	case "mpls":
		name, idName = "MPLS", "label "
	case "vxlan":
		name, idName = "VXLAN", "VNI "
	case "geneve":
		name, idName = "Geneve", "VNI "
	case "gre":
		name, idName = "GRE", "key "
	case "erspan":
		name, idName = "ERSPAN", "session "
	case "wireguard":
		name, idName = "WireGuard", "receiver "
	case "esp":
		name, idName = "ESP", "SPI "
	case "4in4", "6in4", "4in6", "6in6":
		name = "IPv" + l.Kind[:1] + " in IPv" + l.Kind[3:]
	}
	name = clip(name, 24)
	if l.HasID {
		name += " " + idName + strconv.FormatUint(uint64(l.ID), 10)
	}
	src, dst := l.Src, l.Dst
	if reverse {
		src, dst = dst, src
	}
	if src.IsValid() || dst.IsValid() {
		name += " over " + addr(src) + "→" + addr(dst)
	}
	return name
}

func addr(a netip.Addr) string {
	if !a.IsValid() {
		return "?"
	}
	return a.String()
}

// geometry lays out the plot area under captionLines lines of caption
// and fits both axes to the data.
func (g *TimeSequence) geometry(captionLines int) seqGeom {
	top := tsCaptionTop + float64(captionLines)*tsLineH
	geom := seqGeom{left: tsLeft, top: top, width: tsWidth - tsLeft - tsGutter - tsLegendW, height: tsHeight - top - tsBottom}

	tLo, tHi := 0.0, 0.0
	yLo, yHi := math.Inf(1), math.Inf(-1)
	seeT := func(d time.Duration) {
		tLo, tHi = math.Min(tLo, d.Seconds()), math.Max(tHi, d.Seconds())
	}
	seeY := func(v float64) {
		yLo, yHi = math.Min(yLo, v), math.Max(yHi, v)
	}
	for _, seg := range g.Segments {
		seeT(seg.At)
		seeY(float64(seg.Seq))
		seeY(seg.end())
	}
	winHi := math.Inf(-1)
	for _, a := range g.Acks {
		seeT(a.At)
		seeY(float64(a.Ack))
		for _, r := range a.SACK {
			seeY(float64(r.Start))
			seeY(float64(r.End))
		}
		for _, r := range a.DSACK {
			seeY(float64(r.Start))
			seeY(float64(r.End))
		}
		if a.Window >= 0 {
			winHi = math.Max(winHi, float64(a.Ack)+float64(a.Window))
		}
	}
	for _, gaps := range [][]Gap{g.Lost, g.NotCaptured} {
		for _, gp := range gaps {
			seeY(float64(gp.Start))
			seeY(float64(gp.End))
			if gp.To > gp.From {
				seeT(gp.From)
				seeT(gp.To)
			}
		}
	}
	if math.IsInf(yLo, 1) {
		yLo, yHi = 0, 0
	}
	if g.zoomed() {
		tLo, tHi = g.From.Seconds(), g.To.Seconds()
	}
	// The window line counts only up to a quarter of the data's span
	// above it: a window far larger than the data in flight does not
	// limit the sender, and letting it set the scale would squash the
	// data into a strip. It leaves the top of the plot instead.
	if winHi > yHi {
		yHi = math.Min(winHi, yHi+(yHi-yLo)/4)
	}
	geom.x = newAxis(tLo, tHi, timeUnits, 1e-3, 10, tight)
	geom.y = newAxis(yLo, yHi, byteUnits, 1000, 8, tight)
	geom.x.from, geom.x.to = geom.left, geom.left+geom.width
	geom.y.from, geom.y.to = geom.top+geom.height, geom.top
	return geom
}

// marks turns segments and SACK blocks into merged marks.
func (g *TimeSequence) marks(geom *seqGeom) []mark {
	ms := make([]mark, 0, len(g.Segments))
	for _, seg := range g.Segments {
		if seg.Kind >= numSegmentKinds {
			continue
		}
		c, _ := geom.col(seg.At)
		ms = append(ms, newMark(uint8(seg.Kind), c, geom.y.at(float64(seg.Seq)), geom.y.at(seg.end())))
	}
	for _, a := range g.Acks {
		c, _ := geom.col(a.At)
		for _, r := range a.SACK {
			ms = append(ms, newMark(markSACK, c, geom.y.at(float64(r.Start)), geom.y.at(float64(r.End))))
		}
		for _, r := range a.DSACK {
			ms = append(ms, newMark(markDSACK, c, geom.y.at(float64(r.Start)), geom.y.at(float64(r.End))))
		}
	}
	return mergeMarks(ms)
}

// markOrder is the order kinds are drawn in: SACK shading first, then
// originals, then the rarer and more telling kinds over them.
var markOrder = [numMarkKinds]uint8{markSACK, uint8(Original), uint8(CaptureDuplicate), uint8(Reordered),
	uint8(RetransOther), uint8(RetransFast), uint8(RetransTimeout), uint8(Spurious), markDSACK}

// drawMarks writes one group per kind present, in markOrder; ms is
// sorted by kind.
func drawMarks(s *svg, ms []mark) {
	var from, to [numMarkKinds]int
	for i := range ms {
		k := ms[i].kind
		if i == 0 || ms[i-1].kind != k {
			from[k] = i
		}
		to[k] = i + 1
	}
	for _, k := range markOrder {
		if to[k] == 0 {
			continue
		}
		st := &seqStyles[k]
		s.raw(`<g data-kind="` + st.key + `" fill="none" stroke="` + st.color + `"`)
		s.numAttr("stroke-width", st.width)
		s.raw(st.attrs + ">\n")
		for i := from[k]; i < to[k]; i++ {
			m := &ms[i]
			x := tsLeft + float64(m.col) + 0.5
			s.raw(`<path d="M`)
			s.num(x)
			s.raw(" ")
			s.num(m.y0)
			s.raw("V")
			s.num(m.y1)
			switch {
			case k == markSACK || k == markDSACK:
				// An I-beam: caps at both ends tell a block from a
				// segment at a glance.
				s.raw("M")
				s.num(x - 3)
				s.raw(" ")
				s.num(m.y0)
				s.raw("h6M")
				s.num(x - 3)
				s.raw(" ")
				s.num(m.y1)
				s.raw("h6")
			case st.glyph != "":
				s.raw("M")
				s.num(x)
				s.raw(" ")
				s.num((m.y0 + m.y1) / 2)
				s.raw(st.glyph)
			}
			s.raw("\"/>\n")
		}
		s.raw("</g>\n")
	}
}

// drawSeqAxes draws grid lines, ticks and axis titles.
func drawSeqAxes(s *svg, geom *seqGeom) {
	bottom := geom.top + geom.height
	for i, v := range geom.x.ticks {
		x := geom.x.at(v)
		s.line(x, geom.top, x, bottom, `stroke="#e4e4e4"`)
		s.line(x, bottom, x, bottom+5, `stroke="#666"`)
		s.label(x, bottom+18, anchorMid, "", geom.x.labels[i])
	}
	for i, v := range geom.y.ticks {
		y := geom.y.at(v)
		s.line(geom.left, y, geom.left+geom.width, y, `stroke="#e4e4e4"`)
		s.line(geom.left-5, y, geom.left, y, `stroke="#666"`)
		s.label(geom.left-8, y+4, anchorEnd, "", geom.y.labels[i])
	}
	s.label(geom.left+geom.width/2, bottom+42, anchorMid, `font-size="13"`, geom.x.title("time since the flow's first packet"))
	cy := geom.top + geom.height/2
	s.raw("<text")
	s.numAttr("x", 20)
	s.numAttr("y", cy)
	s.raw(` text-anchor="middle" font-size="13" transform="rotate(-90 20 `)
	s.num(cy)
	s.raw(`)">`)
	s.text(geom.y.title("relative sequence number"))
	s.raw("</text>\n")
}

// pxRect is a rectangle in pixels.
type pxRect struct{ x0, x1, y0, y1 float64 }

// gapRects turns gaps into rectangles, merging those with the same
// horizontal extent that touch vertically.
func gapRects(gaps []Gap, geom *seqGeom) []pxRect {
	rs := make([]pxRect, 0, len(gaps))
	for _, gp := range gaps {
		r := pxRect{x0: geom.left, x1: geom.left + geom.width}
		if gp.To > gp.From {
			c0, _ := geom.col(gp.From)
			c1, _ := geom.col(gp.To)
			r.x0, r.x1 = geom.left+float64(c0), geom.left+float64(c1)+1
		}
		r.y0, r.y1 = extent(geom.y.at(float64(gp.Start)), geom.y.at(float64(gp.End)), minBand)
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b pxRect) int {
		return cmp.Or(cmp.Compare(a.x0, b.x0), cmp.Compare(a.x1, b.x1), cmp.Compare(a.y0, b.y0), cmp.Compare(a.y1, b.y1))
	})
	out := rs[:0]
	for _, r := range rs {
		if k := len(out) - 1; k >= 0 && out[k].x0 == r.x0 && out[k].x1 == r.x1 && r.y0 <= out[k].y1+1 {
			out[k].y1 = max(out[k].y1, r.y1)
			continue
		}
		out = append(out, r)
	}
	return out
}

// drawGaps shades lost and not-captured ranges.
func (g *TimeSequence) drawGaps(s *svg, geom *seqGeom) {
	for _, gs := range []struct {
		key, fill string
		gaps      []Gap
	}{
		{"lost", `fill="` + lostColor + `" fill-opacity="0.3"`, g.Lost},
		{"not-captured", `fill="url(#netdx-ts-hatch)"`, g.NotCaptured},
	} {
		if len(gs.gaps) == 0 {
			continue
		}
		s.raw(`<g data-kind="` + gs.key + `">` + "\n")
		for _, r := range gapRects(gs.gaps, geom) {
			s.rect(r.x0, r.y0, r.x1-r.x0, r.y1-r.y0, gs.fill)
		}
		s.raw("</g>\n")
	}
}

// drawGutter marks the gaps' sequence ranges on a strip right of the
// plot, where even a range thinner than a pixel stays visible.
func (g *TimeSequence) drawGutter(s *svg, geom *seqGeom) {
	x := geom.left + geom.width + 3
	for _, gs := range []struct {
		key, color string
		gaps       []Gap
	}{
		{"lost", lostColor, g.Lost},
		{"not-captured", notCapColor, g.NotCaptured},
	} {
		if len(gs.gaps) == 0 {
			continue
		}
		ms := make([]mark, 0, len(gs.gaps))
		for _, gp := range gs.gaps {
			y0, y1 := extent(geom.y.at(float64(gp.Start)), geom.y.at(float64(gp.End)), minBar)
			ms = append(ms, mark{y0: y0, y1: y1})
		}
		s.raw(`<g data-gutter="` + gs.key + `" fill="` + gs.color + `">` + "\n")
		for _, m := range mergeMarks(ms) {
			s.rect(x, m.y0, 7, m.y1-m.y0, "")
		}
		s.raw("</g>\n")
	}
}

// stepLine accumulates a step line, one pixel column at a time: within a
// column only the lowest, highest and last values matter on screen.
type stepLine struct {
	s      *svg
	open   bool
	col    int
	x      float64
	lo, hi float64 // the pending column's extent
	last   float64 // its last value
	pen    float64 // where the path's pen is
}

func (l *stepLine) add(col int, x, y float64) {
	switch {
	case !l.open:
		l.s.raw("M")
		l.s.num(x)
		l.s.raw(" ")
		l.s.num(y)
		l.open, l.col, l.x, l.lo, l.hi, l.last, l.pen = true, col, x, y, y, y, y
		return
	case col != l.col:
		l.flush()
		l.s.raw("H")
		l.s.num(x)
		l.col, l.x, l.lo, l.hi = col, x, l.last, l.last
	}
	l.lo, l.hi, l.last = math.Min(l.lo, y), math.Max(l.hi, y), y
}

// flush writes the pending column's vertical moves: its whole extent,
// ending at its last value.
func (l *stepLine) flush() {
	if !l.open {
		return
	}
	v := func(y float64) {
		l.s.raw("V")
		l.s.num(y)
		l.pen = y
	}
	// Going straight from the pen to the last value covers the extent
	// unless an extreme lies beyond both.
	if l.lo < min(l.pen, l.last) {
		v(l.lo)
	}
	if l.hi > max(l.pen, l.last) {
		v(l.hi)
	}
	if l.last != l.pen {
		v(l.last)
	}
	l.lo, l.hi = l.last, l.last
}

// breakLine ends the current piece; the next point starts a new one.
func (l *stepLine) breakLine() {
	l.flush()
	l.open = false
}

// end finishes the line at x, at least a pixel after its last point so
// that a line of one ACK still shows.
func (l *stepLine) end(x float64) {
	if !l.open {
		return
	}
	l.flush()
	l.s.raw("H")
	l.s.num(max(x, l.x+1))
}

// drawAckLines draws the cumulative ACK and the receive window's right
// edge (ACK + window) as step lines in time order.
func (g *TimeSequence) drawAckLines(s *svg, geom *seqGeom) {
	if len(g.Acks) == 0 {
		return
	}
	order := make([]int, len(g.Acks))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(g.Acks[a].At, g.Acks[b].At) })
	// The lines continue to the last thing seen: an ACK holds until the
	// next one.
	last := g.Acks[order[len(order)-1]].At
	for _, seg := range g.Segments {
		last = max(last, seg.At)
	}
	_, xEnd := geom.col(last)

	hasWindow := false
	for _, a := range g.Acks {
		hasWindow = hasWindow || a.Window >= 0
	}
	if hasWindow {
		s.raw(`<path data-kind="window" fill="none" stroke="` + windowColor + `" ` + windowDash + ` stroke-width="1.5" d="`)
		l := stepLine{s: s}
		for _, i := range order {
			a := &g.Acks[i]
			if a.Window < 0 {
				l.breakLine()
				continue
			}
			c, x := geom.col(a.At)
			l.add(c, x, geom.y.at(float64(a.Ack)+float64(a.Window)))
		}
		l.end(xEnd)
		s.raw("\"/>\n")
	}
	s.raw(`<path data-kind="ack" fill="none" stroke="` + ackColor + `" stroke-width="1.2" d="`)
	l := stepLine{s: s}
	for _, i := range order {
		c, x := geom.col(g.Acks[i].At)
		l.add(c, x, geom.y.at(float64(g.Acks[i].Ack)))
	}
	l.end(xEnd)
	s.raw("\"/>\n")
}

// drawLegend lists every kind present with its count, and nothing for
// kinds absent.
func (g *TimeSequence) drawLegend(s *svg, geom *seqGeom, counts *[numMarkKinds]int) {
	x := geom.left + geom.width + tsGutter + 12
	right := tsWidth - 12
	y := geom.top + 4
	if len(g.Segments)+len(g.Acks)+len(g.Lost)+len(g.NotCaptured) > 0 {
		s.label(x, y+8, anchorStart, `font-weight="bold"`, "Legend")
	}
	y += 26
	entry := func(key, label, n string, swatch func(cx, cy float64)) {
		s.raw(`<g data-legend="` + key + `">` + "\n")
		swatch(x+9, y-4)
		s.label(x+26, y, anchorStart, "", label)
		s.label(right, y, anchorEnd, `fill="#555"`, n)
		s.raw("</g>\n")
		y += 21
	}
	// Groups (segments, SACK blocks, lines, gaps) are set apart by a
	// little space.
	last := -1
	group := func(n int) {
		if last >= 0 && n != last {
			y += 8
		}
		last = n
	}
	for k := range numMarkKinds {
		if counts[k] == 0 {
			continue
		}
		group(min(int(k)/int(markSACK), 1))
		st := &seqStyles[k]
		entry(st.key, st.label, count(counts[k]), func(cx, cy float64) {
			s.raw(`<path fill="none" stroke="` + st.color + `"`)
			s.numAttr("stroke-width", st.width)
			s.raw(st.attrs + ` d="M`)
			s.num(cx)
			s.raw(" ")
			s.num(cy - 7)
			s.raw("v14")
			switch {
			case k == markSACK || k == markDSACK:
				s.raw("M")
				s.num(cx - 3)
				s.raw(" ")
				s.num(cy - 7)
				s.raw("h6m-6 14h6")
			case st.glyph != "":
				s.raw("M")
				s.num(cx)
				s.raw(" ")
				s.num(cy)
				s.raw(st.glyph)
			}
			s.raw("\"/>\n")
		})
	}
	if len(g.Acks) > 0 {
		group(2)
		entry("ack", "ACK (cumulative)", count(len(g.Acks)), func(cx, cy float64) {
			stepSwatch(s, cx, cy, `stroke="`+ackColor+`" stroke-width="1.2"`)
		})
		windows := 0
		for _, a := range g.Acks {
			if a.Window >= 0 {
				windows++
			}
		}
		if windows > 0 {
			entry("window", "receive window (ACK + win)", count(windows), func(cx, cy float64) {
				stepSwatch(s, cx, cy, `stroke="`+windowColor+`" stroke-width="1.5" `+windowDash)
			})
		}
	}
	for _, gs := range []struct {
		key, label, fill string
		gaps             []Gap
	}{
		{"lost", "lost before capture", `fill="` + lostColor + `" fill-opacity="0.3"`, g.Lost},
		{"not-captured", "not captured (ACKed)", `fill="url(#netdx-ts-hatch)" stroke="` + notCapColor + `"`, g.NotCaptured},
	} {
		if len(gs.gaps) == 0 {
			continue
		}
		group(3)
		var bytes float64
		for _, gp := range gs.gaps {
			bytes += math.Abs(float64(gp.End) - float64(gp.Start))
		}
		entry(gs.key, gs.label, formatBytes(bytes), func(cx, cy float64) {
			s.rect(cx-9, cy-6, 18, 12, gs.fill)
		})
	}
	if len(g.Segments) == 0 {
		return
	}
	y += 14
	for _, line := range readingHints {
		s.label(x, y, anchorStart, `font-size="11" fill="#666"`, line)
		y += 15
	}
}

// readingHints explain the picture in a few words under the legend;
// docs/plots.md says more.
var readingHints = []string{
	"Each bar is one segment: when the capture",
	"saw it (x) and the bytes it carried (y).",
	"Data falling below the line it was climbing",
	"was sent again. The gap between the data",
	"and the ACK line is data in flight; data",
	"reaching the window line waits for the",
	"receiver. Gap bands and the marks right of",
	"the plot show sequence the capture missed.",
}

// stepSwatch draws a small step as a line's legend swatch.
func stepSwatch(s *svg, cx, cy float64, style string) {
	s.raw(`<path fill="none" ` + style + ` d="M`)
	s.num(cx - 10)
	s.raw(" ")
	s.num(cy + 5)
	s.raw("h10v-10h10\"/>\n")
}
