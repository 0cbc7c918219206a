package diagnose

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/netdx/netdx/drops"
	"github.com/netdx/netdx/internal/promql"
	"github.com/netdx/netdx/report"
)

// Thresholds of the drop-reason rules: a family's drops in one namespace
// are judged over the window like the counters they move.
const (
	// dropsCritRate is the rate of drops per second past which a family
	// whose drops hurt (socket buffers, queues, backlog) is critical.
	dropsCritRate = 100
	// dropObjects caps the objects (sockets, interfaces, rules) a
	// finding lists as evidence.
	dropObjects = 5
)

// dropFamily is one family of drop reasons: what the kernel means by
// them, the counters they move, what to change, and the host findings
// whose counters they explain. One rule per family, declared from this
// table; docs/drops.md's table of families is generated from it.
type dropFamily struct {
	// key is the finding ID's last part; name is how reports say it.
	key, name, title string
	layer            Layer
	// severity is the usual severity, at minEvents drops or more in a
	// namespace over the window; hurts makes it critical above
	// dropsCritRate.
	severity Severity
	hurts    bool
	reasons  []string
	// meaning, counters and remediation are the catalog's and the docs'
	// words; counters names what the reasons should move.
	meaning, counters, remediation string
	// related are the host findings (of the namespace diag reads) the
	// reasons add their evidence and objects to.
	related []string
	// fix returns the commands for one namespace's drops; note is a
	// caveat every finding of the family carries.
	fix  func(g *dropGroup) []string
	note string
}

var dropFamilies = []dropFamily{
	{key: "no_socket", name: "no socket", title: "Packets for ports nothing listens on",
		layer: LayerSocket, severity: Info, reasons: []string{"NO_SOCKET"},
		meaning: "Packets arrived for an address and port no socket is bound to: UDP to a closed port (answered " +
			"with ICMP port unreachable), TCP to a closed port (answered with a reset), port scans. On Linux " +
			"6.15 to 6.18 the final ACK of a handshake that found the accept queue full is counted here too " +
			"(the listen-queue family reconciles those).",
		counters: "Udp.NoPorts, Udp6.NoPorts (UDP); no counter for TCP",
		note: "NO_SOCKET for TCP on Linux 6.15 to 6.18 also counts handshakes that overflowed a listener; " +
			"diag reading this namespace sets them against TcpExt.ListenOverflows.",
		remediation: "A closed port the senders expect: start the service, or fix the port they use. A scan: filter it upstream.",
		fix: func(g *dropGroup) []string {
			return []string{"See what listens: " + g.cmd("ss -ulnp") + " and " + g.cmd("ss -tlnp") +
				"; the senders' addresses: " + g.cmd("tcpdump -ni any 'icmp[icmptype] == icmp-unreach or tcp[tcpflags] & tcp-rst != 0'")}
		}},
	{key: "socket_buffer", name: "socket buffers", title: "Packets dropped at full socket receive buffers",
		layer: LayerSocket, severity: Warning, hurts: true,
		reasons: []string{"SOCKET_RCVBUFF", "SOCKET_BACKLOG", "PROTO_MEM", "TCP_ZEROWINDOW", "TCP_OFO_QUEUE_PRUNE"},
		meaning: "The socket's receive buffer (or its backlog, or the protocol's memory) was full: the " +
			"application reads too slowly for the rate, or its buffer is too small for the bursts. The drop " +
			"reason names the socket, so its process is named too.",
		counters:    "Udp.RcvbufErrors, Udp6.RcvbufErrors (UDP); TcpExt.TCPRcvQDrop, TCPBacklogDrop, TCPZeroWindowDrop (TCP)",
		remediation: "Let the reader keep up: more reader threads (SO_REUSEPORT), a larger SO_RCVBUF (capped by net.core.rmem_max), or less traffic to it.",
		related:     []string{"udp.receive_buffer_errors", "tcp.receive_buffer_drops", "udp.memory_pressure", "tcp.memory_pressure"},
		fix: func(g *dropGroup) []string {
			out := []string{}
			if s := g.topSocket(); s != nil {
				what := "socket:[" + fmt.Sprint(s.Inode) + "]"
				if s.Local != "" {
					what = s.Local + " (" + what + ")"
				}
				if s.Process != nil {
					what += " held by " + s.Process.String()
				}
				out = append(out, "The reader of "+what+" falls behind: give it more threads or CPU, or a larger SO_RCVBUF; "+
					g.cmd("ss -uampn")+" shows its buffer (rb) and queue")
			}
			return append(out, "Raise the ceiling the application may ask for (host-global, from the host): sysctl -w net.core.rmem_max=16777216")
		}},
	{key: "listen_queue", name: "listen queues", title: "Connections dropped at a full accept queue",
		layer: LayerTCP, severity: Warning, hurts: true, reasons: []string{"TCP_LISTEN_OVERFLOW"},
		meaning: "A listener's accept queue was full: the application accepts connections more slowly than they " +
			"arrive, or its listen() backlog is too small. On Linux 6.15 to 6.18 these drops show as NO_SOCKET " +
			"(tcp) instead, and a SYN refused at a full queue is freed with no reason at all, so the listen-queue " +
			"counters are the measure; netdx reconciles both.",
		counters:    "TcpExt.ListenOverflows, ListenDrops",
		remediation: "Accept faster (more accept threads, SO_REUSEPORT listeners); raise the listen() backlog and net.core.somaxconn, which caps it.",
		related:     []string{"tcp.listen_overflow", "tcp.syn_queue_overflow"},
		fix: func(g *dropGroup) []string {
			return []string{"Find the listener whose Recv-Q reaches its Send-Q (the backlog): " + g.cmd("ss -tlnp")}
		}},
	{key: "qdisc", name: "qdiscs", title: "Packets dropped by a queueing discipline",
		layer: LayerQdisc, severity: Warning, hurts: true,
		reasons: []string{"QDISC_DROP", "QDISC_OVERLIMIT", "QDISC_CONGESTED", "CAKE_FLOOD", "FQ_BAND_LIMIT",
			"FQ_HORIZON_LIMIT", "FQ_FLOW_LIMIT", "DUALPI2_STEP_DROP"},
		meaning: "A qdisc refused the packet on its way out: its queue limit was reached, a shaper or policer " +
			"throttled it, or an AQM (fq_codel, cake, fq) dropped it to keep the queue short.",
		counters:    "the qdisc's dropped counter (tc -s qdisc)",
		remediation: "Raise the qdisc's limit or rate when the queue is too small for the bursts; when a shaper is meant to drop, the sender must slow down (congestion control does).",
		related:     []string{"qdisc.drops"},
		fix: func(g *dropGroup) []string {
			if iface := g.topInterface(); iface != "" {
				return []string{"See the qdisc's limit and drops: " + g.cmd("tc -s qdisc show dev "+iface)}
			}
			return []string{"See the qdiscs' limits and drops: " + g.cmd("tc -s qdisc show")}
		}},
	{key: "netfilter", name: "netfilter", title: "Packets dropped by netfilter rules",
		layer: LayerIP, severity: Info, reasons: []string{"NETFILTER_DROP"},
		meaning: "An nftables or iptables rule, a chain's drop policy, or conntrack (a full table, an invalid " +
			"packet) dropped the packet. netdx names the rule when the namespace's nftables rules have counters.",
		counters:    "the rules' counters (nft list ruleset, iptables -nvL); conntrack's drop and insert_failed",
		remediation: "When the drop is intended, nothing. Otherwise find the rule by its counter and fix the rule or the traffic.",
		related:     []string{"conntrack.drops", "conntrack.table_full"},
		fix: func(g *dropGroup) []string {
			if r := g.topRule(); r != nil {
				chain := fmt.Sprintf("nft -a list chain %s %s %s", r.Family, r.Table, r.Chain)
				return []string{fmt.Sprintf("Rule %s dropped %d packets: %s", r, r.Packets, g.cmd(chain))}
			}
			return []string{"No counted nftables rule accounts for them: a chain policy, a rule without a counter, " +
				"iptables-legacy or conntrack; " + g.cmd("nft list ruleset") + " and " + g.cmd("iptables-save -c")}
		}},
	{key: "filters", name: "packet filters", title: "Packets dropped by tc, XDP, BPF or security filters",
		layer: LayerIP, severity: Info,
		reasons: []string{"TC_INGRESS", "TC_EGRESS", "XDP", "BPF_CGROUP_EGRESS", "SOCKET_FILTER", "SECURITY_HOOK",
			"TC_CHAIN_NOTFOUND", "TC_RECLASSIFY_LOOP", "TC_COOKIE_ERROR", "TAP_FILTER", "TAP_TXFILTER", "XFRM_POLICY"},
		meaning: "A tc filter, an XDP or cgroup BPF program, a socket filter, an IPsec policy or a security " +
			"module (LSM) dropped the packet.",
		counters:    "the program's or filter's own statistics (tc -s filter, bpftool prog)",
		remediation: "When the drop is intended, nothing. Otherwise find the filter or program attached where the drops happen.",
		fix: func(g *dropGroup) []string {
			if iface := g.topInterface(); iface != "" {
				return []string{"See what is attached: " + g.cmd("tc -s filter show dev "+iface+" ingress") + " and " + g.cmd("ip link show dev "+iface)}
			}
			return nil
		}},
	{key: "rp_filter", name: "reverse path", title: "Packets dropped by the reverse-path filter",
		layer: LayerIP, severity: Warning, reasons: []string{"IP_RPFILTER"},
		meaning: "Strict reverse-path filtering (rp_filter=1) dropped packets whose source is not routed back " +
			"through the interface they came in on: asymmetric routing, or spoofed sources.",
		counters:    "TcpExt.IPReversePathFilter",
		remediation: "With asymmetric routing, loose mode (rp_filter=2) on the receiving interface; otherwise fix the routes or find the spoofer.",
		related:     []string{"ip.rp_filter_drops"},
		fix: func(g *dropGroup) []string {
			if iface := g.topInterface(); iface != "" {
				return []string{"If the routing is asymmetric on purpose: " + g.cmd("sysctl -w net.ipv4.conf."+iface+".rp_filter=2")}
			}
			return nil
		}},
	{key: "neighbour", name: "neighbour", title: "Packets dropped waiting for ARP or neighbour discovery",
		layer: LayerIP, severity: Warning,
		reasons: []string{"NEIGH_FAILED", "NEIGH_QUEUEFULL", "NEIGH_CREATEFAIL", "NEIGH_DEAD", "NEIGH_HH_FILLFAIL"},
		meaning: "The next hop's link-layer address could not be resolved (no ARP or neighbour advertisement " +
			"answer), its queue of packets waiting for the answer was full, or the neighbour table was full.",
		counters:    "/proc/net/stat/arp_cache unresolved_discards, table_fulls (not read by netdx)",
		remediation: "Check the next hop is up and on-link; raise net.ipv4.neigh.default.gc_thresh3 when the table is full, unres_qlen_bytes when the queue is.",
		fix: func(g *dropGroup) []string {
			return []string{"See which neighbours fail: " + g.cmd("ip neigh show nud failed") + " and " + g.cmd("ip -s neigh")}
		}},
	{key: "cpu_backlog", name: "CPU backlog", title: "Packets dropped at a full per-CPU input backlog",
		layer: LayerSoftnet, severity: Warning, hurts: true, reasons: []string{"CPU_BACKLOG"},
		meaning: "The per-CPU input queue (net.core.netdev_max_backlog, or the RPS flow limit) was full: the " +
			"receive softirq fell behind the packets steered to that CPU.",
		counters:    "/proc/net/softnet_stat dropped",
		remediation: "Raise net.core.netdev_max_backlog; spread the load with RPS/RFS or more NIC queues and IRQ affinity.",
		related:     []string{"softnet.backlog_drops", "softnet.flow_limit"},
		fix: func(g *dropGroup) []string {
			return []string{"sysctl -w net.core.netdev_max_backlog=4096 (host-global)"}
		}},
	{key: "nic_ring", name: "device queues", title: "Packets dropped at a full device ring or a device not ready",
		layer: LayerDriver, severity: Warning, hurts: true, reasons: []string{"FULL_RING", "DEV_READY"},
		meaning: "A driver's ring was full or the device was not ready (down, or a tun/tap whose reader is " +
			"behind): the kernel handed the packet to a device that could not take it.",
		counters:    "the interface's rx_dropped or tx_dropped; driver statistics (ethtool -S)",
		remediation: "Larger rings (ethtool -G) or more queues; for tun/tap and veth, a faster reader on the other side.",
		related:     []string{"nic.rx_dropped", "nic.tx_dropped", "driver.ring_overflow"},
		fix: func(g *dropGroup) []string {
			if iface := g.topInterface(); iface != "" {
				return []string{"See the device's rings and drops: " + g.cmd("ethtool -g "+iface) + " and " + g.cmd("ip -s link show dev "+iface)}
			}
			return nil
		}},
	{key: "corrupt", name: "checksums and headers", title: "Corrupt or truncated packets dropped",
		layer: LayerIP, severity: Warning,
		reasons: []string{"IP_CSUM", "TCP_CSUM", "UDP_CSUM", "ICMP_CSUM", "SKB_CSUM", "IP_INHDR", "PKT_TOO_SMALL",
			"HDR_TRUNC", "DEV_HDR", "INVALID_PROTO", "IPV6_BAD_EXTHDR", "IPV6_TOO_MANY_EXTHDRS", "SKB_GSO_SEG"},
		meaning: "The packet's checksum was wrong, or its header was malformed or cut short: a bad cable, NIC " +
			"or offload, or a middlebox that mangles packets.",
		counters:    "IpExt.InCsumErrors, Tcp.InCsumErrors, Udp.InCsumErrors, Ip.InHdrErrors, IpExt.InTruncatedPkts",
		remediation: "Check the link's error counters and the NIC's offloads; capture on both ends to find where packets change.",
		related:     []string{"nic.errors"},
		fix: func(g *dropGroup) []string {
			if iface := g.topInterface(); iface != "" {
				return []string{"See the link's errors and offloads: " + g.cmd("ip -s link show dev "+iface) + " and " + g.cmd("ethtool -k "+iface)}
			}
			return nil
		}},
	{key: "routing", name: "routing", title: "Packets dropped for want of a route or a valid address",
		layer: LayerIP, severity: Warning,
		reasons: []string{"IP_INNOROUTES", "IP_OUTNOROUTES", "IP_INADDRERRORS", "IP_INVALID_SOURCE", "IP_LOCAL_SOURCE",
			"IP_INVALID_DEST", "IP_LOCALNET", "IPV6DISABLED", "PKT_TOO_BIG"},
		meaning: "No route for the destination, an invalid or local source address, a destination this host " +
			"does not accept, IPv6 disabled on the interface, or a packet too big for the route's MTU.",
		counters:    "IpExt.InNoRoutes, Ip.OutNoRoutes, Ip.InAddrErrors",
		remediation: "Add the missing route, or fix the senders' addresses; for too-big packets, the path MTU.",
		related:     []string{"ip.no_route"},
		fix: func(g *dropGroup) []string {
			return []string{"See the routes: " + g.cmd("ip route show table all")}
		}},
	{key: "fragments", name: "fragments", title: "IP fragments dropped",
		layer: LayerIP, severity: Warning, reasons: []string{"FRAG_REASM_TIMEOUT", "DUP_FRAG", "FRAG_TOO_FAR"},
		meaning: "IP fragments were dropped: a datagram's fragments did not all arrive before the reassembly " +
			"timeout, came twice, or came too far out of order.",
		counters:    "Ip.ReasmFails, Ip6.ReasmFails",
		remediation: "Avoid fragmentation (a smaller MTU or MSS at the sender); look for loss on the path.",
		related:     []string{"ip.reassembly_failures"},
		fix:         func(g *dropGroup) []string { return nil }},
	{key: "tcp_state", name: "TCP state", title: "TCP segments discarded by TCP's own checks",
		layer: LayerTCP, severity: Info,
		reasons: []string{"TCP_FLAGS", "TCP_ABORT_ON_DATA", "TCP_OLD_DATA", "TCP_OVERWINDOW", "TCP_OFOMERGE",
			"TCP_RFC7323_PAWS", "TCP_RFC7323_PAWS_ACK", "TCP_RFC7323_TW_PAWS", "TCP_RFC7323_TSECR", "TCP_OLD_SEQUENCE",
			"TCP_INVALID_SEQUENCE", "TCP_INVALID_END_SEQUENCE", "TCP_INVALID_ACK_SEQUENCE", "TCP_RESET", "TCP_INVALID_SYN",
			"TCP_CLOSE", "TCP_FASTOPEN", "TCP_OLD_ACK", "TCP_TOO_OLD_ACK", "TCP_ACK_UNSENT_DATA", "TCP_OFO_DROP",
			"TCP_MINTTL", "TCP_AUTH_HDR", "TCP_MD5NOTFOUND", "TCP_MD5UNEXPECTED", "TCP_MD5FAILURE", "TCP_AONOTFOUND",
			"TCP_AOUNEXPECTED", "TCP_AOKEYNOTFOUND", "TCP_AOFAILURE"},
		meaning: "TCP discarded segments its state rules refuse: duplicates of data already received (a " +
			"retransmission that arrived twice), segments outside the window, failed timestamp (PAWS), MD5 or AO " +
			"checks, data after close. A few are normal; many point at retransmissions, a middlebox or an attack.",
		counters:    "TcpExt.TCPOFODrop, PAWSEstab, TCPACKSkipped and others; no one counter",
		remediation: "Usually nothing: look at retransmissions (tcp.retransmits) first; MD5/AO failures mean a key mismatch.",
		fix:         func(g *dropGroup) []string { return nil }},
}

// Every reason not in a family but NOT_SPECIFIED goes to this one.
var otherDrops = dropFamily{key: "other", name: "other reasons", title: "Packets dropped for other reasons",
	layer: LayerIP, severity: Info,
	meaning: "Drops for reasons of no family above (OTHERHOST: a packet for another host seen by a promiscuous " +
		"or bridged interface; UNHANDLED_PROTO, NOMEM, QUEUE_PURGE, tunnel and bridge reasons, subsystem " +
		"reasons). The reason's name says what it is; include/net/dropreason-core.h documents each.",
	counters:    "no single counter",
	remediation: "Look the reason up in include/net/dropreason-core.h of the running kernel.",
	fix:         func(g *dropGroup) []string { return nil }}

// notSpecified is the reason of drops whose code path does not say why:
// constant background on any host, counted and shown but never judged.
const notSpecified = "NOT_SPECIFIED"

// familyOf maps every reason of a family to it.
var familyOf = func() map[string]*dropFamily {
	m := map[string]*dropFamily{}
	for i := range dropFamilies {
		for _, r := range dropFamilies[i].reasons {
			m[r] = &dropFamilies[i]
		}
	}
	return m
}()

// familyFor is the family of a reason: its own, none for NOT_SPECIFIED,
// else the other reasons.
func familyFor(reason string) *dropFamily {
	if f, ok := familyOf[reason]; ok {
		return f
	}
	if reason == notSpecified {
		return nil
	}
	return &otherDrops
}

func (f *dropFamily) id() string { return "drops." + f.key }

func (f *dropFamily) entry() Entry {
	e := Entry{ID: f.id(), Title: f.title, Source: SourceDrops, Layer: f.layer, Severity: f.severity,
		Explanation: f.meaning + " Counters: " + f.counters + ".",
		Thresholds: fmt.Sprintf("Per namespace, from the kernel's drop reasons (netdx drops; diag and serve when privileged). "+
			"Over the window: %d or more drops of the family in one namespace is %s%s.", minEvents, f.severity,
			when(f.hurts, fmt.Sprintf(", above %d/s critical", dropsCritRate))),
		Remediation: f.remediation,
		Evidence:    []string{"drop reason REASON (per reason)", "the sockets, interfaces or rules with the most drops"},
		References:  []string{"include/net/dropreason-core.h", "docs/drops.md"},
	}
	if f.reasons == nil {
		return e
	}
	inc := promql.DropsIncrease(f.reasons...)
	gate := fmt.Sprintf("%s >= %d", inc, minEvents)
	switch {
	case f.hurts:
		crit := fmt.Sprintf("%s\nand %s > %s", gate, promql.DropsRate(f.reasons...), promql.Num(dropsCritRate))
		e.Alerts = []Alert{{Severity: Critical, For: forCounter, Expr: crit, Subject: "netns"},
			{Severity: Warning, For: forCounter, Expr: promql.Unless(gate, crit), Subject: "netns"}}
	case f.severity == Warning:
		e.Alerts = []Alert{{Severity: Warning, For: forCounter, Expr: gate, Subject: "netns"}}
	}
	return e
}

func init() { onFirstUse(registerDropsFamilies) }

// registerDropsFamilies registers this file's rules, on the catalog's first use.
func registerDropsFamilies() {
	for i := range dropFamilies {
		f := &dropFamilies[i]
		register(Rule{Name: "drop reasons: " + f.name, Source: SourceDrops, Layer: f.layer,
			Cross: func(in *Input, found Found) Outcome { return checkFamily(in, found, f) }}, f.entry())
	}
	register(Rule{Name: "drop reasons: " + otherDrops.name, Source: SourceDrops, Layer: otherDrops.layer,
		Cross: func(in *Input, found Found) Outcome { return checkFamily(in, found, &otherDrops) }}, otherDrops.entry())
}

// DropFamily is one family of drop reasons as docs/drops.md lists it.
type DropFamily struct {
	ID, Name, Meaning, Counters, Remediation string
	Reasons                                  []string
}

// DropFamilies lists the families of drop reasons, for docs/drops.md.
func DropFamilies() []DropFamily {
	var out []DropFamily
	for _, f := range append(slices.Clone(dropFamilies), otherDrops) {
		out = append(out, DropFamily{ID: f.id(), Name: f.name, Meaning: f.meaning, Counters: f.counters,
			Remediation: f.remediation, Reasons: f.reasons})
	}
	return out
}

// dropGroup is one family's drops in one namespace over the window.
type dropGroup struct {
	fam      *dropFamily
	netns    drops.Netns
	rows     []drops.Drop
	rules    []drops.Rule
	total    uint64
	secs     float64
	byReason map[string]uint64
}

func (g *dropGroup) rate() float64 {
	if g.secs <= 0 {
		return 0
	}
	return float64(g.total) / g.secs
}

// cmd is a command to run in the group's namespace.
func (g *dropGroup) cmd(c string) string {
	switch {
	case g.netns.Current || (g.netns.Name == "" && g.netns.Process == ""):
		return c
	case g.netns.Name != "":
		return "ip netns exec " + g.netns.Name + " " + c
	}
	pid := g.netns.Process[strings.LastIndexByte(g.netns.Process, '[')+1 : len(g.netns.Process)-1]
	return "nsenter -t " + pid + " -n " + c
}

// object is one socket, interface or rule with its drops.
type object struct {
	label string
	count uint64
}

// objects are the group's sockets (when the drops have them), else its
// interfaces, most drops first; for netfilter, its counted rules first.
func (g *dropGroup) objects() []object {
	counts := map[string]uint64{}
	for _, r := range g.rules {
		if g.fam.key == "netfilter" && r.Counted && r.Packets > 0 {
			counts["rule "+r.String()] += r.Packets
		}
	}
	if len(counts) == 0 {
		for _, d := range g.rows {
			if d.Socket != nil {
				counts[socketLabel(d.Socket)] += d.Count
			}
		}
	}
	if len(counts) == 0 {
		for _, d := range g.rows {
			if iface := ifaceLabel(d); iface != "" {
				counts["interface "+iface] += d.Count
			}
		}
	}
	out := make([]object, 0, len(counts))
	for l, n := range counts {
		out = append(out, object{l, n})
	}
	slices.SortFunc(out, func(a, b object) int { return cmp.Or(cmp.Compare(b.count, a.count), cmp.Compare(a.label, b.label)) })
	return out
}

func socketLabel(s *drops.Socket) string {
	l := fmt.Sprintf("socket:[%d]", s.Inode)
	if s.Local != "" {
		l = "socket " + s.Local + " " + l
	}
	if s.Process != nil {
		l += " " + s.Process.String()
	}
	return l
}

func ifaceLabel(d drops.Drop) string {
	switch {
	case d.Interface != "":
		return d.Interface
	case d.Ifindex != 0:
		return fmt.Sprintf("ifindex %d", d.Ifindex)
	}
	return ""
}

func (g *dropGroup) topSocket() *drops.Socket {
	var best *drops.Socket
	var n uint64
	per := map[uint64]uint64{}
	for _, d := range g.rows {
		if d.Socket == nil {
			continue
		}
		per[d.Socket.Inode] += d.Count
		if per[d.Socket.Inode] > n {
			best, n = d.Socket, per[d.Socket.Inode]
		}
	}
	return best
}

func (g *dropGroup) topInterface() string {
	per := map[string]uint64{}
	best, n := "", uint64(0)
	for _, d := range g.rows {
		if d.Interface == "" {
			continue
		}
		per[d.Interface] += d.Count
		if per[d.Interface] > n {
			best, n = d.Interface, per[d.Interface]
		}
	}
	return best
}

func (g *dropGroup) topRule() *drops.Rule {
	var best *drops.Rule
	for i, r := range g.rules {
		if r.Counted && r.Packets > 0 && (best == nil || r.Packets > best.Packets) {
			best = &g.rules[i]
		}
	}
	return best
}

// groupDrops gathers the window's drops of family f by namespace,
// largest first.
func groupDrops(w *drops.Window, f *dropFamily) []*dropGroup {
	secs := w.End.Sub(w.Start).Seconds()
	by := map[string]*dropGroup{}
	var out []*dropGroup
	for _, d := range w.Drops {
		if familyFor(d.Reason) != f {
			continue
		}
		k := fmt.Sprint(d.Netns.Cookie, d.Netns.Inode)
		g := by[k]
		if g == nil {
			g = &dropGroup{fam: f, netns: d.Netns, secs: secs, byReason: map[string]uint64{}}
			by[k] = g
			out = append(out, g)
		}
		g.rows = append(g.rows, d)
		g.total += d.Count
		g.byReason[d.Reason] += d.Count
	}
	for _, g := range out {
		for _, r := range w.Rules {
			if f.key == "netfilter" && r.Netns.Cookie == g.netns.Cookie {
				g.rules = append(g.rules, r)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b *dropGroup) int { return cmp.Compare(b.total, a.total) })
	return out
}

// evidence is the group's drops per reason and its top objects.
func (g *dropGroup) evidence() []Evidence {
	var ev []Evidence
	reasons := make([]string, 0, len(g.byReason))
	for r := range g.byReason {
		reasons = append(reasons, r)
	}
	slices.SortFunc(reasons, func(a, b string) int { return cmp.Or(cmp.Compare(g.byReason[b], g.byReason[a]), cmp.Compare(a, b)) })
	for _, r := range reasons {
		ev = append(ev, g.counter("drop reason "+r, g.byReason[r]))
	}
	for i, o := range g.objects() {
		if i == dropObjects {
			break
		}
		ev = append(ev, g.counter("drops at "+o.label, o.count))
	}
	return ev
}

func (g *dropGroup) counter(name string, n uint64) Evidence {
	rate := 0.0
	if g.secs > 0 {
		rate = float64(n) / g.secs
	}
	return Counter(name, float64(n), float64(n), report.Round(rate, 3))
}

// checkFamily judges one family's drops in each namespace. In the
// namespace diag read the counters of, the reasons and their objects are
// also added to the host findings they explain.
func checkFamily(in *Input, found Found, f *dropFamily) Outcome {
	groups := groupDrops(in.Drops, f)
	var out Outcome
	var quiet []string
	for _, g := range groups {
		if in.Diag != nil && in.here(g.netns) {
			for _, ref := range found.refs(hasID(f.related...)) {
				out.Amend = append(out.Amend, Amendment{Ref: ref, Evidence: g.evidence(),
					Notes: []string{fmt.Sprintf("The kernel's drop reasons agree: %s in this namespace over the window (%s).",
						plural(int(g.total), "drop"), g.reasonList())}})
			}
		}
		sev := grade(
			critical(f.hurts && g.total >= minEvents && g.rate() > dropsCritRate),
			level{f.severity, g.total >= minEvents},
		)
		if sev == 0 {
			quiet = append(quiet, fmt.Sprintf("%d in %s", g.total, nsLabel(g.netns)))
			continue
		}
		out.Findings = append(out.Findings, g.finding(sev))
	}
	switch {
	case len(out.Findings) == 0 && len(quiet) == 0:
		out.Detail = "no drops " + dropsWindow(in.Drops)
	case len(out.Findings) == 0:
		out.Detail = fmt.Sprintf("%s %s, below %d per namespace", names(quiet), dropsWindow(in.Drops), minEvents)
	}
	return out
}

// finding is the group's finding.
func (g *dropGroup) finding(sev Severity) Finding {
	f := Finding{ID: g.fam.id(), Severity: sev, Subject: g.netns.String(), Evidence: g.evidence()}
	where := "in netns " + nsLabel(g.netns)
	if objs := g.objects(); len(objs) > 0 {
		where += ", most at " + objs[0].label
	}
	f.Summary = fmt.Sprintf("The kernel dropped %s (%s/s) for %s %s: %s.", plural(int(g.total), "packet"),
		fmtRate(g.rate()), g.fam.name, where, g.reasonList())
	f.Fix = g.fam.fix(g)
	if g.fam.note != "" {
		f.Notes = append(f.Notes, g.fam.note)
	}
	return f
}

// reasonList is "SOCKET_RCVBUFF 4998, PROTO_MEM 2".
func (g *dropGroup) reasonList() string {
	var parts []string
	for _, e := range g.evidence() {
		if r, ok := strings.CutPrefix(e.Name, "drop reason "); ok {
			parts = append(parts, fmt.Sprintf("%s %d", r, uint64(*e.Delta)))
		}
	}
	return strings.Join(parts, ", ")
}

// nsLabel names a namespace in a sentence.
func nsLabel(n drops.Netns) string {
	if s := n.String(); s != "" {
		return s
	}
	return "unknown (the source sees no namespaces)"
}

// dropsWindow is "in 6s" for the drops' window.
func dropsWindow(w *drops.Window) string {
	return "in " + fmtSeconds(w.End.Sub(w.Start).Seconds())
}

// when is s when cond holds, else "".
func when(cond bool, s string) string {
	if cond {
		return s
	}
	return ""
}

// DropFamilyOf is the key of the family of a reason ("socket_buffer"),
// "" for NOT_SPECIFIED.
func DropFamilyOf(reason string) string {
	if f := familyFor(reason); f != nil {
		return f.key
	}
	return ""
}

// DropFamilyKeys lists the families' keys.
func DropFamilyKeys() []string {
	var out []string
	for _, f := range dropFamilies {
		out = append(out, f.key)
	}
	return append(out, otherDrops.key)
}

// IsDropFamily reports whether key is a family's key.
func IsDropFamily(key string) bool { return slices.Contains(DropFamilyKeys(), key) }
