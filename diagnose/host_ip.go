package diagnose

import (
	"fmt"
	"sort"
	"strings"

	"github.com/netdx/netdx/internal/promql"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/report"
)

// inDiscardShare is the share of received packets IP may discard before
// it is a finding.
const inDiscardShare = 0.001

func init() { onFirstUse(registerHostIp) }

// registerHostIp registers this file's rules, on the catalog's first use.
func registerHostIp() {
	// The alerts' PromQL, built with the catalog, not at start-up.
	var (
		ipInDiscards = promql.NetstatIncrease("Ip.InDiscards", "Ip6.InDiscards")
		ipInReceives = promql.NetstatIncrease("Ip.InReceives", "Ip6.InReceives")
	)
	register(Rule{Name: "IP discards", Source: SourceHost, Layer: LayerIP, Check: checkInDiscards}, Entry{
		ID: "ip.in_discards", Title: "IP discarded received packets",
		Source: SourceHost, Layer: LayerIP, Severity: Warning,
		Explanation: "IP dropped packets that were valid and addressed correctly, for internal reasons such as " +
			"lack of memory, or that IPv6 could not deliver (Ip.InDiscards, Ip6.InDiscards).",
		Thresholds: "Per-namespace. Over the interval: 10 or more and 0.1% or more of Ip.InReceives is a warning. Since " +
			"boot: more than 500 is information.",
		Remediation: "Look for memory pressure (tcp.memory_pressure, udp.memory_pressure) and for netfilter " +
			"rules that drop (iptables -nvL, nft list ruleset counters).",
		Evidence: []string{"Ip.InDiscards", "Ip6.InDiscards", "Ip.InReceives"},
		Alerts: []Alert{{Severity: Warning, For: forCounter, Expr: fmt.Sprintf("%s >= %d\nand %s / %s >= %s\nand %s > 0",
			ipInDiscards, minEvents, ipInDiscards, ipInReceives, promql.Num(inDiscardShare), ipInReceives)}},
	})
	register(Rule{Name: "IP reassembly", Source: SourceHost, Layer: LayerIP, Check: checkReassembly}, Entry{
		ID: "ip.reassembly_failures", Title: "IP fragments could not be reassembled",
		Source: SourceHost, Layer: LayerIP, Severity: Warning,
		Explanation: "Fragmented datagrams were lost because not all their fragments arrived in time, or the " +
			"reassembly memory (net.ipv4.ipfrag_high_thresh) was full. One lost fragment loses the whole " +
			"datagram. Fragmentation usually means an MTU mismatch: a tunnel or a path with a smaller MTU.",
		Thresholds: "Per-namespace. Over the interval: 10 or more Ip.ReasmFails (plus Ip6.ReasmFails) is a warning. " +
			"Since boot: more than 500 is information.",
		Remediation: "Avoid fragmentation: lower the sender's MTU or MSS (clamp it on the tunnel), enable path " +
			"MTU discovery (net.ipv4.tcp_mtu_probing=1 for TCP); raise net.ipv4.ipfrag_high_thresh if " +
			"legitimate fragments are dropped for memory.",
		Evidence: []string{"Ip.ReasmFails", "Ip.ReasmReqds", "Ip.ReasmTimeout", "Ip6.ReasmFails", "net.ipv4.ipfrag_high_thresh", "MTUs"},
		Alerts: []Alert{{Severity: Warning, For: forCounter, Expr: fmt.Sprintf("%s >= %d",
			promql.NetstatIncrease("Ip.ReasmFails", "Ip6.ReasmFails"), minEvents)}},
	})
	register(Rule{Name: "reverse-path filter", Source: SourceHost, Layer: LayerIP, Check: checkRPFilter}, Entry{
		ID: "ip.rp_filter_drops", Title: "Reverse-path filter dropped packets",
		Source: SourceHost, Layer: LayerIP, Object: report.ObjectInterface, Severity: Warning,
		Explanation: "Strict reverse-path filtering (rp_filter=1) dropped packets that arrived on an interface " +
			"other than the one the route back to their source uses. That is correct against spoofing but " +
			"breaks asymmetric routing: multi-homed hosts, policy routing, some tunnels and load balancers.",
		Thresholds: "Per-namespace. Over the interval: any growth of TcpExt.IPReversePathFilter is a warning. Since " +
			"boot: more than 500 is information (hotsos). The counter is per namespace; the interface named is " +
			"the one in strict mode (the larger of conf.all and its own value) that received most in the window.",
		Remediation: "If the routing is asymmetric by design, use loose mode on the interface the packets arrive on: " +
			"sysctl -w net.ipv4.conf.DEV.rp_filter=2 (the effective value is the larger of conf.all and " +
			"conf.DEV, so with conf.all=1 setting DEV to 0 does not help; setting conf.all to 0 or 2 is the " +
			"alternative). The interface the route back leaves by plays no part.",
		Evidence: []string{"TcpExt.IPReversePathFilter", "net.ipv4.conf.all.rp_filter", "net.ipv4.conf.DEV.rp_filter"},
		Alerts:   []Alert{{Severity: Warning, For: forCounter, Expr: promql.NetstatIncrease("TcpExt.IPReversePathFilter") + " > 0"}},
	})
	register(Rule{Name: "IP routes", Source: SourceHost, Layer: LayerIP, Check: checkNoRoute}, Entry{
		ID: "ip.no_route", Title: "Packets dropped for lack of a route",
		Source: SourceHost, Layer: LayerIP, Severity: Warning,
		Explanation: "Packets to forward or deliver had no matching route (IpExt.InNoRoutes) or outgoing " +
			"packets found none (Ip.OutNoRoutes).",
		Thresholds: "Per-namespace. Over the interval: 10 or more is a warning. Since boot it is not judged.",
		Remediation: "Check the routing table for the missing prefix (ip route get ADDR) and whether a default " +
			"route or a policy rule disappeared.",
		Evidence: []string{"IpExt.InNoRoutes", "Ip.OutNoRoutes"},
		Alerts: []Alert{{Severity: Warning, For: forCounter, Expr: fmt.Sprintf("%s >= %d",
			promql.NetstatIncrease("IpExt.InNoRoutes", "Ip.OutNoRoutes"), minEvents)}},
	})
}

func checkInDiscards(in *Input) Outcome {
	s := newSample(in)
	if !s.HasNetstat() {
		return Outcome{NotChecked: "netstat counters not read"}
	}
	v4, v6 := s.Netstat("Ip", "InDiscards"), s.Netstat("Ip6", "InDiscards")
	recv := s.Netstat("Ip", "InReceives")
	if !v4.OK {
		return Outcome{NotChecked: "Ip.InDiscards absent"}
	}
	sum := v4.Delta + v6.Delta
	r := report.Ratio(sum, recv.Delta+s.Netstat("Ip6", "InReceives").Delta)
	sev := grade(
		info(s.SinceBoot && sum > sinceBootMin),
		warning(!s.SinceBoot && sum >= minEvents && r >= inDiscardShare),
	)
	if sev == 0 {
		return Outcome{Detail: fmt.Sprintf("%d discards %s", sum, s.window())}
	}
	return Outcome{Findings: []Finding{{ID: "ip.in_discards", Severity: sev,
		Summary:  fmt.Sprintf("IP discarded %s that were valid (%s of received).", s.amount(collectors.Change{Total: v4.Total + v6.Total, Delta: sum, Rate: s.Rate(sum)}, "received packets"), fmtPct(r)),
		Evidence: []Evidence{s.ev(v4), s.ev(v6), s.ev(recv)},
		Fix: []string{"Look for memory pressure findings in this report, and for firewall rules that drop: iptables -nvL; nft list ruleset",
			"Drop reasons name the cause precisely on kernels 5.17+: perf record -e skb:kfree_skb -a sleep 5; perf script"},
	}}}
}

func checkReassembly(in *Input) Outcome {
	s := newSample(in)
	if !s.HasNetstat() {
		return Outcome{NotChecked: "netstat counters not read"}
	}
	v4, v6 := s.Netstat("Ip", "ReasmFails"), s.Netstat("Ip6", "ReasmFails")
	if !v4.OK {
		return Outcome{NotChecked: "Ip.ReasmFails absent"}
	}
	sum := v4.Delta + v6.Delta
	sev := grade(
		info(s.SinceBoot && sum > sinceBootMin),
		warning(!s.SinceBoot && sum >= minEvents),
	)
	if sev == 0 {
		return Outcome{Detail: fmt.Sprintf("%d reassembly failures %s", sum, s.window())}
	}
	threshEv, thresh, haveThresh := s.sysctl("net.ipv4.ipfrag_high_thresh")
	f := Finding{ID: "ip.reassembly_failures", Severity: sev,
		Summary: fmt.Sprintf("Fragmented datagrams could not be reassembled: %s.", s.amount(collectors.Change{Total: v4.Total + v6.Total, Delta: sum, Rate: s.Rate(sum)}, "datagrams")),
		Evidence: []Evidence{s.ev(v4), s.ev(s.Netstat("Ip", "ReasmReqds")), s.ev(s.Netstat("Ip", "ReasmTimeout")), s.ev(v6),
			threshEv},
	}
	if mtus := mtuSummary(s); mtus != "" {
		f.Evidence = append(f.Evidence, Text("MTUs", mtus))
	}
	f.Fix = append(f.Fix, "Stop the fragmentation at its source: clamp TCP MSS on tunnels (iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu), or lower the sender's MTU to the path's")
	probing, haveProbing := s.sysctlInt("net.ipv4.tcp_mtu_probing", -1)
	rs := []remedy{setting("net.ipv4.tcp_mtu_probing", "1", "TCP finds the path MTU itself where ICMP is blocked").
		unless(!haveProbing || probing != 0, "")}
	if haveThresh && len(thresh) == 1 {
		rs = append(rs, settingInt("net.ipv4.ipfrag_high_thresh", thresh[0]*2, "if legitimate fragments are dropped for memory, many at once"))
	}
	s.prescribe(&f, rs...)
	return Outcome{Findings: []Finding{f}}
}

// mtuSummary lists the distinct MTUs of the interfaces, for hints.
func mtuSummary(s *sample) string {
	by := map[int][]string{}
	for _, l := range s.After.Links {
		if l.MTU > 0 && l.Name != "lo" {
			by[l.MTU] = append(by[l.MTU], l.Name)
		}
	}
	if len(by) < 2 {
		return ""
	}
	var keys []int
	for k := range by {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d: %s", k, strings.Join(by[k], ", ")))
	}
	return strings.Join(parts, "; ")
}

func checkRPFilter(in *Input) Outcome {
	s := newSample(in)
	if !s.HasNetstat() {
		return Outcome{NotChecked: "netstat counters not read"}
	}
	c := s.Netstat("TcpExt", "IPReversePathFilter")
	if !c.OK {
		return Outcome{NotChecked: "TcpExt.IPReversePathFilter absent"}
	}
	sev := grade(
		info(s.SinceBoot && c.Total > sinceBootMin),
		warning(!s.SinceBoot && c.Delta > 0),
	)
	if sev == 0 {
		return Outcome{Detail: fmt.Sprintf("%d reverse-path drops %s", c.Delta, s.window())}
	}
	allEv, _, _ := s.sysctl("net.ipv4.conf.all.rp_filter")
	all, _ := s.sysctlInt("net.ipv4.conf.all.rp_filter", 0)
	f := Finding{ID: "ip.rp_filter_drops", Severity: sev,
		Evidence: []Evidence{s.ev(c), allEv},
	}
	arrivals, strict := rpArrivals(s, all, c.Delta)
	mode := "Strict reverse-path filtering"
	if !strict {
		mode = "Loose reverse-path filtering (no route back to the source at all)"
	}
	if len(arrivals) == 0 {
		f.Subject = notIdentified(report.ObjectInterface)
		f.Summary = fmt.Sprintf("%s dropped %s; no interface receiving traffic is in that mode.", mode, s.amount(c, "packets"))
		s.prescribe(&f, step("Set loose mode on the interfaces receiving asymmetric traffic: sysctl -w net.ipv4.conf.DEV.rp_filter=2 (the kernel uses the larger of conf.all and conf.DEV)"))
		return Outcome{Findings: []Finding{f}}
	}
	in1 := arrivals[0]
	f.Subject = in1.name
	for _, a := range arrivals {
		f.Evidence = append(f.Evidence, a.ev, s.ev(s.LinkStat(a.name, "rx_packets")))
	}
	f.Summary = fmt.Sprintf("%s dropped %s arriving on %s (effective rp_filter=%d: the larger of conf.all=%d and conf.%s=%d).",
		mode, s.amount(c, "packets"), in1.name, max(all, in1.own), all, in1.name, in1.own)
	if len(arrivals) > 1 {
		names := make([]string, 0, len(arrivals)-1)
		for _, a := range arrivals[1:] {
			names = append(names, a.name)
		}
		f.Notes = append(f.Notes, fmt.Sprintf("The counter is per namespace: netdx takes %s, the interface in that mode that received most, as the one the drops arrived on; %s received packets in that mode too.", in1.name, strings.Join(names, ", ")))
	}
	if !strict {
		line := "Add the missing route back to the dropped sources (log them with sysctl -w net.ipv4.conf.all.log_martians=1)"
		if all != 2 {
			line += ", or turn the filter off on " + in1.name + " if the sources are legitimate and unroutable: sysctl -w net.ipv4.conf." + in1.name + ".rp_filter=0"
		}
		s.prescribe(&f, step(line))
		return Outcome{Findings: []Finding{f}}
	}
	name := func(dev string) string { return "net.ipv4.conf." + dev + ".rp_filter" }
	s.prescribe(&f, oneOf(
		setting(name(in1.name), "2", fmt.Sprintf("loose on %s only: the larger of conf.all=%d and 2 is 2", in1.name, all)),
		setting(name("all"), "0", fmt.Sprintf("then each interface's own value decides: %s's is %d", in1.name, in1.own)).unless(all != 1 || in1.own == 1, ""),
		setting(name("all"), "2", "loose on every interface").unless(all != 1, ""),
	))
	if all == 1 {
		f.Notes = append(f.Notes, fmt.Sprintf("Setting conf.%s.rp_filter=0 would not help while conf.all.rp_filter=1: the kernel uses the larger of the two. The interface the route back leaves by plays no part.", in1.name))
	}
	f.Notes = append(f.Notes, "Only do this if the asymmetric routing is intended; strict mode protects against spoofed sources. Logging the drops shows which source and interface: sysctl -w net.ipv4.conf.all.log_martians=1. conf.default only applies to interfaces created later.")
	return Outcome{Findings: []Finding{f}}
}

// rpArrival is an interface packets may have been filtered on.
type rpArrival struct {
	name string
	own  int64
	ev   Evidence
	rx   uint64
}

// rpArrivals lists the interfaces the reverse-path drops may have arrived
// on, the likeliest first: the kernel filters by the larger of conf.all
// and the arrival interface's own value, so those in strict mode (1)
// that received in the window as many packets as were dropped (else
// any), most first; when none is strict,
// strict is false and the loose ones (2) are listed. The interface a
// route back leaves by plays no part.
func rpArrivals(s *sample, all int64, drops uint64) (out []rpArrival, strict bool) {
	for _, want := range []int64{1, 2} {
		out = out[:0]
		for l := range s.links(notLoopback) {
			ev, _, ok := s.sysctl("net.ipv4.conf." + l.Name + ".rp_filter")
			own, _ := s.sysctlInt("net.ipv4.conf."+l.Name+".rp_filter", 0)
			if !ok || max(all, own) != want {
				continue
			}
			out = append(out, rpArrival{name: l.Name, own: own, ev: ev, rx: s.LinkStat(l.Name, "rx_packets").Delta})
		}
		// Keep those that received at least as many packets as were
		// dropped (they could have carried them all), else any that
		// received some.
		for _, enough := range []uint64{drops, 1} {
			received := out[:0:0]
			for _, a := range out {
				if a.rx >= enough && a.rx > 0 {
					received = append(received, a)
				}
			}
			if len(received) > 0 {
				out = received
				break
			}
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].rx > out[j].rx })
		if len(out) > 0 {
			return out, want == 1
		}
	}
	return nil, true
}

func checkNoRoute(in *Input) Outcome {
	s := newSample(in)
	if !s.HasNetstat() {
		return Outcome{NotChecked: "netstat counters not read"}
	}
	inNo, outNo := s.Netstat("IpExt", "InNoRoutes"), s.Netstat("Ip", "OutNoRoutes")
	if s.SinceBoot {
		return Outcome{NotChecked: fmt.Sprintf("%d in, %d out since boot; needs two samples (--interval above 0)", inNo.Total, outNo.Total)}
	}
	sum := inNo.Delta + outNo.Delta
	if sum < minEvents {
		return Outcome{Detail: fmt.Sprintf("%d packets without a route %s", sum, s.window())}
	}
	return Outcome{Findings: []Finding{{ID: "ip.no_route",
		Summary:  fmt.Sprintf("%d packets found no route %s (%d received, %d sent).", sum, s.window(), inNo.Delta, outNo.Delta),
		Evidence: []Evidence{s.ev(inNo), s.ev(outNo)},
		Fix: []string{"Check which destinations lack a route: ip route get ADDR; ip rule list",
			"Watch routing changes as they happen: ip monitor route"},
	}}}
}
