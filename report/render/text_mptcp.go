package render

import "github.com/netdx/netdx/report"

// mptcp prints the MPTCP part of the diag section. Owned by the MPTCP
// work; filled in there.
func (p *printer) mptcp(_ *report.DiagMPTCP) {}
