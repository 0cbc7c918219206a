package diagnose

import (
	"fmt"
	"slices"
	"strings"
)

// Cross-source rules judge where the evidence of two or more sources
// meets: the host's counters, a traced path and a capture that describe
// one incident. Each turns several per-source findings into one that
// names the cause; the per-source findings it explains stay in the report,
// marked subsumed_by it (see Evaluate). They live in cross_*.go.

// needs is the NotChecked text of a cross-source rule whose sources are
// not all present: "needs the host (diag) and a capture (--pcap)".
func needs(in *Input, sources ...Source) (string, bool) {
	var missing []string
	ok := true
	for _, s := range sources {
		if !in.Has(s) {
			ok = false
		}
		switch s {
		case SourceHost:
			missing = append(missing, "the host (diag)")
		case SourcePath:
			missing = append(missing, "a trace (--trace)")
		case SourceCapture:
			missing = append(missing, "a capture (--pcap)")
		}
	}
	if ok {
		return "", true
	}
	return "needs " + strings.Join(missing, " and "), false
}

// hostRates is the host sample of a cross-source rule that judges the
// host's counter rates next to other: it needs both sources, the netstat
// counters and two samples. Without them, why is the rule's NotChecked.
func hostRates(in *Input, other Source) (s *sample, why string) {
	if why, ok := needs(in, SourceHost, other); !ok {
		return nil, why
	}
	s = newSample(in)
	switch {
	case s == nil || !s.HasNetstat():
		return nil, "the host's netstat counters were not read"
	case s.SinceBoot:
		return nil, "needs two host samples (--interval above 0)"
	}
	return s, ""
}

// hasID is a Found.refs filter for findings with one of ids.
func hasID(ids ...string) func(f *Finding) bool {
	return func(f *Finding) bool { return slices.Contains(ids, f.ID) }
}

// names joins up to four names and counts the rest.
func names(ns []string) string {
	if len(ns) > 4 {
		return fmt.Sprintf("%s and %d more", strings.Join(ns[:4], ", "), len(ns)-4)
	}
	return strings.Join(ns, ", ")
}
