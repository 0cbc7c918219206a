package diagnose

import (
	"testing"
	"time"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/report"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// testInterval is the window of the test pairs.
const testInterval = 10 * time.Second

func u64(v uint64) *uint64 { return &v }
func i64(v int64) *int64   { return &v }
func intp(v int) *int      { return &v }

// healthyHost is a busy but healthy host: traffic, no drops worth a
// finding. Every call returns fresh maps, so tests may mutate it.
func healthyHost(at time.Time) *collectors.Snapshot {
	s := &collectors.Snapshot{
		Taken:  at,
		Uptime: 40 * 24 * time.Hour,
		Netstat: collectors.NetCounters{
			"TcpExt": {
				"ListenOverflows": 3, "ListenDrops": 3, "TCPReqQFullDrop": 0, "TCPReqQFullDoCookies": 0,
				"SyncookiesSent": 0, "SyncookiesRecv": 0, "SyncookiesFailed": 0,
				"TCPTimeouts": 1000, "TCPLostRetransmit": 10, "TCPFastRetrans": 5000, "TCPSlowStartRetrans": 10,
				"TCPLossProbes": 300, "TCPSynRetrans": 50, "TCPSACKReorder": 100, "TCPTSReorder": 10,
				"TCPRenoReorder": 0, "TCPDSACKRecv": 20, "TCPRcvQDrop": 0, "TCPBacklogDrop": 0,
				"TCPZeroWindowDrop": 0, "RcvPruned": 0, "OfoPruned": 0, "TCPOFODrop": 0, "PruneCalled": 0,
				"TCPMemoryPressures": 0, "TCPAbortOnMemory": 0, "TCPSpuriousRtxHostQueues": 2,
				"IPReversePathFilter": 0,
			},
			"IpExt": {"InNoRoutes": 0},
			"Ip":    {"InReceives": 50_000_000, "InDiscards": 0, "ReasmFails": 0, "ReasmReqds": 0, "ReasmTimeout": 0, "OutNoRoutes": 0},
			"Icmp":  {"OutRateLimitGlobal": 0, "OutRateLimitHost": 0},
			"Ip6":   {"InReceives": 1000, "InDiscards": 0, "ReasmFails": 0},
			"Tcp":   {"InSegs": 40_000_000, "OutSegs": 40_000_000, "RetransSegs": 8000, "ActiveOpens": 1000, "AttemptFails": 10},
			"Udp":   {"InDatagrams": 1_000_000, "RcvbufErrors": 0, "SndbufErrors": 0, "InErrors": 0, "MemErrors": 0},
			"Udp6":  {"InDatagrams": 1000, "RcvbufErrors": 0, "SndbufErrors": 0},
		},
		Softnet: []collectors.SoftnetCPU{
			{CPU: 0, Processed: 10_000_000, Dropped: 0, TimeSqueeze: 5, FlowLimitCount: u64(0), Columns: 13},
			{CPU: 1, Processed: 12_000_000, Dropped: 0, TimeSqueeze: 7, FlowLimitCount: u64(0), Columns: 13},
		},
		Links: []collectors.Link{
			{Name: "eth0", Index: 2, Kind: "device", MTU: 1500, TxQueueLen: intp(1000), OperState: "up",
				NumTxQueues: 4, NumRxQueues: 4, SpeedMbps: i64(10000), Duplex: "full", CarrierChanges: u64(2),
				StatsSource: "netlink",
				Stats: map[string]uint64{"rx_packets": 50_000_000, "tx_packets": 45_000_000, "rx_bytes": 60e9, "tx_bytes": 30e9,
					"rx_errors": 0, "tx_errors": 0, "rx_dropped": 0, "tx_dropped": 0, "rx_missed_errors": 0,
					"rx_fifo_errors": 0, "rx_over_errors": 0, "rx_crc_errors": 0, "rx_frame_errors": 0, "rx_length_errors": 0,
					"tx_carrier_errors": 0, "tx_aborted_errors": 0}},
			{Name: "lo", Index: 1, Kind: "device", MTU: 65536, TxQueueLen: intp(1000), OperState: "unknown",
				StatsSource: "netlink", Stats: map[string]uint64{"rx_packets": 1000, "tx_packets": 1000}},
		},
		NICs: map[string]*collectors.NIC{
			"eth0": {
				Driver: &collectors.DriverInfo{Driver: "mlx5_core", Version: "6.8", BusInfo: "0000:3b:00.0"},
				Stats: map[string]uint64{"rx_out_of_buffer": 0, "rx_discards_phy": 0, "rx0_packets": 25_000_000,
					"rx1_packets": 25_000_000, "rx0_buff_alloc_err": 0, "rx1_buff_alloc_err": 0},
				Ring:     &collectors.Ring{RxPending: 1024, RxMax: 8192, TxPending: 1024, TxMax: 8192},
				Channels: &collectors.Channels{Combined: 4, MaxCombined: 16},
				Offloads: map[string]bool{"rx-gro": true, "tx-generic-segmentation": true, "tx-tcp-segmentation": true},
			},
		},
		Qdiscs: []collectors.Qdisc{
			{Iface: "eth0", Kind: "mq", Handle: "0:", Parent: "root", Root: true, Packets: 45_000_000, Drops: 0, Requeues: 0},
			{Iface: "eth0", Kind: "fq_codel", Handle: "0:", Parent: "0:1", Packets: 45_000_000},
			{Iface: "lo", Kind: "noqueue", Handle: "0:", Parent: "root", Root: true},
		},
		Sysctls: collectors.Sysctls{
			"net.core.somaxconn":             {Value: "4096", Scope: "netns"},
			"net.core.netdev_max_backlog":    {Value: "1000", Scope: "host"},
			"net.core.netdev_budget":         {Value: "300", Scope: "host"},
			"net.core.netdev_budget_usecs":   {Value: "2000", Scope: "host"},
			"net.core.flow_limit_table_len":  {Value: "4096", Scope: "host"},
			"net.core.rmem_default":          {Value: "212992", Scope: "host"},
			"net.core.rmem_max":              {Value: "212992", Scope: "host"},
			"net.core.wmem_default":          {Value: "212992", Scope: "host"},
			"net.core.wmem_max":              {Value: "212992", Scope: "host"},
			"net.core.default_qdisc":         {Value: "fq_codel", Scope: "host"},
			"net.ipv4.tcp_syncookies":        {Value: "1", Scope: "netns"},
			"net.ipv4.tcp_max_syn_backlog":   {Value: "1024", Scope: "netns"},
			"net.ipv4.tcp_abort_on_overflow": {Value: "0", Scope: "netns"},
			"net.ipv4.tcp_syn_retries":       {Value: "6", Scope: "netns"},
			"net.ipv4.tcp_synack_retries":    {Value: "5", Scope: "netns"},
			"net.ipv4.tcp_rmem":              {Value: "4096 131072 6291456", Scope: "netns"},
			"net.ipv4.tcp_mem":               {Value: "189132 252176 378264", Scope: "host"},
			"net.ipv4.udp_mem":               {Value: "378264 504352 756528", Scope: "host"},
			"net.ipv4.tcp_max_orphans":       {Value: "65536", Scope: "host"},
			"net.ipv4.tcp_reordering":        {Value: "3", Scope: "netns"},
			"net.ipv4.tcp_recovery":          {Value: "1", Scope: "netns"},
			"net.ipv4.tcp_mtu_probing":       {Value: "0", Scope: "netns"},
			"net.ipv4.ipfrag_high_thresh":    {Value: "4194304", Scope: "netns"},
			"net.ipv4.conf.all.rp_filter":    {Value: "0", Scope: "netns"},
			"net.ipv4.conf.eth0.rp_filter":   {Value: "1", Scope: "netns"},
		},
		Sockets: &collectors.Sockets{
			Listeners: []collectors.Listener{
				{Local: "0.0.0.0:443", Port: 443, AcceptQueue: 2, Backlog: 4096, Drops: u64(3), Inode: 1001,
					Process: &collectors.Process{PID: 812, Comm: "nginx"}},
				{Local: "[::]:8080", Port: 8080, AcceptQueue: 0, Backlog: 128, Drops: u64(0), Inode: 1002,
					Process: &collectors.Process{PID: 900, Comm: "java"}},
			},
			UDP: []collectors.UDPSocket{}, UDPTotal: 12,
		},
		Sockstat: collectors.NetCounters{
			"TCP": {"inuse": 500, "orphan": 10, "tw": 300, "alloc": 520, "mem": 3000},
			"UDP": {"inuse": 12, "mem": 40},
		},
		Conntrack: &collectors.Conntrack{Count: u64(20_000), Max: u64(262_144), Buckets: u64(262_144),
			Columns: []string{"entries", "clashres", "found", "new", "invalid", "ignore", "delete", "chainlength",
				"insert", "insert_failed", "drop", "early_drop", "icmp_error", "expect_new", "expect_create", "expect_delete", "search_restart"},
			PerCPU: [][]uint64{
				{20000, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
				{20000, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
			}},
	}
	return s
}

// healthyPair is healthyHost before and testInterval later, with ordinary
// traffic in between and nothing wrong.
func healthyPair() (before, after *collectors.Snapshot) {
	before, after = healthyHost(t0), healthyHost(t0.Add(testInterval))
	bump(after, "Tcp", "InSegs", 100_000)
	bump(after, "Tcp", "OutSegs", 100_000)
	bump(after, "Tcp", "RetransSegs", 50)
	bump(after, "Ip", "InReceives", 120_000)
	bump(after, "Udp", "InDatagrams", 5000)
	bump(after, "TcpExt", "TCPSACKReorder", 3)
	linkBump(after, "eth0", "rx_packets", 120_000)
	linkBump(after, "eth0", "tx_packets", 110_000)
	linkBump(after, "eth0", "rx_bytes", 150e6)
	linkBump(after, "eth0", "tx_bytes", 80e6)
	after.Softnet[0].Processed += 60_000
	after.Softnet[1].Processed += 60_000
	after.Qdiscs[0].Packets += 110_000
	return before, after
}

func bump(s *collectors.Snapshot, section, name string, by uint64) {
	if s.Netstat[section] == nil {
		s.Netstat[section] = map[string]uint64{}
	}
	s.Netstat[section][name] += by
}

func linkBump(s *collectors.Snapshot, iface, stat string, by uint64) {
	s.Link(iface).Stats[stat] += by
}

// evaluate runs every rule over a pair (before nil: since boot).
func evaluate(before, after *collectors.Snapshot) ([]Finding, []report.Check) {
	iv := testInterval
	if before == nil {
		iv = 0
	}
	return Evaluate(&Input{Diag: collectors.NewWindow(before, after, iv)})
}

func findingsWithID(fs []Finding, id string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.ID == id {
			out = append(out, f)
		}
	}
	return out
}

func hostFindings(t *testing.T, fs []Finding) []string {
	t.Helper()
	var ids []string
	for _, f := range fs {
		if f.Source == SourceHost {
			ids = append(ids, f.ID+" "+f.Subject)
		}
	}
	return ids
}
