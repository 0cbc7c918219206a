package report

import (
	"fmt"
	"sort"
	"sync"
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

// Check is one row of the health table: what was checked and its result.
type Check struct {
	Source Source `json:"source"`
	Layer  Layer  `json:"layer"`
	Name   string `json:"name"`
	// Status is "ok", "finding" or "not_checked".
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// Check statuses.
const (
	StatusOK         = "ok"
	StatusFinding    = "finding"
	StatusNotChecked = "not_checked"
)

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
func Evaluate(in *Input) ([]Finding, []Check) {
	rules.RLock()
	list := append([]Rule(nil), rules.list...)
	rules.RUnlock()

	findings, checks := []Finding{}, []Check{}
	for _, r := range list {
		if !in.Has(r.Source) {
			continue
		}
		out := r.Check(in)
		c := Check{Source: r.Source, Layer: r.Layer, Name: r.Name, Status: StatusOK, Detail: out.Detail}
		switch {
		case len(out.Findings) > 0:
			c.Status = StatusFinding
			c.Detail = fmt.Sprintf("%d finding(s)", len(out.Findings))
		case out.NotChecked != "":
			c.Status = StatusNotChecked
			c.Detail = out.NotChecked
		}
		checks = append(checks, c)
		for _, f := range out.Findings {
			findings = append(findings, complete(f, r))
		}
	}
	SortFindings(findings)
	sort.SliceStable(checks, func(i, j int) bool {
		return checks[i].Layer.Rank() < checks[j].Layer.Rank()
	})
	return findings, checks
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

// SortFindings orders findings most severe first, then by layer, ID and
// subject, so output is stable.
func SortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
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
