package diagnose

import (
	"fmt"
	"sort"
	"sync"

	"github.com/netdx/netdx/report"
)

// Rule judges one aspect of the input, such as the accept queues or the
// softnet backlog, and turns what it sees into findings. A rule is
// declared once, with register, together with the catalog entries of the
// findings it may produce (see docs/adding-a-finding.md).
type Rule struct {
	// Name is what is checked, as the health table shows it
	// ("listen accept queues").
	Name   string
	Source Source
	Layer  Layer
	// Check inspects the input of a per-source rule. It is called only
	// when the input holds data of the rule's Source.
	Check func(in *Input) Outcome
	// Cross inspects the input with the findings of the rules that set
	// Check: a cross-source rule's (Source cross, called when the input
	// holds at least two of host, path and capture), or a drop-reason
	// rule's (Source drops), which adds the kernel's reasons to the host
	// findings they explain. It runs after every Check.
	Cross func(in *Input, found Found) Outcome

	// ids are the findings the rule may produce.
	ids map[string]bool
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
	// Amend adds evidence and notes to findings of other rules (a rule
	// with Cross only): what another source says about them.
	Amend []Amendment
}

// Amendment adds to the finding Ref names what a rule that reads another
// source knows about it: the kernel's drop reasons behind a host
// counter, and the exact object (socket and process, interface, rule).
// The finding keeps its ID, subject and severity.
type Amendment struct {
	Ref      FindingRef
	Evidence []Evidence
	Notes    []string
}

var rules struct {
	sync.RWMutex
	list []Rule
}

// register declares a rule and the catalog entries of the findings it
// may produce; it is called from init functions. A rule that is
// incomplete, whose entries are incomplete or clash with the catalog, or
// that checks the wrong way for its source, is a programming error and
// panics when the program starts; a finding whose ID the rule did not
// declare panics when it is produced, and TestRulesEmitTheirOwnIDs finds
// it in the source before that.
func register(r Rule, emits ...Entry) {
	switch {
	case r.Name == "" || r.Source == "" || r.Layer == "":
		panic(fmt.Sprintf("diagnose: incomplete rule %q", r.Name))
	case (r.Source == SourceCross && r.Cross == nil) || (r.Cross != nil && r.Source != SourceCross && r.Source != SourceDrops) ||
		(r.Check == nil) == (r.Cross == nil):
		panic(fmt.Sprintf("diagnose: rule %q: a cross-source rule sets Cross, a drop-reason rule Check or Cross, any other Check", r.Name))
	}
	r.ids = map[string]bool{}
	for _, e := range emits {
		if e.Source != r.Source {
			panic(fmt.Sprintf("diagnose: rule %q (source %s) declares %s of source %s", r.Name, r.Source, e.ID, e.Source))
		}
		define(e)
		r.ids[e.ID] = true
	}
	rules.Lock()
	defer rules.Unlock()
	rules.list = append(rules.list, r)
}

// registrations are the rule files' register functions, in file order:
// each file's init adds its own (onFirstUse), and loadRules runs them
// once, when the catalog or the rules are first asked for, so that a
// netdx process that needs neither (--version, pcap analyze) does not
// build them.
var registrations []func()

// onFirstUse adds a file's register function to registrations.
func onFirstUse(register func()) { registrations = append(registrations, register) }

// loadRules registers every rule and its catalog entries, once.
var loadRules = sync.OnceFunc(func() {
	for _, r := range registrations {
		r()
	}
})

// Rules returns every registered rule, in registration order.
func Rules() []Rule {
	loadRules()
	rules.RLock()
	defer rules.RUnlock()
	return append([]Rule(nil), rules.list...)
}

// Emits lists the finding IDs the rule declared, sorted.
func (r Rule) Emits() []string {
	out := make([]string, 0, len(r.ids))
	for id := range r.ids {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Found are the per-source findings a cross-source rule reads.
type Found []Finding

// refs returns the findings that keep accepts, for a cross-source
// finding's Related.
func (fs Found) refs(keep func(f *Finding) bool) []FindingRef {
	var out []FindingRef
	for i := range fs {
		if keep(&fs[i]) {
			out = append(out, fs[i].Ref())
		}
	}
	return out
}

// Evaluate runs every rule whose source the input holds. Findings come back
// complete (source, layer and default severity filled in from the catalog)
// and sorted most severe first; checks come back in layer order.
//
// Cross-source rules run last with the findings of the others: a
// cross-source finding lists in Related the per-source findings it
// explains, and each of those is marked SubsumedBy it. The cross-source
// finding is at least as severe as any finding it subsumes, so --fail-on
// judges the report the same whether or not sources were merged.
func Evaluate(in *Input) ([]Finding, []report.Check) {
	list := Rules()
	findings, checks := []Finding{}, []report.Check{}
	record := func(r Rule, out Outcome) {
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
		if r.Check != nil && in.Has(r.Source) {
			record(r, r.Check(in))
		}
	}
	found := Found(append([]Finding(nil), findings...))
	for _, r := range list {
		if r.Cross != nil && in.Has(r.Source) {
			out := r.Cross(in, found)
			amend(findings, out.Amend)
			record(r, out)
		}
	}
	if in.Has(SourceCross) {
		subsume(findings)
	}
	SortFindings(findings)
	sort.SliceStable(checks, func(i, j int) bool {
		return checks[i].Layer.Rank() < checks[j].Layer.Rank()
	})
	return findings, checks
}

// amend adds each amendment to the findings it names.
func amend(fs []Finding, as []Amendment) {
	for _, a := range as {
		for i := range fs {
			if fs[i].Ref() == a.Ref {
				fs[i].Evidence = append(fs[i].Evidence, a.Evidence...)
				fs[i].Notes = append(fs[i].Notes, a.Notes...)
			}
		}
	}
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

// missingSubject, when set (by the tests), is told of every finding whose
// catalog entry declares an object kind but which names no subject: the
// catalog-level check that rules name what their findings are about.
var missingSubject func(r Rule, f Finding)

// complete fills a finding's blanks from its catalog entry. A finding whose
// ID the rule did not declare is a programming error.
func complete(f Finding, r Rule) Finding {
	e, ok := Lookup(f.ID)
	if !ok || !r.ids[f.ID] {
		panic(fmt.Sprintf("diagnose: rule %q produced finding %q, which it does not declare", r.Name, f.ID))
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
	f.Object = e.Object
	if e.Object != "" && f.Subject == "" && missingSubject != nil {
		missingSubject(r, f)
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
