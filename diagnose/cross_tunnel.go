package diagnose

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/netdx/netdx/capture"
	"github.com/netdx/netdx/report"
)

// Cross-source rules about the host's tunnel interfaces: their batching
// offloads behind the reordering a capture measures, and their MTU behind
// a capture's path-MTU black hole.

// crossHostReorderMin is the reorder or D-SACK events the host's TCP must
// count over the window to corroborate a capture's reordering. It is
// lower than tcp.reordering's own gate: the capture already shows the
// reordering; the host only has to see it too.
const crossHostReorderMin = 5

// dsackCounters are the D-SACKs the host received and sent: duplicates
// that reordering (or loss recovery) made the sender resend.
var dsackCounters = []string{"TCPDSACKRecv", "TCPDSACKOfoRecv", "TCPDSACKOldSent", "TCPDSACKOfoSent"}

// tunnelHeaderBytes is the bytes each tunnel kind adds to the packets it
// carries over an IPv4 underlay (outer IP, UDP, tunnel header and, for
// layer-2 tunnels, the inner Ethernet header); an IPv6 underlay adds 20.
var tunnelHeaderBytes = map[string]int{"vxlan": 50, "geneve": 50, "gretap": 38, "gre": 24, "ip6gre": 44, "ipip": 20,
	"sit": 20, "ip6tnl": 40, "wireguard": 60, "bareudp": 28}

// batchingFeatures are the offloads that batch or split packets, by the
// name ethtool -k prints, with the label findings use.
var batchingFeatures = []struct{ key, label string }{{"rx-gro", "GRO"}, {"rx-gro-hw", "GRO-HW"}, {"rx-gro-list", "GRO-list"},
	{"rx-lro", "LRO"}, {"rx-udp-gro-forwarding", "UDP-GRO-forwarding"}, {"tx-generic-segmentation", "GSO"},
	{"tx-tcp-segmentation", "TSO"}, {"tx-udp-segmentation", "UDP-GSO"}}

func init() { onFirstUse(registerCrossTunnel) }

// registerCrossTunnel registers this file's rules, on the catalog's first use.
func registerCrossTunnel() {
	register(Rule{Name: "tunnel batching behind reordering", Source: SourceCross, Layer: LayerDriver, Cross: checkTunnelBatching}, Entry{
		ID: "cross.tunnel_batching_reordering", Title: "A tunnel endpoint's batching reorders the flows inside the tunnel",
		Object: report.ObjectCapture,
		Source: SourceCross, Layer: LayerDriver, Severity: Warning,
		Explanation: "Three views agree: the host's TCP counts reordering (reorder events and D-SACKs, the peers' proof of " +
			"needless retransmissions), a capture measures segments delivered out of order, and the host has tunnel " +
			"interfaces whose GRO/GSO offloads batch packets. A tunnel endpoint that merges packets into batches and " +
			"flushes or segments them out of sequence reorders every flow inside the tunnel; the receivers take the " +
			"gaps for loss, retransmit and cut their windows. One cause, three symptoms: this finding replaces the " +
			"per-source reordering findings it lists.",
		Thresholds: fmt.Sprintf("Needs the host over an interval and a capture. Fires when the host's TcpExt "+
			"TCPSACKReorder + TCPTSReorder + TCPRenoReorder, or its D-SACK counters (TCPDSACKRecv, TCPDSACKOfoRecv, "+
			"TCPDSACKOldSent, TCPDSACKOfoSent), grew by %d or more, a capture shows at least %d reordered segments "+
			"and %.1f%% of them, and a tunnel interface (vxlan, geneve, wireguard, gre, ipip, tun/tap...) is present "+
			"with batching offloads on it or on a hardware interface. Not when the capture places the reordering in "+
			"the underlay, after encapsulation (capture.reordering_in_underlay).", crossHostReorderMin, capReorderMin,
			capReorderWarn*100),
		Remediation: "Test with batching off on the tunnel (`ethtool -K DEV gro off gso off tso off`) and, as a test, " +
			"GRO on the underlay device; keep off only what stops the reordering, or upgrade the driver or tunnel " +
			"software that flushes out of order. Meanwhile let TCP tolerate it: RACK on (net.ipv4.tcp_recovery=1) and " +
			"net.ipv4.tcp_reordering raised to the deepest reordering the capture saw.",
		Evidence: []string{"TcpExt.TCPSACKReorder", "TcpExt.TCPTSReorder", "TcpExt.TCPRenoReorder", "TcpExt.TCPDSACKRecv", "TcpExt.TCPDSACKOfoRecv", "TcpExt.TCPDSACKOldSent", "TcpExt.TCPDSACKOfoSent",
			"CAPTURE: reordered_packets", "CAPTURE: reordered_percent", "CAPTURE: n_reordering_max",
			"CAPTURE: late_larger_than_overtaker", "tunnel interfaces", "underlay batching", "net.ipv4.tcp_reordering",
			"net.ipv4.tcp_recovery"},
		References: []string{"Documentation/networking/segmentation-offloads.rst", "RFC 8985 (RACK-TLP)",
			"Documentation/networking/ip-sysctl.rst: tcp_reordering, tcp_recovery"},
	})
	register(Rule{Name: "tunnel MTU behind a black hole", Source: SourceCross, Layer: LayerNIC, Cross: checkTunnelMTU}, Entry{
		ID: "cross.tunnel_mtu_blackhole", Title: "A tunnel's MTU leaves no room for its headers: full-size packets vanish",
		Object: report.ObjectCapture,
		Source: SourceCross, Layer: LayerNIC, Severity: Warning,
		Explanation: "A capture shows a path-MTU black hole (full-size segments retransmitted again and again while " +
			"small ones pass) and this host has a tunnel interface whose MTU plus the tunnel's own headers exceeds " +
			"the MTU of every hardware interface that could carry it. Full-size inner packets do not fit the " +
			"underlay once encapsulated; when the ICMP that should say so is lost or filtered, senders keep " +
			"sending packets that cannot arrive.",
		Thresholds: "Needs the host and a capture. Fires when a capture.pmtu_blackhole finding was made and a tunnel " +
			"interface's MTU + overhead (IPv4 underlay: vxlan and geneve 50 bytes, gretap 38, gre 24, ip6gre 44, ipip " +
			"and sit 20, ip6tnl 40, wireguard 60, bareudp 28) exceeds the largest MTU of the host's hardware " +
			"interfaces that are up.",
		Remediation: "Set the tunnel's MTU to the underlay MTU less the tunnel overhead (`ip link set dev DEV mtu N`), " +
			"clamp TCP's MSS to the path MTU where traffic enters the tunnel, and turn on packetization-layer PMTU " +
			"discovery on senders (net.ipv4.tcp_mtu_probing=1).",
		Evidence:   []string{"TUNNEL.mtu", "TUNNEL.mtu_on_the_wire", "underlay.mtu", "flows with a black hole"},
		References: []string{"RFC 2923 (TCP problems with path MTU discovery)", "RFC 4821 (PLPMTUD)", "RFC 7348 section 4.3 (VXLAN MTU)"},
	})
}

// hostTunnel is a tunnel interface of the host with the batching offloads
// on it.
type hostTunnel struct {
	name, kind string
	mtu        int
	batching   []string
}

func (t hostTunnel) String() string {
	s := t.name + " (" + t.kind
	if len(t.batching) > 0 {
		s += ", " + strings.Join(t.batching, "/")
	}
	return s + ")"
}

// hostTunnels lists the host's tunnel interfaces, by name.
func hostTunnels(s *sample) []hostTunnel {
	var out []hostTunnel
	for l := range s.links(isTunnel) {
		out = append(out, hostTunnel{name: l.Name, kind: l.Kind, mtu: l.MTU, batching: batchingOn(s, l.Name)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// batchingOn names the batching offloads active on an interface.
func batchingOn(s *sample, name string) []string {
	n := s.After.NICs[name]
	if n == nil {
		return nil
	}
	var on []string
	for _, f := range batchingFeatures {
		if n.Offloads[f.key] {
			on = append(on, f.label)
		}
	}
	return on
}

// hardware lists the host's hardware interfaces that are up, loopback
// left out: the devices a tunnel's packets leave by.
func hardware(s *sample) []string {
	var out []string
	for _, l := range s.After.Links {
		if l.Kind == "device" && l.Name != "lo" && l.OperState != "down" && l.MTU > 0 {
			out = append(out, l.Name)
		}
	}
	sort.Strings(out)
	return out
}

// fromCapture is a foundRefs filter for one capture's findings with one
// of ids.
func fromCapture(r *capture.Result, ids ...string) func(f *Finding) bool {
	id := hasID(ids...)
	return func(f *Finding) bool {
		return f.Source == SourceCapture && id(f) && (f.Subject == r.Name || strings.HasPrefix(f.Subject, r.Name+": "))
	}
}

// underlayReorder reports whether a capture places most of its inner
// reordering after encapsulation, in the underlay.
func underlayReorder(r *capture.Result) bool {
	o := &r.Totals.TCP.Outer
	return o.Underlay >= capAttribMin && o.Underlay > o.BeforeEncap
}

func checkTunnelBatching(in *Input, found Found) Outcome {
	s, why := hostRates(in, SourceCapture)
	if s == nil {
		return Outcome{NotChecked: why}
	}
	tunnels := hostTunnels(s)
	if len(tunnels) == 0 {
		return Outcome{Detail: "no tunnel interface on the host"}
	}
	reo := s.NetstatSum("TcpExt.TCP*Reorder", "TcpExt", reorderCounters...)
	dsack := s.NetstatSum("TcpExt.TCPDSACK*", "TcpExt", dsackCounters...)
	if reo.Delta < crossHostReorderMin && dsack.Delta < crossHostReorderMin {
		return Outcome{Detail: fmt.Sprintf("the host's TCP counted %d reorder events and %d D-SACKs %s", reo.Delta, dsack.Delta, s.window())}
	}
	var caps []*capture.Result
	var underlay []string
	for _, r := range in.Captures {
		t := &r.Totals.Reorder
		if t.Reordered < capReorderMin || t.Ratio() < capReorderWarn {
			continue
		}
		if underlayReorder(r) {
			underlay = append(underlay, r.Name)
			continue
		}
		caps = append(caps, r)
	}
	if len(caps) == 0 {
		if len(underlay) > 0 {
			return Outcome{Detail: fmt.Sprintf("%s places the reordering in the underlay, after encapsulation (capture.reordering_in_underlay), not in a batching endpoint", names(underlay))}
		}
		return Outcome{Detail: "no capture shows reordering"}
	}
	var batching, plain []string
	for _, t := range tunnels {
		if len(t.batching) > 0 {
			batching = append(batching, t.name)
		} else {
			plain = append(plain, t.name)
		}
	}
	var underlayOn []string
	for _, name := range hardware(s) {
		if on := batchingOn(s, name); len(on) > 0 {
			underlayOn = append(underlayOn, name+" "+strings.Join(on, "/"))
		}
	}
	if len(batching) == 0 && len(underlayOn) == 0 {
		return Outcome{Detail: fmt.Sprintf("tunnel interfaces %s batch nothing (no GRO/GSO read on them or on a hardware interface)", names(plain))}
	}

	var tunnelText []string
	var subject []string
	for _, t := range tunnels {
		tunnelText = append(tunnelText, t.String())
		subject = append(subject, t.name)
	}
	f := Finding{ID: "cross.tunnel_batching_reordering", Subject: names(subject)}
	for _, name := range append(slices.Clone(reorderCounters), dsackCounters...) {
		f.Evidence = append(f.Evidence, s.ev(s.Netstat("TcpExt", name)))
	}
	var seen []string
	deepest := 0
	for _, r := range caps {
		t := &r.Totals.Reorder
		deepest = max(deepest, maxN(t))
		what := fmt.Sprintf("%s shows %d of %d segments (%s) delivered out of order", r.Name, t.Reordered, t.Packets, fmtPct(t.Ratio()))
		sizeOrdered := false
		if judged := t.LateLarger + t.LateSmaller + t.LateSameSize; judged >= capSizeOrderMin && float64(t.LateLarger) >= capSizeOrderShare*float64(judged) {
			what += fmt.Sprintf(", in size order (%d of %d late segments were larger than the one that overtook them)", t.LateLarger, judged)
			sizeOrdered = true
		}
		if o := &r.Totals.TCP.Outer; o.BeforeEncap >= capAttribMin {
			what += fmt.Sprintf(", %d of them while the tunnel's outer order was intact (reordered before encapsulation)", o.BeforeEncap)
		}
		seen = append(seen, what)
		f.Evidence = append(f.Evidence,
			Num(r.Name+": reordered_packets", float64(t.Reordered), "packets"),
			Num(r.Name+": reordered_percent", report.Round(t.Ratio()*100, 4), "percent"),
			Num(r.Name+": n_reordering_max", float64(maxN(t)), "packets"))
		if sizeOrdered {
			f.Evidence = append(f.Evidence, Num(r.Name+": late_larger_than_overtaker", float64(t.LateLarger), "packets"))
		}
		f.Related = append(f.Related, found.refs(fromCapture(r, "capture.reordering", "capture.size_ordered_reordering",
			"capture.reordering_at_tunnel_endpoint", "capture.spurious_retransmissions"))...)
	}
	f.Evidence = append(f.Evidence, Text("tunnel interfaces", strings.Join(tunnelText, ", ")))
	if len(underlayOn) > 0 {
		f.Evidence = append(f.Evidence, Text("underlay batching", strings.Join(underlayOn, ", ")))
	}
	reorderEv, reordering, haveReordering := s.sysctl("net.ipv4.tcp_reordering")
	recEv, rec, haveRec := s.sysctl("net.ipv4.tcp_recovery")
	f.Evidence = append(f.Evidence, reorderEv, recEv)

	noun, verb := "tunnel interface", "batches"
	if len(tunnels) > 1 {
		noun, verb = "tunnel interfaces", "batch"
	}
	batchers := fmt.Sprintf("this host's %s %s %s packets", noun, names(tunnelText), verb)
	if len(batching) == 0 {
		batchers = fmt.Sprintf("this host's %s %s run over %s, which batches packets", noun, names(tunnelText), strings.Join(underlayOn, ", "))
	}
	f.Summary = fmt.Sprintf("Reordering seen three ways: TCP on this host counted %s and %s; %s; and %s. The tunnel endpoint's batching reorders the flows inside the tunnel.",
		s.amount(reo, "reorder events"), s.amount(dsack, "D-SACKs"), strings.Join(seen, "; "), batchers)
	for _, t := range tunnels {
		if len(t.batching) > 0 {
			f.Fix = append(f.Fix, fmt.Sprintf("ethtool -K %s gro off gso off tso off   # a test: does the reordering stop with %s's batching off?", t.name, t.name))
		}
	}
	for _, u := range underlayOn {
		dev := strings.Fields(u)[0]
		f.Fix = append(f.Fix, fmt.Sprintf("ethtool -K %s gro off   # a test only: GRO on the underlay merges the tunnel's packets before decapsulation", dev))
	}
	if haveRec && len(rec) == 1 && rec[0]&1 == 0 {
		f.Fix = append(f.Fix, "sysctl -w net.ipv4.tcp_recovery=1   # RACK: tell reordering from loss by time, not by duplicate ACKs")
	}
	if want := max(deepest+1, 3); !haveReordering || len(reordering) != 1 || int64(want) > reordering[0] {
		f.Fix = append(f.Fix, fmt.Sprintf("sysctl -w net.ipv4.tcp_reordering=%d   # the deepest reordering the capture saw (n-reordering %d) + 1", want, deepest))
	}
	f.Fix = append(f.Fix, "Persist what helps: /etc/sysctl.d/ for the sysctls, the interface's ethtool settings (systemd .link files, NetworkManager ethtool.* properties) for the offloads")
	f.Notes = append(f.Notes,
		"GRO and GSO save a lot of CPU: keep them off only where the test shows they reorder, or upgrade the kernel, driver or tunnel software that flushes its batches out of order.",
		"The host's counters cover all of its connections and the capture the flows it saw: check the capture was taken on this host's tunnel path.")
	f.Related = append(found.refs(hasID("tcp.reordering")), f.Related...)
	return Outcome{Findings: []Finding{f}}
}

func checkTunnelMTU(in *Input, found Found) Outcome {
	if why, ok := needs(in, SourceHost, SourceCapture); !ok {
		return Outcome{NotChecked: why}
	}
	if len(found.refs(hasID("capture.pmtu_blackhole"))) == 0 {
		return Outcome{Detail: "no capture shows a path-MTU black hole"}
	}
	s := newSample(in)
	if s == nil || s.After.Links == nil {
		return Outcome{NotChecked: "the host's interfaces were not read"}
	}
	underlay, underlayMTU := "", 0
	for _, name := range hardware(s) {
		if l := s.After.Link(name); l.MTU > underlayMTU {
			underlay, underlayMTU = name, l.MTU
		}
	}
	if underlayMTU == 0 {
		return Outcome{NotChecked: "no hardware interface is up"}
	}
	type tooBig struct {
		t    hostTunnel
		need int
	}
	var bad []tooBig
	var known []string
	for _, t := range hostTunnels(s) {
		oh, ok := tunnelHeaderBytes[t.kind]
		if !ok || t.mtu == 0 {
			continue
		}
		known = append(known, t.name)
		if t.mtu+oh > underlayMTU {
			bad = append(bad, tooBig{t, t.mtu + oh})
		}
	}
	if len(bad) == 0 {
		if len(known) == 0 {
			return Outcome{Detail: "no tunnel interface of a known overhead on the host"}
		}
		return Outcome{Detail: fmt.Sprintf("%s leave room for their headers within %s's MTU %d", names(known), underlay, underlayMTU)}
	}
	var subject, parts []string
	f := Finding{ID: "cross.tunnel_mtu_blackhole", Related: found.refs(hasID("capture.pmtu_blackhole"))}
	for _, b := range bad {
		oh := b.need - b.t.mtu
		subject = append(subject, b.t.name)
		parts = append(parts, fmt.Sprintf("%s (%s) has MTU %d and needs %d bytes on the wire", b.t.name, b.t.kind, b.t.mtu, b.need))
		f.Evidence = append(f.Evidence, Num(b.t.name+".mtu", float64(b.t.mtu), "bytes"),
			Num(b.t.name+".mtu_on_the_wire", float64(b.need), "bytes"))
		f.Fix = append(f.Fix, fmt.Sprintf("ip link set dev %s mtu %d   # %s's MTU %d less %d bytes of %s headers", b.t.name,
			underlayMTU-oh, underlay, underlayMTU, oh, b.t.kind))
	}
	var flows []string
	for _, r := range f.Related {
		flows = append(flows, r.Subject)
	}
	f.Evidence = append(f.Evidence, Num(underlay+".mtu", float64(underlayMTU), "bytes"), Text("flows with a black hole", names(flows)))
	f.Subject = names(subject)
	f.Summary = fmt.Sprintf("%s, more than %s's MTU of %d: full-size packets cannot cross the underlay once encapsulated, and the capture shows the black hole that leaves (%s).",
		strings.Join(parts, "; "), underlay, underlayMTU, names(flows))
	f.Fix = append(f.Fix,
		"iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu   # or nft: tcp flags syn tcp option maxseg size set rt mtu",
		"sysctl -w net.ipv4.tcp_mtu_probing=1   # on the senders: find the path MTU without ICMP")
	f.Notes = append(f.Notes, "Overheads assume an IPv4 underlay; over IPv6 each tunnel needs 20 bytes more (WireGuard's usual MTU of 1420 allows for that).")
	return Outcome{Findings: []Finding{f}}
}
