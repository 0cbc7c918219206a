package diagnose

import (
	"fmt"
	"sort"
	"strings"

	"github.com/netdx/netdx/internal/promql"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/report"
)

// Thresholds of the TCP rules.
const (
	retransMinSegs          = 1000  // segments sent over the interval before the share is judged
	retransMinSegsSinceBoot = 10000 // the same, since boot
	retransWarnShare        = 0.01  // retransmitted share of segments sent (hotsos)
	retransCritShare        = 0.10
	synRetransMin           = 5    // handshake retransmissions over the interval
	synRetransMinRate       = 1    // per second
	reorderMinRate          = 1    // reorder events per second
	reorderDSACKShare       = 0.10 // DSACKs of retransmissions that make reordering costly
	rcvDropCritShare        = 0.01 // receive-buffer drops of segments received
	tcpMemCritShare         = 0.9  // of tcp_mem's maximum (netdata)
	orphanWarnShare         = 0.25 // of tcp_max_orphans (netdata)
	orphanCritShare         = 0.5
	localQueueMinRate       = 1    // held-back retransmissions per second
	localQueueWarnShare     = 0.01 // of Tcp.RetransSegs (hotsos)
)

// Alert expressions of the TCP rules, from the same thresholds.

// prefixed names counters of one netstat section.
func prefixed(section string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = section + "." + n
	}
	return out
}

func init() { onFirstUse(registerHostTcp) }

// registerHostTcp registers this file's rules, on the catalog's first use.
func registerHostTcp() {
	// The alerts' PromQL, built with the catalog, not at start-up.
	var (
		retransRatio = promql.NetstatIncrease("Tcp.RetransSegs") + "\n  / " + promql.NetstatIncrease("Tcp.OutSegs")
		retransGate  = promql.NetstatIncrease("Tcp.OutSegs") + " >= " + promql.Num(retransMinSegs)
		retransCrit  = retransRatio + " >= " + promql.Num(retransCritShare) + "\nand " + retransGate

		rcvDrops    = promql.NetstatIncrease(prefixed("TcpExt", rcvDropCounters)...)
		rcvDropCrit = fmt.Sprintf("%s >= %d\nand %s / %s >= %s\nand %s > 0", rcvDrops, minEvents, rcvDrops,
			promql.NetstatIncrease("Tcp.InSegs"), promql.Num(rcvDropCritShare), promql.NetstatIncrease("Tcp.InSegs"))

		tcpMemPages = fmt.Sprintf("max without (protocol) (%s)", promql.Sel(promql.MetricSockstatMem, promql.Eq("protocol", "TCP")))
		tcpMemHigh  = promql.SysctlValue("net.ipv4.tcp_mem", 2)
		tcpMemCrit  = fmt.Sprintf("(%s >= %s * %s and %s > 0)\nor (%s > 0 and %s and %s)", tcpMemPages, promql.Num(tcpMemCritShare), tcpMemHigh,
			tcpMemHigh, promql.NetstatIncrease("TcpExt.TCPAbortOnMemory"), tcpMemPages, tcpMemHigh)
		tcpMemWarn = fmt.Sprintf("%s >= %s\nor (%s > 0 and %s and %s)", tcpMemPages, promql.SysctlValue("net.ipv4.tcp_mem", 1),
			promql.NetstatIncrease("TcpExt.TCPMemoryPressures"), tcpMemPages, tcpMemHigh)

		orphanShare = fmt.Sprintf("max without (protocol, state) (%s) / %s", promql.Sel(promql.MetricSockstat, promql.Eq("protocol", "TCP"), promql.Eq("state", "orphan")),
			promql.SysctlValue("net.ipv4.tcp_max_orphans", 0))
		orphanCrit = fmt.Sprintf("%s > %s and %s > 0", orphanShare, promql.Num(orphanCritShare), promql.SysctlValue("net.ipv4.tcp_max_orphans", 0))
	)
	register(Rule{Name: "TCP retransmissions", Source: SourceHost, Layer: LayerTCP, Check: checkRetransmits}, Entry{
		ID: "tcp.retransmits", Title: "High TCP retransmission rate",
		Source: SourceHost, Layer: LayerTCP, Severity: Warning,
		Explanation: "A share of the TCP segments this host sent were retransmissions: segments lost somewhere " +
			"between this host's TCP stack and the peers', or acknowledgements lost on the way back. Every " +
			"retransmission costs at least a round trip, and a retransmission timeout (RTO) at least 200 ms.",
		Thresholds: "Per-namespace. Over the interval, with at least 1000 segments sent: Tcp.RetransSegs / " +
			"Tcp.OutSegs of 1% or more is a warning (hotsos), 10% or more critical. Since boot, with at least " +
			"10000 segments sent: 1% or more is information.",
		Remediation: "Find where the loss is: local drops (qdisc, NIC, softnet findings in this report), then the " +
			"path (`netdx trace PEER`). RTO timeouts rather than fast retransmits point to tail loss or a " +
			"path that loses whole windows.",
		Evidence: []string{"Tcp.RetransSegs", "Tcp.OutSegs", "TcpExt.TCPTimeouts", "TcpExt.TCPLostRetransmit",
			"TcpExt.TCPFastRetrans", "TcpExt.TCPSlowStartRetrans", "TcpExt.TCPLossProbes"},
		Alerts: []Alert{
			{Severity: Critical, For: forCounter, Expr: retransCrit},
			{Severity: Warning, For: forCounter, Expr: promql.Unless(retransRatio+" >= "+promql.Num(retransWarnShare)+"\nand "+retransGate, retransCrit)},
		},
	})
	register(Rule{Name: "TCP handshake retransmissions", Source: SourceHost, Layer: LayerTCP, Check: checkSynRetransmits}, Entry{
		ID: "tcp.syn_retransmits", Title: "SYNs or SYN-ACKs retransmitted",
		Source: SourceHost, Layer: LayerTCP, Severity: Warning,
		Explanation: "Connection handshakes had to be retried: this host's SYNs went unanswered, or its SYN-ACKs " +
			"were not acknowledged. The first retry comes after 1 s, so each one adds a second or more to a " +
			"connection's setup. Usual causes: a peer that drops SYNs (firewall, full accept or SYN queue on " +
			"the peer), a dead peer, or loss on the path.",
		Thresholds: "Per-namespace. Over the interval: TcpExt.TCPSynRetrans of 5 or more at above 1/s is a warning. " +
			"Since boot it is not judged (old timeouts are not evidence of a problem now).",
		Remediation: "Find which peers do not answer (`ss -tn state syn-sent`), then trace the path to them " +
			"(`netdx trace PEER`). net.ipv4.tcp_syn_retries and tcp_synack_retries decide how long a " +
			"handshake is retried before it fails.",
		Evidence: []string{"TcpExt.TCPSynRetrans", "Tcp.ActiveOpens", "Tcp.AttemptFails", "net.ipv4.tcp_syn_retries", "net.ipv4.tcp_synack_retries"},
		Alerts: []Alert{{Severity: Warning, For: forCounter, Expr: fmt.Sprintf("%s >= %d\nand %s > %s",
			promql.NetstatIncrease("TcpExt.TCPSynRetrans"), synRetransMin, promql.NetstatRate("TcpExt.TCPSynRetrans"), promql.Num(synRetransMinRate))}},
	})
	register(Rule{Name: "TCP reordering", Source: SourceHost, Layer: LayerTCP, Check: checkReordering}, Entry{
		ID: "tcp.reordering", Title: "Packets arrive out of order",
		Source: SourceHost, Layer: LayerTCP, Severity: Info,
		Explanation: "TCP detected reordering (SACK, timestamp or Reno heuristics). Reordering makes TCP " +
			"retransmit segments that were not lost (DSACKs then report the spurious copies) and shrink its " +
			"window. Tunnels whose endpoints batch with GRO/GSO, ECMP or bonding that spreads a flow over " +
			"links, and multi-queue forwarding all reorder.",
		Thresholds: "Per-namespace. Over the interval: 10 or more reorder events at above 1/s is information; a " +
			"warning when DSACKs (TcpExt.TCPDSACKRecv) also make up 10% or more of the retransmissions, i.e. " +
			"reordering is costing retransmissions.",
		Remediation: "Keep RACK loss detection on (net.ipv4.tcp_recovery=1): it tolerates reordering by time " +
			"rather than by duplicate ACK count. Raise net.ipv4.tcp_reordering (the initial threshold, 3) only " +
			"for known reordering paths. On tunnel endpoints, check the GRO/GSO offloads and the ECMP or bonding " +
			"hash.",
		Evidence: []string{"TcpExt.TCPSACKReorder", "TcpExt.TCPTSReorder", "TcpExt.TCPRenoReorder", "TcpExt.TCPDSACKRecv",
			"Tcp.RetransSegs", "net.ipv4.tcp_reordering", "net.ipv4.tcp_recovery", "tunnel interfaces and their offloads"},
		Alerts: []Alert{{Severity: Warning, For: forCounter, Expr: fmt.Sprintf("%s >= %d\nand %s > %s\nand %s >= %d\nand %s / %s >= %s\nand %s > 0",
			promql.NetstatIncrease(prefixed("TcpExt", reorderCounters)...), minEvents, promql.NetstatRate(prefixed("TcpExt", reorderCounters)...), promql.Num(reorderMinRate),
			promql.NetstatIncrease("TcpExt.TCPDSACKRecv"), minEvents, promql.NetstatIncrease("TcpExt.TCPDSACKRecv"), promql.NetstatIncrease("Tcp.RetransSegs"),
			promql.Num(reorderDSACKShare), promql.NetstatIncrease("Tcp.RetransSegs"))}},
	})
	register(Rule{Name: "TCP receive buffers", Source: SourceHost, Layer: LayerTCP, Check: checkRcvBufferDrops}, Entry{
		ID: "tcp.receive_buffer_drops", Title: "TCP dropped received data for lack of receive buffer",
		Object: report.ObjectConnection,
		Source: SourceHost, Layer: LayerTCP, Severity: Warning,
		Explanation: "TCP threw away segments it had received because a socket's receive buffer or the " +
			"protocol's memory was exhausted: TCPRcvQDrop (memory could not be charged), TCPBacklogDrop (the " +
			"socket's backlog overflowed while the application held it), TCPZeroWindowDrop (data into a zero " +
			"window: the application reads too slowly), RcvPruned/OfoPruned/TCPOFODrop (queues pruned under " +
			"memory pressure). The sender must retransmit every one.",
		Thresholds: "Per-namespace. Over the interval: 10 or more such drops is a warning; 1% or more of Tcp.InSegs " +
			"critical. Since boot: more than 500, or 1% or more of Tcp.InSegs, is information (hotsos).",
		Remediation: "Let autotuning grow buffers: raise the maximum of net.ipv4.tcp_rmem (and net.core.rmem_max " +
			"for applications that set SO_RCVBUF, which disables autotuning); if TCP memory is under pressure " +
			"raise net.ipv4.tcp_mem. Zero-window drops and backlog drops mean the application reads too slowly.",
		Evidence: []string{"TcpExt.TCPRcvQDrop", "TcpExt.TCPBacklogDrop", "TcpExt.TCPZeroWindowDrop", "TcpExt.RcvPruned",
			"TcpExt.OfoPruned", "TcpExt.TCPOFODrop", "TcpExt.PruneCalled", "net.ipv4.tcp_rmem", "net.core.rmem_max", "net.ipv4.tcp_mem"},
		Alerts: []Alert{
			{Severity: Critical, For: forCounter, Expr: rcvDropCrit},
			{Severity: Warning, For: forCounter, Expr: promql.Unless(fmt.Sprintf("%s >= %d", rcvDrops, minEvents), rcvDropCrit)},
		},
	})
	register(Rule{Name: "TCP memory", Source: SourceHost, Layer: LayerSocket, Check: checkTCPMemory}, Entry{
		ID: "tcp.memory_pressure", Title: "TCP memory under pressure or exhausted",
		Source: SourceHost, Layer: LayerSocket, Severity: Warning,
		Explanation: "All TCP sockets together hold more memory than net.ipv4.tcp_mem allows without pressure. " +
			"Above its second value the kernel shrinks buffers and prunes queues; at its third it refuses memory, " +
			"drops data and aborts connections (TCPAbortOnMemory). Host-global: all namespaces share it.",
		Thresholds: "Host-global. A warning when sockstat's TCP mem reaches tcp_mem's pressure value, or " +
			"TcpExt.TCPMemoryPressures grew (netdata's tcp_memory warns above pressure); critical at 90% of " +
			"tcp_mem's maximum (netdata) or when TcpExt.TCPAbortOnMemory grew.",
		Remediation: "Find the sockets holding memory (`ss -tm`: large Recv-Q or Send-Q), usually slow readers or " +
			"peers; raise net.ipv4.tcp_mem if the host has the RAM.",
		Evidence: []string{"sockstat TCP.mem (pages)", "net.ipv4.tcp_mem", "TcpExt.TCPMemoryPressures", "TcpExt.TCPAbortOnMemory"},
		Alerts: []Alert{
			{Severity: Critical, For: forLevel, Expr: tcpMemCrit},
			{Severity: Warning, For: forLevel, Expr: promql.Unless(tcpMemWarn, tcpMemCrit)},
		},
	})
	register(Rule{Name: "TCP orphans", Source: SourceHost, Layer: LayerSocket, Check: checkOrphans}, Entry{
		ID: "tcp.orphans", Title: "Many orphaned TCP sockets",
		Source: SourceHost, Layer: LayerSocket, Severity: Warning,
		Explanation: "Orphans are connections the application closed that the kernel still finishes (unsent " +
			"data, FIN handshake). Past net.ipv4.tcp_max_orphans the kernel resets them, and it penalises " +
			"orphans under memory pressure earlier than the limit.",
		Thresholds: "Host-global limit, per-namespace count. sockstat's TCP orphan above 25% of " +
			"tcp_max_orphans is a warning, above 50% critical (netdata's tcp_orphans).",
		Remediation: "Find what closes connections with unsent data or peers that never finish (`ss -to " +
			"state fin-wait-1`); lower net.ipv4.tcp_fin_timeout; raise net.ipv4.tcp_max_orphans if memory " +
			"allows (each orphan can hold up to 64 KB).",
		Evidence: []string{"sockstat TCP.orphan", "net.ipv4.tcp_max_orphans"},
		Alerts: []Alert{
			{Severity: Critical, For: forLevel, Expr: orphanCrit},
			{Severity: Warning, For: forLevel, Expr: promql.Unless(fmt.Sprintf("%s > %s and %s > 0", orphanShare, promql.Num(orphanWarnShare),
				promql.SysctlValue("net.ipv4.tcp_max_orphans", 0)), orphanCrit)},
		},
	})
	register(Rule{Name: "local queueing delay", Source: SourceHost, Layer: LayerQdisc, Check: checkLocalQueueDelay}, Entry{
		ID: "tcp.local_queue_delay", Title: "Retransmissions held back by local queues",
		Source: SourceHost, Layer: LayerQdisc, Severity: Info,
		Explanation: "TCP wanted to retransmit segments whose original copies were still waiting in this host's " +
			"own qdisc or driver queue (TcpExt.TCPSpuriousRtxHostQueues): the local queueing delay exceeds the " +
			"retransmission timeout. The latency is added on this host, not on the path.",
		Thresholds: "Per-namespace. Over the interval: 10 or more at above 1/s is information, a warning when it is " +
			"1% or more of Tcp.RetransSegs (hotsos). Since boot: more than 500 is information.",
		Remediation: "Shorten the transmit queues: a fair-queueing AQM qdisc (fq or fq_codel), a shorter " +
			"txqueuelen, and byte queue limits in the driver.",
		Evidence: []string{"TcpExt.TCPSpuriousRtxHostQueues", "Tcp.RetransSegs", "root qdiscs"},
		Alerts: []Alert{{Severity: Warning, For: forCounter, Expr: fmt.Sprintf("%s >= %d\nand %s > %s\nand %s / %s >= %s\nand %s > 0",
			promql.NetstatIncrease("TcpExt.TCPSpuriousRtxHostQueues"), minEvents, promql.NetstatRate("TcpExt.TCPSpuriousRtxHostQueues"), promql.Num(localQueueMinRate),
			promql.NetstatIncrease("TcpExt.TCPSpuriousRtxHostQueues"), promql.NetstatIncrease("Tcp.RetransSegs"), promql.Num(localQueueWarnShare),
			promql.NetstatIncrease("Tcp.RetransSegs"))}},
	})
}

func checkRetransmits(in *Input) Outcome {
	s := newSample(in)
	if !s.HasNetstat() {
		return Outcome{NotChecked: "netstat counters not read"}
	}
	re, out := s.Netstat("Tcp", "RetransSegs"), s.Netstat("Tcp", "OutSegs")
	if !re.OK || !out.OK {
		return Outcome{NotChecked: "Tcp.RetransSegs or Tcp.OutSegs absent"}
	}
	r := report.Ratio(re.Delta, out.Delta)
	minOut := uint64(retransMinSegs)
	if s.SinceBoot {
		minOut = retransMinSegsSinceBoot
	}
	judged := out.Delta >= minOut && r >= retransWarnShare
	sev := grade(
		info(judged && s.SinceBoot),
		critical(judged && r >= retransCritShare),
		warning(judged),
	)
	if sev == 0 {
		if out.Delta < minOut {
			return Outcome{Detail: fmt.Sprintf("%s segments sent %s, too few to judge", fmtCount(out.Delta), s.window())}
		}
		return Outcome{Detail: fmt.Sprintf("%s of segments retransmitted %s", fmtPct(r), s.window())}
	}
	rto := s.Netstat("TcpExt", "TCPTimeouts")
	f := Finding{ID: "tcp.retransmits", Severity: sev,
		Summary: fmt.Sprintf("%s of the TCP segments sent %s were retransmissions (%d of %d).", fmtPct(r), s.window(), re.Delta, out.Delta),
		Evidence: []Evidence{s.ev(re), s.ev(out), pctEvidence("retransmitted share", r), s.ev(rto),
			s.ev(s.Netstat("TcpExt", "TCPLostRetransmit")), s.ev(s.Netstat("TcpExt", "TCPFastRetrans")),
			s.ev(s.Netstat("TcpExt", "TCPSlowStartRetrans")), s.ev(s.Netstat("TcpExt", "TCPLossProbes"))},
	}
	if rto.OK && re.Delta > 0 && report.Ratio(rto.Delta, re.Delta) >= 0.2 {
		f.Notes = append(f.Notes, fmt.Sprintf("%d retransmission timeouts (TCPTimeouts): fast retransmit could not recover those losses, the mark of tail loss or whole windows lost.", rto.Delta))
	}
	if local := localDropSummary(s); local != "" {
		f.Fix = append(f.Fix, "This host drops packets too ("+local+"): fix those findings first.")
	}
	if h := in.TCPHealth(); h != nil && h.Group(collectors.TCPRetransmitting) != nil {
		g := h.Group(collectors.TCPRetransmitting)
		w := g.Conns[0]
		f.Evidence = append(f.Evidence, Text("connection resending most", fmt.Sprintf("%s: %d segments", connName(w), w.RetransSegs)))
		f.Fix = append(f.Fix, fmt.Sprintf("The connection resending most is %s (%d segments; %d connections resent any, see tcp.conn_retransmits): netdx trace %s",
			connName(w), w.RetransSegs, len(g.Conns)+g.More, w.Remote.Addr()))
	} else {
		f.Fix = append(f.Fix, "Trace the path to the peers with the most retransmissions (`ss -ti` shows per-connection retrans): netdx trace PEER")
	}
	return Outcome{Findings: []Finding{f}}
}

// localDropSummary names local drop counters that grew over the window, for
// rules that want to point at them.
func localDropSummary(s *sample) string {
	if s.SinceBoot {
		return ""
	}
	var parts []string
	for _, q := range s.rootQdiscs() {
		if q.drops.Delta > 0 {
			parts = append(parts, fmt.Sprintf("qdisc %s on %s dropped %d", q.q.Kind, q.q.Iface, q.drops.Delta))
		}
	}
	for _, l := range s.After.Links {
		if c := s.LinkStat(l.Name, "tx_dropped"); c.Delta > 0 {
			parts = append(parts, fmt.Sprintf("%s tx_dropped %d", l.Name, c.Delta))
		}
	}
	if d := s.softnetTotal(); d.dropped > 0 {
		parts = append(parts, fmt.Sprintf("softnet backlog dropped %d", d.dropped))
	}
	return strings.Join(parts, ", ")
}

func checkSynRetransmits(in *Input) Outcome {
	s := newSample(in)
	if !s.HasNetstat() {
		return Outcome{NotChecked: "netstat counters not read"}
	}
	c := s.Netstat("TcpExt", "TCPSynRetrans")
	if !c.OK {
		return Outcome{NotChecked: "TcpExt.TCPSynRetrans is absent on this kernel"}
	}
	if s.SinceBoot {
		return Outcome{NotChecked: fmt.Sprintf("%d since boot; needs two samples (--interval above 0)", c.Total)}
	}
	if c.Delta < synRetransMin || c.Rate <= synRetransMinRate {
		return Outcome{Detail: fmt.Sprintf("%d handshake retransmissions %s", c.Delta, s.window())}
	}
	synEv, _, _ := s.sysctl("net.ipv4.tcp_syn_retries")
	synackEv, _, _ := s.sysctl("net.ipv4.tcp_synack_retries")
	f := Finding{ID: "tcp.syn_retransmits",
		Summary:  fmt.Sprintf("Handshakes were retried: %s retransmitted, each waiting a second or more.", s.amount(c, "SYNs or SYN-ACKs")),
		Evidence: []Evidence{s.ev(c), s.ev(s.Netstat("Tcp", "ActiveOpens")), s.ev(s.Netstat("Tcp", "AttemptFails")), synEv, synackEv},
		Fix: []string{"List the handshakes in progress to see which peers do not answer: ss -tn state syn-sent; ss -tn state syn-recv",
			"Trace the path to those peers: netdx trace PEER"},
	}
	if ov := s.Netstat("TcpExt", "ListenOverflows"); ov.Delta > 0 {
		f.Notes = append(f.Notes, "Local listeners overflowed too: this host retransmits its SYN-ACK to clients whose handshake it dropped, and those count here (see tcp.listen_overflow).")
	}
	return Outcome{Findings: []Finding{f}}
}

// tunnelKinds are link kinds that encapsulate, whose endpoints batch.
var tunnelKinds = map[string]bool{"vxlan": true, "geneve": true, "gre": true, "gretap": true, "ipip": true,
	"sit": true, "ip6tnl": true, "wireguard": true, "tuntap": true, "ip6gre": true, "bareudp": true}

func checkReordering(in *Input) Outcome {
	s := newSample(in)
	if !s.HasNetstat() {
		return Outcome{NotChecked: "netstat counters not read"}
	}
	ev := s.NetstatSum("TcpExt.TCP*Reorder", "TcpExt", reorderCounters...)
	if !ev.OK {
		return Outcome{NotChecked: "the reordering counters are absent on this kernel"}
	}
	if s.SinceBoot {
		return Outcome{NotChecked: fmt.Sprintf("%d reorder events since boot; needs two samples (--interval above 0)", ev.Total)}
	}
	if ev.Delta < minEvents || ev.Rate <= reorderMinRate {
		return Outcome{Detail: fmt.Sprintf("%d reorder events %s", ev.Delta, s.window())}
	}
	dsack, re := s.Netstat("TcpExt", "TCPDSACKRecv"), s.Netstat("Tcp", "RetransSegs")
	spurious := re.Delta > 0 && dsack.Delta >= minEvents && report.Ratio(dsack.Delta, re.Delta) >= reorderDSACKShare
	f := Finding{ID: "tcp.reordering", Severity: Info,
		Summary: fmt.Sprintf("TCP saw %s.", s.amount(ev, "reorder events")),
		Evidence: []Evidence{s.ev(s.Netstat("TcpExt", "TCPSACKReorder")), s.ev(s.Netstat("TcpExt", "TCPTSReorder")),
			s.ev(s.Netstat("TcpExt", "TCPRenoReorder")), s.ev(dsack), s.ev(re)},
	}
	if spurious {
		f.Severity = Warning
		f.Summary += fmt.Sprintf(" Peers reported %d duplicate segments (DSACK), %s of the retransmissions: reordering is costing retransmissions.", dsack.Delta, fmtPct(report.Ratio(dsack.Delta, re.Delta)))
	}
	reorderEv, _, _ := s.sysctl("net.ipv4.tcp_reordering")
	recEv, rec, haveRec := s.sysctl("net.ipv4.tcp_recovery")
	f.Evidence = append(f.Evidence, reorderEv, recEv)
	var tunnels []string
	for l := range s.links(isTunnel) {
		tunnels = append(tunnels, l.Name+" ("+l.Kind+")")
	}
	if len(tunnels) > 0 {
		batching := batchingOffloads(s)
		f.Evidence = append(f.Evidence, Text("tunnel interfaces", strings.Join(tunnels, ", ")))
		if batching != "" {
			f.Evidence = append(f.Evidence, Text("batching offloads on", batching))
		}
		f.Fix = append(f.Fix, fmt.Sprintf("This host has tunnel interfaces (%s): a tunnel endpoint that batches packets with GRO/GSO, or spreads one flow over several queues or paths, reorders its inner flows. Compare with the offloads off on the underlay device, e.g. ethtool -K DEV gro off, and check the ECMP or bond hash includes the inner ports.", strings.Join(tunnels, ", ")))
	}
	if haveRec && len(rec) == 1 && rec[0]&1 == 0 {
		s.prescribe(&f, settingInt("net.ipv4.tcp_recovery", rec[0]|1, "RACK loss detection is off: it lets TCP tell reordering from loss by time, not by counting duplicate ACKs"))
	} else {
		f.Notes = append(f.Notes, "RACK (net.ipv4.tcp_recovery=1) is on, so TCP already tolerates reordering by time; net.ipv4.tcp_reordering only sets the initial duplicate-ACK threshold, raise it only for paths known to reorder.")
	}
	return Outcome{Findings: []Finding{f}}
}

// batchingOffloads names the interfaces with GRO or GSO-family offloads on.
func batchingOffloads(s *sample) string {
	var out []string
	names := make([]string, 0, len(s.After.NICs))
	for n := range s.After.NICs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var on []string
		for _, f := range []struct{ key, label string }{{"rx-gro", "GRO"}, {"rx-gro-hw", "GRO-HW"}, {"rx-lro", "LRO"},
			{"tx-generic-segmentation", "GSO"}, {"tx-tcp-segmentation", "TSO"}} {
			if s.After.NICs[n].Offloads[f.key] {
				on = append(on, f.label)
			}
		}
		if len(on) > 0 {
			out = append(out, n+" "+strings.Join(on, "/"))
		}
	}
	return strings.Join(out, ", ")
}

// reorderCounters are TCP's reordering detections (SACK, timestamps, Reno).
var reorderCounters = []string{"TCPSACKReorder", "TCPTSReorder", "TCPRenoReorder"}

var rcvDropCounters = []string{"TCPRcvQDrop", "TCPBacklogDrop", "TCPZeroWindowDrop", "RcvPruned", "OfoPruned", "TCPOFODrop"}

func checkRcvBufferDrops(in *Input) Outcome {
	s := newSample(in)
	if !s.HasNetstat() {
		return Outcome{NotChecked: "netstat counters not read"}
	}
	sum := s.NetstatSum("TcpExt receive-buffer drops", "TcpExt", rcvDropCounters...)
	if !sum.OK {
		return Outcome{NotChecked: "the receive-buffer drop counters are absent on this kernel"}
	}
	inSegs := s.Netstat("Tcp", "InSegs")
	r := report.Ratio(sum.Delta, inSegs.Delta)
	sev := grade(
		info(s.SinceBoot && (sum.Total > sinceBootMin || (r >= rcvDropCritShare && sum.Total > 0))),
		critical(!s.SinceBoot && sum.Delta >= minEvents && r >= rcvDropCritShare),
		warning(!s.SinceBoot && sum.Delta >= minEvents),
	)
	if sev == 0 {
		return Outcome{Detail: fmt.Sprintf("%d receive-buffer drops %s", sum.Delta, s.window())}
	}
	f := Finding{ID: "tcp.receive_buffer_drops", Severity: sev,
		Summary: fmt.Sprintf("TCP dropped %s for lack of buffer (%s of segments received).", s.amount(sum, "received segments"), fmtPct(r))}
	var worst collectors.Change
	for _, n := range rcvDropCounters {
		c := s.Netstat("TcpExt", n)
		f.Evidence = append(f.Evidence, s.ev(c))
		if c.Delta > worst.Delta {
			worst = c
		}
	}
	f.Evidence = append(f.Evidence, s.ev(s.Netstat("TcpExt", "PruneCalled")), s.ev(inSegs))
	rmemEv, rmem, haveRmem := s.sysctl("net.ipv4.tcp_rmem")
	rmaxEv, _, _ := s.sysctl("net.core.rmem_max")
	tcpMemEv, _, _ := s.sysctl("net.ipv4.tcp_mem")
	f.Evidence = append(f.Evidence, rmemEv, rmaxEv, tcpMemEv)
	switch worst.Name {
	case "TcpExt.TCPZeroWindowDrop", "TcpExt.TCPBacklogDrop":
		f.Fix = append(f.Fix, fmt.Sprintf("Most drops are %s: the application reads too slowly or holds its sockets busy; find it with `ss -tnm` (large Recv-Q) and look at its CPU.", strings.TrimPrefix(worst.Name, "TcpExt.")))
	}
	if haveRmem && len(rmem) == 3 {
		s.prescribe(&f, setting("net.ipv4.tcp_rmem", fmt.Sprintf("%d %d %d", rmem[0], rmem[1], rmem[2]*2), "let TCP autotuning grow receive buffers further"))
	}
	f.Fix = append(f.Fix, "Applications that set SO_RCVBUF turn autotuning off and are capped by net.core.rmem_max: raise both, or let them stop setting it")
	if p := s.Netstat("TcpExt", "TCPMemoryPressures"); p.Delta > 0 {
		f.Notes = append(f.Notes, "TCP memory was under pressure in the window too (see tcp.memory_pressure): raising buffers will not help until net.ipv4.tcp_mem allows it.")
	}
	switch conns := s.TCPDrops(); {
	case s.After.Sockets == nil || s.After.Sockets.TCP == nil:
		f.Subject = notIdentified(report.ObjectConnection)
		f.Notes = append(f.Notes, "The connections could not be read (see NOT READ): `ss -tnm` shows each one's receive queue and drops (skmem d).")
	case len(conns) == 0:
		f.Subject = notIdentified(report.ObjectConnection)
		f.Notes = append(f.Notes, "No open connection shows the drops: the ones that dropped have closed.")
	default:
		var named []string
		for i, c := range conns {
			if i == 5 {
				named = append(named, fmt.Sprintf("and %d more", len(conns)-5))
				break
			}
			named = append(named, fmt.Sprintf("%s dropped %d (receive queue %d of %d bytes)", tcpName(c.Sock), c.Delta, c.Sock.RecvQ, c.Sock.RcvBuf))
			f.Evidence = append(f.Evidence, Num("tcp "+c.Sock.Local+" ↔ "+c.Sock.Remote+" drops", float64(c.Delta), ""))
		}
		f.Subject = tcpName(conns[0].Sock)
		f.Summary += " " + strings.Join(named, "; ") + "."
		if full := conns[0]; full.Sock.RcvBuf > 0 && full.Sock.RecvQ*10 >= uint64(full.Sock.RcvBuf)*9 {
			f.Notes = append(f.Notes, fmt.Sprintf("%s has its receive buffer full of unread data: its application is not reading fast enough, and more buffer only delays the drops.", tcpName(full.Sock)))
		}
	}
	return Outcome{Findings: []Finding{f}}
}

func checkTCPMemory(in *Input) Outcome {
	s := newSample(in)
	mem, haveMem := s.After.Sockstat.Get("TCP", "mem")
	tcpMemEv, limits, haveLimits := s.sysctl("net.ipv4.tcp_mem")
	press := s.Netstat("TcpExt", "TCPMemoryPressures")
	abort := s.Netstat("TcpExt", "TCPAbortOnMemory")
	if !haveMem || !haveLimits || len(limits) != 3 {
		return Outcome{NotChecked: "sockstat TCP mem or net.ipv4.tcp_mem not read"}
	}
	pressure, high := uint64(limits[1]), uint64(limits[2])
	atPressure := mem >= pressure
	entered := !s.SinceBoot && press.Delta > 0
	aborted := !s.SinceBoot && abort.Delta > 0
	sev := grade(
		critical(aborted || (high > 0 && float64(mem) >= tcpMemCritShare*float64(high))),
		warning(atPressure || entered),
	)
	if sev == 0 {
		return Outcome{Detail: fmt.Sprintf("TCP holds %d pages, %s of the pressure threshold", mem, fmtPct(report.Ratio(mem, pressure)))}
	}
	var why []string
	if atPressure {
		why = append(why, fmt.Sprintf("TCP holds %d pages, at or above the pressure threshold %d", mem, pressure))
	}
	if entered {
		why = append(why, fmt.Sprintf("entered memory pressure %d times", press.Delta))
	}
	if aborted {
		why = append(why, fmt.Sprintf("aborted %d connections for lack of memory", abort.Delta))
	}
	f := Finding{ID: "tcp.memory_pressure", Severity: sev,
		Summary:  fmt.Sprintf("TCP memory: %s (limit %d pages).", strings.Join(why, "; "), high),
		Evidence: []Evidence{Num("sockstat TCP.mem", float64(mem), "pages"), tcpMemEv, s.ev(press), s.ev(abort)},
		Notes:    []string{"tcp_mem is host-global: every namespace's sockets count against it."},
	}
	s.prescribe(&f, step("Find the sockets holding memory: ss -tmn (large Recv-Q: slow readers; large Send-Q: slow peers)"),
		setting("net.ipv4.tcp_mem", fmt.Sprintf("%d %d %d", limits[0]*2, limits[1]*2, limits[2]*2), "pages of 4 KiB; if the host has the RAM"))
	return Outcome{Findings: []Finding{f}}
}

func checkOrphans(in *Input) Outcome {
	s := newSample(in)
	orphans, ok := s.After.Sockstat.Get("TCP", "orphan")
	maxEv, maxv, haveMax := s.sysctl("net.ipv4.tcp_max_orphans")
	if !ok || !haveMax || len(maxv) != 1 || maxv[0] <= 0 {
		return Outcome{NotChecked: "sockstat TCP orphan or net.ipv4.tcp_max_orphans not read"}
	}
	r := report.Ratio(orphans, uint64(maxv[0]))
	sev := grade(
		critical(r > orphanCritShare),
		warning(r > orphanWarnShare),
	)
	if sev == 0 {
		return Outcome{Detail: fmt.Sprintf("%s, %s of tcp_max_orphans", plural(int(orphans), "orphan"), fmtPct(r))}
	}
	f := Finding{ID: "tcp.orphans", Severity: sev,
		Summary:  fmt.Sprintf("%d orphaned TCP sockets, %s of net.ipv4.tcp_max_orphans (%d): past it the kernel resets them.", orphans, fmtPct(r), maxv[0]),
		Evidence: []Evidence{Num("sockstat TCP.orphan", float64(orphans), ""), maxEv, pctEvidence("orphans of limit", r)},
	}
	s.prescribe(&f, step("See which connections linger after close: ss -tn state fin-wait-1; ss -tn state last-ack"),
		setting("net.ipv4.tcp_fin_timeout", "30", ""),
		settingInt("net.ipv4.tcp_max_orphans", maxv[0]*2, "if memory allows"))
	return Outcome{Findings: []Finding{f}}
}

func checkLocalQueueDelay(in *Input) Outcome {
	s := newSample(in)
	if !s.HasNetstat() {
		return Outcome{NotChecked: "netstat counters not read"}
	}
	c := s.Netstat("TcpExt", "TCPSpuriousRtxHostQueues")
	if !c.OK {
		return Outcome{NotChecked: "TcpExt.TCPSpuriousRtxHostQueues is absent on this kernel"}
	}
	re := s.Netstat("Tcp", "RetransSegs")
	busy := !s.SinceBoot && c.Delta >= minEvents && c.Rate > localQueueMinRate
	sev := grade(
		info(s.SinceBoot && c.Total > sinceBootMin),
		warning(busy && report.Ratio(c.Delta, re.Delta) >= localQueueWarnShare),
		info(busy),
	)
	if sev == 0 {
		return Outcome{Detail: fmt.Sprintf("%d retransmissions held by local queues %s", c.Delta, s.window())}
	}
	f := Finding{ID: "tcp.local_queue_delay", Severity: sev,
		Summary:  fmt.Sprintf("TCP held back %s because the originals were still queued on this host.", s.amount(c, "retransmissions")),
		Evidence: []Evidence{s.ev(c), s.ev(re)},
	}
	for _, q := range s.rootQdiscs() {
		f.Evidence = append(f.Evidence, Text("qdisc "+q.q.Iface, fmt.Sprintf("%s, %d packets / %d bytes queued", q.q.Kind, q.q.Qlen, q.q.Backlog)))
		if q.q.Kind == "pfifo_fast" || q.q.Kind == "pfifo" || q.q.Kind == "bfifo" {
			f.Fix = append(f.Fix, fmt.Sprintf("tc qdisc replace dev %s root fq_codel   (%s has no queue management)", q.q.Iface, q.q.Kind))
		}
	}
	f.Fix = append(f.Fix, "Shorten the driver queue: ip link set dev DEV txqueuelen 1000 or less, and keep byte queue limits on (/sys/class/net/DEV/queues/tx-*/byte_queue_limits)")
	return Outcome{Findings: []Finding{f}}
}
