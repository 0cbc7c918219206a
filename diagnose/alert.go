package diagnose

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/netdx/netdx/internal/promql"
)

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
			Expr:     fmt.Sprintf("%s{%s,%s}", promql.MetricFinding, promql.Eq("severity", g.sev.String()), promql.NotIn("id", ids...)),
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
