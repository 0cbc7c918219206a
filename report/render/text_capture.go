package render

import "github.com/netdx/netdx/report"

// capture prints the capture section. Owned by the capture work; filled in there.
func (p *printer) capture(_ *report.Capture) {}
