package diagnose

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/netdx/netdx/capture"
	"github.com/netdx/netdx/report"
)

// captureWith builds a capture result with one TCP flow whose client data
// direction is shaped by fn; the totals follow the flow.
func captureWith(fn func(f *capture.Flow)) *capture.Result {
	f := &capture.Flow{Proto: "tcp", Tunnel: -1,
		Client: netip.MustParseAddrPort("198.18.0.1:40000"), Server: netip.MustParseAddrPort("198.18.1.1:443")}
	f.Dir[0].Segments, f.Dir[0].DataPackets, f.Dir[0].MSS = 10000, 10000, 1448
	f.Dir[0].Reorder = &capture.Reorder{Packets: 10000}
	f.Dir[1].WindowScale = 7
	fn(f)
	r := &capture.Result{Name: "t.pcap", Packets: 20000, TCPPackets: 20000, Flows: []*capture.Flow{f}}
	for i := range f.Dir {
		d := f.Dir[i]
		addDir(&r.Totals.TCP, &d)
	}
	if r.Totals.TCP.Reorder != nil {
		r.Totals.Reorder = *r.Totals.TCP.Reorder
	}
	r.Totals.TCPFlows = 1
	return r
}

// addDir sums directions the way the engine does, for test inputs.
func addDir(t, d *capture.Direction) {
	t.Segments += d.Segments
	t.DataPackets += d.DataPackets
	t.Duplicates += d.Duplicates
	t.Retransmission.Packets += d.Retransmission.Packets
	t.Retransmission.Timeout += d.Retransmission.Timeout
	t.Retransmission.Fast += d.Retransmission.Fast
	t.Retransmission.Spurious += d.Retransmission.Spurious
	t.Retransmission.ByACK += d.Retransmission.ByACK
	t.Retransmission.AfterReordering += d.Retransmission.AfterReordering
	t.LostSegments += d.LostSegments
	t.NotCapturedSegments += d.NotCapturedSegments
	t.Outer.Underlay += d.Outer.Underlay
	t.Outer.BeforeEncap += d.Outer.BeforeEncap
	if d.Reorder != nil {
		if t.Reorder == nil {
			t.Reorder = &capture.Reorder{}
		}
		r := *d.Reorder
		t.Reorder.Packets += r.Packets
		t.Reorder.Reordered += r.Reordered
		t.Reorder.ExtentMax = max(t.Reorder.ExtentMax, r.ExtentMax)
		t.Reorder.ExtentSum += r.ExtentSum
		t.Reorder.LateSmaller += r.LateSmaller
		t.Reorder.LateLarger += r.LateLarger
		t.Reorder.LateSameSize += r.LateSameSize
		for i := range r.NReordering {
			t.Reorder.NReordering[i] += r.NReordering[i]
		}
	}
}

func findings(t *testing.T, rs ...*capture.Result) map[string][]Finding {
	t.Helper()
	fs, checks := Evaluate(&Input{Captures: rs})
	if len(checks) == 0 {
		t.Fatal("no checks ran")
	}
	out := map[string][]Finding{}
	for _, f := range fs {
		if f.Source != SourceCapture || f.Layer != LayerCapture || f.Explanation == "" {
			t.Errorf("%s: incomplete finding %+v", f.ID, f)
		}
		out[f.ID] = append(out[f.ID], f)
	}
	return out
}

func TestCaptureRetransmissionThresholds(t *testing.T) {
	for _, tc := range []struct {
		retrans, spurious uint64
		want              Severity
	}{
		{40, 0, 0},         // 0.4%: below
		{60, 0, Warning},   // 0.6%
		{400, 0, Critical}, // 4%
		{60, 20, 0},        // 0.4% once the spurious ones are left out
	} {
		r := captureWith(func(f *capture.Flow) {
			f.Dir[0].Retransmission = capture.Retransmission{Packets: tc.retrans, Fast: tc.retrans, Spurious: tc.spurious}
		})
		got := findings(t, r)["capture.retransmissions"]
		if tc.want == 0 {
			if len(got) != 0 {
				t.Errorf("%d retransmissions: unexpected finding %s", tc.retrans, got[0].Summary)
			}
			continue
		}
		if len(got) != 1 || got[0].Severity != tc.want || !strings.Contains(got[0].Fix[0], "netdx trace 198.18.1.1") {
			t.Errorf("%d retransmissions: %+v, want one %s", tc.retrans, got, tc.want)
		}
	}
}

func TestCaptureSpuriousAfterReordering(t *testing.T) {
	r := captureWith(func(f *capture.Flow) {
		f.Dir[0].Retransmission = capture.Retransmission{Packets: 10, Fast: 10, Spurious: 8, ByACK: 8, AfterReordering: 8}
		f.Dir[0].Reorder.Reordered = 30
		f.Dir[0].Reorder.ExtentMax, f.Dir[0].Reorder.ExtentSum = 6, 60
		f.Dir[0].Reorder.NReordering[5] = 30 // 6-reordered
	})
	fs := findings(t, r)
	sp := fs["capture.spurious_retransmissions"]
	if len(sp) != 1 {
		t.Fatalf("spurious findings %+v", sp)
	}
	fix := strings.Join(sp[0].Fix, "\n")
	for _, want := range []string{"net.ipv4.tcp_recovery=1", "net.ipv4.tcp_dsack=1", "net.ipv4.tcp_reordering=7", "on 198.18.0.1"} {
		if !strings.Contains(fix, want) {
			t.Errorf("fix %q lacks %q", fix, want)
		}
	}
	if len(fs["capture.reordering"]) != 1 {
		t.Errorf("reordering at 0.3%% should fire: %v", fs)
	}
}

func TestCaptureLossMissedDuplicates(t *testing.T) {
	drops := uint64(12)
	r := captureWith(func(f *capture.Flow) {
		f.Dir[0].LostSegments = 5
		f.Dir[0].NotCapturedSegments = 2
		f.Dir[0].Duplicates = 400
	})
	r.Interfaces = []capture.Interface{{LinkType: "Ethernet", Dropped: &drops}}
	fs := findings(t, r)
	for _, id := range []string{"capture.upstream_loss", "capture.capture_missed_packets", "capture.duplicate_frames"} {
		if len(fs[id]) != 1 {
			t.Errorf("%s: %d findings", id, len(fs[id]))
		}
	}
	if s := fs["capture.capture_missed_packets"]; len(s) == 1 && !strings.Contains(s[0].Summary, "12 packets dropped by the capture") {
		t.Errorf("summary %q", s[0].Summary)
	}
}

func TestCaptureWindows(t *testing.T) {
	r := captureWith(func(f *capture.Flow) {
		f.Dir[1].ZeroWindows, f.Dir[1].ZeroWindowTime = 9, 2*time.Second
	})
	fs := findings(t, r)
	if z := fs["capture.zero_window"]; len(z) != 1 || !strings.Contains(z[0].Summary, "198.18.1.1:443 advertised a zero window (9 packets)") {
		t.Errorf("zero window %+v", z)
	}
	r = captureWith(func(f *capture.Flow) {
		f.Dir[0].WindowFull = 2000
		f.Dir[1].WindowScale = 0
	})
	w := findings(t, r)["capture.receive_window_limited"]
	if len(w) != 1 || !strings.Contains(strings.Join(w[0].Fix, "\n"), "tcp_window_scaling=1   # on 198.18.1.1") {
		t.Errorf("window limited %+v", w)
	}
}

func TestCaptureSizeOrdered(t *testing.T) {
	for _, tc := range []struct {
		smaller, larger, same uint64
		want                  string
	}{
		{0, 40, 2, "smaller segment overtook a larger one"},
		{40, 0, 2, "larger segment overtook a smaller one"},
		{20, 20, 2, ""},
	} {
		r := captureWith(func(f *capture.Flow) {
			f.Dir[0].Reorder.Reordered = tc.smaller + tc.larger + tc.same
			f.Dir[0].Reorder.LateSmaller, f.Dir[0].Reorder.LateLarger, f.Dir[0].Reorder.LateSameSize = tc.smaller, tc.larger, tc.same
		})
		got := findings(t, r)["capture.size_ordered_reordering"]
		switch {
		case tc.want == "" && len(got) != 0:
			t.Errorf("mixed sizes: %s", got[0].Summary)
		case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0].Summary, tc.want)):
			t.Errorf("want %q, got %+v", tc.want, got)
		}
	}
}

func TestCapturePMTUBlackhole(t *testing.T) {
	vxlan := []capture.Encap{{Kind: "vxlan", ID: 5, HasID: true, Src: netip.MustParseAddr("198.18.10.1"), Dst: netip.MustParseAddr("198.18.10.2")}}
	for _, tc := range []struct {
		name                             string
		encap                            []capture.Encap
		packets, full, repeated, timeout uint64
		fire                             bool
	}{
		{"tunnel, full-size, repeated", vxlan, 10, 10, 2, 1, true},
		{"no tunnel, repeated after timeouts", nil, 10, 10, 6, 6, true},
		{"no tunnel, ordinary bulk loss", nil, 10, 10, 2, 4, false},
		{"tunnel, small segments", vxlan, 10, 5, 5, 5, false},
	} {
		r := captureWith(func(f *capture.Flow) {
			f.Encap = tc.encap
			f.Dir[0].Retransmission = capture.Retransmission{Packets: tc.packets, FullSize: tc.full, Repeated: tc.repeated,
				Timeout: tc.timeout, Fast: tc.packets - tc.timeout}
		})
		got := findings(t, r)["capture.pmtu_blackhole"]
		if (len(got) == 1) != tc.fire {
			t.Errorf("%s: %d findings, want fire %v", tc.name, len(got), tc.fire)
			continue
		}
		if tc.fire && tc.encap != nil {
			fix := strings.Join(got[0].Fix, "\n")
			if !strings.Contains(fix, "--set-mss 1410") || !strings.Contains(fix, "mtu 1450") || !strings.Contains(fix, "tcp_mtu_probing=1   # on 198.18.0.1") {
				t.Errorf("%s: fix %q", tc.name, fix)
			}
		}
	}
}

func tunnelResult(kind string, dirs ...capture.TunnelDir) *capture.Tunnel {
	t := &capture.Tunnel{Kind: kind, A: netip.MustParseAddr("198.18.20.1"), B: netip.MustParseAddr("198.18.20.2"), Parent: -1}
	copy(t.Dir[:], dirs)
	return t
}

func TestCaptureTunnelRules(t *testing.T) {
	wgSeq := func(packets, lost, reordered, replays uint64) capture.TunnelDir {
		return capture.TunnelDir{SeqSource: "wireguard counter", Packets: packets, Seq: &capture.SeqStats{Packets: packets,
			Lost: lost, Replays: replays, Reorder: capture.Reorder{Packets: packets, Reordered: reordered}}}
	}
	r := captureWith(func(*capture.Flow) {})
	r.Tunnels = []*capture.Tunnel{tunnelResult("wireguard", wgSeq(1000, 30, 50, 2))}
	fs := findings(t, r)
	for _, id := range []string{"capture.tunnel_loss", "capture.tunnel_replays", "capture.reordering_in_underlay"} {
		if len(fs[id]) != 1 {
			t.Errorf("%s: %d findings", id, len(fs[id]))
		}
	}
	if u := fs["capture.reordering_in_underlay"]; len(u) == 1 && !strings.Contains(u[0].Summary, "wireguard counter is already out of order (50 of 1000") {
		t.Errorf("underlay summary %q", u[0].Summary)
	}

	// Counters in order outside, unencapsulated flows reordered inside.
	r = captureWith(func(f *capture.Flow) { f.Dir[0].Reorder.Reordered = 40 })
	r.Tunnels = []*capture.Tunnel{tunnelResult("wireguard", wgSeq(1000, 0, 0, 0), wgSeq(800, 0, 0, 0))}
	if e := findings(t, r)["capture.reordering_at_tunnel_endpoint"]; len(e) != 1 || !strings.Contains(e[0].Summary, "counters are in order over 1800 packets") {
		t.Errorf("endpoint %+v", e)
	}

	// Inner late segments whose outer order was intact.
	r = captureWith(func(f *capture.Flow) { f.Dir[0].Reorder.Reordered = 12 })
	tun := tunnelResult("vxlan")
	tun.Inner.Outer = capture.Attribution{BeforeEncap: 10, Underlay: 2}
	r.Tunnels = []*capture.Tunnel{tun}
	fs = findings(t, r)
	if e := fs["capture.reordering_at_tunnel_endpoint"]; len(e) != 1 || !strings.Contains(e[0].Summary, "10 of 12 late inner segments kept their place") {
		t.Errorf("before encapsulation %+v", e)
	}
	if len(fs["capture.reordering_in_underlay"]) != 0 {
		t.Error("underlay finding without underlay evidence")
	}
}

func TestCaptureUndecoded(t *testing.T) {
	r := captureWith(func(*capture.Flow) {})
	r.Undecoded = []capture.Count{{Reason: "gre: unknown inner protocol", Packets: 500}}
	if u := findings(t, r)["capture.undecoded"]; len(u) != 1 || !strings.Contains(u[0].Evidence[2].Text, "gre: unknown inner protocol (500)") {
		t.Errorf("undecoded %+v", u)
	}
}

// A clean capture produces no finding and a health row per rule.
func TestCaptureClean(t *testing.T) {
	fs, checks := Evaluate(&Input{Captures: []*capture.Result{captureWith(func(*capture.Flow) {})}})
	if len(fs) != 0 {
		t.Errorf("findings on a clean capture: %+v", fs)
	}
	n := 0
	for _, c := range checks {
		if c.Source == SourceCapture {
			n++
			if c.Status != report.StatusOK {
				t.Errorf("check %s: %s", c.Name, c.Status)
			}
		}
	}
	if n < 15 {
		t.Errorf("%d capture checks", n)
	}
}

// Every capture finding ID is in the catalog with its remediation.
func TestCaptureCatalog(t *testing.T) {
	n := 0
	for _, e := range Entries() {
		if e.Source != SourceCapture {
			continue
		}
		n++
		if !strings.HasPrefix(e.ID, "capture.") || e.Remediation == "" || e.Thresholds == "" || len(e.Evidence) == 0 {
			t.Errorf("%s: incomplete entry", e.ID)
		}
	}
	if n < 15 {
		t.Errorf("%d capture entries", n)
	}
}
