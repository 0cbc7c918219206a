package diagnose

import (
	"strings"
	"testing"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/report"
)

// TestHealthyHostRaisesNothing: a busy host with ordinary counter growth,
// over an interval and since boot, gives no host finding at all.
func TestHealthyHostRaisesNothing(t *testing.T) {
	b, a := healthyPair()
	fs, checks := evaluate(b, a)
	if ids := hostFindings(t, fs); len(ids) > 0 {
		t.Errorf("healthy pair raised %v", ids)
	}
	for _, c := range checks {
		if c.Source == SourceHost && c.Status == report.StatusNotChecked && c.Layer != LayerMPTCP {
			t.Errorf("healthy pair: check %q not checked: %s", c.Name, c.Detail)
		}
	}
	fs, _ = evaluate(nil, healthyHost(t0))
	if ids := hostFindings(t, fs); len(ids) > 0 {
		t.Errorf("healthy host since boot raised %v", ids)
	}
}

// TestIdleHostRaisesNothing: two identical snapshots (no traffic at all)
// pass every gate.
func TestIdleHostRaisesNothing(t *testing.T) {
	fs, _ := evaluate(healthyHost(t0), healthyHost(t0.Add(testInterval)))
	if ids := hostFindings(t, fs); len(ids) > 0 {
		t.Errorf("idle pair raised %v", ids)
	}
}

type ruleCase struct {
	name   string
	id     string
	mutate func(b, a *collectors.Snapshot)
	// want is the severity the finding must have; 0 means it must not fire.
	want  Severity
	check func(t *testing.T, f Finding)
}

func contains(t *testing.T, what string, list []string, sub string) {
	t.Helper()
	for _, s := range list {
		if strings.Contains(s, sub) {
			return
		}
	}
	t.Errorf("%s has no line containing %q:\n  %s", what, sub, strings.Join(list, "\n  "))
}

func listener(s *collectors.Snapshot, port int) *collectors.Listener {
	for i := range s.Sockets.Listeners {
		if s.Sockets.Listeners[i].Port == port {
			return &s.Sockets.Listeners[i]
		}
	}
	return nil
}

var ruleCases = []ruleCase{
	{name: "listen overflow at the app's backlog", id: "tcp.listen_overflow", want: Warning,
		mutate: func(b, a *collectors.Snapshot) {
			bump(a, "TcpExt", "ListenOverflows", 40)
			bump(a, "TcpExt", "ListenDrops", 40)
			l := listener(a, 8080)
			l.AcceptQueue, l.Drops = 129, u64(40)
		},
		check: func(t *testing.T, f Finding) {
			if f.Subject != "[::]:8080 (java[900])" {
				t.Errorf("subject %q, want the full listener", f.Subject)
			}
			contains(t, "fix", f.Fix, "raising somaxconn alone will not help")
			contains(t, "fix", f.Fix, "backlog of 128, below net.core.somaxconn=4096")
			contains(t, "notes", f.Notes, "tcp_abort_on_overflow=1")
			contains(t, "summary", []string{f.Summary}, "40 in 10s (4/s)")
		}},
	{name: "listen overflow capped by somaxconn, critical rate", id: "tcp.listen_overflow", want: Critical,
		mutate: func(b, a *collectors.Snapshot) {
			a.Sysctls["net.core.somaxconn"] = collectors.Sysctl{Value: "128", Scope: "netns"}
			bump(a, "TcpExt", "ListenOverflows", 90)
			bump(a, "TcpExt", "ListenDrops", 90)
			l := listener(a, 8080)
			l.AcceptQueue, l.Drops = 129, u64(90)
		},
		check: func(t *testing.T, f Finding) {
			contains(t, "fix", f.Fix, "capped by net.core.somaxconn=128: sysctl -w net.core.somaxconn=4096")
		}},
	{name: "listen queue deep but no overflow", id: "tcp.listen_overflow",
		mutate: func(b, a *collectors.Snapshot) { listener(a, 8080).AcceptQueue = 100 }},
	{name: "listen overflow since boot with a full listener", id: "tcp.listen_overflow", want: Warning,
		mutate: func(b, a *collectors.Snapshot) {
			listener(a, 8080).AcceptQueue = 129
		}},

	{name: "SYN drops with cookies off", id: "tcp.syn_queue_overflow", want: Critical,
		mutate: func(b, a *collectors.Snapshot) {
			a.Sysctls["net.ipv4.tcp_syncookies"] = collectors.Sysctl{Value: "0"}
			bump(a, "TcpExt", "TCPReqQFullDrop", 20)
		},
		check: func(t *testing.T, f Finding) {
			contains(t, "fix", f.Fix, "sysctl -w net.ipv4.tcp_syncookies=1")
			contains(t, "fix", f.Fix, "tcp_max_syn_backlog (1024)")
		}},
	{name: "SYN cookies flood", id: "tcp.syn_queue_overflow", want: Critical,
		mutate: func(b, a *collectors.Snapshot) {
			bump(a, "TcpExt", "SyncookiesSent", 2000)
			bump(a, "TcpExt", "TCPReqQFullDoCookies", 2000)
			bump(a, "TcpExt", "SyncookiesRecv", 10)
		},
		check: func(t *testing.T, f Finding) {
			contains(t, "notes", f.Notes, "spoofed SYN flood")
			contains(t, "notes", f.Notes, "tcp_max_syn_backlog does not matter")
		}},
	{name: "few SYN cookies", id: "tcp.syn_queue_overflow",
		mutate: func(b, a *collectors.Snapshot) { bump(a, "TcpExt", "SyncookiesSent", 5) }},

	{name: "3% retransmissions", id: "tcp.retransmits", want: Warning,
		mutate: func(b, a *collectors.Snapshot) {
			bump(a, "Tcp", "RetransSegs", 2950)
			bump(a, "TcpExt", "TCPTimeouts", 1500)
		},
		check: func(t *testing.T, f Finding) {
			contains(t, "summary", []string{f.Summary}, "3.0%")
			contains(t, "notes", f.Notes, "retransmission timeouts")
		}},
	{name: "0.5% retransmissions", id: "tcp.retransmits",
		mutate: func(b, a *collectors.Snapshot) { bump(a, "Tcp", "RetransSegs", 450) }},

	{name: "SYN retransmits 3/s", id: "tcp.syn_retransmits", want: Warning,
		mutate: func(b, a *collectors.Snapshot) { bump(a, "TcpExt", "TCPSynRetrans", 30) }},
	{name: "SYN retransmits 0.8/s", id: "tcp.syn_retransmits",
		mutate: func(b, a *collectors.Snapshot) { bump(a, "TcpExt", "TCPSynRetrans", 8) }},

	{name: "reordering through a tunnel", id: "tcp.reordering", want: Info,
		mutate: func(b, a *collectors.Snapshot) {
			bump(a, "TcpExt", "TCPSACKReorder", 500)
			for _, s := range []*collectors.Snapshot{b, a} {
				s.Links = append(s.Links, collectors.Link{Name: "vxlan0", Kind: "vxlan", MTU: 1450, Stats: map[string]uint64{}})
			}
		},
		check: func(t *testing.T, f Finding) {
			contains(t, "fix", f.Fix, "vxlan0 (vxlan)")
			contains(t, "notes", f.Notes, "RACK")
		}},
	{name: "reordering costing retransmissions, RACK off", id: "tcp.reordering", want: Warning,
		mutate: func(b, a *collectors.Snapshot) {
			a.Sysctls["net.ipv4.tcp_recovery"] = collectors.Sysctl{Value: "0"}
			bump(a, "TcpExt", "TCPSACKReorder", 500)
			bump(a, "TcpExt", "TCPDSACKRecv", 100)
		},
		check: func(t *testing.T, f Finding) {
			contains(t, "fix", f.Fix, "sysctl -w net.ipv4.tcp_recovery=1")
		}},
	{name: "little reordering", id: "tcp.reordering",
		mutate: func(b, a *collectors.Snapshot) { bump(a, "TcpExt", "TCPSACKReorder", 5) }},

	{name: "receive queue drops", id: "tcp.receive_buffer_drops", want: Warning,
		mutate: func(b, a *collectors.Snapshot) { bump(a, "TcpExt", "TCPRcvQDrop", 50) },
		check: func(t *testing.T, f Finding) {
			contains(t, "fix", f.Fix, `net.ipv4.tcp_rmem="4096 131072 12582912"`)
		}},
	{name: "zero window drops, 2% of segments", id: "tcp.receive_buffer_drops", want: Critical,
		mutate: func(b, a *collectors.Snapshot) { bump(a, "TcpExt", "TCPZeroWindowDrop", 2000) },
		check: func(t *testing.T, f Finding) {
			contains(t, "fix", f.Fix, "Most drops are TCPZeroWindowDrop")
		}},
	{name: "receive drops on a named connection with a full buffer", id: "tcp.receive_buffer_drops", want: Warning,
		mutate: func(b, a *collectors.Snapshot) {
			bump(a, "TcpExt", "TCPRcvQDrop", 60)
			conn := collectors.TCPSocket{Local: "10.0.0.5:5432", Remote: "10.0.0.9:40012", State: "established",
				RecvQ: 6_000_000, RcvBuf: 6_291_456, Drops: 3, Inode: 3001, Process: &collectors.Process{PID: 2001, Comm: "postgres"}}
			b.Sockets.TCP = []collectors.TCPSocket{conn}
			conn.Drops = 63
			a.Sockets.TCP = []collectors.TCPSocket{conn}
		},
		check: func(t *testing.T, f Finding) {
			if f.Subject != "10.0.0.5:5432 ↔ 10.0.0.9:40012 (postgres[2001])" {
				t.Errorf("subject %q", f.Subject)
			}
			contains(t, "summary", []string{f.Summary}, "dropped 60 (receive queue 6000000 of 6291456 bytes)")
			contains(t, "notes", f.Notes, "not reading fast enough")
		}},
	{name: "few receive drops", id: "tcp.receive_buffer_drops",
		mutate: func(b, a *collectors.Snapshot) { bump(a, "TcpExt", "TCPRcvQDrop", 5) }},
	{name: "receive drops counter absent on an old kernel", id: "tcp.receive_buffer_drops",
		mutate: func(b, a *collectors.Snapshot) {
			for _, s := range []*collectors.Snapshot{b, a} {
				delete(s.Netstat["TcpExt"], "TCPRcvQDrop")
				delete(s.Netstat["TcpExt"], "TCPZeroWindowDrop")
			}
		}},

	{name: "TCP memory above pressure", id: "tcp.memory_pressure", want: Warning,
		mutate: func(b, a *collectors.Snapshot) { a.Sockstat["TCP"]["mem"] = 260000 }},
	{name: "TCP aborts on memory", id: "tcp.memory_pressure", want: Critical,
		mutate: func(b, a *collectors.Snapshot) { bump(a, "TcpExt", "TCPAbortOnMemory", 3) }},
	{name: "TCP memory low", id: "tcp.memory_pressure",
		mutate: func(b, a *collectors.Snapshot) { a.Sockstat["TCP"]["mem"] = 100000 }},

	{name: "orphans at 30%", id: "tcp.orphans", want: Warning,
		mutate: func(b, a *collectors.Snapshot) { a.Sockstat["TCP"]["orphan"] = 20000 }},
	{name: "orphans at 20%", id: "tcp.orphans",
		mutate: func(b, a *collectors.Snapshot) { a.Sockstat["TCP"]["orphan"] = 13000 }},

	{name: "retransmissions held by host queues", id: "tcp.local_queue_delay", want: Warning,
		mutate: func(b, a *collectors.Snapshot) { bump(a, "TcpExt", "TCPSpuriousRtxHostQueues", 100) }},
	{name: "few held retransmissions", id: "tcp.local_queue_delay",
		mutate: func(b, a *collectors.Snapshot) { bump(a, "TcpExt", "TCPSpuriousRtxHostQueues", 5) }},

	{name: "backlog drops on one CPU", id: "softnet.backlog_drops", want: Warning,
		mutate: func(b, a *collectors.Snapshot) { a.Softnet[1].Dropped += 500 },
		check: func(t *testing.T, f Finding) {
			contains(t, "fix", f.Fix, "sysctl -w net.core.netdev_max_backlog=4096")
			contains(t, "fix", f.Fix, "One CPU takes most drops")
			contains(t, "summary", []string{f.Summary}, "CPU 1: 500")
		}},
	{name: "backlog drops across a 32-bit wrap", id: "softnet.backlog_drops", want: Critical,
		mutate: func(b, a *collectors.Snapshot) {
			b.Softnet[0].Dropped = 0xFFFFFC00
			a.Softnet[0].Dropped = 0x400 // 2048 later
		},
		check: func(t *testing.T, f Finding) {
			contains(t, "summary", []string{f.Summary}, "2048 packets in 10s")
		}},
	{name: "few backlog drops", id: "softnet.backlog_drops",
		mutate: func(b, a *collectors.Snapshot) { a.Softnet[1].Dropped += 50 }},
	{name: "softnet counter reset is not a flood", id: "softnet.backlog_drops",
		mutate: func(b, a *collectors.Snapshot) {
			b.Softnet[0].Dropped = 0x7000_0000
			a.Softnet[0].Dropped = 3
		}},

	{name: "time squeeze 30/s", id: "softnet.time_squeeze", want: Info,
		mutate: func(b, a *collectors.Snapshot) { a.Softnet[0].TimeSqueeze += 300 },
		check: func(t *testing.T, f Finding) {
			contains(t, "fix", f.Fix, "sysctl -w net.core.netdev_budget=600")
			contains(t, "fix", f.Fix, "sysctl -w net.core.netdev_budget_usecs=4000")
		}},
	{name: "time squeeze 5/s", id: "softnet.time_squeeze",
		mutate: func(b, a *collectors.Snapshot) { a.Softnet[0].TimeSqueeze += 50 }},

	{name: "flow limit drops", id: "softnet.flow_limit", want: Warning,
		mutate: func(b, a *collectors.Snapshot) { *a.Softnet[0].FlowLimitCount += 20 }},
	{name: "few flow limit drops", id: "softnet.flow_limit",
		mutate: func(b, a *collectors.Snapshot) { *a.Softnet[0].FlowLimitCount += 5 }},

	{name: "FIFO qdisc full", id: "qdisc.drops", want: Warning,
		mutate: func(b, a *collectors.Snapshot) {
			for _, s := range []*collectors.Snapshot{b, a} {
				s.Qdiscs[0].Kind = "pfifo_fast"
			}
			a.Qdiscs[0].Drops += 200
		},
		check: func(t *testing.T, f Finding) {
			if f.Subject != "eth0" {
				t.Errorf("subject %q", f.Subject)
			}
			contains(t, "fix", f.Fix, "tc qdisc replace dev eth0 root fq_codel")
			contains(t, "fix", f.Fix, "ip link set dev eth0 txqueuelen 10000")
		}},
	{name: "shaper drops are policy", id: "qdisc.drops", want: Info,
		mutate: func(b, a *collectors.Snapshot) {
			for _, s := range []*collectors.Snapshot{b, a} {
				s.Qdiscs[0].Kind = "tbf"
			}
			a.Qdiscs[0].Drops += 200
		}},
	{name: "few qdisc drops", id: "qdisc.drops",
		mutate: func(b, a *collectors.Snapshot) { a.Qdiscs[0].Drops += 5 }},

	{name: "requeues with a small TX ring", id: "qdisc.requeues", want: Info,
		mutate: func(b, a *collectors.Snapshot) { a.Qdiscs[0].Requeues += 500 },
		check: func(t *testing.T, f Finding) {
			contains(t, "fix", f.Fix, "ethtool -G eth0 tx 8192")
		}},
	{name: "few requeues", id: "qdisc.requeues",
		mutate: func(b, a *collectors.Snapshot) { a.Qdiscs[0].Requeues += 50 }},

	{name: "standing queue on a 1G link", id: "qdisc.standing_queue", want: Info,
		mutate: func(b, a *collectors.Snapshot) {
			a.Link("eth0").SpeedMbps = i64(1000)
			b.Qdiscs[0].Backlog, b.Qdiscs[0].Qlen = 2_000_000, 1400
			a.Qdiscs[0].Backlog, a.Qdiscs[0].Qlen = 3_000_000, 2000
		},
		check: func(t *testing.T, f Finding) {
			contains(t, "summary", []string{f.Summary}, "16.0 ms")
		}},
	{name: "a burst is not a standing queue", id: "qdisc.standing_queue",
		mutate: func(b, a *collectors.Snapshot) { a.Qdiscs[0].Backlog, a.Qdiscs[0].Qlen = 3_000_000, 2000 }},

	{name: "IP discards", id: "ip.in_discards", want: Warning,
		mutate: func(b, a *collectors.Snapshot) { bump(a, "Ip", "InDiscards", 200) }},
	{name: "few IP discards", id: "ip.in_discards",
		mutate: func(b, a *collectors.Snapshot) { bump(a, "Ip", "InDiscards", 5) }},

	{name: "reassembly failures", id: "ip.reassembly_failures", want: Warning,
		mutate: func(b, a *collectors.Snapshot) { bump(a, "Ip", "ReasmFails", 50) },
		check: func(t *testing.T, f Finding) {
			contains(t, "fix", f.Fix, "net.ipv4.tcp_mtu_probing=1")
			contains(t, "fix", f.Fix, "ipfrag_high_thresh=8388608")
		}},
	{name: "few reassembly failures", id: "ip.reassembly_failures",
		mutate: func(b, a *collectors.Snapshot) { bump(a, "Ip", "ReasmFails", 5) }},

	{name: "rp_filter drops", id: "ip.rp_filter_drops", want: Warning,
		mutate: func(b, a *collectors.Snapshot) { bump(a, "TcpExt", "IPReversePathFilter", 3) },
		check: func(t *testing.T, f Finding) {
			contains(t, "fix", f.Fix, "sysctl -w net.ipv4.conf.eth0.rp_filter=2")
		}},
	{name: "no rp_filter drops", id: "ip.rp_filter_drops", mutate: func(b, a *collectors.Snapshot) {}},

	{name: "no route", id: "ip.no_route", want: Warning,
		mutate: func(b, a *collectors.Snapshot) { bump(a, "IpExt", "InNoRoutes", 20) }},
	{name: "few no route", id: "ip.no_route",
		mutate: func(b, a *collectors.Snapshot) { bump(a, "IpExt", "InNoRoutes", 5) }},

	{name: "UDP receive buffer errors on a named socket", id: "udp.receive_buffer_errors", want: Warning,
		mutate: func(b, a *collectors.Snapshot) {
			bump(a, "Udp", "RcvbufErrors", 300)
			a.Sockets.UDP = append(a.Sockets.UDP, collectors.UDPSocket{Local: "0.0.0.0:53", Drops: 300, RxQueue: 212000, Inode: 2001,
				Process: &collectors.Process{PID: 77, Comm: "unbound"}})
		},
		check: func(t *testing.T, f Finding) {
			if f.Subject != "0.0.0.0:53 (unbound[77])" {
				t.Errorf("subject %q", f.Subject)
			}
			contains(t, "fix", f.Fix, "sysctl -w net.core.rmem_max=8388608")
		}},
	{name: "few UDP receive buffer errors", id: "udp.receive_buffer_errors",
		mutate: func(b, a *collectors.Snapshot) { bump(a, "Udp", "RcvbufErrors", 5) }},

	{name: "UDP send buffer errors", id: "udp.send_buffer_errors", want: Warning,
		mutate: func(b, a *collectors.Snapshot) { bump(a, "Udp6", "SndbufErrors", 20) }},
	{name: "few UDP send buffer errors", id: "udp.send_buffer_errors",
		mutate: func(b, a *collectors.Snapshot) { bump(a, "Udp", "SndbufErrors", 5) }},

	{name: "UDP memory at 92%", id: "udp.memory_pressure", want: Warning,
		mutate: func(b, a *collectors.Snapshot) { a.Sockstat["UDP"]["mem"] = 700000 }},
	{name: "UDP memory low", id: "udp.memory_pressure",
		mutate: func(b, a *collectors.Snapshot) { a.Sockstat["UDP"]["mem"] = 400000 }},

	{name: "CRC errors", id: "nic.errors", want: Warning,
		mutate: func(b, a *collectors.Snapshot) { linkBump(a, "eth0", "rx_crc_errors", 2000) }},
	{name: "few CRC errors", id: "nic.errors",
		mutate: func(b, a *collectors.Snapshot) { linkBump(a, "eth0", "rx_crc_errors", 5) }},

	{name: "RX dropped 4%", id: "nic.rx_dropped", want: Warning,
		mutate: func(b, a *collectors.Snapshot) { linkBump(a, "eth0", "rx_dropped", 5000) }},
	{name: "RX dropped a few", id: "nic.rx_dropped",
		mutate: func(b, a *collectors.Snapshot) { linkBump(a, "eth0", "rx_dropped", 50) }},

	{name: "TX dropped on a tun", id: "nic.tx_dropped", want: Warning,
		mutate: func(b, a *collectors.Snapshot) {
			for _, s := range []*collectors.Snapshot{b, a} {
				s.Links = append(s.Links, collectors.Link{Name: "tun0", Kind: "tuntap", TxQueueLen: intp(500),
					Stats: map[string]uint64{"tx_packets": 1000, "tx_dropped": 0}})
			}
			linkBump(a, "tun0", "tx_packets", 10000)
			linkBump(a, "tun0", "tx_dropped", 800)
		},
		check: func(t *testing.T, f Finding) {
			contains(t, "fix", f.Fix, "ip link set dev tun0 txqueuelen 2000")
		}},
	{name: "TX dropped a few", id: "nic.tx_dropped",
		mutate: func(b, a *collectors.Snapshot) { linkBump(a, "eth0", "tx_dropped", 5) }},

	{name: "link at 96%", id: "nic.link_saturated", want: Warning,
		mutate: func(b, a *collectors.Snapshot) { linkBump(a, "eth0", "rx_bytes", 12e9) }},
	{name: "link at 10%", id: "nic.link_saturated",
		mutate: func(b, a *collectors.Snapshot) { linkBump(a, "eth0", "rx_bytes", 1e9) }},

	{name: "link flapped", id: "nic.link_flapping", want: Warning,
		mutate: func(b, a *collectors.Snapshot) { *a.Link("eth0").CarrierChanges += 2 }},
	{name: "link stable", id: "nic.link_flapping", mutate: func(b, a *collectors.Snapshot) {}},

	{name: "ENA pps allowance", id: "nic.allowance_exceeded", want: Warning,
		mutate: func(b, a *collectors.Snapshot) {
			b.NICs["eth0"].Stats["pps_allowance_exceeded"] = 10
			a.NICs["eth0"].Stats["pps_allowance_exceeded"] = 110
		}},
	{name: "ENA allowance steady", id: "nic.allowance_exceeded",
		mutate: func(b, a *collectors.Snapshot) {
			b.NICs["eth0"].Stats["pps_allowance_exceeded"] = 10
			a.NICs["eth0"].Stats["pps_allowance_exceeded"] = 10
		}},

	{name: "ring overflow on one queue", id: "driver.ring_overflow", want: Warning,
		mutate: func(b, a *collectors.Snapshot) {
			a.NICs["eth0"].Stats["rx_out_of_buffer"] += 500
			a.NICs["eth0"].Stats["rx1_buff_alloc_err"] += 450
		},
		check: func(t *testing.T, f Finding) {
			contains(t, "fix", f.Fix, "ethtool -G eth0 rx 8192")
			contains(t, "fix", f.Fix, "ethtool -L eth0 combined 16")
			contains(t, "fix", f.Fix, "Queue 1 takes 100%")
			contains(t, "summary", []string{f.Summary}, "500 received packets in 10s")
		}},
	{name: "ring overflow with the ring at its maximum", id: "driver.ring_overflow", want: Critical,
		mutate: func(b, a *collectors.Snapshot) {
			a.NICs["eth0"].Ring.RxPending = 8192
			linkBump(a, "eth0", "rx_missed_errors", 5000)
		},
		check: func(t *testing.T, f Finding) {
			contains(t, "notes", f.Notes, "already at its maximum (8192)")
		}},
	{name: "few ring drops", id: "driver.ring_overflow",
		mutate: func(b, a *collectors.Snapshot) { a.NICs["eth0"].Stats["rx_out_of_buffer"] += 5 }},

	{name: "port discards", id: "driver.port_discards", want: Warning,
		mutate: func(b, a *collectors.Snapshot) { a.NICs["eth0"].Stats["rx_discards_phy"] += 100 },
		check: func(t *testing.T, f Finding) {
			contains(t, "fix", f.Fix, "lspci -vv -s 0000:3b:00.0")
		}},
	{name: "few port discards", id: "driver.port_discards",
		mutate: func(b, a *collectors.Snapshot) { a.NICs["eth0"].Stats["rx_discards_phy"] += 5 }},

	{name: "conntrack 95% full", id: "conntrack.table_full", want: Critical,
		mutate: func(b, a *collectors.Snapshot) { a.Conntrack.Count = u64(250_000) }},
	{name: "conntrack 80% full", id: "conntrack.table_full", want: Warning,
		mutate: func(b, a *collectors.Snapshot) { a.Conntrack.Count = u64(210_000) }},
	{name: "conntrack 70% full", id: "conntrack.table_full",
		mutate: func(b, a *collectors.Snapshot) { a.Conntrack.Count = u64(180_000) }},

	{name: "conntrack drops", id: "conntrack.drops", want: Critical,
		mutate: func(b, a *collectors.Snapshot) { a.Conntrack.PerCPU[0][10] += 10 }},
	{name: "conntrack early drops", id: "conntrack.drops", want: Warning,
		mutate: func(b, a *collectors.Snapshot) { a.Conntrack.PerCPU[1][11] += 10 }},
	{name: "no conntrack drops", id: "conntrack.drops", mutate: func(b, a *collectors.Snapshot) {}},

	{name: "conntrack insert races", id: "conntrack.insert_failed", want: Warning,
		mutate: func(b, a *collectors.Snapshot) { a.Conntrack.PerCPU[0][9] += 3 }},
	{name: "no conntrack insert races", id: "conntrack.insert_failed", mutate: func(b, a *collectors.Snapshot) {}},
}

func TestHostRules(t *testing.T) {
	fired := map[string]bool{}
	silent := map[string]bool{}
	for _, tc := range ruleCases {
		t.Run(tc.name, func(t *testing.T) {
			b, a := healthyPair()
			tc.mutate(b, a)
			if strings.Contains(tc.name, "since boot") {
				b = nil
			}
			fs, _ := evaluate(b, a)
			got := findingsWithID(fs, tc.id)
			if tc.want == 0 {
				silent[tc.id] = true
				if len(got) > 0 {
					t.Fatalf("%s fired: %s", tc.id, got[0].Summary)
				}
				return
			}
			fired[tc.id] = true
			if len(got) != 1 {
				t.Fatalf("want one %s, got %d (all: %v)", tc.id, len(got), hostFindings(t, fs))
			}
			f := got[0]
			if f.Severity != tc.want {
				t.Errorf("severity %s, want %s (%s)", f.Severity, tc.want, f.Summary)
			}
			if f.Summary == "" || len(f.Evidence) == 0 || len(f.Fix) == 0 {
				t.Errorf("incomplete finding: %+v", f)
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
	// Every host finding in the catalog has a pair that fires it and one
	// that must not.
	for _, e := range Entries() {
		if e.Source != SourceHost || e.Layer == LayerMPTCP {
			continue
		}
		if !fired[e.ID] || !silent[e.ID] {
			t.Errorf("%s: fires in a test: %v, stays silent in a test: %v", e.ID, fired[e.ID], silent[e.ID])
		}
	}
}

// TestRulesNotCheckedWithoutData: a snapshot where every source failed
// gives "not checked" rows, not findings or panics.
func TestRulesNotCheckedWithoutData(t *testing.T) {
	empty := func() *collectors.Snapshot { return &collectors.Snapshot{Taken: t0} }
	fs, checks := evaluate(empty(), empty())
	if ids := hostFindings(t, fs); len(ids) > 0 {
		t.Errorf("empty snapshots raised %v", ids)
	}
	for _, c := range checks {
		if c.Source == SourceHost && c.Layer != LayerMPTCP && c.Status != report.StatusNotChecked {
			t.Errorf("check %q is %s with no data (%s)", c.Name, c.Status, c.Detail)
		}
	}
}
