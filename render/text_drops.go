package render

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/netdx/netdx/report"
)

// DropPlace identifies where drops happened, for the live view: reason,
// namespace, interface and protocol.
func DropPlace(e report.DropEntry) string {
	return strings.Join([]string{e.Reason, e.Netns.Name, strconv.FormatUint(e.Netns.Cookie, 10), e.Interface, e.Protocol}, "\xff")
}

// AggregateDrops merges the entries of one place (sockets apart),
// summing their counts and rates, most drops first.
func AggregateDrops(es []report.DropEntry) []report.DropEntry {
	at := map[string]int{}
	var out []report.DropEntry
	for _, e := range es {
		k := DropPlace(e)
		if i, ok := at[k]; ok {
			out[i].Count += e.Count
			out[i].RatePerSec += e.RatePerSec
			continue
		}
		e.Socket = nil
		at[k] = len(out)
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b report.DropEntry) int { return cmp.Compare(b.Count, a.Count) })
	return out
}

// DropsLive writes one frame of netdx drops' live view: the places with
// drops, most per second first, as many as height lines hold (0: all),
// fitted to the width like every table.
func (t Text) DropsLive(w io.Writer, d *report.Drops, height int) error {
	p := &printer{t: t, w: w}
	title := fmt.Sprintf("netdx drops · %s · %s drops since start", d.Source, compact(float64(d.Total)))
	if t.Styled {
		title = p.style().Bold(true).Render(title)
	}
	p.wrap("", title)
	if d.Filter != nil {
		p.wrap("", "filter: "+filterText(d.Filter))
	}
	es := slices.Clone(d.Entries)
	slices.SortStableFunc(es, func(a, b report.DropEntry) int {
		return cmp.Or(cmp.Compare(b.RatePerSec, a.RatePerSec), cmp.Compare(b.Count, a.Count))
	})
	// The title, the filter, the table's header (three lines styled)
	// and border, and the line under the frame.
	rowsFit := len(es)
	if height > 0 {
		rowsFit = max(1, height-8)
	}
	rows := make([][]string, 0, min(len(es), rowsFit))
	for i, e := range es {
		if i == rowsFit {
			break
		}
		rows = append(rows, []string{e.Reason, dash(e.Netns.Name), dash(e.Interface), dash(e.Protocol),
			compact(e.RatePerSec), compact(float64(e.Count))})
	}
	if len(rows) == 0 {
		p.printf("\nno drops yet\n")
		return p.err
	}
	p.printf("\n")
	p.table([]string{"REASON", "NETNS", "INTERFACE", "PROTO", "RATE/S", "TOTAL"}, rows)
	if n := len(es) - len(rows); n > 0 {
		p.printf("… %d more places\n", n)
	}
	return p.err
}

func filterText(f *report.DropFilter) string {
	var parts []string
	for _, x := range []struct {
		flag string
		vals []string
	}{{"--netns", f.Netns}, {"--iface", f.Ifaces}, {"--reason", f.Reasons}} {
		if len(x.vals) > 0 {
			parts = append(parts, x.flag+" "+strings.Join(x.vals, ","))
		}
	}
	return strings.Join(parts, " ")
}

// drops prints the drop reasons of the report: the entries, the rules
// that dropped, and the reconciliation with the counters.
func (p *printer) drops(d *report.Drops) {
	if d == nil {
		return
	}
	detail := fmt.Sprintf("%s: %s drops in %ss", d.Source, compact(float64(d.Total)), Number(d.IntervalSeconds))
	if d.Filter != nil {
		detail += "; " + filterText(d.Filter)
	}
	p.heading("DROPS", detail)
	if len(d.Entries) == 0 {
		p.wrap("", "No drops counted.")
	} else {
		rows := [][]string{}
		for i, e := range d.Entries {
			if i == diagRows {
				break
			}
			sock := ""
			if s := e.Socket; s != nil {
				sock = fmt.Sprintf("socket:[%d]", s.Inode)
				if s.Local != "" {
					sock = s.Local + " " + sock
				}
				if s.Process != nil {
					sock += fmt.Sprintf(" %s[%d]", s.Process.Comm, s.Process.PID)
				}
			}
			rows = append(rows, []string{e.Reason, dash(e.Netns.Name), dash(e.Interface), dash(e.Protocol),
				compact(float64(e.Count)), compact(e.RatePerSec), sock})
		}
		p.notesTable([]string{"REASON", "NETNS", "INTERFACE", "PROTO", "COUNT", "RATE/S", "SOCKET"}, rows, 1)
		p.more(len(d.Entries)-len(rows), "entries")
	}
	if len(d.Rules) > 0 {
		p.sub("NFTABLES RULES THAT DROP", "packets over the window")
		rows := [][]string{}
		for _, r := range d.Rules {
			where := r.Family + " " + r.Table + " " + r.Chain
			what, n := fmt.Sprintf("handle %d", r.Handle), "no counter"
			if r.Policy {
				what = "policy drop"
			}
			if r.Comment != "" {
				what += " (" + r.Comment + ")"
			}
			if r.Packets != nil {
				n = compact(float64(*r.Packets))
				if r.SinceAdded {
					n += " since added"
				}
			}
			rows = append(rows, []string{dash(r.Netns.Name), where, what, n})
		}
		p.table([]string{"NETNS", "CHAIN", "RULE", "PACKETS"}, rows)
	}
	if len(d.Reconciliation) > 0 {
		p.sub("REASONS AGAINST COUNTERS", "in the namespace whose counters were read")
		rows := [][]string{}
		for _, r := range d.Reconciliation {
			c := "-"
			if r.CounterDrops != nil {
				c = compact(float64(*r.CounterDrops))
			}
			rows = append(rows, []string{r.Family, compact(float64(r.ReasonDrops)), c,
				strings.ReplaceAll(r.Verdict, "_", " "), r.Note})
		}
		p.notesTable([]string{"FAMILY", "REASONS", "COUNTERS", "VERDICT", "NOTE"}, rows, 1)
	}
}
