package plot

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// markPaths returns the d attribute of every path in the group of the
// given data-kind.
func markPaths(t *testing.T, doc []byte, kind string) []string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	var out []string
	depth, in := 0, -1
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			depth++
			attr := map[string]string{}
			for _, a := range e.Attr {
				attr[a.Name.Local] = a.Value
			}
			if attr["data-kind"] == kind {
				if e.Name.Local == "g" {
					in = depth
				} else {
					out = append(out, attr["d"])
				}
			} else if in >= 0 && depth == in+1 {
				out = append(out, attr["d"])
			}
		case xml.EndElement:
			if depth == in {
				in = -1
			}
			depth--
		}
	}
}

// numbers splits a path into its numbers.
func numbers(t *testing.T, d string) []float64 {
	t.Helper()
	f := strings.FieldsFunc(d, func(r rune) bool { return strings.ContainsRune("MVHLmvhlaz ", r) })
	var out []float64
	for _, s := range f {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("path %q: %v", d, err)
		}
		out = append(out, v)
	}
	return out
}

// TestSegmentPlacement: each segment's bar is where its time and bytes
// say, measured against the axis ticks the picture labels.
func TestSegmentPlacement(t *testing.T) {
	g := &TimeSequence{Segments: []Segment{
		{At: 0, Seq: 0, Len: 10_000},
		{At: time.Second, Seq: 10_000, Len: 10_000},
		{At: 2 * time.Second, Seq: 20_000, Len: 20_000, Kind: RetransTimeout},
	}, Acks: []Ack{{At: 500 * time.Millisecond, Ack: 10_000, Window: -1}, {At: 1500 * time.Millisecond, Ack: 20_000, Window: -1}}}
	doc := render(t, g)
	geom := g.geometry(len(g.caption(0)))
	// The axis runs from about 0 to 2 s and 0 to 40 kB.
	if geom.x.unit.name != "s" || geom.y.unit.name != "kB" {
		t.Fatalf("units %s and %s", geom.x.unit.name, geom.y.unit.name)
	}
	near := func(what string, got, want, tol float64) {
		if math.Abs(got-want) > tol {
			t.Errorf("%s at %g, want %g", what, got, want)
		}
	}
	check := func(kind string, segs ...Segment) {
		paths := markPaths(t, doc, kind)
		if len(paths) != len(segs) {
			t.Fatalf("%s: %d marks, want %d", kind, len(paths), len(segs))
		}
		for i, s := range segs {
			v := numbers(t, paths[i])
			// M x top V bottom: x within the pixel column of At.
			near(kind+" x", v[0], geom.x.at(s.At.Seconds()), 1)
			near(kind+" top", v[1], geom.y.at(float64(s.Seq+s.Len)), 0.06)
			near(kind+" bottom", v[2], geom.y.at(float64(s.Seq)), 0.06)
		}
	}
	check("original", g.Segments[0], g.Segments[1])
	check("rtx-timeout", g.Segments[2])
	// The ACK line steps up to each ACK at its time and holds to the
	// last segment.
	ack := numbers(t, markPaths(t, doc, "ack")[0])
	want := []float64{geom.x.at(0.5), geom.y.at(10_000), geom.x.at(1.5), geom.y.at(20_000), geom.x.at(2)}
	if len(ack) != len(want) {
		t.Fatalf("ack path %v, want %v", ack, want)
	}
	for i := range want {
		near("ack point", ack[i], want[i], 1)
	}
}

// TestStepLine: within a pixel column the line covers every value and
// ends at the last; a break starts a new piece.
func TestStepLine(t *testing.T) {
	var s svg
	l := stepLine{s: &s}
	l.add(0, 0.5, 100)
	l.add(1, 1.5, 90)  // up
	l.add(1, 1.5, 110) // below where the column started
	l.add(1, 1.5, 95)  // ends between
	l.add(5, 5.5, 80)
	l.breakLine()
	l.add(8, 8.5, 70)
	l.end(9.5)
	if got, want := s.b.String(), "M0.5 100H1.5V90V110V95H5.5V80M8.5 70H9.5"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
