package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netdx/netdx/report"
)

func newExplainCmd(a *app) *cobra.Command {
	var list bool
	cmd := &cobra.Command{
		Use:   "explain [ID]",
		Short: "Explain a finding: what it means, when it fires, how to fix it",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if list == (len(args) == 1) {
				return &usageError{fmt.Errorf("give a finding ID or --list")}
			}
			if list {
				return writeCatalog(a, report.Entries())
			}
			e, ok := report.Lookup(args[0])
			if !ok {
				return &usageError{fmt.Errorf("unknown finding ID %q; 'netdx explain --list' lists them", args[0])}
			}
			return writeCatalog(a, []report.Entry{e})
		},
	}
	cmd.Flags().BoolVar(&list, "list", false, "list every finding ID")
	return cmd
}

func writeCatalog(a *app, es []report.Entry) error {
	if a.output == "json" {
		enc := json.NewEncoder(a.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(es)
	}
	if len(es) > 1 {
		for _, e := range es {
			fmt.Fprintf(a.Out, "%s\t%s\t%s\n", e.ID, e.Severity, e.Title)
		}
		return nil
	}
	return writeEntry(a.Out, es[0])
}

func writeEntry(w io.Writer, e report.Entry) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s — %s\n", e.ID, e.Title)
	fmt.Fprintf(&b, "source %s, layer %s, usual severity %s\n\n", e.Source, e.Layer, e.Severity)
	fmt.Fprintf(&b, "%s\n", e.Explanation)
	if e.Thresholds != "" {
		fmt.Fprintf(&b, "\nWhen it fires: %s\n", e.Thresholds)
	}
	if e.Remediation != "" {
		fmt.Fprintf(&b, "\nWhat to change: %s\n", e.Remediation)
	}
	if len(e.Evidence) > 0 {
		fmt.Fprintf(&b, "\nEvidence: %s\n", strings.Join(e.Evidence, ", "))
	}
	for _, r := range e.References {
		fmt.Fprintf(&b, "See: %s\n", r)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
