package collectors

import (
	"strconv"
	"strings"
	"time"
)

// Snapshot is everything read from the host at one moment. Sections a
// source could not provide stay nil and are named in Skipped.
type Snapshot struct {
	Taken time.Time
	// Uptime is the time since boot (/proc/uptime); 0 when unknown. It turns
	// since-boot totals into average rates when there is no interval.
	Uptime time.Duration
	// Netstat holds the counters of /proc/net/netstat and /proc/net/snmp
	// (and snmp6) by section ("TcpExt", "IpExt", "MPTcpExt", "Tcp", "Udp",
	// ...) then counter name, exactly as the kernel names them. A counter
	// this kernel lacks has no key: absent, never zero.
	Netstat NetCounters
	// Softnet has one entry per online CPU (/proc/net/softnet_stat).
	// Host-global: the same in every network namespace.
	Softnet []SoftnetCPU
	// Links are the network interfaces of the namespace, sorted by name.
	Links []Link
	// NICs holds what ethtool says about each interface, by name.
	NICs map[string]*NIC
	// Qdiscs are every qdisc of every interface, root first per interface.
	Qdiscs []Qdisc
	// Sysctls are the settings that matter for drops and latency.
	Sysctls Sysctls
	// Sockets are listening TCP sockets and UDP sockets with drops.
	Sockets *Sockets
	// TCPConns are the namespace's TCP connections with their tcp_info,
	// read with Sockets; TCPHealthOf compares two of them. nil when
	// sock_diag could not be read.
	TCPConns *TCPConns
	// Sockstat is /proc/net/sockstat and sockstat6 by protocol then key
	// ("TCP" → "inuse", "orphan", "tw", "alloc", "mem"; "UDP" → "mem").
	// The mem values are pages and host-global; the counts are this
	// namespace's.
	Sockstat NetCounters
	// Conntrack is nil when netfilter connection tracking is not loaded.
	Conntrack *Conntrack
	// MPTCP is nil when the kernel has no MPTCP or it could not be read.
	MPTCP *MPTCP
	// Skipped are the sources not read, collector by collector in the
	// collectors' order (All) whichever finished first, then the namespace
	// when it could not be entered.
	Skipped []Skip
	// Runs records how each collector's run went, in the collectors' order.
	Runs []Run
}

// Run is one collector's run in a snapshot: how long it took and whether
// it failed. A source skipped for lack of support or privilege is not a
// failure.
type Run struct {
	Collector string
	Duration  time.Duration
	Failed    bool
}

// NetCounters maps section → counter name → value.
type NetCounters map[string]map[string]uint64

// Get returns a counter and whether this kernel has it.
func (c NetCounters) Get(section, name string) (uint64, bool) {
	v, ok := c[section][name]
	return v, ok
}

// set records one counter, making the section as needed.
func (c NetCounters) set(section, name string, v uint64) {
	m := c[section]
	if m == nil {
		m = map[string]uint64{}
		c[section] = m
	}
	m[name] = v
}

// AddSkip records that source could not be read because of err, for a
// collector that reads several sources and carries on past one that fails
// (one NIC whose driver lacks ring parameters, say).
func (s *Snapshot) AddSkip(source string, err error) {
	s.Skipped = append(s.Skipped, skipFor(source, err))
}

// Link finds an interface by name.
func (s *Snapshot) Link(name string) *Link {
	for i := range s.Links {
		if s.Links[i].Name == name {
			return &s.Links[i]
		}
	}
	return nil
}

// Sysctl is one setting as read.
type Sysctl struct {
	// Value is the file's content with runs of blanks made single spaces
	// ("4096 131072 6291456").
	Value string `json:"value"`
	// Scope is "netns" when the namespace has its own value, "host" when
	// it is global to the host.
	Scope string `json:"scope"`
	// Writable says whether root may write the setting from the
	// namespace read (`sysctl -w` would work there): false when the
	// kernel shows it read-only there or only in the host's namespace, as
	// it does in a child namespace for some host-global settings; nil
	// when not known (a recording).
	Writable *bool `json:"writable,omitempty"`
}

// Sysctl scopes.
const (
	ScopeNetNS = "netns"
	ScopeHost  = "host"
)

// Sysctls maps a dotted name ("net.core.somaxconn") to its value.
type Sysctls map[string]Sysctl

// Ints parses a setting of one or more integers; ok is false when it was
// not read or is not numeric.
func (s Sysctls) Ints(name string) ([]int64, bool) {
	v, ok := s[name]
	if !ok {
		return nil, false
	}
	fields := strings.Fields(v.Value)
	out := make([]int64, 0, len(fields))
	for _, f := range fields {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, false
		}
		out = append(out, n)
	}
	return out, len(out) > 0
}

// Int parses a one-integer setting.
func (s Sysctls) Int(name string) (int64, bool) {
	v, ok := s.Ints(name)
	if !ok {
		return 0, false
	}
	return v[0], true
}
