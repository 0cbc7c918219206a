package probes

import (
	"fmt"
	"io/fs"
	"strings"
)

// PrivilegeError says the kernel refused every way of sending the chosen
// probes. It is compatible with errors.Is(err, fs.ErrPermission) and names
// the fixes.
type PrivilegeError struct {
	Method Method
	Err    error
}

var _ error = &PrivilegeError{}

// Fixes lists what would let the trace run, most direct first.
func (e *PrivilegeError) Fixes() []string {
	fixes := []string{
		"give the binary the capability: sudo setcap cap_net_raw+ep $(command -v netdx)",
		"or run it as root (sudo netdx trace ...)",
	}
	if e.Method == ICMP {
		fixes = append(fixes,
			"or let your group open ICMP datagram sockets: sudo sysctl -w net.ipv4.ping_group_range='0 2147483647' (IPv6 uses the same setting)",
			"or use --udp or --tcp, which trace without privilege")
	}
	fixes = append(fixes, "in a container, add the NET_RAW capability (docker run --cap-add=NET_RAW; Kubernetes securityContext.capabilities.add: [\"NET_RAW\"])")
	return fixes
}

func (e *PrivilegeError) Error() string {
	return fmt.Sprintf("cannot send %s probes: raw sockets need CAP_NET_RAW and the unprivileged fallback was refused (%v); fixes: %s",
		e.Method, e.Err, strings.Join(e.Fixes(), "; "))
}

func (e *PrivilegeError) Unwrap() error { return e.Err }

// Is makes the error match fs.ErrPermission.
func (e *PrivilegeError) Is(target error) bool { return target == fs.ErrPermission }
