package report

import (
	"sort"

	"github.com/netdx/netdx/collectors"
)

// Diag is the JSON form of what netdx diag read: every value the host
// rules judge, with each counter's total, its change over the interval and
// its rate. docs/diag.md documents every field.
type Diag struct {
	// IntervalSeconds is the time between the two samples; 0 when
	// SinceBoot.
	IntervalSeconds float64 `json:"interval_seconds"`
	// SinceBoot is true when only one sample was taken (--interval 0):
	// counters then carry totals since boot, without delta or rate.
	SinceBoot bool `json:"since_boot"`
	// UptimeSeconds is the host's uptime at the second sample, in seconds.
	UptimeSeconds float64 `json:"uptime_seconds,omitempty"`
	// Netstat is every counter of /proc/net/netstat, snmp and snmp6, by
	// section then the kernel's name.
	Netstat map[string]map[string]DiagCounter `json:"netstat,omitempty"`
	// Softnet has one entry per CPU of /proc/net/softnet_stat.
	Softnet []DiagSoftnetCPU `json:"softnet,omitempty"`
	// Interfaces has every network interface read (all, or those of --iface).
	Interfaces []DiagInterface `json:"interfaces,omitempty"`
	// Qdiscs has every queueing discipline of those interfaces.
	Qdiscs []DiagQdisc `json:"qdiscs,omitempty"`
	// Sysctls holds the settings the rules read, by dotted name
	// (net.core.somaxconn).
	Sysctls map[string]DiagSysctl `json:"sysctls,omitempty"`
	// Sockets holds the sockets that can overflow and the protocols' memory.
	Sockets *DiagSockets `json:"sockets,omitempty"`
	// Conntrack is the connection tracking table; absent when it is not loaded.
	Conntrack *DiagConntrack `json:"conntrack,omitempty"`
	// MPTCP is filled by newDiagMPTCP, owned by the MPTCP work.
	MPTCP *DiagMPTCP `json:"mptcp,omitempty"`
	// Connections is the per-connection TCP view: what held connections
	// back over the window, the worst of each limit; absent when the TCP
	// sockets could not be read.
	Connections *DiagConnections `json:"connections,omitempty"`
	// Scopes labels each section above, and the host-wide values inside
	// per-namespace sections, by path under diag ("softnet",
	// "sockets.sockstat.TCP.mem"): "netns" for the namespace's own values,
	// "host" for the whole host's. The longest matching path applies.
	Scopes map[string]string `json:"scopes,omitempty"`
	// ReadFrom says which roots and namespace were read; absent for a
	// replayed recording.
	ReadFrom *DiagReadFrom `json:"read_from,omitempty"`
}

// DiagCounter is a cumulative kernel counter: its value now, and over an
// interval its change and rate. Reset says it went backwards (a driver
// reload, a CPU going offline): the change then counts from zero.
type DiagCounter struct {
	// Total is the counter's value at the second sample: since boot, or since the
	// driver or socket started.
	Total uint64 `json:"total"`
	// Delta is the change over the window; absent since boot.
	Delta *uint64 `json:"delta,omitempty"`
	// RatePerSec is Delta per second of the real window; absent since boot.
	RatePerSec *float64 `json:"rate_per_sec,omitempty"`
	// Reset is present and true when the counter went backwards and was taken as
	// restarted.
	Reset bool `json:"reset,omitempty"`
}

// DiagSoftnetCPU is one CPU's row of /proc/net/softnet_stat.
type DiagSoftnetCPU struct {
	// CPU is the CPU id (column 12 from 5.10), or the row number when CPUFromRow.
	CPU int `json:"cpu"`
	// CPUFromRow is true when the kernel does not print the CPU id (before 5.10):
	// the row number stands in, which differs when CPUs are offline.
	CPUFromRow bool `json:"cpu_from_row,omitempty"`
	// Processed counts packets this CPU processed.
	Processed DiagCounter `json:"processed"`
	// Dropped counts packets dropped because the CPU's backlog held
	// net.core.netdev_max_backlog.
	Dropped DiagCounter `json:"dropped"`
	// TimeSqueeze counts NAPI runs that ended with work left (budget or time
	// exhausted).
	TimeSqueeze DiagCounter `json:"time_squeeze"`
	// ReceivedRPS counts packets steered to this CPU by RPS; absent before
	// 2.6.39.
	ReceivedRPS *DiagCounter `json:"received_rps,omitempty"`
	// FlowLimitCount counts packets dropped by the RPS flow limit; absent before
	// 3.11.
	FlowLimitCount *DiagCounter `json:"flow_limit_count,omitempty"`
	// BacklogLen is the input plus process queue length now, in packets (5.10+).
	BacklogLen *uint64 `json:"backlog_len,omitempty"`
}

// DiagInterface is one network interface: attributes, counters and what
// its driver says through ethtool.
type DiagInterface struct {
	// Name is the interface name.
	Name string `json:"name"`
	// Kind is the netlink link kind: device for hardware, veth, vxlan, tuntap,
	// bond, bridge...
	Kind string `json:"kind,omitempty"`
	// OperState is the operational state netlink reports (up, down, unknown...).
	OperState string `json:"operstate,omitempty"`
	// MTU is the interface MTU in bytes.
	MTU int `json:"mtu,omitempty"`
	// TxQueueLen is the transmit queue length in packets.
	TxQueueLen *int `json:"txqueuelen,omitempty"`
	// Master is the bond or bridge the interface belongs to.
	Master string `json:"master,omitempty"`
	// NumTxQueues is the number of transmit queues.
	NumTxQueues int `json:"num_tx_queues,omitempty"`
	// NumRxQueues is the number of receive queues.
	NumRxQueues int `json:"num_rx_queues,omitempty"`
	// SpeedMbps is the negotiated link speed in Mbit/s, when the driver reports
	// one.
	SpeedMbps *int64 `json:"speed_mbps,omitempty"`
	// Duplex is full or half, when the driver reports it.
	Duplex string `json:"duplex,omitempty"`
	// CarrierChanges counts link up/down transitions (sysfs; not read with
	// --netns).
	CarrierChanges *DiagCounter `json:"carrier_changes,omitempty"`
	// RxUtilisationPct and TxUtilisationPct are the bit rate over the
	// interval against the speed, for hardware with a known speed.
	RxUtilisationPct *float64 `json:"rx_utilisation_pct,omitempty"`
	// TxUtilisationPct is the transmit bit rate over the window against the
	// speed, in percent.
	TxUtilisationPct *float64 `json:"tx_utilisation_pct,omitempty"`
	// StatsSource is "netlink" or "/proc/net/dev" (see docs/diag.md).
	StatsSource string `json:"stats_source,omitempty"`
	// Stats holds the interface counters by their rtnl_link_stats64 names
	// (rx_packets, rx_bytes, rx_dropped, rx_missed_errors, tx_dropped...).
	Stats map[string]DiagCounter `json:"stats,omitempty"`
	// Driver is ethtool -i: the driver and its firmware.
	Driver *DiagDriver `json:"driver,omitempty"`
	// Ring is ethtool -g: descriptor ring sizes.
	Ring *DiagRing `json:"ring,omitempty"`
	// Channels is ethtool -l: queue counts.
	Channels *DiagChannels `json:"channels,omitempty"`
	// Offloads holds the batching and segmentation offloads (rx-gro, rx-gro-hw,
	// rx-gro-list, rx-lro, rx-udp-gro-forwarding, tx-generic-segmentation, tx-
	// tcp-segmentation, tx-tcp6-segmentation, tx-udp-segmentation) by name: true
	// when active. Not read for veth and bridge devices, nor for links that
	// are down.
	Offloads map[string]bool `json:"offloads,omitempty"`
	// EthtoolStats holds the driver statistics that are not zero, and
	// every drop statistic.
	EthtoolStats map[string]DiagCounter `json:"ethtool_stats,omitempty"`
	// EthtoolDropStats names the statistics netdx recognises as drops
	// (see collectors.ClassifyStat), sorted.
	EthtoolDropStats []string `json:"ethtool_drop_stats,omitempty"`
	// EthtoolUnsupported lists the ethtool requests the driver does not
	// implement.
	EthtoolUnsupported []string `json:"ethtool_unsupported,omitempty"`
}

// DiagDriver is `ethtool -i`.
type DiagDriver struct {
	// Driver is the kernel driver's name.
	Driver string `json:"driver"`
	// Version is the driver version.
	Version string `json:"version,omitempty"`
	// Firmware is the firmware version.
	Firmware string `json:"firmware,omitempty"`
	// BusInfo is the PCI address or bus of hardware; empty for virtual devices.
	BusInfo string `json:"bus_info,omitempty"`
}

// DiagRing is `ethtool -g`: descriptor ring sizes, current and maximum.
type DiagRing struct {
	// Rx is the receive ring size in descriptors.
	Rx uint32 `json:"rx"`
	// RxMax is the largest receive ring the hardware allows.
	RxMax uint32 `json:"rx_max"`
	// Tx is the transmit ring size in descriptors.
	Tx uint32 `json:"tx"`
	// TxMax is the largest transmit ring the hardware allows.
	TxMax uint32 `json:"tx_max"`
}

// DiagChannels is `ethtool -l`: queue counts, current and maximum.
type DiagChannels struct {
	// Rx is the number of receive-only queues.
	Rx uint32 `json:"rx"`
	// Tx is the number of transmit-only queues.
	Tx uint32 `json:"tx"`
	// Other is the number of other (link interrupt) queues.
	Other uint32 `json:"other"`
	// Combined is the number of combined receive and transmit queues.
	Combined uint32 `json:"combined"`
	// MaxRx is the most receive-only queues the hardware allows.
	MaxRx uint32 `json:"max_rx"`
	// MaxTx is the most transmit-only queues the hardware allows.
	MaxTx uint32 `json:"max_tx"`
	// MaxOther is the most other queues the hardware allows.
	MaxOther uint32 `json:"max_other"`
	// MaxCombined is the most combined queues the hardware allows.
	MaxCombined uint32 `json:"max_combined"`
}

// DiagQdisc is one qdisc (tc -s qdisc).
type DiagQdisc struct {
	// Iface is the interface the qdisc is on.
	Iface string `json:"iface"`
	// Kind is the qdisc type (fq_codel, mq, pfifo_fast, noqueue...).
	Kind string `json:"kind"`
	// Handle is the qdisc's handle in tc notation (8001:).
	Handle string `json:"handle"`
	// Parent is root, ingress, or the parent class in tc notation (0:1).
	Parent string `json:"parent"`
	// Root is true for the interface's root qdisc, whose counters include its
	// children's.
	Root bool `json:"root"`
	// Bytes counts bytes sent.
	Bytes DiagCounter `json:"bytes"`
	// Packets counts packets sent (32-bit in the kernel).
	Packets DiagCounter `json:"packets"`
	// Drops counts packets dropped (32-bit in the kernel).
	Drops DiagCounter `json:"drops"`
	// Overlimits counts times a shaper or policer throttled (32-bit in the
	// kernel).
	Overlimits DiagCounter `json:"overlimits"`
	// Requeues counts packets put back because the driver's ring was full (32-bit
	// in the kernel).
	Requeues DiagCounter `json:"requeues"`
	// BacklogBytes is the bytes queued now.
	BacklogBytes uint64 `json:"backlog_bytes"`
	// Qlen is the packets queued now.
	Qlen uint64 `json:"qlen"`
}

// DiagSysctl is one setting and whether it is per namespace or host-wide.
type DiagSysctl struct {
	// Value is the setting as the kernel prints it, with single spaces.
	Value string `json:"value"`
	// Scope is netns for a per-namespace setting, host for a host-global one
	// (read from the host's namespace when a child namespace hides it).
	Scope string `json:"scope"`
	// Writable says whether root could change the setting from the
	// namespace read: false for a host-global setting a child namespace
	// shows read-only or not at all; absent when unknown (a recording).
	Writable *bool `json:"writable,omitempty"`
}

// DiagSockets is the sockets that can overflow and the protocols' memory.
type DiagSockets struct {
	// Listeners has every listening TCP socket; empty when sock_diag was
	// read and found none, absent when it could not be read.
	Listeners []DiagListener `json:"listeners,omitzero"`
	// UDP has the UDP sockets with drops or unread data; absent when the
	// sockets could not be read.
	UDP []DiagUDPSocket `json:"udp,omitzero"`
	// UDPTotal counts every UDP socket, listed (with drops or queued
	// data) or not.
	UDPTotal int `json:"udp_total"`
	// TCP lists the TCP connections whose own drop counter is not zero;
	// absent when sock_diag could not be read.
	TCP []DiagTCPSocket `json:"tcp,omitzero"`
	// Sockstat is /proc/net/sockstat and sockstat6: per protocol, in-use
	// and orphan counts and memory in pages.
	Sockstat map[string]map[string]uint64 `json:"sockstat,omitempty"`
}

// DiagListener is one listening TCP socket.
type DiagListener struct {
	// Local is the listening address:port.
	Local string `json:"local"`
	// Port is the listening port.
	Port int `json:"port"`
	// AcceptQueue counts connections waiting for accept() now.
	AcceptQueue uint64 `json:"accept_queue"`
	// Backlog is the accept queue's limit: the listen() backlog, capped by
	// net.core.somaxconn when listen() ran.
	Backlog uint64 `json:"backlog"`
	// FillPct is AcceptQueue against Backlog, in percent.
	FillPct float64 `json:"fill_pct"`
	// Drops is the socket's own drop counter (SK_MEMINFO_DROPS), when read.
	Drops *DiagCounter `json:"drops,omitempty"`
	// SynRecv is the half-open connections in the listener's SYN queue
	// now (SYN-RECV), when read: a full queue holds backlog + 1; with
	// SYN cookies always on (tcp_syncookies=2) none is kept.
	SynRecv *uint64 `json:"syn_recv,omitempty"`
	// Inode is the socket's inode (match with ss -e or /proc/PID/fd).
	Inode uint64 `json:"inode"`
	// UID is the socket owner's user id.
	UID uint32 `json:"uid"`
	// Process owns the socket, when found through /proc/*/fd.
	Process *DiagProcess `json:"process,omitempty"`
}

// DiagUDPSocket is one UDP socket with drops or queued data.
type DiagUDPSocket struct {
	// Local is the socket's address:port.
	Local string `json:"local"`
	// Remote is the peer address:port of a connected socket.
	Remote string `json:"remote,omitempty"`
	// RxQueueBytes is the data received and not yet read, in bytes.
	RxQueueBytes uint64 `json:"rx_queue_bytes"`
	// TxQueueBytes is the data queued to send, in bytes.
	TxQueueBytes uint64 `json:"tx_queue_bytes"`
	// Drops counts datagrams the socket dropped.
	Drops DiagCounter `json:"drops"`
	// Inode is the socket's inode.
	Inode uint64 `json:"inode"`
	// UID is the socket owner's user id.
	UID uint32 `json:"uid"`
	// Process owns the socket, when found.
	Process *DiagProcess `json:"process,omitempty"`
}

// DiagTCPSocket is one TCP connection that dropped received data.
type DiagTCPSocket struct {
	// Local is the connection's local address:port.
	Local string `json:"local"`
	// Remote is the peer's address:port.
	Remote string `json:"remote"`
	// State is the TCP state (established, close-wait...).
	State string `json:"state"`
	// RecvQBytes is the data received and not yet read, in bytes.
	RecvQBytes uint64 `json:"recv_q_bytes"`
	// RcvBufBytes is the socket's receive buffer, in bytes.
	RcvBufBytes uint32 `json:"rcvbuf_bytes"`
	// Drops is the socket's own drop counter (SK_MEMINFO_DROPS).
	Drops DiagCounter `json:"drops"`
	// Inode is the socket's inode.
	Inode uint64 `json:"inode"`
	// UID is the socket owner's user id.
	UID uint32 `json:"uid"`
	// Process owns the socket, when found.
	Process *DiagProcess `json:"process,omitempty"`
}

// DiagProcess owns a socket.
type DiagProcess struct {
	// PID is the owning process id.
	PID int `json:"pid"`
	// Comm is the process's command name (/proc/PID/comm).
	Comm string `json:"comm"`
}

// DiagConntrack is the connection tracking table and its statistics.
type DiagConntrack struct {
	// Count is the entries in the table now (nf_conntrack_count).
	Count *uint64 `json:"count,omitempty"`
	// Max is the table's limit (nf_conntrack_max, host-global).
	Max *uint64 `json:"max,omitempty"`
	// Buckets is the hash table size (nf_conntrack_buckets).
	Buckets *uint64 `json:"buckets,omitempty"`
	// FillPct is Count against Max, in percent.
	FillPct *float64 `json:"fill_pct,omitempty"`
	// Stats are /proc/net/stat/nf_conntrack's columns summed over CPUs
	// (entries is the namespace's count, repeated on every row, not summed).
	Stats map[string]DiagCounter `json:"stats,omitempty"`
	// MaxWritable says whether nf_conntrack_max can be changed from the
	// namespace read: false in a child namespace, where only the host can
	// raise it; absent when unknown.
	MaxWritable *bool `json:"max_writable,omitempty"`
	// ByProto counts the namespace's entries by protocol (tcp, udp,
	// icmp...), read over ctnetlink; absent when not read (it needs
	// CAP_NET_ADMIN).
	ByProto map[string]uint64 `json:"by_proto,omitempty"`
	// Counted is how many entries ByProto covers: at most 8192, so on a
	// larger table the shares, not the counts, describe it.
	Counted uint64 `json:"counted,omitempty"`
}

// NewDiag converts the diag input into its JSON form.
func NewDiag(d *collectors.Window) *Diag {
	if d == nil || d.After == nil {
		return nil
	}
	s := diagWindow{d}
	out := &Diag{SinceBoot: s.SinceBoot, UptimeSeconds: Round(s.After.Uptime.Seconds(), 3)}
	if !s.SinceBoot {
		out.IntervalSeconds = Round(s.Secs, 3)
	}
	out.Netstat = s.diagNetstat()
	out.Softnet = s.diagSoftnet()
	out.Interfaces = s.diagInterfaces()
	out.Qdiscs = s.diagQdiscs()
	if s.After.Sysctls != nil {
		out.Sysctls = map[string]DiagSysctl{}
		for k, v := range s.After.Sysctls {
			out.Sysctls[k] = DiagSysctl{Value: v.Value, Scope: v.Scope, Writable: v.Writable}
		}
	}
	out.Sockets = s.diagSockets()
	out.Conntrack = s.diagConntrack()
	out.MPTCP = newDiagMPTCP(d)
	out.Scopes = diagScopes(out)
	return out
}

// diagWindow converts what was read over the window into its JSON form.
type diagWindow struct{ *collectors.Window }

// counter converts a change into its JSON form.
func (s diagWindow) counter(c collectors.Change) DiagCounter {
	out := DiagCounter{Total: c.Total, Reset: c.Reset}
	if !s.SinceBoot {
		d, r := c.Delta, Round(c.Rate, 3)
		out.Delta, out.RatePerSec = &d, &r
	}
	return out
}

// netstatGauges are the values of /proc/net/snmp that are settings or
// levels, not counters: they carry no delta or rate.
var netstatGauges = map[string]bool{"Tcp.CurrEstab": true, "Tcp.RtoAlgorithm": true, "Tcp.RtoMin": true,
	"Tcp.RtoMax": true, "Ip.Forwarding": true, "Ip.DefaultTTL": true}

// NetstatGauge reports whether a netstat value is a level or a setting
// rather than a counter.
func NetstatGauge(section, name string) bool { return netstatGauges[section+"."+name] }

func (s diagWindow) diagNetstat() map[string]map[string]DiagCounter {
	if s.After.Netstat == nil || (s.Before != nil && s.Before.Netstat == nil) {
		return nil
	}
	out := map[string]map[string]DiagCounter{}
	for section, names := range s.After.Netstat {
		m := make(map[string]DiagCounter, len(names))
		for name, v := range names {
			if netstatGauges[section+"."+name] {
				m[name] = DiagCounter{Total: v}
				continue
			}
			m[name] = s.counter(s.Netstat(section, name))
		}
		out[section] = m
	}
	return out
}

func (s diagWindow) diagSoftnet() []DiagSoftnetCPU {
	if s.After.Softnet == nil || (s.Before != nil && s.Before.Softnet == nil) {
		return nil
	}
	before := map[int]collectors.SoftnetCPU{}
	if s.Before != nil {
		for _, c := range s.Before.Softnet {
			before[c.CPU] = c
		}
	}
	out := make([]DiagSoftnetCPU, 0, len(s.After.Softnet))
	for _, a := range s.After.Softnet {
		b, hb := before[a.CPU]
		c32 := func(bv, av uint64) DiagCounter { return s.counter(s.Change("", bv, av, hb, true, false)) }
		opt := func(bp, ap *uint64) *DiagCounter {
			if ap == nil {
				return nil
			}
			var bv uint64
			if bp != nil {
				bv = *bp
			}
			c := s.counter(s.Change("", bv, *ap, hb && bp != nil, true, false))
			return &c
		}
		out = append(out, DiagSoftnetCPU{CPU: a.CPU, CPUFromRow: a.CPUFromRow,
			Processed: c32(b.Processed, a.Processed), Dropped: c32(b.Dropped, a.Dropped), TimeSqueeze: c32(b.TimeSqueeze, a.TimeSqueeze),
			ReceivedRPS: opt(b.ReceivedRPS, a.ReceivedRPS), FlowLimitCount: opt(b.FlowLimitCount, a.FlowLimitCount),
			BacklogLen: a.BacklogLen})
	}
	return out
}

func (s diagWindow) diagInterfaces() []DiagInterface {
	if s.After.Links == nil {
		return nil
	}
	out := make([]DiagInterface, 0, len(s.After.Links))
	for _, l := range s.After.Links {
		d := DiagInterface{Name: l.Name, Kind: l.Kind, OperState: l.OperState, MTU: l.MTU, TxQueueLen: l.TxQueueLen,
			Master: l.Master, NumTxQueues: l.NumTxQueues, NumRxQueues: l.NumRxQueues, SpeedMbps: l.SpeedMbps,
			Duplex: l.Duplex, StatsSource: l.StatsSource}
		if b, _ := s.Link(l.Name); l.CarrierChanges != nil {
			var bv uint64
			hb := b != nil && b.CarrierChanges != nil
			if hb {
				bv = *b.CarrierChanges
			}
			c := s.counter(s.Change("", bv, *l.CarrierChanges, hb, true, true))
			d.CarrierChanges = &c
		}
		if len(l.Stats) > 0 {
			d.Stats = make(map[string]DiagCounter, len(l.Stats))
			for name := range l.Stats {
				d.Stats[name] = s.counter(s.LinkStat(l.Name, name))
			}
		}
		for _, dir := range []string{"rx", "tx"} {
			if u, ok := s.Utilisation(l.Name, dir+"_bytes"); ok {
				p := Round(u*100, 2)
				if dir == "rx" {
					d.RxUtilisationPct = &p
				} else {
					d.TxUtilisationPct = &p
				}
			}
		}
		if n := s.After.NICs[l.Name]; n != nil {
			s.diagNIC(&d, n)
		}
		out = append(out, d)
	}
	return out
}

func (s diagWindow) diagNIC(d *DiagInterface, n *collectors.NIC) {
	if n.Driver != nil {
		d.Driver = &DiagDriver{Driver: n.Driver.Driver, Version: n.Driver.Version, Firmware: n.Driver.Firmware, BusInfo: n.Driver.BusInfo}
	}
	if r := n.Ring; r != nil {
		d.Ring = &DiagRing{Rx: r.RxPending, RxMax: r.RxMax, Tx: r.TxPending, TxMax: r.TxMax}
	}
	if c := n.Channels; c != nil {
		d.Channels = &DiagChannels{Rx: c.Rx, Tx: c.Tx, Other: c.Other, Combined: c.Combined,
			MaxRx: c.MaxRx, MaxTx: c.MaxTx, MaxOther: c.MaxOther, MaxCombined: c.MaxCombined}
	}
	d.Offloads = n.Offloads
	d.EthtoolUnsupported = n.Unsupported
	for name, v := range n.Stats {
		drop := collectors.ClassifyStat(name).Drop
		if drop {
			d.EthtoolDropStats = append(d.EthtoolDropStats, name)
		}
		if v == 0 && !drop {
			continue
		}
		if d.EthtoolStats == nil {
			d.EthtoolStats = map[string]DiagCounter{}
		}
		d.EthtoolStats[name] = s.counter(s.EthtoolStat(d.Name, name))
	}
	sort.Strings(d.EthtoolDropStats)
}

func (s diagWindow) diagQdiscs() []DiagQdisc {
	if s.After.Qdiscs == nil || (s.Before != nil && s.Before.Qdiscs == nil) {
		return nil
	}
	before := map[string]collectors.Qdisc{}
	if s.Before != nil {
		for _, q := range s.Before.Qdiscs {
			before[q.Iface+" "+q.Handle+" "+q.Parent+" "+q.Kind] = q
		}
	}
	out := make([]DiagQdisc, 0, len(s.After.Qdiscs))
	for _, q := range s.After.Qdiscs {
		b, hb := before[q.Iface+" "+q.Handle+" "+q.Parent+" "+q.Kind]
		c := func(bv, av uint64, wide bool) DiagCounter { return s.counter(s.Change("", bv, av, hb, true, wide)) }
		out = append(out, DiagQdisc{Iface: q.Iface, Kind: q.Kind, Handle: q.Handle, Parent: q.Parent, Root: q.Root,
			Bytes: c(b.Bytes, q.Bytes, true), Packets: c(b.Packets, q.Packets, false), Drops: c(b.Drops, q.Drops, false),
			Overlimits: c(b.Overlimits, q.Overlimits, false), Requeues: c(b.Requeues, q.Requeues, false),
			BacklogBytes: q.Backlog, Qlen: q.Qlen})
	}
	return out
}

func (s diagWindow) diagSockets() *DiagSockets {
	sk := s.After.Sockets
	if sk == nil && s.After.Sockstat == nil {
		return nil
	}
	out := &DiagSockets{Sockstat: s.After.Sockstat}
	if sk == nil {
		return out
	}
	out.UDPTotal = sk.UDPTotal
	proc := func(p *collectors.Process) *DiagProcess {
		if p == nil {
			return nil
		}
		return &DiagProcess{PID: p.PID, Comm: p.Comm}
	}
	ls, _ := s.Listeners()
	out.Listeners = make([]DiagListener, 0, len(ls))
	for _, l := range ls {
		dl := DiagListener{Local: l.Local, Port: l.Port, AcceptQueue: l.AcceptQueue, Backlog: l.Backlog,
			FillPct: Round(Ratio(l.AcceptQueue, l.Backlog)*100, 2), SynRecv: l.SynRecv, Inode: l.Inode, UID: l.UID, Process: proc(l.Process)}
		if l.Drops != nil {
			c := DiagCounter{Total: *l.Drops}
			if l.DroppedOK && !s.SinceBoot {
				d, r := l.Dropped, Round(s.Rate(l.Dropped), 3)
				c.Delta, c.RatePerSec = &d, &r
			}
			dl.Drops = &c
		}
		out.Listeners = append(out.Listeners, dl)
	}
	tcpDrops := map[uint64]uint64{}
	for _, d := range s.TCPDrops() {
		tcpDrops[d.Sock.Inode] = d.Delta
	}
	if sk.TCP != nil {
		out.TCP = make([]DiagTCPSocket, 0, len(sk.TCP))
	}
	for _, c := range sk.TCP {
		out.TCP = append(out.TCP, DiagTCPSocket{Local: c.Local, Remote: c.Remote, State: c.State, RecvQBytes: c.RecvQ,
			RcvBufBytes: c.RcvBuf, Drops: s.socketDrops(c.Drops, tcpDrops[c.Inode]), Inode: c.Inode, UID: c.UID, Process: proc(c.Process)})
	}
	drops := map[uint64]uint64{}
	for _, d := range s.UDPDrops() {
		drops[d.Sock.Inode] = d.Delta
	}
	out.UDP = make([]DiagUDPSocket, 0, len(sk.UDP))
	for _, u := range sk.UDP {
		out.UDP = append(out.UDP, DiagUDPSocket{Local: u.Local, Remote: u.Remote, RxQueueBytes: u.RxQueue, TxQueueBytes: u.TxQueue,
			Drops: s.socketDrops(u.Drops, drops[u.Inode]), Inode: u.Inode, UID: u.UID, Process: proc(u.Process)})
	}
	return out
}

// socketDrops is a socket's drop counter: total, and over an interval the
// change the window saw.
func (s diagWindow) socketDrops(total, delta uint64) DiagCounter {
	c := DiagCounter{Total: total}
	if !s.SinceBoot {
		r := Round(s.Rate(delta), 3)
		c.Delta, c.RatePerSec = &delta, &r
	}
	return c
}

func (s diagWindow) diagConntrack() *DiagConntrack {
	ct := s.After.Conntrack
	if ct == nil {
		return nil
	}
	out := &DiagConntrack{Count: ct.Count, Max: ct.Max, Buckets: ct.Buckets, MaxWritable: ct.MaxWritable,
		ByProto: ct.ByProto, Counted: ct.Counted}
	if ct.Count != nil && ct.Max != nil && *ct.Max > 0 {
		p := Round(Ratio(*ct.Count, *ct.Max)*100, 2)
		out.FillPct = &p
	}
	if len(ct.Columns) > 0 {
		out.Stats = map[string]DiagCounter{}
		for _, name := range ct.Columns {
			c := s.Conntrack(name)
			if name == "entries" {
				// The namespace's entry count, repeated per CPU: a level.
				out.Stats[name] = DiagCounter{Total: c.Total}
				continue
			}
			if c.OK || s.SinceBoot {
				out.Stats[name] = s.counter(c)
			} else {
				out.Stats[name] = DiagCounter{Total: c.Total}
			}
		}
	}
	return out
}

// DiagSkips lists what the diag snapshots could not read, each once.
func DiagSkips(d *collectors.Window) []Skip {
	out := []Skip{}
	seen := map[Skip]bool{}
	for _, snap := range []*collectors.Snapshot{d.Before, d.After} {
		if snap == nil {
			continue
		}
		for _, sk := range snap.Skipped {
			r := Skip{Source: sk.Source, Reason: string(sk.Kind), Message: sk.Message, Fix: sk.Fix, Capability: sk.Capability}
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out
}
