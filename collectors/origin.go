package collectors

// Origin says where a Sources reads from, for the report: the roots, the
// directory of the per-namespace files, and whose network namespace those
// describe.
type Origin struct {
	// Proc and Sys are the procfs and sysfs roots; Sys is empty when sysfs
	// is not read because it would show another namespace's devices.
	Proc, Sys string
	// Net is the directory the per-namespace /proc files come from.
	Net string
	// NetNS is one of the NetNS values below.
	NetNS string
}

// Origin.NetNS values: netdx's own namespace, the one --netns named, the
// host's (entered through PROC/1/ns/net from a container), or the host's
// /proc files only (a container that could not enter it).
const (
	NetNSOwn       = "own"
	NetNSNamed     = "named"
	NetNSHost      = "host"
	NetNSHostFiles = "host_files"
)

// Origin reports where s reads from.
func (s *Sources) Origin() Origin {
	o := Origin{Proc: s.ProcPath, Net: s.NetPath, NetNS: NetNSOwn}
	if s.SysfsNet {
		o.Sys = s.SysPath
	}
	switch {
	case s.NetNS != "":
		o.NetNS = NetNSNamed
	case s.switchNS:
		o.NetNS = NetNSHost
	case s.notLive != "":
		o.NetNS = NetNSHostFiles
	}
	return o
}
