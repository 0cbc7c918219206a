package plot

import (
	"bytes"
	"encoding/xml"
	"flag"
	"io"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden SVGs in testdata")

// picture is anything this package draws.
type picture interface{ WriteSVG(io.Writer) error }

// goldenCase is one golden picture and the kinds it must show.
type goldenCase struct {
	name string
	pic  picture
}

func goldenCases() []goldenCase {
	huge := &TimeSequence{
		Client: netip.MustParseAddrPort("[2001:db8::1]:443"), Server: netip.MustParseAddrPort("[2001:db8::2]:65535"),
		FromServer: true,
		Layers:     []Layer{{Kind: `geneve"><script>`, ID: math.MaxUint32, HasID: true, Src: netip.MustParseAddr("2001:db8::a")}},
		Notes:      []string{`<script>alert(1)</script> & "quotes" ` + strings.Repeat("long ", 60), "\x00\x1b[31m control characters"},
		Segments: []Segment{
			{At: 100 * 24 * time.Hour, Seq: math.MaxInt64 - 1<<40, Len: 1 << 30, Kind: Original},
			{At: 100*24*time.Hour + time.Hour, Seq: math.MaxInt64 - 1<<30, Len: 1448, Kind: RetransTimeout},
			{At: 0, Seq: -5000, Len: -3, Kind: Original},
			{At: time.Second, Seq: 0, Len: 10, Kind: SegmentKind(200)},
		},
		Acks: []Ack{{At: time.Hour, Ack: 1 << 50, Window: -1}, {At: 2 * time.Hour, Ack: 1 << 51, Window: math.MaxInt64 / 2}},
		Lost: []Gap{{Range: Range{10, 5}, From: time.Hour, To: time.Minute}},
	}
	return []goldenCase{
		{"timeseq-lab", labTransfer()},
		{"timeseq-lab-zoom", labZoom()},
		{"timeseq-bulk-20k", bulkTransfer(20000)},
		{"timeseq-empty", &TimeSequence{}},
		{"timeseq-one", &TimeSequence{Segments: []Segment{{At: 0, Seq: 0, Len: 1448}}}},
		{"timeseq-huge", huge},
		{"timeseq-overflow", &TimeSequence{
			Segments: []Segment{{At: math.MinInt64, Seq: math.MaxInt64, Len: math.MaxInt64}, {At: math.MaxInt64, Seq: math.MinInt64, Len: 1}},
			Acks:     []Ack{{At: math.MaxInt64, Ack: math.MaxInt64, Window: math.MaxInt64, SACK: []Range{{math.MinInt64, math.MaxInt64}}}},
		}},
		{"hoprtt-lab", labTrace()},
		{"hoprtt-30-hops", longTrace()},
		{"hoprtt-empty", &HopRTT{Target: "nothing"}},
		{"hoprtt-one", &HopRTT{Target: "one", Hops: []Hop{{TTL: 1, Probes: []Probe{{Fate: Answered}}}}}},
		{"hoprtt-odd", &HopRTT{Target: strings.Repeat("<&>", 100), Hops: []Hop{
			{TTL: 0, Note: strings.Repeat("note ", 40), Probes: []Probe{
				{Sent: -time.Hour, RTT: -time.Second, Fate: Answered},
				{Sent: math.MaxInt64, RTT: math.MaxInt64, Fate: Answered},
				{Sent: time.Second, Fate: ProbeFate(77)},
			}},
			{TTL: 300, Responders: []Responder{{Name: "no address"}}, Probes: []Probe{{Fate: Pending}}},
		}}},
	}
}

func render(t testing.TB, p picture) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := p.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestGolden compares every picture with its golden file; -update
// rewrites them. Look at changed pictures before committing them.
func TestGolden(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			got := render(t, c.pic)
			if again := render(t, c.pic); !bytes.Equal(got, again) {
				t.Fatal("two renderings of the same input differ")
			}
			path := filepath.Join("testdata", c.name+".svg")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the rendering (%d bytes, want %d); if the change is intended, look at it and run with -update", path, len(got), len(want))
			}
		})
	}
}

// parsed is what the structure tests read back from an SVG.
type parsed struct {
	width, height float64
	// marks counts drawn marks by data-kind: the children of a group, or
	// one for a single element.
	marks map[string]int
	// legend counts legend entries by key.
	legend   map[string]int
	elements map[string]int
	texts    []string
}

// svgElements are all the element names the package may write.
var svgElements = map[string]bool{"svg": true, "title": true, "rect": true, "path": true, "text": true, "g": true, "defs": true, "clipPath": true, "pattern": true, "tspan": true}

func parseSVG(t *testing.T, doc []byte) parsed {
	t.Helper()
	p := parsed{marks: map[string]int{}, legend: map[string]int{}, elements: map[string]int{}}
	d := xml.NewDecoder(bytes.NewReader(doc))
	// The data-kind of each open element, "" for none.
	var stack []string
	inText := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if e.Name.Space != "http://www.w3.org/2000/svg" {
				t.Errorf("element %s outside the SVG namespace", e.Name.Local)
			}
			p.elements[e.Name.Local]++
			if len(stack) > 0 && stack[len(stack)-1] != "" {
				p.marks[stack[len(stack)-1]]++
			}
			kind := ""
			for _, a := range e.Attr {
				switch a.Name.Local {
				case "data-kind":
					kind = a.Value
					if e.Name.Local != "g" {
						p.marks[kind]++
					}
				case "data-legend":
					p.legend[a.Value]++
				case "width":
					if e.Name.Local == "svg" {
						p.width = atof(t, a.Value)
					}
				case "height":
					if e.Name.Local == "svg" {
						p.height = atof(t, a.Value)
					}
				}
				if strings.HasPrefix(a.Name.Local, "on") || strings.Contains(a.Value, "javascript:") {
					t.Errorf("script in attribute %s=%q", a.Name.Local, a.Value)
				}
			}
			if e.Name.Local != "g" {
				kind = "" // children of a mark are part of it
			}
			stack = append(stack, kind)
			inText = e.Name.Local == "text"
		case xml.EndElement:
			stack = stack[:len(stack)-1]
			inText = false
		case xml.CharData:
			if inText {
				p.texts = append(p.texts, string(e))
			}
		}
	}
	return p
}

func atof(t *testing.T, s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("bad number %q: %v", s, err)
	}
	return v
}

// expectedKinds lists the data-kind keys a picture must show, from its
// input.
func expectedKinds(p picture) map[string]bool {
	want := map[string]bool{}
	switch p := p.(type) {
	case *TimeSequence:
		for _, s := range p.Segments {
			if s.Kind < numSegmentKinds {
				want[s.Kind.String()] = true
			}
		}
		for _, a := range p.Acks {
			want["ack"] = true
			if a.Window >= 0 {
				want["window"] = true
			}
			if len(a.SACK) > 0 {
				want["sack"] = true
			}
			if len(a.DSACK) > 0 {
				want["dsack"] = true
			}
		}
		if len(p.Lost) > 0 {
			want["lost"] = true
		}
		if len(p.NotCaptured) > 0 {
			want["not-captured"] = true
		}
	case *HopRTT:
		var rtts []float64
		for _, h := range p.Hops {
			for _, pr := range h.Probes {
				if pr.Fate == Answered {
					rtts = append(rtts, pr.RTT.Seconds())
				}
			}
		}
		top := newAxis(0, rttScale(rtts), timeUnits, 1e-3, 3, extended).hi
		for _, h := range p.Hops {
			for _, pr := range h.Probes {
				switch {
				case pr.Fate == Answered && pr.RTT.Seconds() > top:
					want["above-scale"] = true
				case pr.Fate < numFates:
					want[pr.Fate.String()] = true
				}
			}
		}
	}
	return want
}

// allKinds are every data-kind key either picture can write.
func allKinds() []string {
	var keys []string
	for _, s := range seqStyles {
		keys = append(keys, s.key)
	}
	for _, s := range rttStyles {
		keys = append(keys, s.key)
	}
	return append(keys, "ack", "window", "lost", "not-captured")
}

// TestStructure checks every golden picture as XML: only SVG elements,
// no scripts; for every kind its input holds, exactly one legend entry
// and at least one mark; for every other kind, neither.
func TestStructure(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) { checkStructure(t, c.pic, render(t, c.pic)) })
	}
}

func checkStructure(t *testing.T, pic picture, doc []byte) parsed {
	t.Helper()
	p := parseSVG(t, doc)
	for el := range p.elements {
		if !svgElements[el] {
			t.Errorf("unexpected element <%s>", el)
		}
	}
	if p.width <= 0 || p.height <= 0 {
		t.Errorf("size %gx%g", p.width, p.height)
	}
	want := expectedKinds(pic)
	for _, k := range allKinds() {
		switch {
		case want[k] && (p.legend[k] != 1 || p.marks[k] == 0):
			t.Errorf("%s is in the input: %d legend entries (want 1), %d marks (want some)", k, p.legend[k], p.marks[k])
		case !want[k] && (p.legend[k] != 0 || p.marks[k] != 0):
			t.Errorf("%s is not in the input, but drawn: %d legend entries, %d marks", k, p.legend[k], p.marks[k])
		}
	}
	for k := range p.marks {
		if !want[k] {
			t.Errorf("marks of unknown kind %q", k)
		}
	}
	return p
}

// TestLargeInput: 200,000 segments still show every kind present, in a
// document a browser opens quickly.
func TestLargeInput(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds a 200,000-segment transfer")
	}
	g := bulkTransfer(200_000)
	doc := render(t, g)
	p := checkStructure(t, g, doc)
	if len(doc) > 1<<20 {
		t.Errorf("%d bytes for %d segments", len(doc), len(g.Segments))
	}
	// Originals advance steadily: about one merged mark per pixel column.
	geom := g.geometry(len(g.caption(0)))
	if n := p.marks["original"]; n > 2*int(geom.width) {
		t.Errorf("%d marks of originals in a plot %g pixels wide", n, geom.width)
	}
}

// TestEscaping: hostile names come out as text, not markup.
func TestEscaping(t *testing.T) {
	for _, c := range goldenCases() {
		if c.name != "timeseq-huge" && c.name != "hoprtt-lab" {
			continue
		}
		p := parseSVG(t, render(t, c.pic))
		found := false
		for _, s := range p.texts {
			found = found || strings.Contains(s, "<script>")
		}
		if !found {
			t.Errorf("%s: the hostile name is not shown as text", c.name)
		}
		if p.elements["script"] > 0 {
			t.Errorf("%s: a script element got through", c.name)
		}
	}
}
