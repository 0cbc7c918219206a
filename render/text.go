package render

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"

	"github.com/netdx/netdx/report"
)

// Text renders a report for people. Styled output (a terminal) has colour
// and bordered tables drawn with lipgloss; plain output (a pipe, NO_COLOR,
// TERM=dumb) is stable text whose tables are aligned with spaces, never
// tabs, so it reads in a terminal, a log, a ticket or an email. When the
// width is known (a terminal) every line fits it: prose wraps, table
// cells are cut with an ellipsis and long messages move below the table.
type Text struct {
	// R carries the colour profile, detected once by the caller.
	R      *lipgloss.Renderer
	Styled bool
	// Width is the terminal width every line fits in; 0 when unknown (a
	// pipe): lines are not wrapped or cut.
	Width int
}

// Render implements Renderer.
func (t Text) Render(w io.Writer, r *report.Report) error {
	p := &printer{t: t, w: w}
	p.header(r)
	p.sources(r.Sources)
	p.findings(r.Findings)
	p.diag(r.Diag)
	p.drops(r.Drops)
	for i := range r.Traces {
		p.trace(&r.Traces[i])
	}
	for i := range r.Captures {
		p.capture(&r.Captures[i])
	}
	p.checks(r.Checks)
	p.skipped(r.Skipped)
	p.privileges(r)
	p.warnings(r)
	return p.err
}

// printer carries the first write error so the section code stays readable.
type printer struct {
	t   Text
	w   io.Writer
	err error
}

func (p *printer) printf(format string, a ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, a...)
	}
}

func (p *printer) style() lipgloss.Style {
	if p.t.R == nil {
		return lipgloss.NewStyle()
	}
	return p.t.R.NewStyle()
}

// heading starts a section.
func (p *printer) heading(title, detail string) {
	p.printf("\n")
	if p.t.Styled {
		title = p.style().Bold(true).Render(title)
	}
	if detail != "" {
		title += "  " + detail
	}
	p.wrap("", title)
}

var severityColour = map[report.Severity]lipgloss.Color{
	report.Critical: lipgloss.Color("9"),
	report.Warning:  lipgloss.Color("11"),
	report.Info:     lipgloss.Color("12"),
}

func (p *printer) severity(s report.Severity) string {
	label := strings.ToUpper(s.String())
	if !p.t.Styled {
		return label
	}
	return p.style().Bold(true).Foreground(severityColour[s]).Render(label)
}

// table writes rows under headers, fitted to the output width (see
// layoutTable): bordered on a terminal, aligned with spaces otherwise.
func (p *printer) table(headers []string, rows [][]string) { p.notesTable(headers, rows, 0) }

// notesTable is a table whose last spill columns are free text (a
// message, a fix): when the table is too wide for the output they are
// printed below their row instead.
func (p *printer) notesTable(headers []string, rows [][]string, spill int) {
	if !p.t.Styled {
		g := layoutTable(headers, rows, p.t.Width, spill, func(n int) int { return 2 * (n - 1) })
		p.printf("%s\n", plainLine(g.headers, g.widths))
		for i, r := range g.rows {
			p.printf("%s\n", plainLine(r, g.widths))
			p.below(g, i, "  ")
		}
		return
	}
	// Rounded borders and one blank each side of a cell.
	g := layoutTable(headers, rows, p.t.Width, spill, func(n int) int { return 3*n + 1 })
	tb := table.New().
		Border(lipgloss.RoundedBorder()).
		BorderStyle(p.style().Faint(true)).
		Headers(g.headers...).
		Rows(g.rows...).
		StyleFunc(func(row, col int) lipgloss.Style {
			s := p.style().Padding(0, 1)
			if row == table.HeaderRow {
				return s.Bold(true)
			}
			return s
		})
	p.printf("%s\n", tb.Render())
	for i, r := range g.rows {
		label := ""
		for _, c := range r {
			if c != "" {
				label = c + ": "
				break
			}
		}
		p.below(g, i, "  "+label)
	}
}

// below writes the free-text cells of row i that left the grid, each
// wrapped under indent.
func (p *printer) below(g grid, i int, indent string) {
	if i >= len(g.below) {
		return
	}
	for k, v := range g.below[i] {
		if v != "" && v != "-" {
			p.wrap(indent+strings.ToLower(g.belowHeaders[k])+": ", v)
		}
	}
}

// wrap writes prose after indent, wrapped to the output width when it is
// known; continuation lines line up under the text, not the label
// ("  note: ").
func (p *printer) wrap(indent, s string) {
	p.wrapHang(indent, strings.Repeat(" ", lipgloss.Width(indent)), s)
}

// item writes one item of a list (evidence, a fix) after indent; its
// continuation lines are indented two columns more, so each item reads
// as one.
func (p *printer) item(indent, s string) { p.wrapHang(indent, indent+"  ", s) }

// wrapHang writes s wrapped to the output width, the first line after
// indent, the others after hang.
func (p *printer) wrapHang(indent, hang, s string) {
	width := 0
	if p.t.Width > 0 {
		width = max(p.t.Width-max(lipgloss.Width(indent), lipgloss.Width(hang)), 20)
	}
	for i, line := range wrapText(s, width) {
		if i == 1 {
			indent = hang
		}
		p.printf("%s%s\n", indent, line)
	}
}

func (p *printer) header(r *report.Report) {
	parts := []string{"netdx " + r.Command}
	if r.Host.Hostname != "" {
		parts = append(parts, "host "+r.Host.Hostname)
	}
	if r.Host.Kernel != "" {
		parts = append(parts, "kernel "+r.Host.Kernel)
	}
	if r.Host.NetNS != "" {
		parts = append(parts, "netns "+r.Host.NetNS)
	}
	parts = append(parts, r.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	line := strings.Join(parts, " · ")
	if p.t.Styled {
		line = p.style().Bold(true).Render(line)
	}
	p.printf("%s\n", line)
	if r.Interrupted {
		p.printf("INTERRUPTED: this report is partial; it holds what was measured before the run was stopped.\n")
	}
}

// sources lists what the report examined, when it is more than one
// source or one of them is not complete; a single complete source speaks
// through its own section.
func (p *printer) sources(ss []report.SourceStatus) {
	show := len(ss) > 1
	for _, s := range ss {
		show = show || s.Status != report.StatusOK
	}
	if !show {
		return
	}
	p.heading("SOURCES", "")
	rows := make([][]string, 0, len(ss))
	for _, s := range ss {
		rows = append(rows, []string{string(s.Source), s.Name, s.Status, s.Detail})
	}
	p.notesTable([]string{"SOURCE", "NAME", "STATUS", "DETAIL"}, rows, 1)
}

// findings prints every finding most severe first: first one line per
// finding (findings of one ID and severity over several subjects share a
// line), then each in full. A finding's catalog explanation is printed
// once per ID. A finding a cross-source finding subsumes is folded under
// it as one line; the tally counts the findings shown in full.
func (p *printer) findings(fs []report.Finding) {
	counts := map[report.Severity]int{}
	folded := map[report.FindingRef][]report.Finding{}
	var top []report.Finding
	refs := map[report.FindingRef]bool{}
	for _, f := range fs {
		refs[f.Ref()] = true
	}
	for _, f := range fs {
		if f.SubsumedBy != nil && refs[*f.SubsumedBy] {
			folded[*f.SubsumedBy] = append(folded[*f.SubsumedBy], f)
			continue
		}
		top = append(top, f)
		counts[f.Severity]++
	}
	var tally []string
	for _, s := range []report.Severity{report.Critical, report.Warning, report.Info} {
		if counts[s] > 0 {
			tally = append(tally, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	if len(top) == 0 {
		tally = []string{"none"}
	}
	n := len(fs) - len(top)
	if n > 0 {
		tally = append(tally, fmt.Sprintf("%d more folded into cross-source findings", n))
	}
	p.heading("FINDINGS", strings.Join(tally, ", "))
	if len(top) == 0 {
		return
	}
	p.summary(top)
	explained := map[string]bool{}
	for _, f := range top {
		p.printf("\n")
		p.finding(f, !explained[f.ID])
		explained[f.ID] = true
		if sub := folded[f.Ref()]; len(sub) > 0 {
			p.printf("  explains:\n")
			for _, g := range sub {
				title := g.ID
				if g.Subject != "" {
					title += " · " + g.Subject
				}
				p.item("    ", p.severity(g.Severity)+" "+title+": "+g.Summary)
			}
		}
	}
}

// summaryGroup is one line of the summary: findings of one ID and
// severity, one per subject.
type summaryGroup struct {
	f        report.Finding
	subjects []string
}

// summary writes one line per finding, or per group of findings of one
// ID and severity: severity, ID, subject(s), the first one's sentence.
// When the width is known the subjects and the sentence are cut to fit.
func (p *printer) summary(top []report.Finding) {
	var groups []summaryGroup
	for _, f := range top {
		if k := len(groups) - 1; k >= 0 && groups[k].f.ID == f.ID && groups[k].f.Severity == f.Severity {
			groups[k].subjects = append(groups[k].subjects, f.Subject)
			continue
		}
		groups = append(groups, summaryGroup{f: f, subjects: []string{f.Subject}})
	}
	idW, subjW := 0, 0
	subjects := make([]string, len(groups))
	for i, g := range groups {
		idW = max(idW, lipgloss.Width(g.f.ID))
		subjects[i] = strings.Join(g.subjects, ", ")
		subjW = max(subjW, lipgloss.Width(subjects[i]))
	}
	const sevW = len("CRITICAL")
	if p.t.Width > 0 && subjW > 0 {
		subjW = min(subjW, max(10, (p.t.Width-sevW-idW-6)/3))
	}
	for i, g := range groups {
		sentence := g.f.Summary
		line := pad(p.severity(g.f.Severity), sevW) + "  " + pad(g.f.ID, idW)
		if subjW > 0 {
			line += "  " + pad(truncate(subjects[i], subjW), subjW)
		}
		if p.t.Width > 0 {
			sentence = truncate(sentence, max(p.t.Width-lipgloss.Width(line)-2, 1))
		}
		p.printf("%s\n", strings.TrimRight(line+"  "+sentence, " "))
	}
}

// pad fills s with spaces to width columns.
func pad(s string, width int) string {
	return s + strings.Repeat(" ", max(0, width-lipgloss.Width(s)))
}

// finding writes one finding in full; explain says whether to include
// the catalog's explanation (once per ID in a report).
func (p *printer) finding(f report.Finding, explain bool) {
	title := f.ID
	if f.Subject != "" {
		title += " · " + f.Subject
	}
	p.wrap("", p.severity(f.Severity)+" "+title)
	p.wrap("  ", f.Summary)
	if explain && f.Explanation != "" {
		p.wrap("  ", f.Explanation)
	}
	if len(f.Evidence) > 0 {
		p.printf("  evidence:\n")
		for _, e := range f.Evidence {
			p.item("    ", evidenceLine(e))
		}
	}
	if len(f.Fix) > 0 {
		p.printf("  fix:\n")
		for _, x := range f.Fix {
			p.item("    ", x)
		}
	}
	for _, n := range f.Notes {
		p.wrap("  note: ", n)
	}
}

// evidenceLine formats one evidence value: "name = value unit (+delta, rate/s)".
func evidenceLine(e report.Evidence) string {
	var b strings.Builder
	b.WriteString(e.Name)
	b.WriteString(" = ")
	switch {
	case e.Text != "":
		b.WriteString(e.Text)
	case e.Value != nil:
		b.WriteString(Number(*e.Value))
	default:
		b.WriteString("-")
	}
	if e.Unit != "" {
		b.WriteString(" " + e.Unit)
	}
	var change []string
	if e.Delta != nil {
		change = append(change, "+"+Number(*e.Delta))
	}
	if e.RatePerSec != nil {
		change = append(change, Number(*e.RatePerSec)+"/s")
	}
	if len(change) > 0 {
		b.WriteString(" (" + strings.Join(change, ", ") + ")")
	}
	return b.String()
}

// Number formats v without a fraction when it is whole, else with up to
// three significant decimals.
func Number(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	if math.Abs(v) >= 100 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func (p *printer) checks(cs []report.Check) {
	if len(cs) == 0 {
		return
	}
	p.heading("CHECKED", "")
	rows := make([][]string, 0, len(cs))
	for _, c := range cs {
		rows = append(rows, []string{string(c.Layer), c.Name, strings.ReplaceAll(c.Status, "_", " "), c.Detail})
	}
	p.notesTable([]string{"LAYER", "CHECK", "STATUS", "DETAIL"}, rows, 1)
}

func (p *printer) skipped(ss []report.Skip) {
	if len(ss) == 0 {
		return
	}
	p.heading("NOT READ", "")
	rows := make([][]string, 0, len(ss))
	for _, s := range ss {
		rows = append(rows, []string{s.Source, s.Reason, s.Message, s.Fix})
	}
	p.notesTable([]string{"SOURCE", "REASON", "MESSAGE", "FIX"}, rows, 2)
}

func (p *printer) warnings(r *report.Report) {
	if len(r.Warnings) == 0 {
		return
	}
	p.heading("WARNINGS", "")
	for _, w := range r.Warnings {
		p.wrap("  ", w)
	}
}
