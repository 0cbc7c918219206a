package render

import "github.com/netdx/netdx/report"

// diag prints the diag section. Owned by the diag work; filled in there.
func (p *printer) diag(_ *report.Diag) {}
