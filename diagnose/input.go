package diagnose

import (
	"github.com/netdx/netdx/capture"
	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/probes"
)

// Input is everything the rules judge: the host's snapshots, traces of
// network paths and analysed captures. Any part may be absent.
type Input struct {
	Diag     *collectors.Window
	Traces   []*probes.Trace
	Captures []*capture.Result
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
