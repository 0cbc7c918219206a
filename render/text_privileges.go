package render

import (
	"fmt"
	"slices"
	"strings"

	"github.com/netdx/netdx/report"
)

// privileges says, under NOT READ, as whom the run was made and which
// capabilities it had, when something was left out for lack of one.
func (p *printer) privileges(r *report.Report) {
	if r.Privileges == nil {
		return
	}
	var lacking []string
	for _, s := range r.Skipped {
		for _, c := range strings.Split(s.Capability, ",") {
			if c != "" && !slices.Contains(lacking, c) && !slices.Contains(r.Privileges.Capabilities, c) {
				lacking = append(lacking, c)
			}
		}
	}
	if len(lacking) == 0 {
		return
	}
	held := "none of those netdx uses"
	if len(r.Privileges.Capabilities) > 0 {
		held = strings.Join(r.Privileges.Capabilities, ", ")
	}
	p.wrap("", fmt.Sprintf("Ran as uid %d with %s; %s would let netdx read what is listed above.",
		r.Privileges.UID, held, strings.Join(lacking, " and ")))
}
