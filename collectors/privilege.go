package collectors

import (
	"strings"

	"github.com/netdx/netdx/internal/caps"
)

// neededCapability names the capability that would have let netdx read
// source after the kernel refused it: the one the source named (entering
// a namespace, MPTCP subflows, other users' descriptors), otherwise
// CAP_DAC_READ_SEARCH for a file (it bypasses read permission) and
// CAP_NET_ADMIN for a netlink or ethtool request.
func neededCapability(se *SourceError, source string) string {
	if se != nil && se.Capability != "" {
		return se.Capability
	}
	if strings.HasPrefix(source, "/") {
		return caps.DacReadSearch.String()
	}
	return caps.NetAdmin.String()
}

// grantFix is the fix offered for a source refused for lack of c.
func grantFix(c string) string {
	return "grant " + c + " (or run as root)"
}
