package diagnose

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// AlertWindow is the range over which alert expressions take a counter's
// increase and rate: the Prometheus counterpart of diag's --interval. A
// rule's gates ("10 or more drops") and rates ("above 10/s") keep their
// numbers; only the window they are judged over differs.
const AlertWindow = 5 * time.Minute

// Alert is a Prometheus alerting rule that fires when a catalog entry's
// rule would find it at Severity: the same thresholds, written in PromQL
// over the metrics netdx exports (docs/prometheus.md), built from the same
// Go constants the rule uses so they cannot drift. docs/prometheus/alerts.yml
// is generated from these.
type Alert struct {
	// Severity is the severity of the findings the alert stands for:
	// warning or critical. An entry with both has two alerts, the warning
	// one written to hold only while the critical one does not.
	Severity Severity
	// Expr is the PromQL expression; every series it returns is an alert.
	Expr string
	// For is how long Expr must hold before the alert fires.
	For time.Duration
	// Subject is the label of Expr's result that names what a finding's
	// subject names ("interface"); empty for host-wide alerts.
	Subject string
}

// AlertRule is one rule of docs/prometheus/alerts.yml.
type AlertRule struct {
	// Name is the alertname: "Netdx" and the finding ID in camel case
	// ("NetdxTcpListenOverflow").
	Name string
	// ID is the finding ID the rule stands for; empty for the rules on
	// netdx_finding that cover findings without their own expression.
	ID          string
	Severity    Severity
	Expr        string
	For         time.Duration
	Subject     string
	Labels      map[string]string
	Annotations map[string]string
}

// FindingsDocURL is where the generated finding documentation lives; alert
// runbook links point into it.
const FindingsDocURL = "https://github.com/netdx/netdx/blob/main/docs/findings.md"

// Durations of the rules on netdx_finding: a critical finding pages after
// it stood through a few evaluations, a warning after a quarter hour.
const (
	findingCriticalFor = 5 * time.Minute
	findingWarningFor  = 15 * time.Minute
)

// AlertRules returns every alerting rule netdx ships: each catalog entry's
// alerts in catalog order, then the two rules on netdx_finding that stand
// for the warning and critical findings no expression covers (path
// findings, per-connection MPTCP findings).
func AlertRules() []AlertRule {
	var out []AlertRule
	covered := map[string]bool{}
	for _, e := range Entries() {
		for _, a := range e.Alerts {
			covered[e.ID] = true
			out = append(out, entryRule(e, a))
		}
	}
	var ids []string
	for id := range covered {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, g := range []struct {
		sev Severity
		dur time.Duration
	}{{Critical, findingCriticalFor}, {Warning, findingWarningFor}} {
		out = append(out, AlertRule{
			Name:     "Netdx" + camel(g.sev.String()) + "Finding",
			Severity: g.sev,
			Expr:     fmt.Sprintf("%s{%s,%s}", metricFinding, eq("severity", g.sev.String()), notIn("id", ids...)),
			For:      g.dur,
			Labels:   map[string]string{"severity": g.sev.String(), "netdx_id": "{{ $labels.id }}"},
			Annotations: map[string]string{
				"summary": "{{ $labels.instance }}: netdx finding {{ $labels.id }} ({{ $labels.subject }})",
				"description": "netdx reports " + g.sev.String() + " finding {{ $labels.id }} about {{ $labels.subject }}. " +
					"`netdx explain {{ $labels.id }}` says what it means; `netdx diag` (or the trace) on the host shows the evidence and the fix.",
				"runbook_url": FindingsDocURL,
			},
		})
	}
	return out
}

// entryRule completes one entry's alert into a rule.
func entryRule(e Entry, a Alert) AlertRule {
	where := "{{ $labels.instance }}"
	if a.Subject != "" {
		where += " " + a.Subject + " {{ $labels." + a.Subject + " }}"
	}
	return AlertRule{
		Name: AlertName(e.ID), ID: e.ID, Severity: a.Severity, Expr: a.Expr, For: a.For, Subject: a.Subject,
		Labels: map[string]string{"severity": a.Severity.String(), "netdx_id": e.ID},
		Annotations: map[string]string{
			"summary":     where + ": " + e.Title,
			"description": e.Explanation + " `netdx diag` on the host shows the evidence and the exact fix.",
			"runbook_url": FindingsDocURL + "#" + strings.ReplaceAll(strings.ToLower(e.ID), ".", ""),
		},
	}
}

// AlertName is the alertname of a finding ID's rules:
// "tcp.listen_overflow" → "NetdxTcpListenOverflow".
func AlertName(id string) string {
	var b strings.Builder
	b.WriteString("Netdx")
	for _, part := range strings.FieldsFunc(id, func(r rune) bool { return r == '.' || r == '_' }) {
		b.WriteString(camel(part))
	}
	return b.String()
}

func camel(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// Metric names the alert expressions read; render/metrics defines them,
// and its tests check every name used here is one it exports.
const (
	metricFinding        = "netdx_finding"
	metricNetstat        = "netdx_netstat_total"
	metricIfaceStat      = "netdx_interface_stat_total"
	metricIfaceCarrier   = "netdx_interface_carrier_changes_total"
	metricIfaceSpeed     = "netdx_interface_speed_bytes_per_second"
	metricIfaceLineRate  = "netdx_interface_line_rate"
	metricNICDrops       = "netdx_nic_dropped_packets_total"
	metricSoftnetDropped = "netdx_softnet_dropped_packets_total"
	metricSoftnetSqueeze = "netdx_softnet_times_squeezed_total"
	metricSoftnetFlowLim = "netdx_softnet_flow_limit_dropped_packets_total"
	metricQdiscSent      = "netdx_qdisc_sent_packets_total"
	metricQdiscDropped   = "netdx_qdisc_dropped_packets_total"
	metricQdiscRequeued  = "netdx_qdisc_requeued_packets_total"
	metricQdiscBacklog   = "netdx_qdisc_backlog_bytes"
	metricQdiscQlen      = "netdx_qdisc_queue_length_packets"
	metricSysctl         = "netdx_sysctl"
	metricSockstat       = "netdx_sockstat_sockets"
	metricSockstatMem    = "netdx_sockstat_memory_pages"
	metricConntrackCount = "netdx_conntrack_entries"
	metricConntrackMax   = "netdx_conntrack_entries_limit"
	metricConntrackStat  = "netdx_conntrack_stat_total"
	metricMPTCPLimit     = "netdx_mptcp_limit"
	metricMPTCPEndpoint  = "netdx_mptcp_endpoint_info"
	metricMPTCPInfo      = "netdx_mptcp_info"
)

// The labels that tell apart the series of one metric, summed away when
// an alert judges their total.
const (
	byNetstat = "section, name"
	byStat    = "stat"
	byCPU     = "cpu"
	byNICStat = "stat, queue, direction, kind"
	byQdisc   = "kind, handle, parent"
)

// promRange is AlertWindow in PromQL's notation.
var promRange = strconv.Itoa(int(AlertWindow/time.Minute)) + "m"

// sel is a series selector.
func sel(metric string, matchers ...string) string {
	if len(matchers) == 0 {
		return metric
	}
	return metric + "{" + strings.Join(matchers, ",") + "}"
}

// eq matches label to value.
func eq(label, value string) string { return fmt.Sprintf("%s=%q", label, value) }

// in matches label to any of values.
func in(label string, values ...string) string {
	if len(values) == 1 {
		return eq(label, values[0])
	}
	return fmt.Sprintf("%s=~%q", label, alternatives(values))
}

// notIn matches label to none of values.
func notIn(label string, values ...string) string {
	if len(values) == 1 {
		return fmt.Sprintf("%s!=%q", label, values[0])
	}
	return fmt.Sprintf("%s!~%q", label, alternatives(values))
}

func alternatives(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = regexp.QuoteMeta(v)
	}
	return strings.Join(q, "|")
}

// promIncrease is the increase of the selected counters over AlertWindow,
// summed over the labels in without.
func promIncrease(selector, without string) string {
	return fmt.Sprintf("sum without (%s) (increase(%s[%s]))", without, selector, promRange)
}

// promRate is the per-second rate of the selected counters over
// AlertWindow, summed over the labels in without.
func promRate(selector, without string) string {
	return fmt.Sprintf("sum without (%s) (rate(%s[%s]))", without, selector, promRange)
}

// netstatSel selects netstat counters named "Section.Name", one selector
// per section.
func netstatSel(counters []string) []string {
	var sections []string
	names := map[string][]string{}
	for _, c := range counters {
		sec, name, _ := strings.Cut(c, ".")
		if names[sec] == nil {
			sections = append(sections, sec)
		}
		names[sec] = append(names[sec], name)
	}
	out := make([]string, len(sections))
	for i, sec := range sections {
		out[i] = sel(metricNetstat, eq("section", sec), in("name", names[sec]...))
	}
	return out
}

// netstatIncrease is the summed increase of netstat counters over
// AlertWindow ("TcpExt.ListenOverflows", "Ip6.InDiscards").
func netstatIncrease(counters ...string) string {
	return netstatFn("increase", counters)
}

// netstatRate is the summed per-second rate of netstat counters.
func netstatRate(counters ...string) string {
	return netstatFn("rate", counters)
}

func netstatFn(fn string, counters []string) string {
	parts := netstatSel(counters)
	for i, p := range parts {
		parts[i] = fmt.Sprintf("%s(%s[%s])", fn, p, promRange)
	}
	return fmt.Sprintf("sum without (%s) (%s)", byNetstat, strings.Join(parts, " or "))
}

// mptcpIncrease is the summed increase of MPTcpExt counters.
func mptcpIncrease(names ...string) string {
	return netstatIncrease(prefixed(mptcpSection, names)...)
}

// sysctlValue is one integer of a setting (index 0 for one-integer
// settings), without the labels that name it.
func sysctlValue(name string, index int) string {
	return fmt.Sprintf("max without (name, index) (%s)", sel(metricSysctl, eq("name", name), eq("index", strconv.Itoa(index))))
}

// unless is the warning half of a two-level alert: warn while crit does
// not hold, so one finding is one alert.
func unless(warn, crit string) string {
	return "(\n  " + warn + "\n)\nunless\n(\n  " + crit + "\n)"
}

// num writes a threshold as PromQL reads it.
func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// seconds writes a duration threshold in seconds.
func seconds(d time.Duration) string { return num(d.Seconds()) }
