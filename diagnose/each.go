package diagnose

import (
	"strings"

	"github.com/netdx/netdx/capture"
)

// perCapture gathers what a capture rule concludes about each capture.
type perCapture struct {
	found   []Finding
	details []string
}

// add records findings.
func (p *perCapture) add(fs ...Finding) { p.found = append(p.found, fs...) }

// saw records what the rule saw in one capture when all is well there.
func (p *perCapture) saw(detail string) { p.details = append(p.details, detail) }

// eachCapture is the skeleton of a capture rule: judge looks at every
// capture in turn; the outcome holds the findings and, when there are
// none, what was seen ("a.pcap: ...; b.pcap: ..."), or none when nothing
// was said.
func eachCapture(in *Input, none string, judge func(r *capture.Result, p *perCapture)) Outcome {
	var p perCapture
	for _, r := range in.Captures {
		judge(r, &p)
	}
	out := Outcome{Findings: p.found, Detail: strings.Join(p.details, "; ")}
	if out.Detail == "" {
		out.Detail = none
	}
	return out
}
