package collectors

import "time"

// Snapshot is everything read from the host at one moment. Sections a
// source could not provide stay nil and are named in Skipped.
type Snapshot struct {
	Taken time.Time
	// Netstat holds the counters of /proc/net/netstat and /proc/net/snmp
	// (and snmp6) by section ("TcpExt", "IpExt", "MPTcpExt", "Tcp", "Udp",
	// ...) then counter name, exactly as the kernel names them. A counter
	// this kernel lacks has no key: absent, never zero.
	Netstat NetCounters
	// MPTCP is nil when the kernel has no MPTCP or it could not be read.
	MPTCP   *MPTCP
	Skipped []Skip
}

// NetCounters maps section → counter name → value.
type NetCounters map[string]map[string]uint64

// Get returns a counter and whether this kernel has it.
func (c NetCounters) Get(section, name string) (uint64, bool) {
	v, ok := c[section][name]
	return v, ok
}

// AddSkip records that source could not be read because of err, for a
// collector that reads several sources and carries on past one that fails
// (one NIC whose driver lacks ring parameters, say).
func (s *Snapshot) AddSkip(source string, err error) {
	s.Skipped = append(s.Skipped, skipFor(source, err))
}
