package cli

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/netdx/netdx/capture"
	"github.com/netdx/netdx/capture/capturetest"
	"github.com/netdx/netdx/report"
)

// svgLegend reads an SVG picture (either kind) as XML and returns, per
// kind, the count its legend shows and the number of marks drawn in its group.
func svgLegend(t *testing.T, doc []byte) (legend, marks map[string]int) {
	t.Helper()
	legend, marks = map[string]int{}, map[string]int{}
	d := xml.NewDecoder(bytes.NewReader(doc))
	var stack []string // the data-kind or "legend:KEY" of each open element
	var texts []string // the texts of the legend entry being read
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
			if n := len(stack); n > 0 && stack[n-1] != "" && !strings.HasPrefix(stack[n-1], "legend:") {
				marks[stack[n-1]]++
			}
			tag := ""
			for _, a := range e.Attr {
				switch a.Name.Local {
				case "data-kind":
					if e.Name.Local == "g" {
						tag = a.Value
					}
				case "data-legend":
					tag, texts = "legend:"+a.Value, nil
				}
			}
			if tag == "" && len(stack) > 0 && strings.HasPrefix(stack[len(stack)-1], "legend:") {
				tag = stack[len(stack)-1]
			}
			stack = append(stack, tag)
		case xml.CharData:
			if n := len(stack); n > 0 && strings.HasPrefix(stack[n-1], "legend:") && strings.TrimSpace(string(e)) != "" {
				texts = append(texts, string(e))
			}
		case xml.EndElement:
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if strings.HasPrefix(top, "legend:") && (len(stack) == 0 || stack[len(stack)-1] != top) {
				if n, ok := legendNumber(texts); ok {
					legend[strings.TrimPrefix(top, "legend:")] = n
				}
			}
		}
	}
	return legend, marks
}

// legendNumber is the count a legend entry shows: a text of its own (a
// time-sequence graph) or the number in parentheses ending its label (a
// hop chart: "answered (x: send time, y: RTT) (54)").
func legendNumber(texts []string) (int, bool) {
	var s string
	switch len(texts) {
	case 2:
		s = texts[1]
	case 1:
		i := strings.LastIndex(texts[0], " (")
		if i < 0 || !strings.HasSuffix(texts[0], ")") {
			return 0, false
		}
		s = texts[0][i+2 : len(texts[0])-1]
	default:
		return 0, false
	}
	n, err := strconv.Atoi(strings.ReplaceAll(s, ",", ""))
	return n, err == nil
}

// TestPcapPlotTruth: pcap analyze --plot draws the worst flows of a
// capture whose every segment kind is known (KindsScenario, three
// connections in a VXLAN tunnel, the third clean), one SVG per direction
// with data; each SVG is well-formed XML, its legend counts equal the
// report's counts of that flow and direction, and each kind present has
// marks.
func TestPcapPlotTruth(t *testing.T) {
	dir := t.TempDir()
	g := capturetest.NewGen(t, layers.LinkTypeEthernet)
	a, b := netip.MustParseAddr("198.18.10.1"), netip.MustParseAddr("198.18.10.2")
	for i := range 3 {
		c := capturetest.NewConv(g, "198.18.0.1:"+strconv.Itoa(40000+i), "198.18.1.1:5201")
		c.Encap = []capturetest.Spec{{Kind: "vxlan", ID: 42, Src: a, Dst: b}}
		c.EncapBack = []capturetest.Spec{{Kind: "vxlan", ID: 42, Src: b, Dst: a}}
		c.Offset = time.Duration(i) * 2 * time.Second
		if i < 2 {
			capturetest.KindsScenario(c)
			continue
		}
		c.Handshake(0, time.Millisecond)
		c.Deliver(c.Receiver(1), 2*time.Millisecond, 100*time.Microsecond, c.SendData(0, 2*time.Millisecond, 100*time.Microsecond, 5, 1000))
	}
	file := filepath.Join(dir, "kinds.pcap")
	if err := os.WriteFile(file, g.Pcap(), 0o644); err != nil {
		t.Fatal(err)
	}
	plots := filepath.Join(dir, "plots")
	code, out, errOut := runPcapArgs(t, nil, false, "pcap", "analyze", "--json", "--plot", plots, "--plot-flows", "2", file)
	if code != exitOK && code != exitFindings {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	names, err := filepath.Glob(filepath.Join(plots, "*.svg"))
	if err != nil || len(names) != 2 {
		t.Fatalf("plots %v (%v), want the client's data of the two worst flows; stderr:\n%s", names, err, errOut)
	}
	for rank, f := range rep.Captures[0].Flows[:2] {
		c, _ := netip.ParseAddrPort(f.Client)
		s, _ := netip.ParseAddrPort(f.Server)
		name := strconv.Itoa(rank+1) + "-" + c.Addr().String() + "." + strconv.Itoa(int(c.Port())) + "-" +
			s.Addr().String() + "." + strconv.Itoa(int(s.Port())) + "-client-data.svg"
		doc, err := os.ReadFile(filepath.Join(plots, name))
		if err != nil {
			t.Fatalf("%v; plots %v", err, names)
		}
		if !strings.Contains(errOut, "wrote "+filepath.Join(plots, name)) {
			t.Errorf("stderr does not name %s:\n%s", name, errOut)
		}
		legend, marks := svgLegend(t, doc)
		d := f.Directions[0]
		rtx := legend["rtx-timeout"] + legend["rtx-fast"] + legend["spurious"]
		if uint64(rtx) != d.RetransmittedPackets || uint64(legend["spurious"]) != d.SpuriousRetransmissions ||
			uint64(legend["reordered"]) != d.ReorderedPackets || uint64(legend["capture-dup"]) != d.CaptureDuplicates ||
			uint64(legend["dsack"]) != rep.Captures[0].Flows[rank].Directions[1].DSACKs {
			t.Errorf("%s: legend %v; report: retransmitted %d, spurious %d, reordered %d, capture duplicates %d, D-SACKs %d",
				name, legend, d.RetransmittedPackets, d.SpuriousRetransmissions, d.ReorderedPackets, d.CaptureDuplicates,
				rep.Captures[0].Flows[rank].Directions[1].DSACKs)
		}
		// KindsScenario's truth, which the report holds too.
		for kind, n := range map[string]int{"rtx-timeout": 1, "rtx-fast": 2, "spurious": 2, "reordered": 3, "capture-dup": 1, "original": 198} {
			if legend[kind] != n {
				t.Errorf("%s: legend %s %d, want %d", name, kind, legend[kind], n)
			}
			if marks[kind] == 0 {
				t.Errorf("%s: no %s mark", name, kind)
			}
		}
		if (marks["lost"] > 0) != (d.LostBytes > 0) || d.LostBytes == 0 {
			t.Errorf("%s: lost ranges %d marks; report: %d bytes lost", name, marks["lost"], d.LostBytes)
		}
		if !bytes.Contains(doc, []byte("VXLAN VNI 42")) {
			t.Errorf("%s: the tunnel is not named", name)
		}
	}
}

// TestPcapPlotStdin: --plot refuses stdin with a message naming the fix.
func TestPcapPlotStdin(t *testing.T) {
	code, _, errOut := runPcapArgs(t, nil, false, "pcap", "analyze", "--plot", t.TempDir(), "-")
	if code != exitUsage || !strings.Contains(errOut, "tcpdump -w FILE") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// TestPcapPlotTime: --plot-time zooms each graph to its window: the
// legend counts what the engine recorded in that window, per kind; a
// window without data writes no file and says why; malformed windows are
// usage errors naming the form.
func TestPcapPlotTime(t *testing.T) {
	dir := t.TempDir()
	g := capturetest.NewGen(t, layers.LinkTypeEthernet)
	c := capturetest.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201")
	capturetest.KindsScenario(c)
	file := filepath.Join(dir, "kinds.pcap")
	if err := os.WriteFile(file, g.Pcap(), 0o644); err != nil {
		t.Fatal(err)
	}
	client, server := netip.MustParseAddrPort("198.18.0.1:40000"), netip.MustParseAddrPort("198.18.1.1:5201")
	res, err := capture.Analyze(t.Context(), bytes.NewReader(g.Pcap()), capture.Options{Record: []capture.FlowSpec{{A: client, B: server}}})
	if err != nil || len(res.Recorded) != 1 {
		t.Fatalf("recording: %v, %d flows", err, len(res.Recorded))
	}
	segs := res.Recorded[0].Dir[0].Segments
	// The window: from the first retransmission to the end.
	var from time.Duration
	for _, s := range segs {
		if s.Kind != capture.SegOriginal {
			from = s.At
			break
		}
	}
	want := map[string]int{}
	for _, s := range segs {
		if s.At >= from {
			want[segmentKinds[s.Kind].String()] += int(max(s.Segs, 1))
		}
	}
	if from == 0 || want["original"] == 0 {
		t.Fatalf("no window to zoom to: from %v, %v", from, want)
	}

	plots := filepath.Join(dir, "zoom")
	code, _, errOut := runPcapArgs(t, nil, false, "pcap", "analyze", "--plot", plots, "--plot-time", from.String()+":", file)
	if code != exitOK && code != exitFindings {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	doc, err := os.ReadFile(filepath.Join(plots, "1-198.18.0.1.40000-198.18.1.1.5201-client-data.svg"))
	if err != nil {
		t.Fatalf("%v; stderr:\n%s", err, errOut)
	}
	legend, _ := svgLegend(t, doc)
	for kind, n := range want {
		if legend[kind] != n {
			t.Errorf("legend %s %d, want %d recorded from %v on (legend %v)", kind, legend[kind], n, from, legend)
		}
	}
	if !bytes.Contains(doc, []byte("zoomed to")) {
		t.Error("the caption does not say the graph is zoomed")
	}

	empty := filepath.Join(dir, "empty")
	code, _, errOut = runPcapArgs(t, nil, false, "pcap", "analyze", "--plot", empty, "--plot-time", "1h:2h", file)
	if code != exitOK && code != exitFindings || !strings.Contains(errOut, "no data segment within --plot-time 1h:2h") {
		t.Errorf("empty window: exit %d, stderr:\n%s", code, errOut)
	}
	if names, _ := filepath.Glob(filepath.Join(empty, "*.svg")); len(names) != 0 {
		t.Errorf("empty window wrote %v", names)
	}

	for _, bad := range [][]string{
		{"--plot", dir, "--plot-time", "1s"},
		{"--plot", dir, "--plot-time", "2s:1s"},
		{"--plot", dir, "--plot-time", "x:"},
		{"--plot", dir, "--plot-time", "-1s:"},
		{"--plot-time", "1s:2s"},
	} {
		code, _, errOut := runPcapArgs(t, nil, false, append(append([]string{"pcap", "analyze"}, bad...), file)...)
		if code != exitUsage || !strings.Contains(errOut, "--plot") {
			t.Errorf("%v: exit %d, stderr %q; want a usage error", bad, code, errOut)
		}
	}
}
