package render

import "github.com/netdx/netdx/report"

// hostMark follows a value that is the whole host's, not the namespace's.
const hostMark = " [host]"

// mark is hostMark when the value at path under diag is host-wide.
func (v diagView) mark(path string) string {
	if v.d.Scope(path) == report.ScopeHost {
		return hostMark
	}
	return ""
}

// readFromText says what diag read and what the [host] mark means, so a
// reader in a container knows whose numbers these are.
func readFromText(r *report.DiagReadFrom) string {
	legend := "[host] marks the whole host's values (the same in every network namespace); the rest are this namespace's."
	if r == nil {
		return legend
	}
	var ns string
	switch r.NetNS {
	case "named":
		ns = "the --netns namespace (per-namespace files from " + r.Net + ")"
	case "host":
		ns = "the host's namespace, entered through " + r.Proc + "/1/ns/net"
	case "host_files":
		ns = "the host's namespace, from its files in " + r.Net + " only"
	default:
		ns = "netdx's own namespace (" + r.Net + ")"
	}
	roots := "read " + r.Proc
	if r.Sys != "" {
		roots += " and " + r.Sys
	}
	return roots + "; network namespace: " + ns + ". " + legend
}
