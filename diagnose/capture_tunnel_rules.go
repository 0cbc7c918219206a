package diagnose

import (
	"fmt"
	"strings"

	"github.com/netdx/netdx/capture"
	"github.com/netdx/netdx/report"
)

// Rules that say where reordering and loss happen around tunnels, and
// the hints that name a cause: size-ordered batching, path-MTU black
// holes.

const (
	capAttribMin      = 5    // attributed late segments
	capSizeOrderMin   = 10   // late segments compared by size
	capSizeOrderShare = 0.75 // of them on one side
	capPMTUMin        = 3    // retransmissions of a flow
	capPMTUShare      = 0.8  // full-size share of them
	capTunnelLossWarn = 0.001
	capSeqMinPackets  = 100
)

func init() { onFirstUse(registerCaptureTunnelRules) }

// registerCaptureTunnelRules registers this file's rules, on the catalog's first use.
func registerCaptureTunnelRules() {
	register(Rule{Name: "capture tunnel underlay order", Source: SourceCapture, Layer: LayerCapture, Check: checkUnderlayReorder}, Entry{
		ID: "capture.reordering_in_underlay", Title: "Tunnel packets reordered after encapsulation", Source: SourceCapture,
		Object: report.ObjectCapture,
		Layer:  LayerCapture, Severity: Warning,
		Explanation: "The tunnel's own outer sequence (WireGuard counter, ESP or GRE sequence number, or the outer " +
			"IPv4 ID the encapsulating host increments) is already out of order: the packets were reordered after " +
			"they were encapsulated, in the tunnel sender's transmit path or in the underlay network between the " +
			"endpoints. Reordering inside the tunnel is then only a consequence.",
		Thresholds: fmt.Sprintf("Fires when at least %d outer packets arrived out of their sequence (RFC 4737) and "+
			"%.1f%% of them, or when most late inner segments were late outside too (at least %d).",
			capReorderMin, capReorderWarn*100, capAttribMin),
		Remediation: "Look at the underlay between the outer endpoints: per-packet ECMP or LAG hashing (the outer " +
			"UDP source port of VXLAN and Geneve must stay constant per inner flow), bonding balance-rr, multi-path " +
			"links. `netdx trace` between the outer addresses shows the path.",
		Evidence:   []string{"tunnel", "sequence_source", "outer_reordered_packets", "outer_packets", "inner_late_underlay", "inner_late_before_encapsulation"},
		References: []string{"RFC 4737", "RFC 7348 section 5 (VXLAN source port entropy)"},
	})
	register(Rule{Name: "capture tunnel endpoint order", Source: SourceCapture, Layer: LayerCapture, Check: checkEndpointReorder}, Entry{
		ID: "capture.reordering_at_tunnel_endpoint", Title: "Packets reordered before encapsulation", Source: SourceCapture,
		Object: report.ObjectCapture,
		Layer:  LayerCapture, Severity: Warning,
		Explanation: "Inner segments arrived out of order although the tunnel's outer sequence is in order: the " +
			"encapsulating host received or queued them out of order and numbered them as they came. Where only the " +
			"inner packets are visible on the decapsulating side (a WireGuard interface), the receiving endpoint may " +
			"also have reordered them after decryption. Either way the underlay is not the cause.",
		Thresholds: fmt.Sprintf("Fires when at least %d late inner segments had an intact outer order and they are "+
			"most of those judged, or when a tunnel's outer counters show no reordering over %d packets while "+
			"unencapsulated flows in the same capture are reordered.", capAttribMin, capSeqMinPackets),
		Remediation: "On the tunnel endpoints: test with batching off (`ethtool -K DEV gro off gso off tso off`, for UDP " +
			"tunnels also `tx-udp-segmentation off`), spread flows with RPS/XPS consistently per flow, and upgrade " +
			"tunnel software that reorders its send or receive batches (wireguard-go, VPN clients).",
		Evidence: []string{"tunnel", "inner_late_before_encapsulation", "inner_late_underlay", "outer_reordered_packets", "inner_reordered_packets"},
	})
	register(Rule{Name: "capture size-ordered batching", Source: SourceCapture, Layer: LayerCapture, Check: checkSizeOrdered}, Entry{
		ID: "capture.size_ordered_reordering", Title: "Reordering follows packet size", Source: SourceCapture,
		Object: report.ObjectCapture,
		Layer:  LayerCapture, Severity: Warning,
		Explanation: "Reordered segments differ in size from the segments they were exchanged with, almost always the " +
			"same way: packets were released in size order instead of sequence order. A GSO/GRO batch flushed " +
			"smallest first (small segments overtake full-size ones) or a super-segment sent ahead of its small tail, " +
			"typically in a tunnel endpoint or a VPN client that batches.",
		Thresholds: fmt.Sprintf("Fires when at least %d late segments were compared and %.0f%% of them were larger "+
			"(or smaller) than the segment that overtook them.", capSizeOrderMin, capSizeOrderShare*100),
		Remediation: "Confirm on the batching host by turning segmentation offloads off for a test: `ethtool -K DEV gro " +
			"off gso off tso off tx-udp-segmentation off`. Keep them off on that device or upgrade the component that " +
			"flushes its batch by size.",
		Evidence: []string{"late_larger_than_overtaker", "late_smaller_than_overtaker", "late_same_size", "reordered_packets"},
	})
	register(Rule{Name: "capture path MTU", Source: SourceCapture, Layer: LayerCapture, Check: checkPMTU}, Entry{
		ID: "capture.pmtu_blackhole", Title: "Full-size segments do not get through", Source: SourceCapture,
		Object: report.ObjectCapture,
		Layer:  LayerCapture, Severity: Warning,
		Explanation: "Almost every retransmission of this flow is a full-size segment, and the same ranges are sent " +
			"again and again or after timeouts, while small segments get through: a link on the path has a smaller " +
			"MTU and its ICMP 'fragmentation needed' / 'packet too big' never reaches the sender — a path-MTU black " +
			"hole. Tunnels are the usual cause: their headers shrink the MTU inside.",
		Thresholds: fmt.Sprintf("Fires for a flow with at least %d retransmissions, %.0f%% of them full-size, when "+
			"at least half of them repeat a range already retransmitted and half follow timeouts; inside a tunnel, "+
			"when some repeat or half follow timeouts.", capPMTUMin, capPMTUShare*100),
		Remediation: "Clamp the MSS where the tunnel starts (`iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST " +
			"SYN -j TCPMSS --clamp-mss-to-pmtu`, or nft `tcp flags syn tcp option maxseg size set rt mtu`), set the " +
			"tunnel device's MTU to the underlay MTU less the tunnel overhead, let ICMP type 3 code 4 and ICMPv6 " +
			"type 2 through, and enable packetization-layer PMTU discovery on senders (net.ipv4.tcp_mtu_probing=1).",
		Evidence:   []string{"retransmitted_packets", "full_size_retransmissions", "repeated_retransmissions", "timeout_retransmissions", "mss", "tunnel_overhead_bytes"},
		References: []string{"RFC 2923 (TCP problems with path MTU discovery)", "RFC 4821 (PLPMTUD)"},
	})
	register(Rule{Name: "capture tunnel loss", Source: SourceCapture, Layer: LayerCapture, Check: checkTunnelLoss}, Entry{
		ID: "capture.tunnel_loss", Title: "Tunnel packets lost", Source: SourceCapture, Layer: LayerCapture,
		Object:   report.ObjectCapture,
		Severity: Warning,
		Explanation: "The tunnel's outer sequence (WireGuard counter, ESP or GRE sequence number) has gaps that were " +
			"never filled: encapsulated packets were lost between the tunnel sender and the capture point. The " +
			"payload is encrypted, but the counters do not lie.",
		Thresholds: fmt.Sprintf("Fires when a tunnel direction lost at least %.1f%% of its sequence numbers (and at least 3).", capTunnelLossWarn*100),
		Remediation: "Trace the underlay between the outer endpoints (`netdx trace OUTER-DST` from the tunnel sender) and " +
			"run `netdx diag` on both endpoints.",
		Evidence: []string{"tunnel", "sequence_source", "lost", "packets", "lost_percent"},
	})
	register(Rule{Name: "capture tunnel replays", Source: SourceCapture, Layer: LayerCapture, Check: checkTunnelReplays}, Entry{
		ID: "capture.tunnel_replays", Title: "Tunnel counters seen twice", Source: SourceCapture, Layer: LayerCapture,
		Object:   report.ObjectCapture,
		Severity: Warning,
		Explanation: "Outer sequence numbers that must be unique arrived twice, apart in time (not a capture duplicate): " +
			"the network duplicated packets (a bonded link in broadcast mode, a layer-2 loop, a mirror feeding back) " +
			"or someone replayed them. WireGuard and IPsec drop such packets as replays.",
		Thresholds: "Fires when any tunnel sequence number was replayed.",
		Remediation: "Look for duplication in the underlay: bonding mode broadcast, spanning-tree loops, port mirrors " +
			"injecting back into the network.",
		Evidence: []string{"tunnel", "sequence_source", "replays", "packets"},
	})
}

func tunnelDirName(t *capture.Tunnel, i int) string {
	a, b := t.A, t.B
	if i == 1 {
		a, b = b, a
	}
	return fmt.Sprintf("%s %s > %s", t.Kind, a, b)
}

func checkUnderlayReorder(in *Input) Outcome {
	return eachCapture(in, "no tunnel's outer order was disturbed", func(r *capture.Result, p *perCapture) {
		for _, t := range r.Tunnels {
			o := &t.Inner.Outer
			attributed := o.Underlay + o.BeforeEncap
			var seqReo, seqPk uint64
			src := ""
			for i := range t.Dir {
				if s := t.Dir[i].Seq; s != nil {
					seqReo += s.Reorder.Reordered
					seqPk += s.Reorder.Packets
					src = t.Dir[i].SeqSource
				}
			}
			bySeq := seqReo >= capReorderMin && float64(seqReo) >= capReorderWarn*float64(seqPk)
			byInner := o.Underlay >= capAttribMin && o.Underlay*2 > attributed
			if !bySeq && !byInner {
				continue
			}
			f := Finding{ID: "capture.reordering_in_underlay", Subject: captureSubject(r, report.TunnelID(t)),
				Evidence: []Evidence{Text("tunnel", report.TunnelID(t)), Text("sequence_source", src),
					Num("outer_reordered_packets", float64(seqReo), "packets"), Num("outer_packets", float64(seqPk), "packets"),
					Num("inner_late_underlay", float64(o.Underlay), "segments"),
					Num("inner_late_before_encapsulation", float64(o.BeforeEncap), "segments")},
				Fix: []string{fmt.Sprintf("netdx trace %s   # from %s: the underlay path between the endpoints", t.B, t.A),
					"check per-packet ECMP/LAG hashing and bonding balance-rr on that path"},
			}
			if bySeq {
				f.Summary = fmt.Sprintf("The tunnel's %s is already out of order (%d of %d outer packets late): the packets were reordered after encapsulation, in the sender's transmit path or the underlay.",
					src, seqReo, seqPk)
			} else {
				f.Summary = fmt.Sprintf("%d of %d late inner segments were late in the outer order too: reordered after encapsulation, by the underlay or the sender's transmit path.",
					o.Underlay, attributed)
			}
			p.add(f)
		}
	})
}

func checkEndpointReorder(in *Input) Outcome {
	return eachCapture(in, "no tunnel endpoint reordered", func(r *capture.Result, p *perCapture) {
		for _, t := range r.Tunnels {
			o := &t.Inner.Outer
			if o.BeforeEncap >= capAttribMin && o.BeforeEncap*2 > o.Underlay+o.BeforeEncap {
				p.add(Finding{ID: "capture.reordering_at_tunnel_endpoint",
					Subject: captureSubject(r, report.TunnelID(t)),
					Summary: fmt.Sprintf("%d of %d late inner segments kept their place in the outer order: they were already out of order when %s encapsulated them.",
						o.BeforeEncap, o.Underlay+o.BeforeEncap, t.A),
					Evidence: []Evidence{Text("tunnel", report.TunnelID(t)),
						Num("inner_late_before_encapsulation", float64(o.BeforeEncap), "segments"),
						Num("inner_late_underlay", float64(o.Underlay), "segments")},
					Fix: []string{"ethtool -K DEV gro off gso off tso off   # on " + t.A.String() + "'s receiving device, to test whether batching reorders",
						"make RPS/XPS steer each flow to one queue on " + t.A.String()},
				})
			}
		}
		// Counters in order outside, reordering inside: a capture holding
		// both the encrypted tunnel and the decrypted interface.
		var plainReo, plainPk uint64
		for _, f := range r.Flows {
			if f.Tunnel >= 0 {
				continue
			}
			for i := range f.Dir {
				if f.Dir[i].Reorder != nil {
					plainReo += f.Dir[i].Reorder.Reordered
					plainPk += f.Dir[i].Reorder.Packets
				}
			}
		}
		if plainReo < capReorderMin || float64(plainReo) < capReorderWarn*float64(plainPk) {
			return
		}
		for _, t := range r.Tunnels {
			if t.Kind != "wireguard" && t.Kind != "esp" {
				continue
			}
			var pk, reo uint64
			for i := range t.Dir {
				if s := t.Dir[i].Seq; s != nil {
					pk += s.Packets
					reo += s.Reorder.Reordered
				}
			}
			if pk < capSeqMinPackets || reo > 0 {
				continue
			}
			p.add(Finding{ID: "capture.reordering_at_tunnel_endpoint",
				Subject: captureSubject(r, report.TunnelID(t)),
				Summary: fmt.Sprintf("The %s tunnel's counters are in order over %d packets while %d of %d segments of the unencapsulated flows in this capture arrived out of order: the tunnel endpoints reorder (before encryption or after decryption), not the underlay.",
					t.Kind, pk, plainReo, plainPk),
				Evidence: []Evidence{Text("tunnel", report.TunnelID(t)), Num("outer_reordered_packets", 0, "packets"),
					Num("inner_reordered_packets", float64(plainReo), "segments")},
				Fix: []string{"ethtool -K DEV gro off gso off   # on the tunnel devices of " + t.A.String() + " and " + t.B.String() + ", to test",
					"upgrade the tunnel implementation (kernel WireGuard or wireguard-go) on both endpoints"},
				Notes: []string{"netdx cannot pair encrypted outer packets with inner ones; this compares the two orders as a whole."},
			})
		}
	})
}

func checkSizeOrdered(in *Input) Outcome {
	return eachCapture(in, "reordering does not follow packet size", func(r *capture.Result, p *perCapture) {
		reo := &r.Totals.Reorder
		n := reo.LateSmaller + reo.LateLarger + reo.LateSameSize
		if n < capSizeOrderMin {
			return
		}
		f := Finding{ID: "capture.size_ordered_reordering", Subject: captureSubject(r, ""),
			Evidence: []Evidence{Num("late_larger_than_overtaker", float64(reo.LateLarger), "segments"),
				Num("late_smaller_than_overtaker", float64(reo.LateSmaller), "segments"),
				Num("late_same_size", float64(reo.LateSameSize), "segments"),
				Num("reordered_packets", float64(reo.Reordered), "segments")},
			Fix: []string{"ethtool -K DEV gro off gso off tso off tx-udp-segmentation off   # on the batching host (tunnel endpoint), to confirm"},
		}
		switch {
		case float64(reo.LateLarger) >= capSizeOrderShare*float64(n):
			f.Summary = fmt.Sprintf("In %d of %d reorderings a smaller segment overtook a larger one: the batch was flushed smallest first (GSO/GRO segments sorted by size), not in sequence order.",
				reo.LateLarger, n)
		case float64(reo.LateSmaller) >= capSizeOrderShare*float64(n):
			f.Summary = fmt.Sprintf("In %d of %d reorderings a larger segment overtook a smaller one: full-size segments were released ahead of the small ones sent before them (a batch flushed largest first).",
				reo.LateSmaller, n)
		default:
			return
		}
		p.add(f)
	})
}

// tunnelOverhead is the bytes a tunnel layer adds in front of the inner IP
// packet.
func tunnelOverhead(es []capture.Encap) (int, string) {
	total := 0
	var names []string
	for _, e := range es {
		ip := 20
		if e.Src.Is6() {
			ip = 40
		}
		n := 0
		switch e.Kind {
		case "vxlan", "geneve":
			n = ip + 8 + 8 + 14
		case "gre":
			n = ip + 4
			if e.HasID {
				n += 4
			}
		case "erspan":
			n = ip + 8 + 8 + 14
		case "4in4", "6in4", "4in6", "6in6":
			n = ip
		}
		if n > 0 {
			total += n
			names = append(names, fmt.Sprintf("%s %d", e.Kind, n))
		}
	}
	return total, strings.Join(names, " + ")
}

func checkPMTU(in *Input) Outcome {
	return eachCapture(in, "no flow lost only its full-size segments", func(r *capture.Result, p *perCapture) {
		n := 0
		for _, fl := range r.Flows {
			for i := range fl.Dir {
				d := &fl.Dir[i]
				R := &d.Retransmission
				rtx := lossDriven(d)
				if rtx < capPMTUMin || float64(R.FullSize) < capPMTUShare*float64(R.Packets) || d.MSS == 0 {
					continue
				}
				// A bulk transfer retransmits full-size segments whatever the
				// cause; a black hole shows as the same segments failing
				// again after timeouts. Inside a tunnel less is needed.
				strong := R.Repeated*2 >= R.Packets && R.Timeout*2 >= R.Packets
				tunnel, _ := tunnelOverhead(fl.Encap)
				if !strong && (tunnel == 0 || R.Repeated == 0 && R.Timeout*2 < R.Packets) {
					continue
				}
				if n == capMaxFlowFindings {
					break
				}
				n++
				snd, _ := sideOf(fl, i)
				sndHost, _ := hostsOf(fl, i)
				over, parts := tunnelOverhead(fl.Encap)
				f := Finding{ID: "capture.pmtu_blackhole", Subject: captureSubject(r, report.FlowID(fl)),
					Summary: fmt.Sprintf("%d of %d retransmissions from %s were full-size (%d-byte payload), %d of them repeated and %d after timeouts: full-size packets do not get through.",
						R.FullSize, R.Packets, snd, d.MSS, R.Repeated, R.Timeout),
					Evidence: []Evidence{Num("retransmitted_packets", float64(R.Packets), "segments"),
						Num("full_size_retransmissions", float64(R.FullSize), "segments"),
						Num("repeated_retransmissions", float64(R.Repeated), "segments"),
						Num("timeout_retransmissions", float64(R.Timeout), "segments"),
						Num("mss", float64(d.MSS), "bytes"), Num("tunnel_overhead_bytes", float64(over), "bytes")},
				}
				clamp := "iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu   # on the router or host where the MTU shrinks"
				if over > 0 {
					f.Explanation = fmt.Sprintf("The flow runs inside a tunnel (%s bytes of headers): its full-size segments are %d bytes too large for a 1500-byte underlay unless the tunnel MTU and the MSS account for them.", parts, over)
					f.Fix = []string{clamp,
						fmt.Sprintf("iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss %d   # or a fixed MSS: 1460 less the %d-byte overhead", 1460-over, over),
						fmt.Sprintf("ip link set dev TUNNEL-DEV mtu %d   # the tunnel device: 1500 less the overhead", 1500-over)}
				} else {
					f.Fix = []string{clamp}
					f.Notes = append(f.Notes, "No tunnel is visible in the capture: look for one, or a smaller-MTU link, further along the path.")
				}
				f.Fix = append(f.Fix, "sysctl -w net.ipv4.tcp_mtu_probing=1   # on "+sndHost+": find the MTU without ICMP",
					"allow ICMP type 3 code 4 and ICMPv6 type 2 (packet too big) through the firewalls on the path")
				p.add(f)
			}
		}
	})
}

func checkTunnelLoss(in *Input) Outcome {
	return eachCapture(in, "no tunnel sequence gaps", func(r *capture.Result, p *perCapture) {
		for _, t := range r.Tunnels {
			for i := range t.Dir {
				s := t.Dir[i].Seq
				if s == nil || s.Lost < 3 || float64(s.Lost) < capTunnelLossWarn*float64(s.Packets+s.Lost) {
					continue
				}
				dst := t.B
				if i == 1 {
					dst = t.A
				}
				p.add(Finding{ID: "capture.tunnel_loss", Subject: captureSubject(r, tunnelDirName(t, i)),
					Summary: fmt.Sprintf("%s: %d of %d %s values never arrived (%.2f%%): encapsulated packets were lost before the capture point.",
						tunnelDirName(t, i), s.Lost, s.Packets+s.Lost, t.Dir[i].SeqSource, pct(s.Lost, s.Packets+s.Lost)),
					Evidence: []Evidence{Text("tunnel", report.TunnelID(t)), Text("sequence_source", t.Dir[i].SeqSource),
						Num("lost", float64(s.Lost), "packets"), Num("packets", float64(s.Packets), "packets"),
						Num("lost_percent", pct(s.Lost, s.Packets+s.Lost), "percent")},
					Fix: []string{fmt.Sprintf("netdx trace %s   # from the tunnel sender: the underlay path", dst),
						"netdx diag   # on both tunnel endpoints"},
				})
			}
		}
	})
}

func checkTunnelReplays(in *Input) Outcome {
	return eachCapture(in, "no tunnel sequence number seen twice", func(r *capture.Result, p *perCapture) {
		for _, t := range r.Tunnels {
			for i := range t.Dir {
				s := t.Dir[i].Seq
				if s == nil || s.Replays == 0 {
					continue
				}
				p.add(Finding{ID: "capture.tunnel_replays", Subject: captureSubject(r, tunnelDirName(t, i)),
					Summary: fmt.Sprintf("%s: %d %s values arrived a second time, apart in time: the network duplicated them or they were replayed; the receiver drops them.",
						tunnelDirName(t, i), s.Replays, t.Dir[i].SeqSource),
					Evidence: []Evidence{Text("tunnel", report.TunnelID(t)), Text("sequence_source", t.Dir[i].SeqSource),
						Num("replays", float64(s.Replays), "packets"), Num("packets", float64(s.Packets), "packets")},
				})
			}
		}
	})
}
