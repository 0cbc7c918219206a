package plot

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestZoom: a window around the lab transfer's fast retransmissions keeps
// exactly the segments sent in it, leads its ACK line with the ACK in
// force when it opens, cuts the unseen ranges to it, draws a mark of
// every kind it holds and none of the others, and says it is zoomed. A
// window without data changes nothing.
func TestZoom(t *testing.T) {
	full := labTransfer()
	var at time.Duration
	for _, seg := range full.Segments {
		if seg.Kind == RetransFast {
			at = seg.At
			break
		}
	}
	if at == 0 {
		t.Fatal("the lab transfer has no fast retransmission")
	}
	from, to := at-4*time.Millisecond, at+6*time.Millisecond
	want := map[SegmentKind]int{}
	n := 0
	for _, seg := range full.Segments {
		if seg.At >= from && seg.At <= to {
			want[seg.Kind]++
			n++
		}
	}
	var opening *Ack
	for i, a := range full.Acks {
		if a.At < from && (opening == nil || a.At >= opening.At) {
			opening = &full.Acks[i]
		}
	}
	if n == 0 || n == len(full.Segments) || opening == nil {
		t.Fatalf("window %v–%v holds %d of %d segments (opening ACK %v): not a zoom", from, to, n, len(full.Segments), opening)
	}

	g := labTransfer()
	if !g.Zoom(from, to) {
		t.Fatal("Zoom refused a window with data")
	}
	if len(g.Segments) != n {
		t.Errorf("%d segments kept, want %d", len(g.Segments), n)
	}
	for _, seg := range g.Segments {
		if seg.At < from || seg.At > to {
			t.Errorf("segment at %v outside the window", seg.At)
		}
	}
	led := false
	for _, a := range g.Acks {
		if a.At == from && a.Ack == opening.Ack && a.Window == opening.Window && a.SACK == nil {
			led = true
		} else if a.At < from || a.At > to {
			t.Errorf("ACK at %v outside the window", a.At)
		}
	}
	if !led {
		t.Errorf("no ACK of %d at the window's opening", opening.Ack)
	}
	for _, gp := range append(append([]Gap{}, g.Lost...), g.NotCaptured...) {
		if gp.To > gp.From && (gp.From < from || gp.To > to) {
			t.Errorf("gap %v–%v not cut to the window", gp.From, gp.To)
		}
	}

	p := parseSVG(t, render(t, g))
	for k := range numSegmentKinds {
		if got := p.marks[k.String()] > 0; got != (want[k] > 0) {
			t.Errorf("%s: marks drawn %v, the window holds %d", k, got, want[k])
		}
	}
	if !strings.Contains(strings.Join(p.texts, "\n"), "zoomed to") {
		t.Error("the caption does not say the graph is zoomed")
	}

	for _, w := range [][2]time.Duration{{to, from}, {-time.Second, 0}, {time.Hour, 2 * time.Hour}} {
		g := labTransfer()
		if g.Zoom(w[0], w[1]) || !reflect.DeepEqual(g, labTransfer()) {
			t.Errorf("Zoom(%v, %v) accepted a window without data or changed the graph", w[0], w[1])
		}
	}
}

// labZoom is the lab transfer zoomed to its first fast recovery.
func labZoom() *TimeSequence {
	g := labTransfer()
	for _, seg := range g.Segments {
		if seg.Kind == RetransFast {
			g.Zoom(seg.At-4*time.Millisecond, seg.At+6*time.Millisecond)
			break
		}
	}
	return g
}
