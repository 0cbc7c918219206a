package diagnose

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/netdx/netdx/capture"
	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/probes"
	"github.com/netdx/netdx/report"
)

// tunnelHost is the healthy pair with a VXLAN interface whose GRO and GSO
// are on, and TCP counting reordering over the window.
func tunnelHost() (before, after *collectors.Snapshot) {
	b, a := healthyPair()
	for _, s := range []*collectors.Snapshot{b, a} {
		s.Links = append(s.Links, collectors.Link{Name: "vxlan0", Index: 7, Kind: "vxlan", MTU: 1450, OperState: "unknown",
			StatsSource: "netlink", Stats: map[string]uint64{"rx_packets": 1000, "tx_packets": 1000}})
		s.NICs["vxlan0"] = &collectors.NIC{Offloads: map[string]bool{"rx-gro": true, "tx-generic-segmentation": true}}
	}
	bump(a, "TcpExt", "TCPSACKReorder", 60)
	bump(a, "TcpExt", "TCPDSACKRecv", 25)
	return b, a
}

// reorderedCapture has one flow whose data arrived 1% out of order, most
// late segments larger than the ones that overtook them.
func reorderedCapture() *capture.Result {
	return captureWith(func(f *capture.Flow) {
		r := f.Dir[0].Reorder
		r.Reordered, r.ExtentMax, r.ExtentSum = 100, 4, 200
		r.LateLarger, r.LateSmaller = 80, 5
		r.NReordering[3] = 100 // 4-reordered
	})
}

// crossFindings evaluates in and returns the findings by ID.
func crossFindings(t *testing.T, in *Input) (map[string][]Finding, []report.Check) {
	t.Helper()
	fs, checks := Evaluate(in)
	out := map[string][]Finding{}
	for _, f := range fs {
		out[f.ID] = append(out[f.ID], f)
	}
	return out, checks
}

// subsumedBy checks that each finding of ids exists and points at parent.
func subsumedBy(t *testing.T, fs map[string][]Finding, parent Finding, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if len(fs[id]) == 0 {
			t.Errorf("no %s finding to fold", id)
			continue
		}
		for _, f := range fs[id] {
			if f.SubsumedBy == nil || *f.SubsumedBy != parent.Ref() {
				t.Errorf("%s %q subsumed by %v, want %v", id, f.Subject, f.SubsumedBy, parent.Ref())
			}
			if f.Severity > parent.Severity {
				t.Errorf("%s is %s, more severe than the %s that replaces it", id, f.Severity, parent.Severity)
			}
		}
		found := false
		for _, r := range parent.Related {
			found = found || r.ID == id
		}
		if !found {
			t.Errorf("%s not in related %v", id, parent.Related)
		}
	}
}

func TestCrossTunnelBatching(t *testing.T) {
	b, a := tunnelHost()
	fs, _ := crossFindings(t, &Input{Diag: collectors.NewWindow(b, a, testInterval), Captures: []*capture.Result{reorderedCapture()}})
	got := fs["cross.tunnel_batching_reordering"]
	if len(got) != 1 {
		t.Fatalf("want one tunnel batching finding, got %d", len(got))
	}
	f := got[0]
	if f.Subject != "vxlan0" || f.Source != SourceCross || f.Layer != LayerDriver {
		t.Errorf("subject %q source %s layer %s", f.Subject, f.Source, f.Layer)
	}
	for _, want := range []string{"63 reorder events in 10s", "25 D-SACKs", "t.pcap shows 100 of 10000 segments (1.0%)",
		"in size order (80 of 85", "this host's tunnel interface vxlan0 (vxlan, GRO/GSO) batches packets"} {
		if !strings.Contains(f.Summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, f.Summary)
		}
	}
	fix := strings.Join(f.Fix, "\n")
	for _, want := range []string{"ethtool -K vxlan0 gro off gso off tso off", "ethtool -K eth0 gro off",
		"net.ipv4.tcp_reordering=5"} {
		if !strings.Contains(fix, want) {
			t.Errorf("fix lacks %q:\n%s", want, fix)
		}
	}
	subsumedBy(t, fs, f, "tcp.reordering", "capture.reordering", "capture.size_ordered_reordering")
	// The rest of the report stands: subsumed findings sort last.
	all, _ := Evaluate(&Input{Diag: collectors.NewWindow(b, a, testInterval), Captures: []*capture.Result{reorderedCapture()}})
	seenSub := false
	for _, x := range all {
		if x.SubsumedBy != nil {
			seenSub = true
		} else if seenSub {
			t.Errorf("%s sorts after a subsumed finding", x.ID)
		}
	}
}

func TestCrossTunnelBatchingNotFired(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shape  func(b, a *collectors.Snapshot, r *capture.Result) *Input
		detail string
	}{
		{"no tunnel", func(b, a *collectors.Snapshot, r *capture.Result) *Input {
			a.Links, b.Links = a.Links[:2], b.Links[:2]
			return nil
		}, "no tunnel interface"},
		{"host counts no reordering", func(b, a *collectors.Snapshot, r *capture.Result) *Input {
			a.Netstat["TcpExt"]["TCPSACKReorder"] = b.Netstat["TcpExt"]["TCPSACKReorder"]
			a.Netstat["TcpExt"]["TCPDSACKRecv"] = b.Netstat["TcpExt"]["TCPDSACKRecv"]
			return nil
		}, "0 reorder events and 0 D-SACKs"},
		{"reordered in the underlay", func(b, a *collectors.Snapshot, r *capture.Result) *Input {
			r.Totals.TCP.Outer.Underlay = 40
			return nil
		}, "places the reordering in the underlay"},
		{"nothing batches", func(b, a *collectors.Snapshot, r *capture.Result) *Input {
			for _, s := range []*collectors.Snapshot{b, a} {
				s.NICs["vxlan0"].Offloads = map[string]bool{}
				s.NICs["eth0"].Offloads = map[string]bool{}
			}
			return nil
		}, "batch nothing"},
		{"since boot", func(b, a *collectors.Snapshot, r *capture.Result) *Input {
			return &Input{Diag: collectors.NewWindow(nil, a, 0), Captures: []*capture.Result{r}}
		}, "needs two host samples"},
		{"no capture", func(b, a *collectors.Snapshot, r *capture.Result) *Input {
			return &Input{Diag: collectors.NewWindow(b, a, testInterval), Traces: []*probes.Trace{{}}}
		}, "needs the host (diag) and a capture (--pcap)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, a := tunnelHost()
			r := reorderedCapture()
			in := tc.shape(b, a, r)
			if in == nil {
				in = &Input{Diag: collectors.NewWindow(b, a, testInterval), Captures: []*capture.Result{r}}
			}
			fs, checks := crossFindings(t, in)
			if len(fs["cross.tunnel_batching_reordering"]) != 0 {
				t.Fatalf("fired: %s", fs["cross.tunnel_batching_reordering"][0].Summary)
			}
			for _, c := range checks {
				if c.Name == "tunnel batching behind reordering" && !strings.Contains(c.Detail, tc.detail) {
					t.Errorf("check detail %q, want %q", c.Detail, tc.detail)
				}
			}
		})
	}
}

// pmtuCapture has one VXLAN flow whose full-size segments are retransmitted
// again and again after timeouts.
func pmtuCapture() *capture.Result {
	return captureWith(func(f *capture.Flow) {
		f.Encap = []capture.Encap{{Kind: "vxlan", ID: 42, HasID: true, Src: netip.MustParseAddr("198.18.10.1"), Dst: netip.MustParseAddr("198.18.10.2")}}
		f.Dir[0].Retransmission = capture.Retransmission{Packets: 12, Timeout: 10, Fast: 2, FullSize: 12, Repeated: 9}
	})
}

func TestCrossTunnelMTU(t *testing.T) {
	b, a := tunnelHost()
	for _, s := range []*collectors.Snapshot{b, a} {
		s.Links[len(s.Links)-1].MTU = 1500 // vxlan0 as large as eth0
	}
	fs, _ := crossFindings(t, &Input{Diag: collectors.NewWindow(b, a, testInterval), Captures: []*capture.Result{pmtuCapture()}})
	got := fs["cross.tunnel_mtu_blackhole"]
	if len(got) != 1 {
		t.Fatalf("want one tunnel MTU finding, got %v", got)
	}
	f := got[0]
	if f.Subject != "vxlan0" || !strings.Contains(f.Summary, "vxlan0 (vxlan) has MTU 1500 and needs 1550 bytes on the wire, more than eth0's MTU of 1500") {
		t.Errorf("finding %q: %s", f.Subject, f.Summary)
	}
	if !strings.Contains(strings.Join(f.Fix, "\n"), "ip link set dev vxlan0 mtu 1450") {
		t.Errorf("fix %q", f.Fix)
	}
	subsumedBy(t, fs, f, "capture.pmtu_blackhole")

	// A tunnel MTU that leaves room: the black hole is elsewhere.
	b, a = tunnelHost()
	fs, _ = crossFindings(t, &Input{Diag: collectors.NewWindow(b, a, testInterval), Captures: []*capture.Result{pmtuCapture()}})
	if len(fs["cross.tunnel_mtu_blackhole"]) != 0 || fs["capture.pmtu_blackhole"][0].SubsumedBy != nil {
		t.Errorf("a 1450-byte vxlan over 1500 blamed")
	}
}

func TestCrossRetransmitsFromPathLoss(t *testing.T) {
	tr := traceScenario(t, "forwarding_loss", 100)
	retransHost := func(localDrops bool) *Input {
		b, a := healthyPair()
		bump(a, "Tcp", "OutSegs", 100_000)
		bump(a, "Tcp", "RetransSegs", 3000)
		if localDrops {
			a.Qdiscs[0].Drops += 500
		}
		return &Input{Diag: collectors.NewWindow(b, a, testInterval), Traces: []*probes.Trace{tr}}
	}
	fs, _ := crossFindings(t, retransHost(false))
	got := fs["cross.retransmits_from_path_loss"]
	if len(got) != 1 {
		t.Fatalf("want one finding, got %v", got)
	}
	f := got[0]
	for _, want := range []string{"1.5% of its TCP segments (3050 of 200000 in 10s) without dropping any packet itself",
		"from hop 4 (198.18.4.2) on, between hop 3 (198.18.3.2) and that hop",
		"come from loss between hop 3 (198.18.3.2) and hop 4 (198.18.4.2), not from this host"} {
		if !strings.Contains(f.Summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, f.Summary)
		}
	}
	if f.Severity != Critical || f.Subject != "path to 198.18.5.2" {
		t.Errorf("severity %s subject %q (the forwarding loss it folds in is critical)", f.Severity, f.Subject)
	}
	subsumedBy(t, fs, f, "tcp.retransmits", "path.forwarding_loss")

	fs, _ = crossFindings(t, retransHost(true))
	f = fs["cross.retransmits_from_path_loss"][0]
	if !strings.Contains(f.Summary, "this host drops packets too (qdisc mq on eth0 dropped 500)") || !strings.Contains(f.Fix[0], "own drops first") {
		t.Errorf("local drops not named: %s / %q", f.Summary, f.Fix)
	}

	// Retransmissions below tcp.retransmits' gate: the path is not blamed.
	in := retransHost(false)
	in.Diag.After.Netstat["Tcp"]["RetransSegs"] = in.Diag.Before.Netstat["Tcp"]["RetransSegs"] + 50
	if fs, _ := crossFindings(t, in); len(fs["cross.retransmits_from_path_loss"]) != 0 {
		t.Error("0.05% retransmissions blamed on the path")
	}
	// A clean path explains nothing.
	in = retransHost(false)
	in.Traces = []*probes.Trace{traceScenario(t, "clean", 10)}
	if fs, _ := crossFindings(t, in); len(fs["cross.retransmits_from_path_loss"]) != 0 {
		t.Error("a clean path blamed")
	}
}

func TestCrossFlowLossOnPath(t *testing.T) {
	tr := traceScenario(t, "forwarding_loss", 100)
	lossy := func(server string) *capture.Result {
		return captureWith(func(f *capture.Flow) {
			f.Server = netip.MustParseAddrPort(server)
			f.Dir[0].Retransmission = capture.Retransmission{Packets: 300, Fast: 280, Timeout: 20}
		})
	}
	fs, _ := crossFindings(t, &Input{Captures: []*capture.Result{lossy("198.18.5.2:443")}, Traces: []*probes.Trace{tr}})
	got := fs["cross.flow_loss_on_path"]
	if len(got) != 1 {
		t.Fatalf("want one finding, got %v", got)
	}
	f := got[0]
	for _, want := range []string{"In t.pcap, the 1 flows with 198.18.5.2 retransmitted 300 of 10000 segments for loss",
		"the flows lose their packets between hop 3 (198.18.3.2) and hop 4 (198.18.4.2)"} {
		if !strings.Contains(f.Summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, f.Summary)
		}
	}
	if !strings.Contains(strings.Join(f.Fix, "\n"), "netdx trace --tcp --port 443 -c 200 198.18.5.2") {
		t.Errorf("fix %q", f.Fix)
	}
	subsumedBy(t, fs, f, "path.forwarding_loss", "capture.retransmissions")

	// Flows with another peer: the trace says nothing about them.
	fs, _ = crossFindings(t, &Input{Captures: []*capture.Result{lossy("198.18.1.1:443")}, Traces: []*probes.Trace{tr}})
	if len(fs["cross.flow_loss_on_path"]) != 0 {
		t.Error("loss to 198.18.1.1 blamed on the path to 198.18.5.2")
	}
	for _, x := range fs["capture.retransmissions"] {
		if x.SubsumedBy != nil {
			t.Error("unrelated capture finding folded")
		}
	}
}

// TestCrossRulesNeedTwoSources: one source alone runs no cross-source rule.
func TestCrossRulesNeedTwoSources(t *testing.T) {
	b, a := tunnelHost()
	for _, in := range []*Input{
		{Diag: collectors.NewWindow(b, a, testInterval)},
		{Captures: []*capture.Result{reorderedCapture()}},
	} {
		_, checks := Evaluate(in)
		for _, c := range checks {
			if c.Source == SourceCross {
				t.Errorf("cross rule %q ran on one source", c.Name)
			}
		}
	}
}

// TestCrossCatalog: every cross-source rule's findings are in the catalog
// under the cross source.
func TestCrossCatalog(t *testing.T) {
	n := 0
	for _, e := range Entries() {
		if e.Source == SourceCross {
			n++
			if !strings.HasPrefix(e.ID, "cross.") || e.Thresholds == "" || e.Remediation == "" || len(e.Evidence) == 0 {
				t.Errorf("incomplete cross entry %+v", e)
			}
		}
	}
	if n < 4 {
		t.Errorf("%d cross-source entries", n)
	}
}
