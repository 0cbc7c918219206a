package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/netdx/netdx/diagnose"
)

// writeAlerts renders the alerting rules as a Prometheus rule file: one
// group for the rules written in PromQL, one for the rules on
// netdx_finding.
func writeAlerts(w io.Writer, rules []diagnose.AlertRule) error {
	var b strings.Builder
	b.WriteString("# Prometheus alerting rules for netdx, generated from its rule catalog by `make docs`;\n")
	b.WriteString("# do not edit by hand. Each netdx-host rule fires when the netdx rule of the same finding ID\n")
	b.WriteString("# would, with the same thresholds, over the metrics of `netdx serve` or `netdx diag -o prometheus`.\n")
	b.WriteString("# docs/prometheus.md describes the metrics and these rules.\n")
	b.WriteString("groups:\n")
	for _, g := range []struct {
		name  string
		match func(diagnose.AlertRule) bool
	}{
		{"netdx-host", func(r diagnose.AlertRule) bool { return r.ID != "" }},
		{"netdx-findings", func(r diagnose.AlertRule) bool { return r.ID == "" }},
	} {
		fmt.Fprintf(&b, "  - name: %s\n    rules:\n", g.name)
		for _, r := range rules {
			if !g.match(r) {
				continue
			}
			fmt.Fprintf(&b, "      - alert: %s\n        expr: |-\n", r.Name)
			for _, line := range strings.Split(r.Expr, "\n") {
				fmt.Fprintf(&b, "          %s\n", line)
			}
			fmt.Fprintf(&b, "        for: %s\n", promDuration(r.For))
			writeMap(&b, "labels", r.Labels)
			writeMap(&b, "annotations", r.Annotations)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeMap writes a map of strings, keys sorted, values double-quoted.
func writeMap(b *strings.Builder, name string, m map[string]string) {
	fmt.Fprintf(b, "        %s:\n", name)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "          %s: %s\n", k, quote(m[k]))
	}
}

// quote writes s as a YAML double-quoted scalar (JSON's string syntax is
// a subset of it).
func quote(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(buf.String(), "\n")
}

// promDuration writes d in Prometheus's duration syntax.
func promDuration(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}
