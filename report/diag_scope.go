package report

import (
	"sort"
	"strings"

	"github.com/netdx/netdx/collectors"
)

// Scopes of a value: the namespace's own, or the whole host's (the same
// in every network namespace, so a container sees its host's number).
const (
	ScopeNetNS = collectors.ScopeNetNS
	ScopeHost  = collectors.ScopeHost
)

// DiagReadFrom says where diag read: the roots given with --proc and
// --sys, the directory the per-namespace files came from, and whose
// network namespace the values labelled netns describe.
type DiagReadFrom struct {
	// Proc is the procfs root read.
	Proc string `json:"proc"`
	// Sys is the sysfs root read; absent when sysfs was not read (with
	// --netns it would show netdx's own devices).
	Sys string `json:"sys,omitempty"`
	// Net is the directory the per-namespace /proc files came from
	// (PROC/net, PROC/thread-self/net inside --netns, PROC/1/net from a
	// container that could not enter the host's namespace).
	Net string `json:"net"`
	// NetNS says whose network namespace the netns-scoped values describe:
	// "own" (netdx's), "named" (--netns, see host.netns), "host" (the
	// host's, entered through PROC/1/ns/net) or "host_files" (the host's
	// /proc files only).
	NetNS string `json:"netns"`
}

// NewDiagReadFrom converts where the collectors read from.
func NewDiagReadFrom(o collectors.Origin) *DiagReadFrom {
	return &DiagReadFrom{Proc: o.Proc, Sys: o.Sys, Net: o.Net, NetNS: o.NetNS}
}

// hostWide are the values inside per-namespace sections that the kernel
// keeps for the whole host, by their path under diag: /proc/net/sockstat
// prints the namespace's in-use and time-wait counts next to the host's
// orphan count, allocated sockets and memory pages (net/ipv4/proc.c,
// sockstat_seq_show); nf_conntrack_max and _buckets are read-only
// mirrors of the host's in a child namespace, which each namespace's own
// count is held against.
var hostWide = []string{
	"sockets.sockstat.TCP.orphan", "sockets.sockstat.TCP.alloc", "sockets.sockstat.TCP.mem",
	"sockets.sockstat.UDP.mem", "sockets.sockstat.UDPLITE.mem",
	"conntrack.max", "conntrack.buckets",
}

// diagScopes labels every section of d present, and the host-wide values
// inside per-namespace sections, with their scope. Sysctls carry their
// own. softnet_stat is per CPU for the whole host.
func diagScopes(d *Diag) map[string]string {
	out := map[string]string{}
	set := func(present bool, key, scope string) {
		if present {
			out[key] = scope
		}
	}
	set(d.Netstat != nil, "netstat", ScopeNetNS)
	set(d.Softnet != nil, "softnet", ScopeHost)
	set(d.Interfaces != nil, "interfaces", ScopeNetNS)
	set(d.Qdiscs != nil, "qdiscs", ScopeNetNS)
	set(d.Sockets != nil, "sockets", ScopeNetNS)
	set(d.Conntrack != nil, "conntrack", ScopeNetNS)
	set(d.MPTCP != nil, "mptcp", ScopeNetNS)
	for _, k := range hostWide {
		set(d.hasPath(k), k, ScopeHost)
	}
	return out
}

// hasPath reports whether a hostWide value is present in d.
func (d *Diag) hasPath(key string) bool {
	switch key {
	case "conntrack.max":
		return d.Conntrack != nil && d.Conntrack.Max != nil
	case "conntrack.buckets":
		return d.Conntrack != nil && d.Conntrack.Buckets != nil
	}
	if d.Sockets == nil {
		return false
	}
	parts := strings.Split(key, ".")
	if len(parts) != 4 {
		return false
	}
	_, ok := d.Sockets.Sockstat[parts[2]][parts[3]]
	return ok
}

// Scope returns the scope of the value at path under diag
// ("sockets.sockstat.TCP.mem", "softnet"): the most specific label that
// covers it, or "" when none does.
func (d *Diag) Scope(path string) string {
	keys := make([]string, 0, len(d.Scopes))
	for k := range d.Scopes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		if path == k || strings.HasPrefix(path, k+".") {
			return d.Scopes[k]
		}
	}
	return ""
}
