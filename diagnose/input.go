package diagnose

import (
	"github.com/netdx/netdx/capture"
	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/drops"
	"github.com/netdx/netdx/probes"
)

// Input is everything the rules judge: the host's snapshots, traces of
// network paths, analysed captures and the kernel's drop reasons. Any
// part may be absent.
type Input struct {
	Diag *collectors.Window
	// NetNS names the network namespace the host was read in (--netns);
	// empty for netdx's own.
	NetNS string
	// Conns is the per-connection TCP view of the window, its owners
	// named; nil takes the default view of Diag (TCPHealth).
	Conns    *collectors.TCPHealth
	Traces   []*probes.Trace
	Captures []*capture.Result
	// Drops are the drop reasons over the window (all namespaces);
	// DropsNetns is the inode of the namespace Diag was read in, 0 for
	// netdx's own: the drops the host's counters can be set against.
	Drops      *drops.Window
	DropsNetns uint32
}

// here reports whether a drop happened in the namespace whose counters
// Diag holds.
func (in *Input) here(n drops.Netns) bool {
	if in.DropsNetns == 0 {
		return n.Current
	}
	return n.Inode == in.DropsNetns
}

// Has reports whether the input holds data of source s. Cross-source rules
// run when at least two sources are present.
func (in *Input) Has(s Source) bool {
	host, path, capt := in.Diag != nil, len(in.Traces) > 0, len(in.Captures) > 0
	switch s {
	case SourceHost:
		return host
	case SourcePath:
		return path
	case SourceCapture:
		return capt
	case SourceDrops:
		return in.Drops != nil
	case SourceCross:
		n := 0
		for _, b := range []bool{host, path, capt} {
			if b {
				n++
			}
		}
		return n >= 2
	}
	return false
}

// TCPHealth is the per-connection TCP view the rules judge: the one the
// runner made (bounded, filtered and with the processes named), or the
// default view of the window; nil when the connections were not read.
func (in *Input) TCPHealth() *collectors.TCPHealth {
	if in.Conns == nil && in.Diag != nil {
		in.Conns = collectors.TCPHealthBetween(in.Diag.Before, in.Diag.After, collectors.TCPHealthOptions{})
	}
	return in.Conns
}

// namespace names the network namespace read, as the subject of findings
// about a namespace's own tables.
func (in *Input) namespace() string {
	if in.NetNS != "" {
		return "netns " + in.NetNS
	}
	return "this netns"
}
