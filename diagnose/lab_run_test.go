package diagnose

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/internal/netlab"
	"github.com/netdx/netdx/report"
)

// The lab tests of issue 12 run diag's own runner (Run with a live host
// plan, as `netdx diag --netns NS` builds it) over namespaces where the
// kernel does the thing, and check the report against the kernel's own
// counters read just before the first sample and just after the last.

// labRun is one diag run in a namespace and the kernel's counters around
// its window.
type labRun struct {
	rep           *report.Report
	before, after netlab.Counters
}

// moved is how much a counter ("TcpExt.ListenOverflows") moved around the
// window.
func (r labRun) moved(name string) int64 { return r.after[name] - r.before[name] }

// reported is a counter's change over the window as the report's JSON
// gives it.
func (r labRun) reported(t *testing.T, name string) int64 {
	t.Helper()
	sec, n, _ := strings.Cut(name, ".")
	c, ok := r.rep.Diag.Netstat[sec][n]
	if !ok || c.Delta == nil {
		t.Fatalf("%s not in the report", name)
	}
	return int64(*c.Delta)
}

// runDiagIn runs diag over ns: the first sample, then during (at the start
// of the interval; the interval is then waited out, or longer when during
// takes longer), then the last sample. conns bounds and filters the
// per-connection view as --conn-top and --conn do.
func runDiagIn(t *testing.T, ns *netlab.NS, interval time.Duration, conns collectors.TCPHealthOptions, during func()) labRun {
	t.Helper()
	src, err := collectors.Open(collectors.Options{NetNS: ns.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var r labRun
	counters := func() netlab.Counters {
		c, err := ns.Counters()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	plan := Plan{Command: "diag", Tool: report.Tool{Name: "netdx"}, Host: report.Host{NetNS: ns.Name}, Started: time.Now(),
		Sample: &Sampling{Interval: interval, Conns: conns, ReadFrom: report.NewDiagReadFrom(src.Origin()),
			Take: func(ctx context.Context, n int) (*collectors.Snapshot, []string, error) {
				if n == 0 {
					r.before = counters()
					return collectors.Take(ctx, src, time.Now), src.Warnings, nil
				}
				snap := collectors.Take(ctx, src, time.Now)
				r.after = counters()
				return snap, src.Warnings, nil
			},
			Sleep: func(_ context.Context, d time.Duration) {
				start := time.Now()
				if during != nil {
					during()
				}
				time.Sleep(d - time.Since(start))
			},
			NameOwners: func(h *collectors.TCPHealth) error { return h.NameOwners(src) }}}
	rep, _, err := Run(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	r.rep = rep
	return r
}

// hostIDs lists the report's host findings as "id severity".
func hostIDs(rep *report.Report) []string {
	var out []string
	for _, f := range rep.Findings {
		if f.Source == SourceHost {
			out = append(out, f.ID+" "+f.Severity.String())
		}
	}
	return out
}

// wantFindings fails unless the report's host findings of the rules under
// test are exactly want ("id severity"): no false finding, none missing.
// Findings of other IDs are logged.
func wantFindings(t *testing.T, rep *report.Report, judged []string, want ...string) {
	t.Helper()
	isJudged := map[string]bool{}
	for _, id := range judged {
		isJudged[id] = true
	}
	var got, other []string
	for _, s := range hostIDs(rep) {
		id, _, _ := strings.Cut(s, " ")
		if isJudged[id] {
			got = append(got, s)
		} else {
			other = append(other, s)
		}
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("findings %v, want %v", got, want)
	}
	if len(other) > 0 {
		t.Logf("other findings: %v", other)
	}
}

// finding returns the report's finding id; the test fails without one.
func finding(t *testing.T, rep *report.Report, id string) report.Finding {
	t.Helper()
	for _, f := range rep.Findings {
		if f.ID == id {
			return f
		}
	}
	t.Fatalf("no %s among %v", id, hostIDs(rep))
	return report.Finding{}
}

// logFinding writes a finding as the text report would, for the test log.
func logFinding(t *testing.T, f report.Finding) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s · %s\n  %s\n", f.Severity, f.ID, f.Subject, f.Summary)
	for _, e := range f.Evidence {
		v := e.Text
		if e.Value != nil {
			v = strconv.FormatFloat(*e.Value, 'g', -1, 64)
		}
		if e.Delta != nil {
			v += fmt.Sprintf(" (+%g)", *e.Delta)
		}
		fmt.Fprintf(&b, "  ev  %s = %s\n", e.Name, v)
	}
	for _, x := range f.Fix {
		fmt.Fprintf(&b, "  fix %s\n", x)
	}
	for _, x := range f.Notes {
		fmt.Fprintf(&b, "  note %s\n", x)
	}
	t.Log(b.String())
}

// mustMention fails unless one of lines contains sub.
func mustMention(t *testing.T, what string, lines []string, sub string) {
	t.Helper()
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return
		}
	}
	t.Errorf("%s has no line with %q:\n  %s", what, sub, strings.Join(lines, "\n  "))
}

// mustNotMention fails if a line contains sub.
func mustNotMention(t *testing.T, what string, lines []string, sub string) {
	t.Helper()
	for _, l := range lines {
		if strings.Contains(l, sub) {
			t.Errorf("%s mentions %q: %s", what, sub, l)
		}
	}
}

// findingText is every line of text a finding carries.
func findingText(f report.Finding) []string {
	out := []string{f.Subject, f.Summary}
	for _, e := range f.Evidence {
		out = append(out, e.Name+" "+e.Text)
	}
	out = append(out, f.Fix...)
	return append(out, f.Notes...)
}

// thisProcess is how netdx names this test process: comm and pid.
func thisProcess() string {
	comm := filepath.Base(os.Args[0])
	if len(comm) > 15 {
		comm = comm[:15]
	}
	return fmt.Sprintf("%s[%d]", comm, os.Getpid())
}
