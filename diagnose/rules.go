package diagnose

import (
	"fmt"
	"sort"
	"sync"

	"github.com/netdx/netdx/report"
)

// Rule judges one aspect of the input, such as the accept queues or the
// softnet backlog, and turns what it sees into findings.
type Rule struct {
	// Name is what is checked, as the health table shows it
	// ("listen accept queues").
	Name   string
	Source Source
	Layer  Layer
	// Check inspects the input. It is called only when the input holds
	// data of the rule's Source.
	Check func(in *Input) Outcome
}

// Outcome is what a rule concluded.
type Outcome struct {
	Findings []Finding
	// NotChecked, when set, says why the rule could not judge: the data it
	// needs was not read ("ethtool statistics not supported by virtio_net").
	NotChecked string
	// Detail summarises what was seen when all is well
	// ("12 listeners, none above 50% of backlog").
	Detail string
}

var rules struct {
	sync.RWMutex
	list []Rule
}

// RegisterRule adds a rule; it is called from init functions.
func RegisterRule(r Rule) {
	if r.Name == "" || r.Check == nil || r.Source == "" {
		panic(fmt.Sprintf("report: incomplete rule %q", r.Name))
	}
	rules.Lock()
	defer rules.Unlock()
	rules.list = append(rules.list, r)
}

// Evaluate runs every rule whose source the input holds. Findings come back
// complete (source, layer and default severity filled in from the catalog)
// and sorted most severe first; checks come back in layer order.
//
// Cross-source rules run last and see the findings of the others: a
// cross-source finding lists in Related the per-source findings it
// explains, and each of those is marked SubsumedBy it. The cross-source
// finding is at least as severe as any finding it subsumes, so --fail-on
// judges the report the same whether or not sources were merged.
func Evaluate(in *Input) ([]Finding, []report.Check) {
	rules.RLock()
	list := append([]Rule(nil), rules.list...)
	rules.RUnlock()

	findings, checks := []Finding{}, []report.Check{}
	run := func(r Rule) {
		out := r.Check(in)
		c := report.Check{Source: r.Source, Layer: r.Layer, Name: r.Name, Status: report.StatusOK, Detail: out.Detail}
		switch {
		case len(out.Findings) > 0:
			c.Status = report.StatusFinding
			c.Detail = fmt.Sprintf("%d finding(s)", len(out.Findings))
		case out.NotChecked != "":
			c.Status = report.StatusNotChecked
			c.Detail = out.NotChecked
		}
		checks = append(checks, c)
		for _, f := range out.Findings {
			findings = append(findings, complete(f, r))
		}
	}
	for _, r := range list {
		if r.Source != SourceCross && in.Has(r.Source) {
			run(r)
		}
	}
	if in.Has(SourceCross) {
		in.found = findings
		for _, r := range list {
			if r.Source == SourceCross {
				run(r)
			}
		}
		in.found = nil
		subsume(findings)
	}
	SortFindings(findings)
	sort.SliceStable(checks, func(i, j int) bool {
		return checks[i].Layer.Rank() < checks[j].Layer.Rank()
	})
	return findings, checks
}

// subsume marks the findings each cross-source finding relates to, drops
// references to findings that are not there, and raises the cross-source
// finding to the severity of the worst finding it explains.
func subsume(fs []Finding) {
	at := make(map[FindingRef]int, len(fs))
	for i := range fs {
		at[fs[i].Ref()] = i
	}
	for i := range fs {
		f := &fs[i]
		if len(f.Related) == 0 {
			continue
		}
		ref := f.Ref()
		kept := f.Related[:0]
		for _, r := range f.Related {
			j, ok := at[r]
			if !ok || j == i || fs[j].SubsumedBy != nil || fs[j].Source == SourceCross {
				continue
			}
			fs[j].SubsumedBy = &ref
			f.Severity = max(f.Severity, fs[j].Severity)
			kept = append(kept, r)
		}
		f.Related = kept
		if len(kept) == 0 {
			f.Related = nil
		}
	}
}

// complete fills a finding's blanks from its catalog entry. A finding whose
// ID is not in the catalog is a programming error.
func complete(f Finding, r Rule) Finding {
	e, ok := Lookup(f.ID)
	if !ok {
		panic(fmt.Sprintf("report: rule %q produced finding %q, which is not in the catalog", r.Name, f.ID))
	}
	if f.Source == "" {
		f.Source = e.Source
	}
	if f.Layer == "" {
		f.Layer = e.Layer
	}
	if f.Severity == 0 {
		f.Severity = e.Severity
	}
	if f.Explanation == "" {
		f.Explanation = e.Explanation
	}
	if f.Evidence == nil {
		f.Evidence = []Evidence{}
	}
	return f
}

// SortFindings orders findings most severe first, then cross-source
// findings before the rest, then by layer, ID and subject, so output is
// stable. Findings a cross-source finding subsumes come after all others.
func SortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if (a.SubsumedBy == nil) != (b.SubsumedBy == nil) {
			return a.SubsumedBy == nil
		}
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if (a.Source == SourceCross) != (b.Source == SourceCross) {
			return a.Source == SourceCross
		}
		if a.Layer.Rank() != b.Layer.Rank() {
			return a.Layer.Rank() < b.Layer.Rank()
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Subject < b.Subject
	})
}
