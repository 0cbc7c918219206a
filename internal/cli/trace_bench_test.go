package cli

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netdx/netdx/internal/netlab"
	"github.com/netdx/netdx/probes"
	"github.com/netdx/netdx/report"
)

// The trace measurements of docs/trace.md. Run as root, one iteration per
// run asked for:
//
//	go test ./internal/cli -run '^$' -bench 'BenchmarkTrace' -benchtime 20x
//
// Each iteration traces from a prober address of its own, as a user
// running netdx once would: routers keep one ICMP budget per address.

// BenchmarkTraceReport10Rounds times `netdx trace --report` (10 rounds,
// default flags) over a 4-hop path whose routers answer freely (ICMP rate
// limiting off): the budgets must not slow such a path down.
func BenchmarkTraceReport10Rounds(b *testing.B) {
	free := netlab.RouterSpec{RateLimit: -1}
	p := netlab.NewPath(b, netlab.PathSpec{Routers: []netlab.RouterSpec{free, free, free}})
	i := 0
	for b.Loop() {
		i++
		code, rep, stderr := labTrace(b, p.Prober, "--report", "-a", p.ProberAlias(b, i).String(), p.TargetAddr.V4.String())
		if code != exitOK || len(rep.Traces) != 1 || rep.Traces[0].Rounds != 10 {
			b.Fatalf("exit %d, %s", code, stderr)
		}
	}
}

// BenchmarkTraceCleanDefault runs the default report over three routers
// at kernel-default ICMP settings and a clean path, and counts the runs
// that show no loss at any hop and no warning (clean_runs_pct); then a
// live trace from the same address (the budgets start spent) and counts
// the runs whose every live snapshot shows 0% at every hop that answered
// (clean_live_pct).
func BenchmarkTraceCleanDefault(b *testing.B) {
	p := netlab.NewPath(b, netlab.PathSpec{Routers: make([]netlab.RouterSpec, 3)})
	runs, clean, cleanLive, i := 0, 0, 0, 0
	var secs []float64
	for b.Loop() {
		i++
		src := p.ProberAlias(b, i)
		start := time.Now()
		_, rep, _ := labTrace(b, p.Prober, "--report", "-a", src.String(), p.TargetAddr.V4.String())
		secs = append(secs, time.Since(start).Seconds())
		runs++
		if showsNoLoss(rep) {
			clean++
		}
		live := true
		for _, j := range liveSnapshots(b, p.Prober, probes.Config{Target: p.TargetAddr.V4, Source: src, Count: defaultReportCount}) {
			for _, h := range j.Hops {
				live = live && (h.Received == 0 || h.ForwardingLossPct == 0)
			}
		}
		if live {
			cleanLive++
		}
	}
	b.ReportMetric(100*float64(clean)/float64(runs), "clean_runs_pct")
	b.ReportMetric(100*float64(cleanLive)/float64(runs), "clean_live_pct")
	b.ReportMetric(median(secs), "median_s")
}

// showsNoLoss: no finding of warning or worse, no warning, 0% LOSS% at
// every hop.
func showsNoLoss(rep report.Report) bool {
	if len(rep.Warnings) > 0 || len(rep.Traces) != 1 {
		return false
	}
	for _, f := range rep.Findings {
		if f.Severity >= report.Warning {
			return false
		}
	}
	for _, h := range rep.Traces[0].Hops {
		if h.ForwardingLossPct != 0 {
			return false
		}
	}
	return true
}

// BenchmarkTraceLocaliseDefault: three routers at kernel-default ICMP
// settings; the middle one drops 25% of what it forwards (nftables
// numgen random). Each iteration runs the default `netdx trace --report`
// and, when mtr is installed, `mtr -r -n -c 20` on the same path from
// another address, and reports how often netdx named the link from router
// 2 to router 3 (right_pct) and the median seconds each took.
func BenchmarkTraceLocaliseDefault(b *testing.B) {
	p := netlab.NewPath(b, netlab.PathSpec{Routers: []netlab.RouterSpec{{}, {DropForward: 0.25}, {}}})
	target := p.TargetAddr.V4.String()
	want := fmt.Sprintf("between hop 2 (%s) and hop 3 (%s)", p.Hops[1][0].In.V4, p.Hops[2][0].In.V4)
	_, mtrErr := exec.LookPath("mtr")
	runs, right, i := 0, 0, 0
	var netdxSecs, mtrSecs []float64
	for b.Loop() {
		i += 2
		start := time.Now()
		_, rep, _ := labTrace(b, p.Prober, "--report", "-a", p.ProberAlias(b, i).String(), target)
		netdxSecs = append(netdxSecs, time.Since(start).Seconds())
		runs++
		named := false
		for _, f := range rep.Findings {
			named = named || (f.ID == "path.forwarding_loss" && strings.Contains(f.Summary, want))
		}
		if named {
			right++
		} else {
			b.Logf("run %d (%.1f s) did not name the link: %s\n%s", runs, netdxSecs[len(netdxSecs)-1], findingIDs(rep), hopTable(rep))
			for _, f := range rep.Findings {
				b.Logf("  %s: %s %q", f.ID, f.Summary, f.Notes)
			}
		}
		if mtrErr == nil {
			cmd := exec.Command("mtr", "-r", "-n", "-c", "20", "-a", p.ProberAlias(b, i+1).String(), target)
			start = time.Now()
			if err := p.Prober.Start(cmd); err != nil {
				b.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				b.Fatalf("mtr: %v", err)
			}
			mtrSecs = append(mtrSecs, time.Since(start).Seconds())
		}
	}
	b.ReportMetric(100*float64(right)/float64(runs), "right_pct")
	b.ReportMetric(median(netdxSecs), "netdx_median_s")
	if len(mtrSecs) > 0 {
		b.ReportMetric(median(mtrSecs), "mtr_median_s")
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
