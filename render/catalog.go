package render

import (
	"encoding/json"
	"io"
	"strings"

	"github.com/netdx/netdx/report"
)

// Catalog writes catalog entries as JSON: the document `netdx explain
// --json` prints.
func (JSON) Catalog(w io.Writer, c report.Catalog) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(c)
}

// CatalogList writes one line per entry, grouped by source: ID, usual
// severity, layer and title. Plain output is aligned with spaces, one entry a
// line, so it can be cut and grepped.
func (t Text) CatalogList(w io.Writer, es []report.CatalogEntry) error {
	p := &printer{t: t, w: w}
	p.printf("%d finding IDs\n", len(es))
	for _, src := range report.Sources {
		var rows [][]string
		for _, e := range es {
			if e.Source == src {
				rows = append(rows, []string{e.ID, e.Severity.String(), string(e.Layer), e.Title})
			}
		}
		if len(rows) == 0 {
			continue
		}
		p.heading(strings.ToUpper(sourceTitle[src]), "")
		p.table([]string{"ID", "SEVERITY", "LAYER", "TITLE"}, rows)
	}
	p.printf("\n'netdx explain ID' explains one; docs/findings.md has them all.\n")
	return p.err
}

// sourceTitle heads each source's entries in the list.
var sourceTitle = map[report.Source]string{
	report.SourceHost:    "host (netdx diag)",
	report.SourcePath:    "path (netdx trace, diag --trace)",
	report.SourceCapture: "capture (netdx pcap analyze, diag --pcap)",
	report.SourceCross:   "cross-source (netdx diag with --trace or --pcap)",
}

// CatalogEntries writes entries in full, one after the other.
func (t Text) CatalogEntries(w io.Writer, es []report.CatalogEntry) error {
	p := &printer{t: t, w: w}
	for i, e := range es {
		if i > 0 {
			p.printf("\n")
		}
		p.entry(e)
	}
	return p.err
}

func (p *printer) entry(e report.CatalogEntry) {
	title := e.ID + " — " + e.Title
	if p.t.Styled {
		title = p.style().Bold(true).Render(title)
	}
	p.printf("%s\n", title)
	sev := e.Severity.String()
	if p.t.Styled {
		sev = p.style().Bold(true).Foreground(severityColour[e.Severity]).Render(sev)
	}
	p.printf("source %s · layer %s · usual severity %s\n", e.Source, e.Layer, sev)
	p.printf("\n")
	p.wrap("  ", e.Explanation)
	for _, s := range []struct{ head, text string }{{"WHEN IT FIRES", e.Thresholds}, {"WHAT TO CHANGE", e.Remediation}} {
		if s.text != "" {
			p.heading(s.head, "")
			p.wrap("  ", s.text)
		}
	}
	if len(e.Evidence) > 0 {
		p.heading("EVIDENCE", "")
		p.wrap("  ", strings.Join(e.Evidence, ", "))
	}
	if len(e.References) > 0 {
		p.heading("REFERENCES", "")
		for _, r := range e.References {
			p.printf("  %s\n", r)
		}
	}
}
