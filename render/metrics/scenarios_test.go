package metrics

import (
	"net/netip"
	"time"

	"github.com/netdx/netdx/internal/promql"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/diagnose"
	"github.com/netdx/netdx/drops"
	"github.com/netdx/netdx/report"
)

// The alert scenarios: a small synthetic host, sampled twice one
// AlertWindow apart, with one thing changed per scenario. The Go rules
// judge each pair; the same pair, exported and played to promtool as
// series, must make exactly the alerts of those findings fire.

var t0 = time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC)

// scenario is one host change. want lists the findings the rules must
// produce ("id severity", sorted), so a scenario cannot silently test
// nothing; extra findings are added to the report as they are, for the
// rules on netdx_finding.
type scenario struct {
	name   string
	want   []string
	mutate func(b, a *collectors.Snapshot)
	extra  []report.Finding
	// drops are the kernel's drop reasons over the window, each row
	// with the drops it counted (and 0 before).
	drops []drops.Drop
}

// dropWindows are the drop reasons before and after a scenario's window:
// serve's cumulative snapshots.
func dropWindows(sc scenario) (before, after drops.Window) {
	before = drops.Window{Kind: drops.KindBTF, Names: "btf", Start: t0, End: t0}
	after = drops.Window{Kind: drops.KindBTF, Names: "btf", Start: t0, End: t0.Add(promql.Window)}
	for _, d := range sc.drops {
		after.Drops = append(after.Drops, d)
		d.Count = 0
		before.Drops = append(before.Drops, d)
	}
	return before, after
}

// dropRow is a row of drops of reason in namespace blue, on veth0.
func dropRow(reason string, n uint64) drops.Drop {
	return drops.Drop{Reason: reason, Netns: drops.Netns{Cookie: 7, Inode: 4026532999, Name: "blue"},
		Ifindex: 3, Interface: "veth0", EtherType: 0x0800, IPProto: 17, Count: n}
}

// dropScenarios make every drop-reason alert fire at each of its
// severities (a family's first reason, 10 drops for a warning, 40,000 in
// 5 minutes, 133/s, for critical), and one stay silent (5 drops).
func dropScenarios() []scenario {
	var out []scenario
	for _, f := range diagnose.DropFamilies() {
		e, _ := diagnose.Lookup(f.ID)
		for _, a := range e.Alerts {
			n := uint64(10)
			if a.Severity == report.Critical {
				n = 40000
			}
			out = append(out, scenario{name: f.ID + "-" + a.Severity.String(), want: []string{f.ID + " " + a.Severity.String()},
				mutate: func(_, _ *collectors.Snapshot) {}, drops: []drops.Drop{dropRow(f.Reasons[0], n)}})
		}
		if len(e.Alerts) > 0 {
			out = append(out, scenario{name: f.ID + "-few", mutate: func(_, _ *collectors.Snapshot) {},
				drops: []drops.Drop{dropRow(f.Reasons[0], 5)}})
		}
	}
	return out
}

func init() { scenarios = append(scenarios, dropScenarios()...) }

// baseHost is the host every scenario starts from: eth0 (hardware with a
// netlink view, 1 Gb/s), eth1 (read from /proc/net/dev only), veth0 (a
// veth with a nominal speed), two CPUs, conntrack and MPTCP, and steady
// traffic that raises nothing.
func baseHost() (before, after *collectors.Snapshot) {
	before, after = snapshot(t0), snapshot(t0.Add(promql.Window))
	traffic := map[string]uint64{
		"Tcp.OutSegs": 100000, "Tcp.InSegs": 100000, "Ip.InReceives": 100000, "Ip6.InReceives": 100000,
		"Udp.InDatagrams": 100000,
	}
	for k, v := range traffic {
		addNetstat(after, k, v)
	}
	for _, iface := range []string{"eth0", "eth1", "veth0"} {
		for _, st := range []string{"rx_packets", "tx_packets"} {
			addLink(after, iface, st, 100000)
		}
		addLink(after, iface, "rx_bytes", 100000*1000)
		addLink(after, iface, "tx_bytes", 100000*1000)
	}
	for i := range after.Qdiscs {
		after.Qdiscs[i].Packets += 100000
		after.Qdiscs[i].Bytes += 100000 * 1000
	}
	for i := range after.Softnet {
		after.Softnet[i].Processed += 100000
	}
	return before, after
}

// netstatBase are the counters of the synthetic host, with their totals
// since boot: every counter the rules and alerts read.
var netstatBase = map[string]uint64{
	"Tcp.OutSegs": 5e7, "Tcp.InSegs": 5e7, "Tcp.RetransSegs": 1000, "Tcp.ActiveOpens": 100, "Tcp.AttemptFails": 1, "Tcp.CurrEstab": 10,
	"TcpExt.ListenOverflows": 0, "TcpExt.ListenDrops": 0, "TcpExt.TCPReqQFullDrop": 0, "TcpExt.TCPReqQFullDoCookies": 0,
	"TcpExt.SyncookiesSent": 0, "TcpExt.SyncookiesRecv": 0, "TcpExt.SyncookiesFailed": 0, "TcpExt.TCPSynRetrans": 3,
	"TcpExt.TCPSACKReorder": 5, "TcpExt.TCPTSReorder": 0, "TcpExt.TCPRenoReorder": 0, "TcpExt.TCPDSACKRecv": 2,
	"TcpExt.TCPRcvQDrop": 0, "TcpExt.TCPBacklogDrop": 0, "TcpExt.TCPZeroWindowDrop": 0, "TcpExt.RcvPruned": 0,
	"TcpExt.OfoPruned": 0, "TcpExt.TCPOFODrop": 0, "TcpExt.PruneCalled": 0, "TcpExt.TCPMemoryPressures": 0,
	"TcpExt.TCPAbortOnMemory": 0, "TcpExt.TCPSpuriousRtxHostQueues": 0, "TcpExt.IPReversePathFilter": 0, "TcpExt.TCPTimeouts": 10,
	"Ip.InReceives": 5e7, "Ip.InDiscards": 0, "Ip.ReasmFails": 0, "Ip.ReasmReqds": 0, "Ip.ReasmTimeout": 0, "Ip.OutNoRoutes": 0,
	"Ip.Forwarding": 2, "Ip6.InReceives": 5e7, "Ip6.InDiscards": 0, "Ip6.ReasmFails": 0, "IpExt.InNoRoutes": 0,
	"Udp.RcvbufErrors": 0, "Udp.SndbufErrors": 0, "Udp.InDatagrams": 5e7, "Udp.InErrors": 0, "Udp.MemErrors": 0,
	"Udp6.RcvbufErrors": 0, "Udp6.SndbufErrors": 0,
	"MPTcpExt.MPCapableSYNTX": 5000, "MPTcpExt.MPCapableSYNRX": 0, "MPTcpExt.MPCapableFallbackSYNACK": 0,
	"MPTcpExt.MPCapableFallbackACK": 0, "MPTcpExt.MPCapableSYNTXDrop": 0, "MPTcpExt.MPCapableSYNTXDisabled": 0,
	"MPTcpExt.Blackhole": 0, "MPTcpExt.DSSCorruptionFallback": 0, "MPTcpExt.DSSCorruptionReset": 0, "MPTcpExt.MPJoinSynRx": 5000,
	"MPTcpExt.MPJoinSynTx": 0, "MPTcpExt.MPJoinNoTokenFound": 0, "MPTcpExt.MPJoinRejected": 0, "MPTcpExt.SubflowStale": 0,
	"MPTcpExt.SubflowRecover": 0, "MPTcpExt.AddAddrDrop": 0, "MPTcpExt.AddAddr": 0, "MPTcpExt.AddAddrTx": 0,
}

// linkStats are the interface counters of the synthetic host; eth1 has
// only what /proc/net/dev shows.
var linkStats = []string{"rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_errors", "tx_errors", "rx_dropped",
	"tx_dropped", "rx_frame_errors", "rx_fifo_errors"}

var netlinkOnly = []string{"rx_crc_errors", "rx_length_errors", "rx_missed_errors", "rx_over_errors"}

func snapshot(at time.Time) *collectors.Snapshot {
	s := &collectors.Snapshot{Taken: at, Uptime: 24 * time.Hour, Netstat: collectors.NetCounters{}}
	for k, v := range netstatBase {
		addNetstat(s, k, v)
	}
	for cpu := range 2 {
		zero, backlog := uint64(0), uint64(0)
		s.Softnet = append(s.Softnet, collectors.SoftnetCPU{CPU: cpu, Processed: 1e6, ReceivedRPS: &zero,
			FlowLimitCount: new(uint64), BacklogLen: &backlog, Columns: 13})
	}
	gig, ten := int64(1000), int64(10000)
	one, qlen := uint64(1), 1000
	for _, l := range []collectors.Link{
		{Name: "eth0", Kind: "device", MTU: 1500, TxQueueLen: &qlen, OperState: "up", SpeedMbps: &gig, Duplex: "full",
			CarrierChanges: &one, StatsSource: "netlink"},
		{Name: "eth1", MTU: 1500, StatsSource: "/proc/net/dev"},
		{Name: "lo", Kind: "", MTU: 65536, StatsSource: "netlink"},
		{Name: "veth0", Kind: "veth", MTU: 1500, SpeedMbps: &ten, CarrierChanges: &one, StatsSource: "netlink"},
	} {
		l.Stats = map[string]uint64{}
		for _, st := range linkStats {
			l.Stats[st] = 0
		}
		if l.StatsSource == "netlink" {
			for _, st := range netlinkOnly {
				l.Stats[st] = 0
			}
			l.Stats["rx_crc_errors"] = 3 // non-zero: a counter unchanged since boot
		}
		l.Stats["rx_packets"], l.Stats["tx_packets"] = 1e8, 1e8
		s.Links = append(s.Links, l)
	}
	s.NICs = map[string]*collectors.NIC{
		"eth0": {Driver: &collectors.DriverInfo{Driver: "ixgbe", BusInfo: "0000:01:00.0"},
			Stats: map[string]uint64{"rx_queue_0_drops": 0, "rx_queue_1_drops": 0, "rx_no_buffer_count": 0,
				"port.rx_dropped": 0, "bw_in_allowance_exceeded": 0, "rx_queue_0_packets": 5e7},
			Ring:     &collectors.Ring{RxPending: 512, RxMax: 4096, TxPending: 512, TxMax: 4096},
			Channels: &collectors.Channels{Combined: 2, MaxCombined: 8}},
		"veth0": {Driver: &collectors.DriverInfo{Driver: "veth"}},
	}
	s.Qdiscs = []collectors.Qdisc{
		{Iface: "eth0", Kind: "fq_codel", Handle: "0:", Parent: "root", Root: true, Packets: 1e6, Bytes: 1e9},
		{Iface: "lo", Kind: "noqueue", Handle: "0:", Parent: "root", Root: true},
		{Iface: "veth0", Kind: "htb", Handle: "1:", Parent: "root", Root: true, Packets: 1e6, Bytes: 1e9},
	}
	s.Sysctls = collectors.Sysctls{}
	for k, v := range map[string]string{
		"net.ipv4.tcp_syncookies": "1", "net.ipv4.tcp_mem": "100000 200000 300000", "net.ipv4.udp_mem": "100000 200000 300000",
		"net.ipv4.tcp_max_orphans": "65536", "net.core.somaxconn": "4096", "net.core.netdev_max_backlog": "1000",
		"net.ipv4.tcp_recovery": "1", "net.core.default_qdisc": "fq_codel",
	} {
		s.Sysctls[k] = collectors.Sysctl{Value: v, Scope: collectors.ScopeNetNS}
	}
	s.Sockets = &collectors.Sockets{Listeners: []collectors.Listener{}, UDP: []collectors.UDPSocket{}, TCP: []collectors.TCPSocket{}}
	s.Sockstat = collectors.NetCounters{"TCP": {"inuse": 10, "orphan": 0, "tw": 2, "alloc": 12, "mem": 1000},
		"UDP": {"inuse": 4, "mem": 100}}
	count, limit := uint64(1000), uint64(262144)
	s.Conntrack = &collectors.Conntrack{Count: &count, Max: &limit,
		Columns: []string{"entries", "found", "insert", "insert_failed", "drop", "early_drop"},
		PerCPU:  [][]uint64{{1000, 5, 50, 0, 0, 0}, {1000, 5, 50, 0, 0, 0}}}
	s.MPTCP = &collectors.MPTCP{
		Sysctls: map[string]string{"enabled": "1", "path_manager": "kernel"},
		PM: &collectors.MPTCPPathManager{Limits: collectors.MPTCPLimits{Subflows: 2, AddAddrAccepted: 2},
			Endpoints: []collectors.MPTCPEndpoint{{ID: 1, Addr: netip.MustParseAddr("198.18.1.2"), Iface: "eth1",
				Flags: collectors.MPTCPEndpointSubflow}}},
		Sockets: &collectors.MPTCPSockets{SubflowDetail: true},
	}
	return s
}

func addNetstat(s *collectors.Snapshot, counter string, v uint64) {
	sec, name, _ := cut(counter)
	if s.Netstat[sec] == nil {
		s.Netstat[sec] = map[string]uint64{}
	}
	s.Netstat[sec][name] += v
}

func cut(counter string) (string, string, bool) {
	for i := range counter {
		if counter[i] == '.' {
			return counter[:i], counter[i+1:], true
		}
	}
	return counter, "", false
}

func addLink(s *collectors.Snapshot, iface, stat string, v uint64) {
	for i := range s.Links {
		if s.Links[i].Name == iface {
			s.Links[i].Stats[stat] += v
		}
	}
}

func qdisc(s *collectors.Snapshot, iface string) *collectors.Qdisc {
	for i := range s.Qdiscs {
		if s.Qdiscs[i].Iface == iface {
			return &s.Qdiscs[i]
		}
	}
	return nil
}

func setSysctl(s *collectors.Snapshot, name, v string) {
	s.Sysctls[name] = collectors.Sysctl{Value: v, Scope: collectors.ScopeNetNS}
}

// both applies f to both snapshots, for levels and settings.
func both(f func(*collectors.Snapshot)) func(b, a *collectors.Snapshot) {
	return func(b, a *collectors.Snapshot) { f(b); f(a) }
}

// grow adds to netstat counters over the window.
func grow(kv ...any) func(b, a *collectors.Snapshot) {
	return func(_, a *collectors.Snapshot) {
		for i := 0; i < len(kv); i += 2 {
			addNetstat(a, kv[i].(string), uint64(kv[i+1].(int)))
		}
	}
}

// growLink adds to an interface counter over the window.
func growLink(iface string, kv ...any) func(b, a *collectors.Snapshot) {
	return func(_, a *collectors.Snapshot) {
		for i := 0; i < len(kv); i += 2 {
			addLink(a, iface, kv[i].(string), uint64(kv[i+1].(int)))
		}
	}
}

// growNIC adds to driver statistics of eth0 over the window.
func growNIC(kv ...any) func(b, a *collectors.Snapshot) {
	return func(_, a *collectors.Snapshot) {
		for i := 0; i < len(kv); i += 2 {
			a.NICs["eth0"].Stats[kv[i].(string)] += uint64(kv[i+1].(int))
		}
	}
}

// growSoftnet adds to a softnet column of each CPU.
func growSoftnet(field string, perCPU ...int) func(b, a *collectors.Snapshot) {
	return func(_, a *collectors.Snapshot) {
		for cpu, v := range perCPU {
			c := &a.Softnet[cpu]
			switch field {
			case "dropped":
				c.Dropped += uint64(v)
			case "squeezed":
				c.TimeSqueeze += uint64(v)
			case "flow_limit":
				n := *c.FlowLimitCount + uint64(v)
				c.FlowLimitCount = &n
			}
		}
	}
}

// growConntrack adds to a conntrack statistic of CPU 0.
func growConntrack(col int, v uint64) func(b, a *collectors.Snapshot) {
	return func(_, a *collectors.Snapshot) {
		row := append([]uint64(nil), a.Conntrack.PerCPU[0]...)
		row[col] += v
		a.Conntrack.PerCPU = [][]uint64{row, a.Conntrack.PerCPU[1]}
	}
}

func sockstat(proto, key string, v uint64) func(b, a *collectors.Snapshot) {
	return both(func(s *collectors.Snapshot) {
		m := map[string]uint64{}
		for k, x := range s.Sockstat[proto] {
			m[k] = x
		}
		m[key] = v
		s.Sockstat[proto] = m
	})
}

func conntrackCount(n uint64) func(b, a *collectors.Snapshot) {
	return both(func(s *collectors.Snapshot) {
		c := *s.Conntrack
		c.Count = &n
		s.Conntrack = &c
	})
}

func mptcpPM(limit uint32, pm string) func(b, a *collectors.Snapshot) {
	return both(func(s *collectors.Snapshot) {
		m := *s.MPTCP
		pmc := *m.PM
		pmc.Limits.Subflows = limit
		m.PM = &pmc
		m.Sysctls = map[string]string{"enabled": "1", "path_manager": pm}
		s.MPTCP = &m
	})
}

// then runs several mutations.
func then(fs ...func(b, a *collectors.Snapshot)) func(b, a *collectors.Snapshot) {
	return func(b, a *collectors.Snapshot) {
		for _, f := range fs {
			f(b, a)
		}
	}
}

// bytesAt is the bytes a link of mbps carries in the window at share of
// its speed.
func bytesAt(mbps, share float64) int {
	return int(mbps * 1e6 / 8 * share * promql.Window.Seconds())
}

var scenarios = []scenario{
	{name: "base", mutate: func(_, _ *collectors.Snapshot) {}},

	{name: "listen-warning", want: []string{"tcp.listen_overflow warning"}, mutate: grow("TcpExt.ListenOverflows", 10)},
	{name: "listen-critical", want: []string{"tcp.listen_overflow critical"}, mutate: grow("TcpExt.ListenOverflows", 3000)},

	{name: "synq-drop", want: []string{"tcp.syn_queue_overflow warning"}, mutate: grow("TcpExt.TCPReqQFullDrop", 5)},
	{name: "synq-drop-nocookies", want: []string{"tcp.syn_queue_overflow critical"},
		mutate: then(grow("TcpExt.TCPReqQFullDrop", 5), both(func(s *collectors.Snapshot) { setSysctl(s, "net.ipv4.tcp_syncookies", "0") }))},
	{name: "synq-cookies-warning", want: []string{"tcp.syn_queue_overflow warning"}, mutate: grow("TcpExt.SyncookiesSent", 600)},
	{name: "synq-cookies-critical", want: []string{"tcp.syn_queue_overflow critical"}, mutate: grow("TcpExt.TCPReqQFullDoCookies", 3000, "TcpExt.SyncookiesSent", 3000)},
	{name: "synq-cookies-slow", mutate: grow("TcpExt.SyncookiesSent", 150)},
	// tcp_syncookies=2 counts "do cookies" for every SYN, including those
	// then dropped at a full accept queue: no SYN queue overflow.
	{name: "synq-always-accept-full", want: []string{"tcp.listen_overflow critical"},
		mutate: then(grow("TcpExt.TCPReqQFullDoCookies", 3000, "TcpExt.ListenOverflows", 3000), both(func(s *collectors.Snapshot) { setSysctl(s, "net.ipv4.tcp_syncookies", "2") }))},
	{name: "synq-always-flood", want: []string{"tcp.syn_queue_overflow critical"},
		mutate: then(grow("TcpExt.TCPReqQFullDoCookies", 3000, "TcpExt.SyncookiesSent", 3000), both(func(s *collectors.Snapshot) { setSysctl(s, "net.ipv4.tcp_syncookies", "2") }))},
	{name: "synq-always-answered", mutate: then(grow("TcpExt.TCPReqQFullDoCookies", 3000, "TcpExt.SyncookiesSent", 3000, "TcpExt.SyncookiesRecv", 3000),
		both(func(s *collectors.Snapshot) { setSysctl(s, "net.ipv4.tcp_syncookies", "2") }))},

	{name: "retrans-warning", want: []string{"tcp.retransmits warning"}, mutate: grow("Tcp.RetransSegs", 2000)},
	{name: "retrans-critical", want: []string{"tcp.retransmits critical"}, mutate: grow("Tcp.RetransSegs", 20000)},
	{name: "retrans-low", mutate: grow("Tcp.RetransSegs", 500)},
	{name: "retrans-few-segments", mutate: func(b, a *collectors.Snapshot) {
		a.Netstat["Tcp"]["OutSegs"] = b.Netstat["Tcp"]["OutSegs"] + 500
		addNetstat(a, "Tcp.RetransSegs", 100)
	}},

	{name: "synretrans-warning", want: []string{"tcp.syn_retransmits warning"}, mutate: grow("TcpExt.TCPSynRetrans", 600)},
	{name: "synretrans-slow", mutate: grow("TcpExt.TCPSynRetrans", 150)},

	{name: "reorder-costly", want: []string{"tcp.reordering warning"},
		mutate: grow("TcpExt.TCPSACKReorder", 600, "TcpExt.TCPDSACKRecv", 100, "Tcp.RetransSegs", 500)},
	{name: "reorder-cheap", want: []string{"tcp.reordering info"}, mutate: grow("TcpExt.TCPTSReorder", 600)},

	{name: "rcvbuf-warning", want: []string{"tcp.receive_buffer_drops warning"}, mutate: grow("TcpExt.TCPRcvQDrop", 10)},
	{name: "rcvbuf-critical", want: []string{"tcp.receive_buffer_drops critical"}, mutate: grow("TcpExt.TCPZeroWindowDrop", 1000, "TcpExt.TCPOFODrop", 1000)},

	{name: "tcpmem-pressure", want: []string{"tcp.memory_pressure warning"}, mutate: sockstat("TCP", "mem", 250000)},
	{name: "tcpmem-high", want: []string{"tcp.memory_pressure critical"}, mutate: sockstat("TCP", "mem", 280000)},
	{name: "tcpmem-entered", want: []string{"tcp.memory_pressure warning"}, mutate: grow("TcpExt.TCPMemoryPressures", 5)},
	{name: "tcpmem-aborts", want: []string{"tcp.memory_pressure critical"}, mutate: grow("TcpExt.TCPAbortOnMemory", 5)},

	{name: "orphans-warning", want: []string{"tcp.orphans warning"}, mutate: sockstat("TCP", "orphan", 20000)},
	{name: "orphans-critical", want: []string{"tcp.orphans critical"}, mutate: sockstat("TCP", "orphan", 40000)},
	{name: "orphans-few", mutate: sockstat("TCP", "orphan", 10000)},

	{name: "localq-warning", want: []string{"tcp.local_queue_delay warning"},
		mutate: grow("TcpExt.TCPSpuriousRtxHostQueues", 600, "Tcp.RetransSegs", 500)},
	{name: "localq-info", want: []string{"tcp.local_queue_delay info"}, mutate: grow("TcpExt.TCPSpuriousRtxHostQueues", 600)},

	{name: "indiscards-warning", want: []string{"ip.in_discards warning"}, mutate: grow("Ip.InDiscards", 200, "Ip6.InDiscards", 200)},
	{name: "indiscards-low", mutate: grow("Ip.InDiscards", 50)},
	{name: "reasm-warning", want: []string{"ip.reassembly_failures warning"}, mutate: grow("Ip.ReasmFails", 5, "Ip6.ReasmFails", 5)},
	{name: "rpfilter-warning", want: []string{"ip.rp_filter_drops warning"}, mutate: grow("TcpExt.IPReversePathFilter", 5)},
	{name: "noroute-warning", want: []string{"ip.no_route warning"}, mutate: grow("IpExt.InNoRoutes", 5, "Ip.OutNoRoutes", 5)},
	{name: "noroute-few", mutate: grow("IpExt.InNoRoutes", 5)},

	{name: "udprcv-warning", want: []string{"udp.receive_buffer_errors warning"}, mutate: grow("Udp.RcvbufErrors", 10)},
	{name: "udprcv-critical", want: []string{"udp.receive_buffer_errors critical"}, mutate: grow("Udp.RcvbufErrors", 20000, "Udp6.RcvbufErrors", 15000)},
	{name: "udpsnd-warning", want: []string{"udp.send_buffer_errors warning"}, mutate: grow("Udp6.SndbufErrors", 10)},
	{name: "udpmem-warning", want: []string{"udp.memory_pressure warning"}, mutate: sockstat("UDP", "mem", 260000)},
	{name: "udpmem-critical", want: []string{"udp.memory_pressure critical"}, mutate: sockstat("UDP", "mem", 300000)},
	{name: "udpmem-errors", want: []string{"udp.memory_pressure warning"}, mutate: grow("Udp.MemErrors", 5)},

	{name: "backlog-warning", want: []string{"softnet.backlog_drops warning"}, mutate: growSoftnet("dropped", 3000, 1000)},
	{name: "backlog-critical", want: []string{"softnet.backlog_drops critical"}, mutate: growSoftnet("dropped", 40000)},
	{name: "backlog-slow", mutate: growSoftnet("dropped", 500, 500)},
	{name: "squeeze-warning", want: []string{"softnet.time_squeeze warning"}, mutate: growSoftnet("squeezed", 20000, 20000)},
	{name: "squeeze-info", want: []string{"softnet.time_squeeze info"}, mutate: growSoftnet("squeezed", 6000)},
	{name: "flowlimit-warning", want: []string{"softnet.flow_limit warning"}, mutate: growSoftnet("flow_limit", 5, 5)},

	{name: "qdisc-warning", want: []string{"qdisc.drops warning"}, mutate: func(_, a *collectors.Snapshot) { qdisc(a, "eth0").Drops += 10 }},
	{name: "qdisc-critical", want: []string{"qdisc.drops critical"}, mutate: func(_, a *collectors.Snapshot) { qdisc(a, "eth0").Drops += 5000 }},
	{name: "qdisc-shaper", want: []string{"qdisc.drops info"}, mutate: func(_, a *collectors.Snapshot) { qdisc(a, "veth0").Drops += 5000 }},
	{name: "requeue-warning", want: []string{"qdisc.requeues warning"}, mutate: func(_, a *collectors.Snapshot) { qdisc(a, "eth0").Requeues += 40000 }},
	{name: "requeue-info", want: []string{"qdisc.requeues info"}, mutate: func(_, a *collectors.Snapshot) { qdisc(a, "eth0").Requeues += 6000 }},
	{name: "standing-warning", want: []string{"qdisc.standing_queue warning"}, mutate: both(func(s *collectors.Snapshot) {
		q := qdisc(s, "eth0")
		q.Backlog, q.Qlen = 10e6, 100
	})},
	{name: "standing-info", want: []string{"qdisc.standing_queue info"}, mutate: both(func(s *collectors.Snapshot) {
		q := qdisc(s, "eth0")
		q.Backlog, q.Qlen = 1e6, 100
	})},

	{name: "nicerr-rx", want: []string{"nic.errors warning"}, mutate: growLink("eth0", "rx_crc_errors", 2000)},
	{name: "nicerr-tx", want: []string{"nic.errors warning"}, mutate: growLink("eth0", "tx_errors", 2000)},
	{name: "nicerr-both", want: []string{"nic.errors warning", "nic.errors warning"}, mutate: growLink("eth0", "rx_length_errors", 2000, "tx_errors", 2000)},
	{name: "nicerr-procfs", want: []string{"nic.errors warning"}, mutate: growLink("eth1", "rx_errors", 2000)},
	{name: "nicerr-low", mutate: growLink("eth0", "rx_crc_errors", 500)},
	{name: "rxdrop-warning", want: []string{"nic.rx_dropped warning"}, mutate: growLink("eth0", "rx_dropped", 3000)},
	{name: "rxdrop-info", want: []string{"nic.rx_dropped info"}, mutate: growLink("eth0", "rx_dropped", 200)},
	{name: "txdrop-warning", want: []string{"nic.tx_dropped warning"}, mutate: growLink("veth0", "tx_dropped", 3000)},
	{name: "saturated", want: []string{"nic.link_saturated warning"}, mutate: growLink("eth0", "tx_bytes", bytesAt(1000, 0.95))},
	{name: "saturated-veth", mutate: growLink("veth0", "rx_bytes", bytesAt(10000, 0.95))},
	{name: "flapping", want: []string{"nic.link_flapping warning"}, mutate: func(_, a *collectors.Snapshot) {
		n := *a.Link("eth0").CarrierChanges + 10
		a.Link("eth0").CarrierChanges = &n
	}},
	{name: "flap-once", mutate: func(_, a *collectors.Snapshot) {
		n := *a.Link("veth0").CarrierChanges + 1
		a.Link("veth0").CarrierChanges = &n
	}},
	{name: "allowance", want: []string{"nic.allowance_exceeded warning"}, mutate: growNIC("bw_in_allowance_exceeded", 5)},

	{name: "ring-queues", want: []string{"driver.ring_overflow warning"}, mutate: growNIC("rx_queue_0_drops", 5, "rx_queue_1_drops", 5)},
	{name: "ring-device", want: []string{"driver.ring_overflow warning"}, mutate: growNIC("rx_no_buffer_count", 10)},
	{name: "ring-overlap", mutate: then(growNIC("rx_no_buffer_count", 6), growLink("eth0", "rx_missed_errors", 6))},
	{name: "ring-critical", want: []string{"driver.ring_overflow critical", "nic.rx_dropped info"},
		mutate: then(growLink("eth0", "rx_missed_errors", 5000), growLink("eth0", "rx_dropped", 200))},
	{name: "port-discards", want: []string{"driver.port_discards warning"}, mutate: growNIC("port.rx_dropped", 10)},

	{name: "conntrack-warning", want: []string{"conntrack.table_full warning"}, mutate: conntrackCount(220000)},
	{name: "conntrack-critical", want: []string{"conntrack.table_full critical"}, mutate: conntrackCount(255000)},
	{name: "conntrack-drop", want: []string{"conntrack.drops critical"}, mutate: growConntrack(4, 5)},
	{name: "conntrack-early", want: []string{"conntrack.drops warning"}, mutate: growConntrack(5, 5)},
	{name: "conntrack-insert", want: []string{"conntrack.insert_failed warning"}, mutate: growConntrack(3, 5)},

	{name: "mptcp-fallback", want: []string{"mptcp.handshake_fallback warning"},
		mutate: grow("MPTcpExt.MPCapableSYNTX", 100, "MPTcpExt.MPCapableFallbackSYNACK", 60)},
	{name: "mptcp-fallback-some", want: []string{"mptcp.handshake_fallback info"},
		mutate: grow("MPTcpExt.MPCapableSYNTX", 100, "MPTcpExt.MPCapableFallbackSYNACK", 20)},
	{name: "mptcp-blackhole", want: []string{"mptcp.syn_blackhole warning"}, mutate: grow("MPTcpExt.Blackhole", 5)},
	{name: "mptcp-syndrop", want: []string{"mptcp.syn_blackhole warning"}, mutate: grow("MPTcpExt.MPCapableSYNTXDrop", 5)},
	{name: "mptcp-syndrop-few", mutate: grow("MPTcpExt.MPCapableSYNTXDrop", 2)},
	{name: "mptcp-data", want: []string{"mptcp.data_fallback warning"}, mutate: grow("MPTcpExt.DSSCorruptionFallback", 5)},
	{name: "mptcp-joins", want: []string{"mptcp.join_failures warning"}, mutate: grow("MPTcpExt.MPJoinSynRx", 20, "MPTcpExt.MPJoinNoTokenFound", 5)},
	{name: "mptcp-joins-few", mutate: grow("MPTcpExt.MPJoinSynRx", 100, "MPTcpExt.MPJoinNoTokenFound", 5)},
	{name: "mptcp-addaddr", want: []string{"mptcp.add_addr_drops warning"}, mutate: grow("MPTcpExt.AddAddrDrop", 5)},
	{name: "mptcp-limit-zero", want: []string{"mptcp.limit_zero warning"}, mutate: mptcpPM(0, "kernel")},
	{name: "mptcp-limit-userspace", mutate: mptcpPM(0, "userspace")},

	{name: "finding-critical", want: []string{"path.forwarding_loss critical"}, mutate: func(_, _ *collectors.Snapshot) {},
		extra: []report.Finding{{ID: "path.forwarding_loss", Severity: report.Critical, Subject: "198.18.9.9"}}},
	{name: "finding-warning", want: []string{"mptcp.subflows_missing warning"}, mutate: func(_, _ *collectors.Snapshot) {},
		extra: []report.Finding{{ID: "mptcp.subflows_missing", Severity: report.Warning, Subject: "wan2"}}},
	{name: "finding-info", want: []string{"path.silent_hop info"}, mutate: func(_, _ *collectors.Snapshot) {},
		extra: []report.Finding{{ID: "path.silent_hop", Severity: report.Info, Subject: "198.18.9.9, hop 2"}}},
}
