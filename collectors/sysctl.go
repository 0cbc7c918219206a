package collectors

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// sysctlNames are the settings that matter for drops and latency, in
// /proc/sys form. Each rule's documentation says which it reads.
var sysctlNames = []string{
	"net/core/somaxconn",
	"net/core/netdev_max_backlog",
	"net/core/netdev_budget",
	"net/core/netdev_budget_usecs",
	"net/core/flow_limit_table_len",
	"net/core/rmem_default",
	"net/core/rmem_max",
	"net/core/wmem_default",
	"net/core/wmem_max",
	"net/core/default_qdisc",
	"net/ipv4/tcp_syncookies",
	"net/ipv4/tcp_max_syn_backlog",
	"net/ipv4/tcp_abort_on_overflow",
	"net/ipv4/tcp_synack_retries",
	"net/ipv4/tcp_syn_retries",
	"net/ipv4/tcp_fastopen",
	"net/ipv4/tcp_rmem",
	"net/ipv4/tcp_wmem",
	"net/ipv4/tcp_mem",
	"net/ipv4/tcp_max_orphans",
	"net/ipv4/tcp_congestion_control",
	"net/ipv4/tcp_reordering",
	"net/ipv4/tcp_recovery",
	"net/ipv4/tcp_mtu_probing",
	"net/ipv4/tcp_moderate_rcvbuf",
	"net/ipv4/udp_mem",
	"net/ipv4/udp_rmem_min",
	"net/ipv4/ip_local_port_range",
	"net/ipv4/ipfrag_high_thresh",
	"net/ipv4/conf/all/rp_filter",
	"net/ipv4/conf/default/rp_filter",
}

// hostSysctls are global to the host: a child namespace either shows the
// host's value or, for some, does not show the file at all.
var hostSysctls = map[string]bool{
	"net.core.netdev_max_backlog": true, "net.core.netdev_budget": true, "net.core.netdev_budget_usecs": true,
	"net.core.flow_limit_table_len": true, "net.core.rmem_default": true, "net.core.rmem_max": true,
	"net.core.wmem_default": true, "net.core.wmem_max": true, "net.core.default_qdisc": true,
	"net.ipv4.tcp_mem": true, "net.ipv4.udp_mem": true, "net.ipv4.tcp_max_orphans": true,
}

type sysctls struct{}

func init() { Register(sysctls{}) }

func (sysctls) Name() string { return "sysctl" }

// After: the per-interface rp_filter settings need the interface list.
func (sysctls) After() []string { return []string{"links"} }

func (sysctls) Collect(_ context.Context, src *Sources, snap *Snapshot) error {
	if err := src.liveOnly("sysctls"); err != nil {
		return err
	}
	paths := append([]string(nil), sysctlNames...)
	for _, l := range snap.Links {
		paths = append(paths, "net/ipv4/conf/"+l.Name+"/rp_filter")
	}
	out := Sysctls{}
	var missing []string
	_, live := src.Netlink.(liveNetlink)
	for _, p := range paths {
		name := sysctlName(p)
		var mode unix.Stat_t
		v, err := readSysctl(src.ProcPath, p, &mode)
		here := err == nil
		if err != nil && hostSysctls[name] && errors.Is(err, fs.ErrNotExist) {
			// Not shown in a child namespace: read the host's.
			src.outside(func() { v, err = readSysctl(src.ProcPath, p, nil) })
		}
		switch {
		case err == nil:
			scope := ScopeNetNS
			if hostSysctls[name] {
				scope = ScopeHost
			}
			s := Sysctl{Value: v, Scope: scope}
			if live {
				// The file's mode is the kernel's answer: a child namespace
				// shows some host-global settings read-only, others not at
				// all. A recording's modes say nothing. The owner's write
				// bit is whether root may write it from this namespace.
				w := here && mode.Mode&0o200 != 0
				s.Writable = &w
			}
			out[name] = s
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, name)
		default:
			snap.AddSkip("sysctl", err)
		}
	}
	if len(missing) > 0 {
		src.Log.Debug("sysctls absent on this kernel", "names", missing)
	}
	if len(out) > 0 {
		snap.Sysctls = out
	}
	return nil
}

// sysctlName turns "net/ipv4/conf/eth0.100/rp_filter" into the dotted
// form sysctl(8) prints, keeping dots inside interface names.
func sysctlName(path string) string {
	return strings.ReplaceAll(path, "/", ".")
}

// readSysctl reads one setting, and its file's mode into st when not nil.
func readSysctl(proc, path string, st *unix.Stat_t) (string, error) {
	full := filepath.Join(proc, "sys", path)
	b, err := readFileStat(full, st)
	if err != nil {
		return "", err
	}
	v := strings.Join(strings.Fields(string(b)), " ")
	return v, checkSysctl(full, path, string(b), v)
}

// sysctlWritable reports whether the kernel lets root write the setting at
// path (its owner write bit), from the namespace of the calling thread.
func sysctlWritable(path string) bool {
	var st unix.Stat_t
	return unix.Stat(path, &st) == nil && st.Mode&0o200 != 0
}
