// Command gendocs writes the documents generated from netdx's finding
// catalog and metric definitions: docs/findings.md,
// docs/prometheus/alerts.yml, and the metric and alert tables of
// docs/prometheus.md. Run it with `make docs`; a test fails when a
// committed file is stale.
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/netdx/netdx/report"
)

// outputs are the generated documents, by path from the module root, and
// what writes each (given the module root, for documents that are partly
// written by hand).
var outputs = []struct {
	path  string
	write func(root string, w io.Writer) error
}{
	{"docs/findings.md", func(_ string, w io.Writer) error { return writeFindings(w, report.Entries()) }},
	{"docs/prometheus/alerts.yml", func(_ string, w io.Writer) error { return writeAlerts(w, report.AlertRules()) }},
	{"docs/prometheus.md", func(root string, w io.Writer) error {
		return fillPrometheusDoc(w, filepath.Join(root, "docs/prometheus.md"))
	}},
}

func main() {
	for _, o := range outputs {
		var b bytes.Buffer
		if err := o.write(".", &b); err != nil {
			fmt.Fprintln(os.Stderr, "gendocs:", o.path+":", err)
			os.Exit(1)
		}
		if err := os.WriteFile(o.path, b.Bytes(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gendocs:", err)
			os.Exit(1)
		}
	}
}

// writeFindings renders the catalog as Markdown, one section per finding.
func writeFindings(w io.Writer, es []report.Entry) error {
	var b strings.Builder
	b.WriteString("# Findings\n\n")
	b.WriteString("Generated from the rule catalog by `make docs`; do not edit by hand. `netdx explain ID` prints one entry.\n\n")
	b.WriteString("| ID | severity | layer | title |\n|---|---|---|---|\n")
	for _, e := range es {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s | %s |\n", e.ID, anchor(e.ID), e.Severity, e.Layer, e.Title)
	}
	for _, e := range es {
		fmt.Fprintf(&b, "\n## %s\n\n**%s** — source %s, layer %s, usual severity %s.\n\n%s\n", e.ID, e.Title, e.Source, e.Layer, e.Severity, e.Explanation)
		if e.Thresholds != "" {
			fmt.Fprintf(&b, "\n**When it fires.** %s\n", e.Thresholds)
		}
		if e.Remediation != "" {
			fmt.Fprintf(&b, "\n**What to change.** %s\n", e.Remediation)
		}
		if len(e.Evidence) > 0 {
			fmt.Fprintf(&b, "\n**Evidence.** `%s`\n", strings.Join(e.Evidence, "`, `"))
		}
		if len(e.Alerts) > 0 {
			var sevs []string
			for _, a := range e.Alerts {
				sevs = append(sevs, a.Severity.String())
			}
			fmt.Fprintf(&b, "\n**Prometheus alert.** `%s` (%s) in [prometheus/alerts.yml](prometheus/alerts.yml).\n",
				report.AlertName(e.ID), strings.Join(sevs, ", "))
		}
		for _, r := range e.References {
			fmt.Fprintf(&b, "\n- %s", r)
		}
		if len(e.References) > 0 {
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// anchor is the GitHub heading anchor for a finding ID.
func anchor(id string) string {
	return strings.ReplaceAll(strings.ToLower(id), ".", "")
}
