package diagnose

import (
	"fmt"
	"sort"
	"sync"

	"github.com/netdx/netdx/report"
)

// Entry documents one finding ID: the catalog is the single place where a
// finding's meaning, thresholds and general remediation live. `netdx
// explain`, docs/findings.md and the Prometheus alerts are generated from it.
type Entry struct {
	ID     string
	Title  string
	Source Source
	Layer  Layer
	// Object is the kind of thing the finding is about. A rule fills a
	// finding's Subject with it (the worst of several first, the others
	// in evidence) whenever the entry declares one; when netdx cannot
	// tell which one it is, the subject says so. Empty for findings about
	// the host or namespace as a whole.
	Object report.Object
	// Severity is the usual severity; a rule may raise or lower it for one
	// finding when the evidence says so.
	Severity Severity
	// Explanation says what the finding means and why it matters.
	Explanation string
	// Thresholds says when the finding fires and where the numbers come from.
	Thresholds string
	// Remediation is the general fix; each finding carries the exact
	// commands for the host it was found on.
	Remediation string
	// Evidence names the values a finding of this ID carries.
	Evidence []string
	// References are URLs or kernel document paths.
	References []string
	// Alerts are the Prometheus alerting rules equivalent to the rule, one
	// per severity it alerts at; empty when the rule cannot be written in
	// PromQL (the rules on netdx_finding cover those).
	Alerts []Alert
}

var catalog = struct {
	sync.RWMutex
	byID map[string]Entry
}{byID: map[string]Entry{}}

// define adds an entry to the catalog, for register. An incomplete or
// duplicate entry is a programming error and panics.
func define(e Entry) {
	if e.ID == "" || e.Title == "" || e.Severity == 0 || e.Source == "" || e.Layer == "" || e.Explanation == "" ||
		e.Thresholds == "" || e.Remediation == "" {
		panic(fmt.Sprintf("diagnose: incomplete catalog entry %+v", e))
	}
	for _, a := range e.Alerts {
		if a.Expr == "" || (a.Severity != Warning && a.Severity != Critical) {
			panic(fmt.Sprintf("diagnose: catalog entry %s: alert needs an expression and severity warning or critical", e.ID))
		}
	}
	catalog.Lock()
	defer catalog.Unlock()
	if _, dup := catalog.byID[e.ID]; dup {
		panic("diagnose: duplicate catalog entry " + e.ID)
	}
	catalog.byID[e.ID] = e
}

// Lookup returns the catalog entry for id.
func Lookup(id string) (Entry, bool) {
	loadRules()
	catalog.RLock()
	defer catalog.RUnlock()
	e, ok := catalog.byID[id]
	return e, ok
}

// Entries returns every catalog entry sorted by source, layer and ID.
func Entries() []Entry {
	loadRules()
	catalog.RLock()
	out := make([]Entry, 0, len(catalog.byID))
	for _, e := range catalog.byID {
		out = append(out, e)
	}
	catalog.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Layer.Rank() != b.Layer.Rank() {
			return a.Layer.Rank() < b.Layer.Rank()
		}
		return a.ID < b.ID
	})
	return out
}

// CatalogDoc is the JSON document of es: `netdx explain --json`.
func CatalogDoc(tool report.Tool, es []Entry) report.Catalog {
	c := report.Catalog{Schema: report.CatalogSchemaURL, SchemaVersion: report.SchemaVersion, Tool: tool, Entries: make([]report.CatalogEntry, 0, len(es))}
	for _, e := range es {
		c.Entries = append(c.Entries, report.CatalogEntry{ID: e.ID, Title: e.Title, Source: e.Source, Layer: e.Layer,
			Object: e.Object, Severity: e.Severity, Explanation: e.Explanation, Thresholds: e.Thresholds, Remediation: e.Remediation,
			Evidence: nonNil(e.Evidence), References: nonNil(e.References)})
	}
	return c
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
