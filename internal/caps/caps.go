// Package caps reads the capabilities of the running process, so netdx can
// say up front which of its sources and probe methods the run may use and
// name the capability that would enable the others. The kernel's answer to
// the operation itself (EPERM) stays the final word: a capability held in
// a user namespace that does not own the network namespace, or a seccomp
// filter, can still refuse what the capability set allows.
package caps

import "strconv"

// Cap is a Linux capability number (linux/capability.h).
type Cap int

// The capabilities netdx can use, and what for.
const (
	// DacReadSearch bypasses file read and directory search checks.
	DacReadSearch Cap = 2
	// NetAdmin: MPTCP subflow details on older kernels, forced socket
	// buffer sizes.
	NetAdmin Cap = 12
	// NetRaw: raw sockets for trace.
	NetRaw Cap = 13
	// SysPtrace: reading the descriptor links of other users' processes
	// (/proc/PID/fd, with DacReadSearch to list them).
	SysPtrace Cap = 19
	// SysAdmin: setns(2) into another network namespace (diag --netns,
	// the host's namespace from a container).
	SysAdmin Cap = 21
	// Perfmon and BPF: the drop reasons' BPF program on the kfree_skb
	// tracepoint (netdx drops, and diag and serve when held).
	Perfmon Cap = 38
	BPF     Cap = 39
)

// Used lists the capabilities netdx uses, in the order reports list them.
var Used = []Cap{NetRaw, NetAdmin, SysAdmin, DacReadSearch, SysPtrace, BPF, Perfmon}

var names = map[Cap]string{
	DacReadSearch: "CAP_DAC_READ_SEARCH", NetAdmin: "CAP_NET_ADMIN",
	NetRaw: "CAP_NET_RAW", SysAdmin: "CAP_SYS_ADMIN", SysPtrace: "CAP_SYS_PTRACE",
	Perfmon: "CAP_PERFMON", BPF: "CAP_BPF",
}

// String is the capability's kernel name, "CAP_NET_RAW".
func (c Cap) String() string {
	if n, ok := names[c]; ok {
		return n
	}
	return "CAP_" + strconv.Itoa(int(c))
}

// Set is a capability set: bit n set means capability n is held.
type Set uint64

// Has reports whether c is in the set.
func (s Set) Has(c Cap) bool { return c >= 0 && c < 64 && s&(1<<uint(c)) != 0 }

// Names lists, of the capabilities netdx uses, those in the set, in the
// order of Used.
func (s Set) Names() []string {
	out := []string{}
	for _, c := range Used {
		if s.Has(c) {
			out = append(out, c.String())
		}
	}
	return out
}
