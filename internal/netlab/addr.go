package netlab

import (
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// WaitLocal waits until the kernel in n routes every address in addrs as
// one of its own. An IPv4 address's local route is in place when the
// netlink call adding it returns; an IPv6 address's is installed later,
// from a kernel work item, and only once its link is up with carrier —
// duplicate address detection off (IFA_F_NODAD) shortens the wait but does
// not remove it. A socket used before then fails with "network is
// unreachable", which on a loaded machine is tens of milliseconds.
func (n *NS) WaitLocal(addrs ...netip.Addr) error {
	const limit = 5 * time.Second
	deadline := time.Now().Add(limit)
	for _, a := range addrs {
		for {
			routes, err := n.nl.RouteGet(a.AsSlice())
			if err == nil && len(routes) > 0 && routes[0].Type == unix.RTN_LOCAL {
				break
			}
			if time.Now().After(deadline) {
				if err == nil {
					err = fmt.Errorf("the kernel does not route it as local")
				}
				return fmt.Errorf("%s: address %s not usable after %v: %w", n.Name, a, limit, err)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	return nil
}
