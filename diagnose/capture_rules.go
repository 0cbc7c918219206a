package diagnose

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/netdx/netdx/capture"
	"github.com/netdx/netdx/report"
)

// Rules over analysed captures: retransmission, loss, reordering and what
// the capture itself missed. Tunnel attribution and the hints that name a
// cause are in capture_tunnel_rules.go.

// Thresholds of the capture rules; docs/findings.md quotes them.
const (
	capRetransWarn     = 0.005 // share of data segments retransmitted (not counting spurious ones)
	capRetransCrit     = 0.03
	capRetransMin      = 5
	capReorderWarn     = 0.001 // RFC 4737 reordered ratio
	capReorderMin      = 5
	capLostMin         = 3
	capSpuriousMin     = 3
	capSpuriousShare   = 0.10 // of all retransmissions
	capZeroWindowMin   = 100 * time.Millisecond
	capWindowFullShare = 0.05
	capDuplicateShare  = 0.01
	capUndecodedShare  = 0.01
	capMaxFlowFindings = 3 // per capture and finding ID
)

func init() { onFirstUse(registerCaptureRules) }

// registerCaptureRules registers this file's rules, on the catalog's first use.
func registerCaptureRules() {
	register(Rule{Name: "capture retransmissions", Source: SourceCapture, Layer: LayerCapture, Check: checkCaptureRetrans}, Entry{
		ID: "capture.retransmissions", Title: "TCP segments retransmitted", Source: SourceCapture, Layer: LayerCapture,
		Object:   report.ObjectCapture,
		Severity: Warning,
		Explanation: "Senders in this capture sent data again because they believed it lost. Each fast retransmission " +
			"halves the congestion window; each timeout stalls the flow for at least the retransmission timeout " +
			"(200 ms minimum on Linux) and restarts it from one segment. Spurious retransmissions (the receiver " +
			"already had the data) are left out of the share that fires this finding: they have their own.",
		Thresholds: fmt.Sprintf("Fires when at least %d segments and %.1f%% of data segments were retransmitted without "+
			"being spurious; critical from %.0f%%. Counts are wire-size segments: a TSO/GSO frame counts as the "+
			"segments it becomes.", capRetransMin, capRetransWarn*100, capRetransCrit*100),
		Remediation: "Find where the loss happens: `netdx trace` towards the receiver from the sender's side shows the " +
			"hop where loss begins; `netdx diag` on both hosts shows NIC, ring, softnet and qdisc drops. Mostly " +
			"timeouts mean whole flights or their ACKs vanished (policers, buffer overflow on a bottleneck).",
		Evidence: []string{"retransmitted_packets", "retransmitted_bytes", "timeout_retransmissions",
			"fast_retransmissions", "spurious_retransmissions", "data_segments", "retransmitted_percent", "worst_flows"},
		References: []string{"RFC 6298 (retransmission timer)", "RFC 5681 (fast retransmit)", "RFC 8985 (RACK-TLP)"},
	})
	register(Rule{Name: "capture upstream loss", Source: SourceCapture, Layer: LayerCapture, Check: checkCaptureLoss}, Entry{
		ID: "capture.upstream_loss", Title: "Segments lost before the capture point", Source: SourceCapture, Layer: LayerCapture,
		Object:   report.ObjectCapture,
		Severity: Warning,
		Explanation: "Gaps in a sender's sequence that the original segment never filled: the capture saw later data, " +
			"then only a retransmission of the missing range, or nothing. The segments were lost between the " +
			"sender and the capture point. Gaps filled by the original arriving late are reordering, not loss; gaps " +
			"the receiver acknowledged are capture drops (capture.capture_missed_packets).",
		Thresholds: fmt.Sprintf("Fires when at least %d segments were lost upstream of the capture point.", capLostMin),
		Remediation: "Look between the sender and the capture point: `netdx diag` on the sender (NIC and qdisc drops), " +
			"`netdx trace` from the sender towards the capture point.",
		Evidence:   []string{"lost_segments", "lost_bytes", "worst_flows"},
		References: []string{"RFC 4737 section 4 (loss and reordering kept apart)"},
	})
	register(Rule{Name: "capture spurious retransmissions", Source: SourceCapture, Layer: LayerCapture, Check: checkCaptureSpurious}, Entry{
		ID: "capture.spurious_retransmissions", Title: "Retransmissions the receiver did not need", Source: SourceCapture,
		Object: report.ObjectCapture,
		Layer:  LayerCapture, Severity: Warning,
		Explanation: "These retransmissions carried data the receiver already had, proven by an ACK or SACK that " +
			"already covered it, by the receiver's D-SACK, or by the original arriving after all. Each one cost the " +
			"sender a congestion-window cut for nothing. After reordering it means the sender's reordering window is " +
			"narrower than the reordering on the path.",
		Thresholds: fmt.Sprintf("Fires when at least %d retransmissions and %.0f%% of all retransmissions were spurious.",
			capSpuriousMin, capSpuriousShare*100),
		Remediation: "On the sending host: keep RACK on with an adaptive window (net.ipv4.tcp_recovery=1, not 4) and " +
			"D-SACK on (net.ipv4.tcp_dsack=1) so RACK widens its window when it learns of spurious retransmissions; raise " +
			"net.ipv4.tcp_reordering to the reordering seen. Better: remove the reordering (capture.reordering).",
		Evidence: []string{"spurious_retransmissions", "retransmitted_packets", "spurious_by_ack", "spurious_by_dsack",
			"spurious_by_late_original", "spurious_after_reordering", "reordered_packets", "n_reordering_max"},
		References: []string{"RFC 2883 (D-SACK)", "RFC 8985 (RACK-TLP)", "Documentation/networking/ip-sysctl.rst: tcp_reordering, tcp_recovery"},
	})
	register(Rule{Name: "capture reordering", Source: SourceCapture, Layer: LayerCapture, Check: checkCaptureReorder}, Entry{
		ID: "capture.reordering", Title: "Packets delivered out of order", Source: SourceCapture, Layer: LayerCapture,
		Object:   report.ObjectCapture,
		Severity: Warning,
		Explanation: "Original segments arrived after segments sent later (RFC 4737). TCP reads three duplicate ACKs " +
			"or a RACK timer as loss, so reordering deeper than the sender's reordering window triggers spurious " +
			"retransmissions and window cuts although nothing was lost. netdx decides each out-of-order segment on " +
			"evidence (TCP timestamps, IPv4 IDs, timing against the round trip) and counts only late originals here.",
		Thresholds: fmt.Sprintf("Fires when at least %d segments and %.1f%% of original segments were reordered.",
			capReorderMin, capReorderWarn*100),
		Remediation: "Find the stage that reorders: per-packet load balancing (ECMP or LAG hashing per packet, bonding " +
			"balance-rr), multi-path tunnels, or a host that batches and flushes out of order (see the tunnel " +
			"attribution findings). Until then, let senders tolerate it (capture.spurious_retransmissions).",
		Evidence: []string{"reordered_packets", "reordered_percent", "extent_max", "extent_mean", "n_reordering_max",
			"late_ms_max", "density_early_1", "density_late_1", "worst_flows"},
		References: []string{"RFC 4737 (reordering metrics)", "RFC 5236 (reorder density)"},
	})
	register(Rule{Name: "capture completeness", Source: SourceCapture, Layer: LayerCapture, Check: checkCaptureMissed}, Entry{
		ID: "capture.capture_missed_packets", Title: "The capture missed packets", Source: SourceCapture, Layer: LayerCapture,
		Object:   report.ObjectCapture,
		Severity: Warning,
		Explanation: "The receiver acknowledged data that never appeared in the capture, or the capture file records " +
			"its own drops. The capture tool could not keep up (or the traffic took another path): these are not " +
			"network losses, and every count in this report is a lower bound for the missing stretch.",
		Thresholds: "Fires when any segment was acknowledged but not captured, or a pcapng interface statistics block reports drops.",
		Remediation: "Capture with a larger kernel buffer and less per packet: `tcpdump -i IFACE -B 65536 -s 128 -w FILE` " +
			"(128 bytes keep every header; netdx reads true lengths from the headers). Avoid `-i any` on busy hosts, " +
			"write to a fast disk or tmpfs, and filter to the flows you need.",
		Evidence: []string{"not_captured_segments", "not_captured_bytes", "capture_dropped_packets"},
	})
	register(Rule{Name: "capture duplicate frames", Source: SourceCapture, Layer: LayerCapture, Check: checkCaptureDuplicates}, Entry{
		ID: "capture.duplicate_frames", Title: "Frames captured twice", Source: SourceCapture, Layer: LayerCapture,
		Object:   report.ObjectCapture,
		Severity: Info,
		Explanation: "The same frame appears more than once within a moment (identical IP ID, sequence, ACK, window, " +
			"timestamps and SACK blocks): a SPAN port mirroring both directions, `tcpdump -i any` seeing a packet on a " +
			"veth and a bridge, or several taps merged. netdx counts such copies once and never as retransmissions; " +
			"tools without this check report them as retransmissions.",
		Thresholds:  fmt.Sprintf("Fires when capture duplicates are at least %.0f%% of TCP packets.", capDuplicateShare*100),
		Remediation: "Capture on one interface and one direction of the mirror; `editcap -d` removes duplicates for other tools.",
		Evidence:    []string{"capture_duplicates", "tcp_packets"},
	})
	register(Rule{Name: "capture receive windows", Source: SourceCapture, Layer: LayerCapture, Check: checkCaptureZeroWindow}, Entry{
		ID: "capture.zero_window", Title: "Receiver closed its window", Source: SourceCapture, Layer: LayerCapture,
		Object:   report.ObjectCapture,
		Severity: Warning,
		Explanation: "A receiver advertised a zero receive window: its socket buffer was full because the application " +
			"did not read fast enough. The sender can only probe until the window opens again; the network is not " +
			"the bottleneck.",
		Thresholds: fmt.Sprintf("Fires when a side's zero windows last %v or more in total.", capZeroWindowMin),
		Remediation: "Fix the receiving application's read loop (CPU, blocking work between reads). A larger " +
			"net.ipv4.tcp_rmem maximum only delays a slow reader.",
		Evidence: []string{"zero_windows", "zero_window_ms", "window_probes"},
	})
	register(Rule{Name: "capture window limits", Source: SourceCapture, Layer: LayerCapture, Check: checkCaptureWindowFull}, Entry{
		ID: "capture.receive_window_limited", Title: "Sender limited by the receive window", Source: SourceCapture,
		Object: report.ObjectCapture,
		Layer:  LayerCapture, Severity: Info,
		Explanation: "The sender repeatedly filled the window the receiver advertised: throughput is capped at " +
			"window / round trip, whatever the path could carry.",
		Thresholds: fmt.Sprintf("Fires when at least %.0f%% of a side's data segments filled the peer's window "+
			"(known only when the handshake was captured).", capWindowFullShare*100),
		Remediation: "On the receiver raise the buffer maximum to at least bandwidth x round trip " +
			"(`sysctl -w net.ipv4.tcp_rmem='4096 131072 16777216'`) and keep window scaling on " +
			"(net.ipv4.tcp_window_scaling=1).",
		Evidence: []string{"window_full", "data_packets", "window_scale", "rtt_ms"},
	})
	register(Rule{Name: "capture decoding", Source: SourceCapture, Layer: LayerCapture, Check: checkCaptureUndecoded}, Entry{
		ID: "capture.undecoded", Title: "Packets netdx could not decode", Source: SourceCapture, Layer: LayerCapture,
		Object:   report.ObjectCapture,
		Severity: Info,
		Explanation: "Some packets stopped decoding before their TCP or UDP header: damaged or truncated headers, " +
			"protocols netdx does not read, or tunnels on ports netdx does not know. They are left out of the flow " +
			"analysis.",
		Thresholds: fmt.Sprintf("Fires when at least %.0f%% of the packets were not decoded.", capUndecodedShare*100),
		Remediation: "If a tunnel runs on a non-standard UDP port, name it: --vxlan-port, --geneve-port, " +
			"--wireguard-port, --esp-port. If headers were cut by the snap length, capture with -s 128 or more.",
		Evidence: []string{"undecoded_packets", "packets", "reasons"},
	})
}

// captureSubject names a capture, or a flow or tunnel in it.
func captureSubject(r *capture.Result, what string) string {
	if what == "" {
		return r.Name
	}
	return r.Name + ": " + what
}

func pct(n, of uint64) float64 {
	if of == 0 {
		return 0
	}
	return report.Round(100*float64(n)/float64(of), 3)
}

// worstFlows names up to three flows by a count, worst first.
func worstFlows(r *capture.Result, count func(*capture.Flow) uint64) Evidence {
	type fc struct {
		f *capture.Flow
		n uint64
	}
	var fs []fc
	for _, f := range r.Flows {
		if n := count(f); n > 0 {
			fs = append(fs, fc{f, n})
		}
	}
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].n > fs[j].n })
	var parts []string
	for i, x := range fs {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(fs)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (%d)", report.FlowID(x.f), x.n))
	}
	return Text("worst_flows", strings.Join(parts, "; "))
}

func lossDriven(d *capture.Direction) uint64 {
	return d.Retransmission.Packets - min(d.Retransmission.Packets, d.Retransmission.Spurious)
}

func checkCaptureRetrans(in *Input) Outcome {
	return eachCapture(in, "", func(r *capture.Result, p *perCapture) {
		t := &r.Totals.TCP
		n := lossDriven(t)
		share := 0.0
		if t.Segments > 0 {
			share = float64(n) / float64(t.Segments)
		}
		p.saw(fmt.Sprintf("%s: %d of %d segments retransmitted", r.Name, t.Retransmission.Packets, t.Segments))
		if n < capRetransMin || share < capRetransWarn {
			return
		}
		R := &t.Retransmission
		f := Finding{ID: "capture.retransmissions", Subject: captureSubject(r, ""),
			Summary: fmt.Sprintf("%.2f%% of data segments were retransmitted for loss (%d of %d, leaving out %d spurious); of all %d retransmissions: %d after a timeout, %d fast.",
				share*100, n, t.Segments, R.Spurious, R.Packets, R.Timeout, R.Fast),
			Evidence: []Evidence{
				Num("retransmitted_packets", float64(R.Packets), "segments"),
				Num("retransmitted_bytes", float64(R.Bytes), "bytes"),
				Num("timeout_retransmissions", float64(R.Timeout), "segments"),
				Num("fast_retransmissions", float64(R.Fast), "segments"),
				Num("spurious_retransmissions", float64(R.Spurious), "segments"),
				Num("data_segments", float64(t.Segments), "segments"),
				Num("retransmitted_percent", report.Round(share*100, 3), "percent"),
				worstFlows(r, func(f *capture.Flow) uint64 { return lossDriven(&f.Dir[0]) + lossDriven(&f.Dir[1]) }),
			},
		}
		if share >= capRetransCrit {
			f.Severity = Critical
		}
		if w := worstFlow(r, func(f *capture.Flow) uint64 { return lossDriven(&f.Dir[0]) + lossDriven(&f.Dir[1]) }); w != nil {
			f.Fix = append(f.Fix,
				fmt.Sprintf("netdx trace %s   # from the sending side: where on the path loss begins", w.Server.Addr()),
				"netdx diag   # on both hosts: NIC, ring, softnet and qdisc drops")
		}
		if R.Timeout*2 > R.Packets {
			f.Notes = append(f.Notes, "Most retransmissions followed a timeout, not duplicate ACKs: whole flights or their ACKs were lost, typical of policers and overflowing buffers.")
		}
		f.Notes = append(f.Notes, "At a sender-side capture, loss after the capture point shows only as retransmissions; lost_segments counts loss before it.")
		p.add(f)
	})
}

// worstFlow is the flow with the highest count, nil when all are 0.
func worstFlow(r *capture.Result, count func(*capture.Flow) uint64) *capture.Flow {
	var best *capture.Flow
	var n uint64
	for _, f := range r.Flows {
		if c := count(f); c > n {
			best, n = f, c
		}
	}
	return best
}

func checkCaptureLoss(in *Input) Outcome {
	return eachCapture(in, "", func(r *capture.Result, p *perCapture) {
		t := &r.Totals.TCP
		p.saw(fmt.Sprintf("%s: %d segments lost before the capture point", r.Name, t.LostSegments))
		if t.LostSegments < capLostMin {
			return
		}
		count := func(f *capture.Flow) uint64 { return f.Dir[0].LostSegments + f.Dir[1].LostSegments }
		f := Finding{ID: "capture.upstream_loss", Subject: captureSubject(r, ""),
			Summary: fmt.Sprintf("%d segments (%d bytes) never reached the capture point: later data arrived and the gap was filled only by a retransmission, or never.",
				t.LostSegments, t.LostBytes),
			Evidence: []Evidence{Num("lost_segments", float64(t.LostSegments), "segments"),
				Num("lost_bytes", float64(t.LostBytes), "bytes"), worstFlows(r, count)},
		}
		if w := worstFlow(r, count); w != nil {
			from := w.Client.Addr()
			if w.Dir[1].LostSegments > w.Dir[0].LostSegments {
				from = w.Server.Addr()
			}
			f.Fix = append(f.Fix, fmt.Sprintf("netdx diag   # on %s, the sender: NIC and qdisc drops", from),
				fmt.Sprintf("netdx trace CAPTURE-HOST   # from %s: loss between the sender and the capture point", from))
		}
		p.add(f)
	})
}

// maxN is the largest n of RFC 4737 n-reordering seen.
func maxN(r *capture.Reorder) int {
	for i := len(r.NReordering) - 1; i >= 0; i-- {
		if r.NReordering[i] > 0 {
			return i + 1
		}
	}
	return 0
}

func checkCaptureSpurious(in *Input) Outcome {
	return eachCapture(in, "", func(r *capture.Result, p *perCapture) {
		t := &r.Totals.TCP
		R := &t.Retransmission
		p.saw(fmt.Sprintf("%s: %d of %d retransmissions spurious", r.Name, R.Spurious, R.Packets))
		if R.Spurious < capSpuriousMin || float64(R.Spurious) < capSpuriousShare*float64(R.Packets) {
			return
		}
		reo := &r.Totals.Reorder
		n := maxN(reo)
		f := Finding{ID: "capture.spurious_retransmissions", Subject: captureSubject(r, ""),
			Summary: fmt.Sprintf("%d of %d retransmissions were spurious: the receiver already had the data (%d proven by an ACK, %d by D-SACK, %d by the original arriving late); %d followed reordering.",
				R.Spurious, R.Packets, R.ByACK, R.ByDSACK, R.ByLateOriginal, R.AfterReordering),
			Evidence: []Evidence{
				Num("spurious_retransmissions", float64(R.Spurious), "segments"),
				Num("retransmitted_packets", float64(R.Packets), "segments"),
				Num("spurious_by_ack", float64(R.ByACK), "segments"),
				Num("spurious_by_dsack", float64(R.ByDSACK), "segments"),
				Num("spurious_by_late_original", float64(R.ByLateOriginal), "segments"),
				Num("spurious_after_reordering", float64(R.AfterReordering), "segments"),
				Num("reordered_packets", float64(reo.Reordered), "packets"),
				Num("n_reordering_max", float64(n), "packets"),
			},
		}
		sender := ""
		if w := worstFlow(r, func(f *capture.Flow) uint64 {
			return f.Dir[0].Retransmission.Spurious + f.Dir[1].Retransmission.Spurious
		}); w != nil {
			sender = w.Client.Addr().String()
			if w.Dir[1].Retransmission.Spurious > w.Dir[0].Retransmission.Spurious {
				sender = w.Server.Addr().String()
			}
			sender = " on " + sender
		}
		if R.AfterReordering > 0 || reo.Reordered > 0 {
			f.Explanation = "The spurious retransmissions follow reordering: the path delivered segments late, the " +
				"sender took the gap for loss within its reordering window, and retransmitted data that was only late."
			target := max(n+1, 3)
			f.Fix = []string{
				"sysctl -w net.ipv4.tcp_recovery=1   # " + strings.TrimPrefix(sender, " ") + ": RACK-TLP with an adaptive reordering window (4 would pin it)",
				"sysctl -w net.ipv4.tcp_dsack=1   # D-SACKs let RACK widen its window after spurious retransmissions",
				fmt.Sprintf("sysctl -w net.ipv4.tcp_reordering=%d   # the deepest reordering seen (n-reordering %d) + 1; default 3", target, n),
				"then remove the reordering itself (see capture.reordering)",
			}
			f.Notes = append(f.Notes, "These are sender settings"+sender+"; persist them in /etc/sysctl.d/.")
		} else {
			f.Explanation = "Without reordering in the capture, spurious retransmissions come from delay spikes longer " +
				"than the retransmission timeout, or from lost ACKs."
			f.Fix = []string{"netdx trace PEER   # look for latency spikes on the path", "netdx diag   # on the receiver: drops of outgoing ACKs"}
		}
		p.add(f)
	})
}

func reorderEvidence(reo *capture.Reorder) []Evidence {
	mean := 0.0
	lateMean := time.Duration(0)
	if reo.Reordered > 0 {
		mean = report.Round(float64(reo.ExtentSum)/float64(reo.Reordered), 3)
		lateMean = reo.LateTimeSum / time.Duration(reo.Reordered)
	}
	judged := uint64(0)
	for _, n := range reo.Density {
		judged += n
	}
	frac := func(d int) float64 {
		if judged == 0 {
			return 0
		}
		return report.Round(float64(reo.Density[d+capture.DensityThreshold])/float64(judged), 6)
	}
	return []Evidence{
		Num("reordered_packets", float64(reo.Reordered), "packets"),
		Num("reordered_percent", report.Round(reo.Ratio()*100, 4), "percent"),
		Num("extent_max", float64(reo.ExtentMax), "packets"),
		Num("extent_mean", mean, "packets"),
		Num("n_reordering_max", float64(maxN(reo)), "packets"),
		Num("late_ms_max", report.Millis(reo.LateTimeMax), "ms"),
		Num("late_ms_mean", report.Millis(lateMean), "ms"),
		Num("density_early_1", frac(-1), "fraction"),
		Num("density_late_1", frac(1), "fraction"),
	}
}

func checkCaptureReorder(in *Input) Outcome {
	return eachCapture(in, "", func(r *capture.Result, p *perCapture) {
		reo := &r.Totals.Reorder
		p.saw(fmt.Sprintf("%s: %d of %d segments reordered", r.Name, reo.Reordered, reo.Packets))
		if reo.Reordered < capReorderMin || reo.Ratio() < capReorderWarn {
			return
		}
		mean := float64(reo.ExtentSum) / float64(reo.Reordered)
		f := Finding{ID: "capture.reordering", Subject: captureSubject(r, ""),
			Summary: fmt.Sprintf("%.3f%% of original segments arrived out of order (RFC 4737: %d of %d), displaced up to %d packets (mean %.1f) and up to %s; none of them was lost.",
				reo.Ratio()*100, reo.Reordered, reo.Packets, reo.ExtentMax, mean, reo.LateTimeMax.Round(time.Microsecond)),
			Evidence: append(reorderEvidence(reo), worstFlows(r, func(f *capture.Flow) uint64 {
				var n uint64
				for i := range f.Dir {
					if f.Dir[i].Reorder != nil {
						n += f.Dir[i].Reorder.Reordered
					}
				}
				return n
			})),
			Fix: []string{
				"check per-packet load balancing on the path: ECMP or LAG hashing that is not per flow, bonding mode balance-rr",
				"check tunnel endpoints and batching hosts (see the tunnel attribution findings, if any)",
				"let senders tolerate it meanwhile: sysctl -w net.ipv4.tcp_recovery=1 (RACK) on the senders",
			},
		}
		t := &r.Totals.TCP
		if t.Outer.Underlay+t.Outer.BeforeEncap > 0 {
			f.Notes = append(f.Notes, fmt.Sprintf("Inside tunnels, %d late segments were also out of order outside (underlay) and %d were in order outside (reordered before encapsulation).",
				t.Outer.Underlay, t.Outer.BeforeEncap))
		}
		p.add(f)
	})
}

func checkCaptureMissed(in *Input) Outcome {
	return eachCapture(in, "every acknowledged segment was captured", func(r *capture.Result, p *perCapture) {
		t := &r.Totals.TCP
		var dropped uint64
		for _, i := range r.Interfaces {
			if i.Dropped != nil {
				dropped += *i.Dropped
			}
		}
		if t.NotCapturedSegments == 0 && dropped == 0 {
			return
		}
		summary := fmt.Sprintf("The capture missed packets: %d segments (%d bytes) were acknowledged by the receiver but never captured.",
			t.NotCapturedSegments, t.NotCapturedBytes)
		switch {
		case t.NotCapturedSegments == 0:
			summary = fmt.Sprintf("The capture missed packets: the file records %d packets dropped by the capture.", dropped)
		case dropped > 0:
			summary += fmt.Sprintf(" The file records %d packets dropped by the capture.", dropped)
		}
		f := Finding{ID: "capture.capture_missed_packets", Subject: captureSubject(r, ""), Summary: summary,
			Evidence: []Evidence{Num("not_captured_segments", float64(t.NotCapturedSegments), "segments"),
				Num("not_captured_bytes", float64(t.NotCapturedBytes), "bytes"),
				Num("capture_dropped_packets", float64(dropped), "packets")},
			Fix: []string{"tcpdump -i IFACE -B 65536 -s 128 -w FILE   # bigger buffer, headers only"},
		}
		p.add(f)
	})
}

func checkCaptureDuplicates(in *Input) Outcome {
	return eachCapture(in, "no duplicate frames worth noting", func(r *capture.Result, p *perCapture) {
		d := r.Totals.TCP.Duplicates
		if r.TCPPackets == 0 || float64(d) < capDuplicateShare*float64(r.TCPPackets) {
			return
		}
		p.add(Finding{ID: "capture.duplicate_frames", Subject: captureSubject(r, ""),
			Summary: fmt.Sprintf("%d TCP frames (%.1f%%) were captured twice; netdx counted each once and none as a retransmission.",
				d, pct(d, r.TCPPackets)),
			Evidence: []Evidence{Num("capture_duplicates", float64(d), "packets"), Num("tcp_packets", float64(r.TCPPackets), "packets")},
			Fix:      []string{"capture on one interface (not -i any) or one side of the mirror", "editcap -d IN OUT   # deduplicate for other tools"},
		})
	})
}

// hostsOf names the hosts (addresses without ports) of direction i.
func hostsOf(f *capture.Flow, i int) (from, to string) {
	if i == 0 {
		return f.Client.Addr().String(), f.Server.Addr().String()
	}
	return f.Server.Addr().String(), f.Client.Addr().String()
}

// sideOf names the sender of direction i of a flow.
func sideOf(f *capture.Flow, i int) (from, to string) {
	if i == 0 {
		return f.Client.String(), f.Server.String()
	}
	return f.Server.String(), f.Client.String()
}

func checkCaptureZeroWindow(in *Input) Outcome {
	return eachCapture(in, "no receiver closed its window for long", func(r *capture.Result, p *perCapture) {
		type hit struct {
			f *capture.Flow
			i int
		}
		var hits []hit
		for _, f := range r.Flows {
			for i := range f.Dir {
				if f.Dir[i].ZeroWindowTime >= capZeroWindowMin {
					hits = append(hits, hit{f, i})
				}
			}
		}
		sort.SliceStable(hits, func(a, b int) bool {
			return hits[a].f.Dir[hits[a].i].ZeroWindowTime > hits[b].f.Dir[hits[b].i].ZeroWindowTime
		})
		for k, h := range hits {
			if k == capMaxFlowFindings {
				break
			}
			d := &h.f.Dir[h.i]
			rcv, snd := sideOf(h.f, h.i)
			rcvHost, _ := hostsOf(h.f, h.i)
			peer := &h.f.Dir[1-h.i]
			f := Finding{ID: "capture.zero_window", Subject: captureSubject(r, report.FlowID(h.f)),
				Summary: fmt.Sprintf("%s advertised a zero window (%d packets), closed for %s in total: its application did not read what %s sent fast enough.",
					rcv, d.ZeroWindows, d.ZeroWindowTime.Round(time.Millisecond), snd),
				Evidence: []Evidence{Num("zero_windows", float64(d.ZeroWindows), "packets"),
					Num("zero_window_ms", report.Millis(d.ZeroWindowTime), "ms"), Num("window_probes", float64(peer.WindowProbes), "packets")},
				Fix: []string{"fix the application reading on " + rcv + " (host " + rcvHost + "): CPU, blocking work between reads"},
			}
			if len(hits) > capMaxFlowFindings && k == capMaxFlowFindings-1 {
				f.Notes = append(f.Notes, fmt.Sprintf("Other flows that closed their windows: %d.", len(hits)-capMaxFlowFindings))
			}
			p.add(f)
		}
	})
}

func checkCaptureWindowFull(in *Input) Outcome {
	return eachCapture(in, "no sender was held back by a receive window", func(r *capture.Result, p *perCapture) {
		n := 0
		for _, fl := range r.Flows {
			for i := range fl.Dir {
				d := &fl.Dir[i]
				if d.WindowFull < 10 || float64(d.WindowFull) < capWindowFullShare*float64(d.DataPackets) || n >= capMaxFlowFindings {
					continue
				}
				peer := &fl.Dir[1-i]
				if peer.ZeroWindowTime >= capZeroWindowMin {
					continue // the zero-window finding says more
				}
				n++
				snd, rcv := sideOf(fl, i)
				_, rcvHost := hostsOf(fl, i)
				f := Finding{ID: "capture.receive_window_limited", Subject: captureSubject(r, report.FlowID(fl)),
					Summary: fmt.Sprintf("%s filled the window %s advertised in %d of %d data segments: the receive window, not the path, capped throughput.",
						snd, rcv, d.WindowFull, d.DataPackets),
					Evidence: []Evidence{Num("window_full", float64(d.WindowFull), "packets"),
						Num("data_packets", float64(d.DataPackets), "packets"), Num("window_scale", float64(peer.WindowScale), "")},
					Fix: []string{"sysctl -w net.ipv4.tcp_rmem='4096 131072 16777216'   # on " + rcvHost + ": at least bandwidth x round trip"},
				}
				if h := fl.HandshakeRTT; h > 0 {
					f.Evidence = append(f.Evidence, Num("rtt_ms", report.Millis(h), "ms"))
				}
				if peer.WindowScale == 0 {
					f.Fix = append(f.Fix, "sysctl -w net.ipv4.tcp_window_scaling=1   # on "+rcvHost+": the handshake negotiated no window scaling, so the window stops at 64 KiB")
				}
				p.add(f)
			}
		}
	})
}

func checkCaptureUndecoded(in *Input) Outcome {
	return eachCapture(in, "packets decoded", func(r *capture.Result, p *perCapture) {
		var n uint64
		var reasons []string
		for _, u := range r.Undecoded {
			n += u.Packets
			if len(reasons) < 5 {
				reasons = append(reasons, fmt.Sprintf("%s (%d)", u.Reason, u.Packets))
			}
		}
		if r.Packets == 0 || float64(n) < capUndecodedShare*float64(r.Packets) {
			return
		}
		p.add(Finding{ID: "capture.undecoded", Subject: captureSubject(r, ""),
			Summary: fmt.Sprintf("%d of %d packets (%.1f%%) were not decoded down to TCP or UDP and are left out of the analysis.",
				n, r.Packets, pct(n, r.Packets)),
			Evidence: []Evidence{Num("undecoded_packets", float64(n), "packets"), Num("packets", float64(r.Packets), "packets"),
				Text("reasons", strings.Join(reasons, "; "))},
		})
	})
}
