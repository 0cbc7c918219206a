// Command gendocs writes every document generated from netdx's code:
// docs/findings.md from the finding catalog, docs/prometheus/alerts.yml
// and the metric and alert tables of docs/prometheus.md from the catalog
// and the metric definitions, the JSON Schemas of the report and the
// catalog under docs/schema from the report package's types, and the man
// pages (docs/man) and shell completions (docs/completion) from the
// command tree. Run it with `make docs` from the module root; its test
// fails when a committed file is stale, and a man page or completion that
// no longer exists is removed.
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/netdx/netdx/diagnose"

	"github.com/netdx/netdx/render/metrics"
	"github.com/netdx/netdx/report"
)

// outputs are the generated documents, by path from the module root, and
// what writes each (given the module root, for documents that are partly
// written by hand).
var outputs = []struct {
	path  string
	write func(root string, w io.Writer) error
}{
	{"docs/findings.md", func(_ string, w io.Writer) error { return writeFindings(w, diagnose.Entries()) }},
	{"docs/prometheus/alerts.yml", func(_ string, w io.Writer) error { return writeAlerts(w, diagnose.AlertRules()) }},
	{"docs/prometheus.md", func(root string, w io.Writer) error {
		return fillPrometheusDoc(w, filepath.Join(root, "docs/prometheus.md"))
	}},
	{"docs/drops.md", func(root string, w io.Writer) error {
		return fillDropsDoc(w, filepath.Join(root, "docs/drops.md"))
	}},
	{"docs/grafana/netdx.json", func(_ string, w io.Writer) error {
		b, err := metrics.Dashboard()
		if err == nil {
			_, err = w.Write(b)
		}
		return err
	}},
}

func main() {
	docs, err := generate(".")
	if err == nil {
		err = removeStale(docs)
	}
	if err == nil {
		for path, b := range docs {
			if err = os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				break
			}
			if err = os.WriteFile(path, b, 0o644); err != nil {
				break
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

// generate renders every generated document of the module at root: path
// (relative to root) → content.
func generate(root string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, o := range outputs {
		var b bytes.Buffer
		if err := o.write(root, &b); err != nil {
			return nil, fmt.Errorf("%s: %w", o.path, err)
		}
		out[filepath.Join(root, o.path)] = b.Bytes()
	}
	pages, err := cliDocs()
	if err != nil {
		return nil, err
	}
	for p, b := range pages {
		out[filepath.Join(root, "docs", p)] = b
	}
	docs, err := readDocs(filepath.Join(root, "report"))
	if err != nil {
		return nil, err
	}
	for _, s := range []struct {
		file, id, title, about string
		root                   reflect.Type
	}{
		{"report.v1.json", report.SchemaURL, "netdx report",
			"The document every netdx command that diagnoses (diag, trace, pcap analyze) prints with --json. docs/json.md says what may change between versions.",
			reflect.TypeFor[report.Report]()},
		{"catalog.v1.json", report.CatalogSchemaURL, "netdx finding catalog",
			"The document netdx explain prints with --json: the catalog entries asked for.",
			reflect.TypeFor[report.Catalog]()},
	} {
		b, err := buildSchema(docs, s.root, s.id, s.title, s.about)
		if err != nil {
			return nil, err
		}
		out[filepath.Join(root, "docs/schema", s.file)] = b
	}
	return out, nil
}

// writeFindings renders the catalog as Markdown, one section per finding.
func writeFindings(w io.Writer, es []diagnose.Entry) error {
	var b strings.Builder
	b.WriteString("# Findings\n\n")
	b.WriteString("Generated from the rule catalog by `make docs`; do not edit by hand. `netdx explain ID` prints one entry.\n\n")
	b.WriteString("| ID | severity | layer | title |\n|---|---|---|---|\n")
	for _, e := range es {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s | %s |\n", e.ID, anchor(e.ID), e.Severity, e.Layer, e.Title)
	}
	for _, e := range es {
		about := ""
		if e.Object != "" {
			about = fmt.Sprintf(", subject: the %s", e.Object)
		}
		fmt.Fprintf(&b, "\n## %s\n\n**%s** — source %s, layer %s, usual severity %s%s.\n\n%s\n", e.ID, e.Title, e.Source, e.Layer, e.Severity, about, e.Explanation)
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
				diagnose.AlertName(e.ID), strings.Join(sevs, ", "))
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

// removeStale deletes the man pages and completions the command tree no
// longer makes.
func removeStale(docs map[string][]byte) error {
	for _, dir := range []string{"docs/man", "docs/completion"} {
		files, err := os.ReadDir(dir)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		for _, f := range files {
			p := filepath.Join(dir, f.Name())
			if _, ok := docs[p]; !ok {
				if err := os.Remove(p); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
