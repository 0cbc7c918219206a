package diagnose

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/netdx/netdx/drops"
	"github.com/netdx/netdx/report"
)

// Reconciliation: each family of drop reasons is set against the
// counters it should move, in the namespace whose counters diag read,
// over the same window. Agreement says the counter is explained and by
// what; counter drops no reason explains and reasons no counter shows
// are both reported, and the interface counters of drops the kernel
// never saw (the NIC, its firmware, the hypervisor) say so.

// Thresholds of the reconciliation.
const (
	// reconcileTolerance is how far apart reasons and counters may be
	// and still match: 10 % of the larger, or reconcileSlack drops
	// (the samples are not taken at the same instant).
	reconcileTolerance = 0.10
	reconcileSlack     = 2
)

// belowKernelStats are the interface counters of packets the kernel never
// received: the NIC dropped or refused them before they became an skb.
var belowKernelStats = []string{"rx_missed_errors", "rx_fifo_errors", "rx_over_errors", "rx_crc_errors",
	"rx_frame_errors", "rx_length_errors"}

// pairing sets the drops keep counts against counters.
type pairing struct {
	family  string
	reasons []string
	keep    func(d drops.Drop) bool
	// counters names what count reads; count returns false when none
	// of them was read.
	counters []string
	count    func(in *Input, s *sample) (uint64, bool)
	// above explains counters above the reasons, when the kernel is
	// known to count drops it gives no reason for.
	above string
}

func inFamily(key string) func(d drops.Drop) bool {
	return func(d drops.Drop) bool { f := familyFor(d.Reason); return f != nil && f.key == key }
}

func proto(p uint8, keep func(d drops.Drop) bool) func(d drops.Drop) bool {
	return func(d drops.Drop) bool { return d.IPProto == p && keep(d) }
}

func reason(names ...string) func(d drops.Drop) bool {
	return func(d drops.Drop) bool {
		for _, n := range names {
			if d.Reason == n {
				return true
			}
		}
		return false
	}
}

// netstatCount sums netstat counters named "Section.Name".
func netstatCount(names ...string) func(*Input, *sample) (uint64, bool) {
	return func(_ *Input, s *sample) (uint64, bool) {
		var n uint64
		ok := false
		for _, c := range names {
			sec, name, _ := strings.Cut(c, ".")
			if ch := s.Netstat(sec, name); ch.OK {
				n += ch.Delta
				ok = true
			}
		}
		return n, ok
	}
}

var pairings = []pairing{
	{family: "no socket (UDP)", reasons: []string{"NO_SOCKET"}, keep: proto(17, reason("NO_SOCKET")),
		counters: []string{"Udp.NoPorts", "Udp6.NoPorts"}, count: netstatCount("Udp.NoPorts", "Udp6.NoPorts")},
	{family: "listen queues", reasons: []string{"TCP_LISTEN_OVERFLOW", "NO_SOCKET (tcp)"},
		keep: func(d drops.Drop) bool {
			return d.Reason == "TCP_LISTEN_OVERFLOW" || (d.Reason == "NO_SOCKET" && d.IPProto == 6)
		},
		counters: []string{"TcpExt.ListenOverflows"}, count: netstatCount("TcpExt.ListenOverflows"),
		above: "a SYN refused at a full accept queue moves ListenOverflows but is freed with no drop reason (Linux 6.x)"},
	{family: "socket buffers (UDP)", reasons: dropFamilies[1].reasons, keep: proto(17, inFamily("socket_buffer")),
		counters: []string{"Udp.RcvbufErrors", "Udp6.RcvbufErrors"}, count: netstatCount("Udp.RcvbufErrors", "Udp6.RcvbufErrors")},
	{family: "socket buffers (TCP)", reasons: dropFamilies[1].reasons, keep: proto(6, inFamily("socket_buffer")),
		counters: []string{"TcpExt.TCPRcvQDrop", "TcpExt.TCPBacklogDrop", "TcpExt.TCPZeroWindowDrop"},
		count:    netstatCount("TcpExt.TCPRcvQDrop", "TcpExt.TCPBacklogDrop", "TcpExt.TCPZeroWindowDrop")},
	{family: "qdiscs", keep: inFamily("qdisc"), counters: []string{"root qdiscs' drops"},
		count: func(_ *Input, s *sample) (uint64, bool) {
			qs := s.rootQdiscs()
			var n uint64
			for _, q := range qs {
				n += q.drops.Delta
			}
			return n, qs != nil
		}},
	{family: "CPU backlog", reasons: []string{"CPU_BACKLOG"}, keep: reason("CPU_BACKLOG"), counters: []string{"softnet_stat dropped"},
		count: func(_ *Input, s *sample) (uint64, bool) { t := s.softnetTotal(); return t.dropped, t.read }},
	{family: "reverse path", reasons: []string{"IP_RPFILTER"}, keep: reason("IP_RPFILTER"),
		counters: []string{"TcpExt.IPReversePathFilter"}, count: netstatCount("TcpExt.IPReversePathFilter")},
	{family: "netfilter", reasons: []string{"NETFILTER_DROP"}, keep: reason("NETFILTER_DROP"), counters: []string{"nftables rule counters"},
		count: func(in *Input, _ *sample) (uint64, bool) {
			var n uint64
			ok := false
			for _, r := range in.Drops.Rules {
				if in.here(r.Netns) && r.Counted && !r.Since.IsZero() {
					n += r.Packets
					ok = true
				}
			}
			return n, ok
		},
		above: "rules count what they match, including packets a later rule or conntrack would have dropped anyway"},
	{family: "routing", keep: inFamily("routing"), counters: []string{"IpExt.InNoRoutes", "Ip.OutNoRoutes", "Ip.InAddrErrors"},
		count: netstatCount("IpExt.InNoRoutes", "Ip.OutNoRoutes", "Ip.InAddrErrors")},
	{family: "fragments", keep: inFamily("fragments"), counters: []string{"Ip.ReasmFails", "Ip6.ReasmFails"},
		count: netstatCount("Ip.ReasmFails", "Ip6.ReasmFails")},
	{family: "checksums and headers", keep: inFamily("corrupt"),
		counters: []string{"IpExt.InCsumErrors", "Tcp.InCsumErrors", "Udp.InCsumErrors", "Udp6.InCsumErrors", "Ip.InHdrErrors", "IpExt.InTruncatedPkts"},
		count:    netstatCount("IpExt.InCsumErrors", "Tcp.InCsumErrors", "Udp.InCsumErrors", "Udp6.InCsumErrors", "Ip.InHdrErrors", "IpExt.InTruncatedPkts")},
}

// reasonsOnly are the families no counter netdx reads reconciles.
var reasonsOnly = []string{"neighbour", "filters", "nic_ring", "tcp_state", "other"}

// Reconcile sets the drop reasons of the namespace diag read against its
// counters; nil without both (two host samples and the reasons).
func Reconcile(in *Input) []report.DropReconciliation {
	s := newSample(in)
	if in.Drops == nil || s == nil || s.SinceBoot || !s.HasNetstat() {
		return nil
	}
	sum := func(keep func(d drops.Drop) bool) (uint64, []string) {
		var n uint64
		var names []string
		for _, d := range in.Drops.Drops {
			if in.here(d.Netns) && keep(d) {
				n += d.Count
				if !slices.Contains(names, d.Reason) {
					names = append(names, d.Reason)
				}
			}
		}
		return n, names
	}
	// Not nil: a window with nothing to reconcile was still checked.
	out := []report.DropReconciliation{}
	for _, p := range pairings {
		r, seen := sum(p.keep)
		c, ok := p.count(in, s)
		if r == 0 && c == 0 {
			continue
		}
		row := report.DropReconciliation{Family: p.family, Reasons: p.reasons, ReasonDrops: r, Counters: p.counters}
		if row.Reasons == nil {
			row.Reasons = append([]string{}, seen...)
		}
		if ok {
			row.CounterDrops = &c
		}
		row.Verdict, row.Note = verdict(r, c, ok, p.above)
		out = append(out, row)
	}
	for _, key := range reasonsOnly {
		r, seen := sum(inFamily(key))
		if r == 0 {
			continue
		}
		out = append(out, report.DropReconciliation{Family: familyByKey(key).name, Reasons: seen, ReasonDrops: r,
			Counters: []string{}, Verdict: report.VerdictReasonsOnly, Note: "no counter netdx reads shows these: " + familyByKey(key).counters})
	}
	if n, ifaces := belowKernel(s); n > 0 {
		c := n
		out = append(out, report.DropReconciliation{Family: "below the kernel", Reasons: []string{}, Counters: ifaces,
			CounterDrops: &c, Verdict: report.VerdictCountersOnly,
			Note: "interface counters of packets the NIC dropped or refused before the kernel saw them: no drop reason can explain them; the cause is in the NIC, its firmware or the hypervisor"})
	}
	return out
}

// verdict compares reasons r with counters c.
func verdict(r, c uint64, counted bool, above string) (string, string) {
	if !counted {
		return report.VerdictReasonsOnly, "the counters were not read"
	}
	diff := math.Abs(float64(r) - float64(c))
	if diff <= max(reconcileSlack, reconcileTolerance*float64(max(r, c))) {
		return report.VerdictMatch, ""
	}
	if c > r {
		note := fmt.Sprintf("the counters show %d drops no reason explains", c-r)
		if above != "" {
			note += ": " + above
		}
		return report.VerdictCountersAbove, note
	}
	return report.VerdictReasonsAbove, fmt.Sprintf("%d drops no counter shows", r-c)
}

// belowKernel sums the interfaces' below-the-kernel counters over the
// window, with the names of those that moved.
func belowKernel(s *sample) (uint64, []string) {
	if !s.HasLinks() {
		return 0, nil
	}
	var n uint64
	var moved []string
	for l := range s.links(notLoopback) {
		c := s.LinkSum(l.Name, "below the kernel", belowKernelStats...)
		if c.OK && c.Delta > 0 {
			n += c.Delta
			moved = append(moved, l.Name)
		}
	}
	return n, moved
}

func familyByKey(key string) *dropFamily {
	for i := range dropFamilies {
		if dropFamilies[i].key == key {
			return &dropFamilies[i]
		}
	}
	return &otherDrops
}

func init() { onFirstUse(registerDropsReconcile) }

// registerDropsReconcile registers this file's rules, on the catalog's first use.
func registerDropsReconcile() {
	register(Rule{Name: "drop reasons against the counters", Source: SourceDrops, Layer: LayerNIC, Cross: checkReconcile}, Entry{
		ID: "drops.below_kernel", Title: "Drops below the kernel: the NIC, its firmware or the hypervisor",
		Source: SourceDrops, Layer: LayerNIC, Severity: Warning,
		Explanation: "Interface counters show packets dropped or refused before the kernel received them " +
			"(missed, FIFO, overrun, CRC, frame and length errors): no drop reason can explain them, because " +
			"the kernel never held those packets. The cause is in the NIC (its ring or buffers), its firmware, " +
			"the cable, or, on a virtual machine, the hypervisor.",
		Thresholds: fmt.Sprintf("Needs the host's counters and the drop reasons over the same window (diag when privileged). "+
			"%d or more such drops on an interface over the window is a warning. Reasons and counters match within "+
			"%.0f%% or %d drops.", minEvents, reconcileTolerance*100, reconcileSlack),
		Remediation: "Larger rings (ethtool -G) and more queues for missed and FIFO errors; the cable, optics " +
			"or switch port for CRC and frame errors; on a VM, the hypervisor's own counters and limits.",
		Evidence:   []string{"IFACE.rx_missed_errors", "IFACE.rx_fifo_errors", "IFACE.rx_over_errors", "IFACE.rx_crc_errors", "IFACE.rx_frame_errors", "IFACE.rx_length_errors"},
		References: []string{"docs/drops.md"},
	})
}

// checkReconcile reconciles and finds the interfaces that drop below the
// kernel.
func checkReconcile(in *Input, _ Found) Outcome {
	rows := Reconcile(in)
	if rows == nil {
		return Outcome{NotChecked: "needs the host's counters over the same window (netdx diag, --interval above 0)"}
	}
	s := newSample(in)
	var out Outcome
	if s.HasLinks() {
		for l := range s.links(notLoopback) {
			c := s.LinkSum(l.Name, "dropped below the kernel", belowKernelStats...)
			if !c.OK || c.Delta < minEvents {
				continue
			}
			f := Finding{ID: "drops.below_kernel", Subject: l.Name,
				Summary: fmt.Sprintf("%s dropped %s before the kernel saw them: no drop reason accounts for them.", l.Name, s.amount(c, "packets"))}
			for _, st := range belowKernelStats {
				if ch := s.LinkStat(l.Name, st); ch.OK && ch.Delta > 0 {
					f.Evidence = append(f.Evidence, s.ev(ch))
				}
			}
			f.Fix = []string{"See the driver's own statistics: ethtool -S " + l.Name, "Ring sizes: ethtool -g " + l.Name}
			out.Findings = append(out.Findings, f)
		}
	}
	if len(out.Findings) == 0 {
		counts := map[string]int{}
		for _, r := range rows {
			counts[r.Verdict]++
		}
		var parts []string
		for _, v := range report.DropVerdicts {
			if counts[v] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", counts[v], strings.ReplaceAll(v, "_", " ")))
			}
		}
		out.Detail = "nothing to reconcile"
		if len(parts) > 0 {
			out.Detail = strings.Join(parts, ", ")
		}
	}
	return out
}
