package diagnose

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/netdx/netdx/internal/promql"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/report"
)

// Fill thresholds of the conntrack table (awesome-prometheus-alerts
// HostConntrackLimit; netdata's netfilter_conntrack_full).
const (
	conntrackWarnFill = 0.80
	conntrackCritFill = 0.95
	// conntrackProtoShare is the share of the entries counted a protocol
	// must hold for a fix to shorten its timeouts.
	conntrackProtoShare = 0.25
)

func init() { onFirstUse(registerHostConntrack) }

// registerHostConntrack registers this file's rules, on the catalog's first use.
func registerHostConntrack() {
	// The alerts' PromQL, built with the catalog, not at start-up.
	var (
		conntrackFill = fmt.Sprintf("%s / %s", promql.MetricConntrackCount, promql.MetricConntrackMax)
		conntrackFull = fmt.Sprintf("%s >= %s and %s > 0", conntrackFill, promql.Num(conntrackCritFill), promql.MetricConntrackMax)
		conntrackDrop = promql.Increase(promql.Sel(promql.MetricConntrackStat, promql.Eq("stat", "drop")), promql.ByStat) + " > 0"
	)
	register(Rule{Name: "conntrack table", Source: SourceHost, Layer: LayerConntrack, Check: checkConntrackFull}, Entry{
		ID: "conntrack.table_full", Title: "Connection tracking table near full",
		Source: SourceHost, Layer: LayerConntrack, Object: report.ObjectNamespace, Severity: Warning,
		Explanation: "The netfilter connection tracking table holds nearly nf_conntrack_max entries. When it is " +
			"full, new connections are dropped (\"nf_conntrack: table full, dropping packet\" in the kernel log) " +
			"unless an old entry can be evicted.",
		Thresholds: fmt.Sprintf("The limit is host-global, the count per-namespace. 80%% or more of nf_conntrack_max is a warning "+
			"(awesome-prometheus-alerts HostConntrackLimit: 80%%; Prometheus node-mixin warns at 75%%), 95%% or more "+
			"critical (netdata's netfilter_conntrack_full). The fixes shorten the timeouts of a protocol only when it "+
			"holds %.0f%% or more of the entries counted over ctnetlink.", conntrackProtoShare*100),
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
		Source: SourceHost, Layer: LayerConntrack, Object: report.ObjectNamespace, Severity: Critical,
		Explanation: "Netfilter dropped packets because it could not track their connection: the table was full " +
			"(drop), or it had to evict an entry to make room (early_drop: an entry not yet assured, such as an " +
			"unanswered UDP flow, was thrown out so the new flow could be tracked; the packet itself passed).",
		Thresholds: "Over the interval: any growth of the drop or early_drop statistic (summed over CPUs) is critical " +
			"for drop and a warning for early_drop alone. Since boot: any is information.",
		Remediation: "Raise net.netfilter.nf_conntrack_max (on the host: it is read-only in a child namespace) and " +
			"shorten the timeouts of the protocol that fills the table, or stop tracking stateless traffic (NOTRACK).",
		Evidence: []string{"stat/nf_conntrack drop", "stat/nf_conntrack early_drop", "nf_conntrack_count", "nf_conntrack_max"},
		Alerts: []Alert{
			{Severity: Critical, For: forCounter, Expr: conntrackDrop},
			{Severity: Warning, For: forCounter, Expr: promql.Unless(promql.Increase(promql.Sel(promql.MetricConntrackStat, promql.Eq("stat", "early_drop")), promql.ByStat)+" > 0", conntrackDrop)},
		},
	})
	register(Rule{Name: "conntrack inserts", Source: SourceHost, Layer: LayerConntrack, Check: checkConntrackInserts}, Entry{
		ID: "conntrack.insert_failed", Title: "Connection tracking insert races",
		Source: SourceHost, Layer: LayerConntrack, Object: report.ObjectNamespace, Severity: Warning,
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
	f := Finding{ID: "conntrack.table_full", Severity: sev, Subject: in.namespace(),
		Summary: fmt.Sprintf("The connection tracking table holds %d of %d entries (%s)%s.", *ct.Count, *ct.Max, fmtPct(r), conntrackMix(ct)),
		Evidence: append([]Evidence{Num("nf_conntrack_count", float64(*ct.Count), ""), Num("nf_conntrack_max", float64(*ct.Max), ""),
			pctEvidence("conntrack fill", r)}, conntrackProtoEvidence(ct)...),
	}
	rs := []remedy{settingInt("net.netfilter.nf_conntrack_max", int64(*ct.Max*2), "about 300 bytes of memory per entry")}
	if ct.Buckets != nil {
		f.Evidence = append(f.Evidence, Num("nf_conntrack_buckets", float64(*ct.Buckets), ""))
		rs = append(rs, step(fmt.Sprintf("and the hash table, so chains stay short: echo %d > /sys/module/nf_conntrack/parameters/hashsize", *ct.Max/2)).
			sets("net.netfilter.nf_conntrack_buckets", strconv.FormatUint(*ct.Max/2, 10)).
			unless(*ct.Buckets*4 >= *ct.Max*2, ""))
	}
	s.prescribe(&f, append(rs, conntrackTimeoutFixes(ct)...)...)
	return Outcome{Findings: []Finding{f}}
}

// conntrackShare is the share of the entries counted that are of proto,
// and whether the entries were counted.
func conntrackShare(ct *collectors.Conntrack, proto string) (float64, bool) {
	if ct.ByProto == nil || ct.Counted == 0 {
		return 0, false
	}
	return report.Ratio(ct.ByProto[proto], ct.Counted), true
}

// conntrackPct is a protocol's share of the entries, "none" for none.
func conntrackPct(r float64) string {
	if r == 0 {
		return "none"
	}
	return fmtPct(r)
}

// conntrackMix describes what fills the table, for summaries.
func conntrackMix(ct *collectors.Conntrack) string {
	if ct.ByProto == nil || ct.Counted == 0 {
		return ""
	}
	protos := make([]string, 0, len(ct.ByProto))
	for p := range ct.ByProto {
		protos = append(protos, p)
	}
	sort.Slice(protos, func(i, j int) bool { return ct.ByProto[protos[i]] > ct.ByProto[protos[j]] })
	parts := make([]string, 0, len(protos))
	for _, p := range protos {
		parts = append(parts, fmt.Sprintf("%s %s", fmtPct(report.Ratio(ct.ByProto[p], ct.Counted)), p))
	}
	sample := ""
	if ct.Count != nil && ct.Counted < *ct.Count {
		sample = fmt.Sprintf(" of the %d read", ct.Counted)
	}
	return ": " + strings.Join(parts, ", ") + sample
}

// conntrackProtoEvidence is the count of entries by protocol.
func conntrackProtoEvidence(ct *collectors.Conntrack) []Evidence {
	if ct.ByProto == nil {
		return nil
	}
	protos := make([]string, 0, len(ct.ByProto))
	for p := range ct.ByProto {
		protos = append(protos, p)
	}
	sort.Strings(protos)
	out := []Evidence{Num("conntrack entries counted", float64(ct.Counted), "")}
	for _, p := range protos {
		out = append(out, Num("conntrack entries "+p, float64(ct.ByProto[p]), ""))
	}
	return out
}

// conntrackTimeoutFixes shortens the timeouts of the protocols that fill
// the table: a TCP timeout does nothing for a table of UDP entries.
func conntrackTimeoutFixes(ct *collectors.Conntrack) []remedy {
	tcp, counted := conntrackShare(ct, "tcp")
	udp, _ := conntrackShare(ct, "udp")
	return []remedy{
		setting("net.netfilter.nf_conntrack_tcp_timeout_established", "3600", "keep fewer idle TCP entries: 5 days by default").
			unless(counted && tcp < conntrackProtoShare, fmt.Sprintf("Shortening nf_conntrack_tcp_timeout_established would not help: TCP holds %s of the %d entries read.", conntrackPct(tcp), ct.Counted)),
		step("Keep fewer UDP entries: NOTRACK rules (nft: a `notrack` statement in a raw-priority chain) for stateless UDP such as DNS to a local resolver, or a shorter net.netfilter.nf_conntrack_udp_timeout (30 s by default) and nf_conntrack_udp_timeout_stream (120 s)").
			unless(!counted || udp < conntrackProtoShare, ""),
		step("Stop tracking traffic that needs no state: NOTRACK rules in the raw table").unless(counted && udp >= conntrackProtoShare, ""),
	}
}

func checkConntrackDrops(in *Input) Outcome {
	s := newSample(in)
	ct := s.After.Conntrack
	if ct == nil {
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
	f := Finding{ID: "conntrack.drops", Severity: sev, Subject: in.namespace(),
		Evidence: append([]Evidence{s.ev(drop), s.ev(early)}, conntrackProtoEvidence(ct)...),
	}
	switch {
	case drop.Delta == 0:
		f.Summary = fmt.Sprintf("The connection tracking table was full: it evicted %s not yet assured to make room for new flows (early_drop)%s; no packet was dropped (drop +0).", s.amount(early, "entries"), conntrackMix(ct))
	default:
		f.Summary = fmt.Sprintf("Connection tracking dropped %s because the table was full (drop), and evicted %d entries (early_drop)%s.", s.amount(drop, "packets"), early.Delta, conntrackMix(ct))
	}
	var rs []remedy
	if ct.Count != nil && ct.Max != nil {
		f.Evidence = append(f.Evidence, Num("nf_conntrack_count", float64(*ct.Count), ""), Num("nf_conntrack_max", float64(*ct.Max), ""))
		rs = append(rs, settingInt("net.netfilter.nf_conntrack_max", int64(*ct.Max*2), "about 300 bytes of memory per entry"))
	}
	s.prescribe(&f, append(rs, conntrackTimeoutFixes(ct)...)...)
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
	f := Finding{ID: "conntrack.insert_failed", Severity: sev, Subject: in.namespace(),
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
