package diagnose

import (
	"fmt"

	"github.com/netdx/netdx/internal/promql"

	"github.com/netdx/netdx/report"
)

// Fill thresholds of the conntrack table (awesome-prometheus-alerts
// HostConntrackLimit; netdata's netfilter_conntrack_full).
const (
	conntrackWarnFill = 0.80
	conntrackCritFill = 0.95
)

var (
	conntrackFill = fmt.Sprintf("%s / %s", promql.MetricConntrackCount, promql.MetricConntrackMax)
	conntrackFull = fmt.Sprintf("%s >= %s and %s > 0", conntrackFill, promql.Num(conntrackCritFill), promql.MetricConntrackMax)
	conntrackDrop = promql.Increase(promql.Sel(promql.MetricConntrackStat, promql.Eq("stat", "drop")), promql.ByStat) + " > 0"
)

func init() {
	register(Rule{Name: "conntrack table", Source: SourceHost, Layer: LayerConntrack, Check: checkConntrackFull}, Entry{
		ID: "conntrack.table_full", Title: "Connection tracking table near full",
		Source: SourceHost, Layer: LayerConntrack, Severity: Warning,
		Explanation: "The netfilter connection tracking table holds nearly nf_conntrack_max entries. When it is " +
			"full, new connections are dropped (\"nf_conntrack: table full, dropping packet\" in the kernel log) " +
			"unless an old entry can be evicted.",
		Thresholds: "The limit is host-global, the count per-namespace. 80% or more of nf_conntrack_max is a warning " +
			"(awesome-prometheus-alerts HostConntrackLimit: 80%; Prometheus node-mixin warns at 75%), 95% or more " +
			"critical (netdata's netfilter_conntrack_full).",
		Remediation: "Raise net.netfilter.nf_conntrack_max (and nf_conntrack_buckets, which sets the hash size, " +
			"in the initial namespace), or keep fewer entries: shorter timeouts " +
			"(nf_conntrack_tcp_timeout_established is 5 days), NOTRACK for traffic that needs no state.",
		Evidence: []string{"nf_conntrack_count", "nf_conntrack_max", "nf_conntrack_buckets"},
		Alerts: []Alert{
			{Severity: Critical, For: forLevel, Expr: conntrackFull},
			{Severity: Warning, For: forLevel, Expr: promql.Unless(fmt.Sprintf("%s >= %s and %s > 0", conntrackFill, promql.Num(conntrackWarnFill), promql.MetricConntrackMax), conntrackFull)},
		},
	})
	register(Rule{Name: "conntrack drops", Source: SourceHost, Layer: LayerConntrack, Check: checkConntrackDrops}, Entry{
		ID: "conntrack.drops", Title: "Connection tracking dropped packets",
		Source: SourceHost, Layer: LayerConntrack, Severity: Critical,
		Explanation: "Netfilter dropped packets because it could not track their connection: the table was full " +
			"(drop) or it had to evict an entry to make room (early_drop).",
		Thresholds: "Over the interval: any growth of the drop or early_drop statistic (summed over CPUs) is critical " +
			"for drop and a warning for early_drop alone. Since boot: any is information.",
		Remediation: "Raise net.netfilter.nf_conntrack_max and shorten the timeouts that keep idle entries.",
		Evidence:    []string{"stat/nf_conntrack drop", "stat/nf_conntrack early_drop", "nf_conntrack_count", "nf_conntrack_max"},
		Alerts: []Alert{
			{Severity: Critical, For: forCounter, Expr: conntrackDrop},
			{Severity: Warning, For: forCounter, Expr: promql.Unless(promql.Increase(promql.Sel(promql.MetricConntrackStat, promql.Eq("stat", "early_drop")), promql.ByStat)+" > 0", conntrackDrop)},
		},
	})
	register(Rule{Name: "conntrack inserts", Source: SourceHost, Layer: LayerConntrack, Check: checkConntrackInserts}, Entry{
		ID: "conntrack.insert_failed", Title: "Connection tracking insert races",
		Source: SourceHost, Layer: LayerConntrack, Severity: Warning,
		Explanation: "Two packets of a new flow raced to create the same conntrack entry and one lost " +
			"(insert_failed): the classic case is a resolver sending A and AAAA queries from one socket at " +
			"once through NAT, where the loser's query is dropped and the lookup waits 5 s for a retry.",
		Thresholds: "Over the interval: any growth of insert_failed is a warning. Since boot: more than 500 is " +
			"information.",
		Remediation: "For DNS: `options single-request-reopen` (glibc) in resolv.conf, or a local caching resolver; " +
			"kernels 5.x resolve most UDP clashes themselves (clashres counts those).",
		Evidence: []string{"stat/nf_conntrack insert_failed", "stat/nf_conntrack clashres"},
		Alerts:   []Alert{{Severity: Warning, For: forCounter, Expr: promql.Increase(promql.Sel(promql.MetricConntrackStat, promql.Eq("stat", "insert_failed")), promql.ByStat) + " > 0"}},
	})
}

func checkConntrackFull(in *Input) Outcome {
	s := newSample(in)
	ct := s.After.Conntrack
	if ct == nil {
		return Outcome{NotChecked: "connection tracking not loaded"}
	}
	if ct.Count == nil || ct.Max == nil || *ct.Max == 0 {
		return Outcome{NotChecked: "nf_conntrack_count or nf_conntrack_max not read"}
	}
	r := report.Ratio(*ct.Count, *ct.Max)
	sev := grade(
		critical(r >= conntrackCritFill),
		warning(r >= conntrackWarnFill),
	)
	if sev == 0 {
		return Outcome{Detail: fmt.Sprintf("%d of %d entries (%s)", *ct.Count, *ct.Max, fmtPct(r))}
	}
	f := Finding{ID: "conntrack.table_full", Severity: sev,
		Summary: fmt.Sprintf("The connection tracking table holds %d of %d entries (%s).", *ct.Count, *ct.Max, fmtPct(r)),
		Evidence: []Evidence{Num("nf_conntrack_count", float64(*ct.Count), ""), Num("nf_conntrack_max", float64(*ct.Max), ""),
			pctEvidence("conntrack fill", r)},
		Fix: []string{fmt.Sprintf("sysctl -w net.netfilter.nf_conntrack_max=%d   (about 300 bytes of memory per entry)", *ct.Max*2)},
	}
	if ct.Buckets != nil {
		f.Evidence = append(f.Evidence, Num("nf_conntrack_buckets", float64(*ct.Buckets), ""))
		if *ct.Buckets*4 < *ct.Max*2 {
			f.Fix = append(f.Fix, fmt.Sprintf("and the hash table, so chains stay short: echo %d > /sys/module/nf_conntrack/parameters/hashsize", *ct.Max/2))
		}
	}
	f.Fix = append(f.Fix, "Keep fewer entries: sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established=3600 (5 days by default), and NOTRACK rules (raw table) for stateless traffic")
	f.Notes = append(f.Notes, "nf_conntrack_max is host-global and read-only inside a child network namespace: change it on the host.")
	return Outcome{Findings: []Finding{f}}
}

func checkConntrackDrops(in *Input) Outcome {
	s := newSample(in)
	if s.After.Conntrack == nil {
		return Outcome{NotChecked: "connection tracking not loaded"}
	}
	drop, early := s.Conntrack("drop"), s.Conntrack("early_drop")
	if !drop.OK && !early.OK {
		return Outcome{NotChecked: "/proc/net/stat/nf_conntrack not read"}
	}
	sev := grade(
		info(s.SinceBoot && drop.Delta+early.Delta > 0),
		critical(!s.SinceBoot && drop.Delta > 0),
		warning(!s.SinceBoot && early.Delta > 0),
	)
	if sev == 0 {
		return Outcome{Detail: "no conntrack drops " + s.window()}
	}
	f := Finding{ID: "conntrack.drops", Severity: sev,
		Summary:  fmt.Sprintf("Connection tracking dropped %s packets (drop) and evicted %d entries (early_drop) %s.", fmtCount(drop.Delta), early.Delta, s.window()),
		Evidence: []Evidence{s.ev(drop), s.ev(early)},
	}
	if ct := s.After.Conntrack; ct.Count != nil && ct.Max != nil {
		f.Evidence = append(f.Evidence, Num("nf_conntrack_count", float64(*ct.Count), ""), Num("nf_conntrack_max", float64(*ct.Max), ""))
		f.Fix = append(f.Fix, fmt.Sprintf("sysctl -w net.netfilter.nf_conntrack_max=%d", *ct.Max*2))
	}
	f.Fix = append(f.Fix, "Shorten the timeouts keeping idle entries: sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established=3600")
	return Outcome{Findings: []Finding{f}}
}

func checkConntrackInserts(in *Input) Outcome {
	s := newSample(in)
	if s.After.Conntrack == nil {
		return Outcome{NotChecked: "connection tracking not loaded"}
	}
	c := s.Conntrack("insert_failed")
	if !c.OK {
		return Outcome{NotChecked: "/proc/net/stat/nf_conntrack not read"}
	}
	sev := grade(
		info(s.SinceBoot && c.Total > sinceBootMin),
		warning(!s.SinceBoot && c.Delta > 0),
	)
	if sev == 0 {
		return Outcome{Detail: fmt.Sprintf("%d insert races %s", c.Delta, s.window())}
	}
	f := Finding{ID: "conntrack.insert_failed", Severity: sev,
		Summary:  fmt.Sprintf("New connections lost the race to create their conntrack entry and were dropped: %s.", s.amount(c, "connections")),
		Evidence: []Evidence{s.ev(c)},
		Fix: []string{"If the flows are DNS through NAT: add `options single-request-reopen` to /etc/resolv.conf, or run a caching resolver on the host",
			"Find the colliding flows: conntrack -S shows per-CPU statistics, conntrack -E -e NEW the flows as they are created"},
	}
	if cr := s.Conntrack("clashres"); cr.OK {
		f.Evidence = append(f.Evidence, s.ev(cr))
	}
	return Outcome{Findings: []Finding{f}}
}
