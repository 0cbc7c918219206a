package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/netdx/netdx/diagnose"

	"github.com/spf13/cobra"

	"github.com/netdx/netdx/render"
)

func newExplainCmd(a *app) *cobra.Command {
	var list bool
	cmd := &cobra.Command{
		Use:   "explain ID... | --list",
		Short: "Explain a finding: what it means, when it fires, how to fix it",
		Long: `explain prints a finding's catalog entry: what it means, when it fires and where
the thresholds come from, what to change, the evidence a finding carries, and
references. IDs are layer.what (tcp.listen_overflow); a prefix (tcp, cross.)
lists the IDs under it and --list lists them all. With --json the entries
are a versioned JSON document (docs/json.md). docs/findings.md holds the
same catalog.`,
		Example: `  netdx explain tcp.listen_overflow
  netdx explain cross.
  netdx explain --list
  netdx explain --json path.forwarding_loss`,
		ValidArgsFunction: completeFindingIDs,
		RunE: func(cmd *cobra.Command, args []string) error {
			deferGC()
			if cmd.Context().Err() != nil {
				return errInterrupted
			}
			switch {
			case list && len(args) > 0:
				return &usageError{fmt.Errorf("give finding IDs or --list, not both")}
			case list:
				return writeCatalog(a, diagnose.Entries(), true)
			case len(args) == 0:
				return &usageError{fmt.Errorf("give a finding ID or --list")}
			}
			var es []diagnose.Entry
			listed := false
			for _, id := range args {
				if e, ok := diagnose.Lookup(id); ok {
					es = append(es, e)
					continue
				}
				if under := entriesUnder(id); len(under) > 0 {
					es, listed = append(es, under...), true
					continue
				}
				return &usageError{unknownID(id)}
			}
			return writeCatalog(a, es, listed)
		},
	}
	cmd.Flags().BoolVar(&list, "list", false, "list every finding ID")
	return cmd
}

// entriesUnder returns the entries whose ID starts with prefix at a dot:
// "tcp" and "tcp." give tcp.*, "cross" gives cross.*.
func entriesUnder(prefix string) []diagnose.Entry {
	p := strings.TrimSuffix(prefix, ".") + "."
	var out []diagnose.Entry
	for _, e := range diagnose.Entries() {
		if strings.HasPrefix(e.ID, p) {
			out = append(out, e)
		}
	}
	return out
}

// unknownID says an ID is not in the catalog and suggests the nearest.
func unknownID(id string) error {
	type near struct {
		id string
		d  int
	}
	var ns []near
	for _, e := range diagnose.Entries() {
		d := editDistance(strings.ToLower(id), e.ID)
		if strings.Contains(e.ID, strings.ToLower(id)) {
			d = 0
		}
		if d <= 3 {
			ns = append(ns, near{e.ID, d})
		}
	}
	sort.SliceStable(ns, func(i, j int) bool { return ns[i].d < ns[j].d })
	msg := fmt.Sprintf("unknown finding ID %q", id)
	if len(ns) > 0 {
		var ids []string
		for i, n := range ns {
			if i == 5 {
				break
			}
			ids = append(ids, n.id)
		}
		msg += "; did you mean " + strings.Join(ids, ", ") + "?"
	}
	return fmt.Errorf("%s ('netdx explain --list' lists them all)", msg)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// completeFindingIDs completes finding IDs, each with its title.
func completeFindingIDs(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	var out []string
	for _, e := range diagnose.Entries() {
		if strings.HasPrefix(e.ID, toComplete) {
			out = append(out, e.ID+"\t"+e.Title)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// writeCatalog prints entries: as a list (one line each) or in full, or
// as the JSON catalog document.
func writeCatalog(a *app, es []diagnose.Entry, list bool) error {
	doc := diagnose.CatalogDoc(a.tool(), es)
	var err error
	switch {
	case a.output == "json":
		err = render.JSON{}.Catalog(a.Out, doc)
	case list:
		err = a.text().CatalogList(a.Out, doc.Entries)
	default:
		err = a.text().CatalogEntries(a.Out, doc.Entries)
	}
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
