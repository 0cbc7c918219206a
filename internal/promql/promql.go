// Package promql writes the PromQL of netdx's shipped alerts and names the
// metrics they read. The exporter (render/metrics) defines its metrics
// with these names and the rules' alerts (diagnose) are written with
// these helpers, so an alert cannot read a metric the exporter does not
// export under that name.
package promql

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Window is the range over which alert expressions take a counter's
// increase and rate: the Prometheus counterpart of diag's --interval. A
// rule's gates ("10 or more drops") and rates ("above 10/s") keep their
// numbers; only the window they are judged over differs.
const Window = 5 * time.Minute

// Names of the metrics the alert expressions read.
const (
	MetricFinding        = "netdx_finding"
	MetricNetstat        = "netdx_netstat_total"
	MetricIfaceStat      = "netdx_interface_stat_total"
	MetricIfaceCarrier   = "netdx_interface_carrier_changes_total"
	MetricIfaceSpeed     = "netdx_interface_speed_bytes_per_second"
	MetricIfaceLineRate  = "netdx_interface_line_rate"
	MetricNICDrops       = "netdx_nic_dropped_packets_total"
	MetricSoftnetDropped = "netdx_softnet_dropped_packets_total"
	MetricSoftnetSqueeze = "netdx_softnet_times_squeezed_total"
	MetricSoftnetFlowLim = "netdx_softnet_flow_limit_dropped_packets_total"
	MetricQdiscSent      = "netdx_qdisc_sent_packets_total"
	MetricQdiscDropped   = "netdx_qdisc_dropped_packets_total"
	MetricQdiscRequeued  = "netdx_qdisc_requeued_packets_total"
	MetricQdiscBacklog   = "netdx_qdisc_backlog_bytes"
	MetricQdiscQlen      = "netdx_qdisc_queue_length_packets"
	MetricSysctl         = "netdx_sysctl"
	MetricSockstat       = "netdx_sockstat_sockets"
	MetricSockstatMem    = "netdx_sockstat_memory_pages"
	MetricConntrackCount = "netdx_conntrack_entries"
	MetricConntrackMax   = "netdx_conntrack_entries_limit"
	MetricConntrackStat  = "netdx_conntrack_stat_total"
	MetricMPTCPLimit     = "netdx_mptcp_limit"
	MetricMPTCPEndpoint  = "netdx_mptcp_endpoint_info"
	MetricMPTCPInfo      = "netdx_mptcp_info"
	MetricDrops          = "netdx_drops_total"
)

// The labels that tell apart the series of one metric, summed away when
// an alert judges their total.
const (
	ByNetstat = "section, name"
	ByStat    = "stat"
	ByCPU     = "cpu"
	ByNICStat = "stat, queue, direction, kind"
	ByQdisc   = "kind, handle, parent"
	// ByDropPlace sums drops of one namespace over reasons and devices.
	ByDropPlace = "reason, device"
)

// Range is Window in PromQL's notation.
var Range = strconv.Itoa(int(Window/time.Minute)) + "m"

// Sel is a series selector.
func Sel(metric string, matchers ...string) string {
	if len(matchers) == 0 {
		return metric
	}
	return metric + "{" + strings.Join(matchers, ",") + "}"
}

// Eq matches label to value.
func Eq(label, value string) string { return fmt.Sprintf("%s=%q", label, value) }

// In matches label to any of values.
func In(label string, values ...string) string {
	if len(values) == 1 {
		return Eq(label, values[0])
	}
	return fmt.Sprintf("%s=~%q", label, alternatives(values))
}

// NotIn matches label to none of values.
func NotIn(label string, values ...string) string {
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

// Increase is the increase of the selected counters over Window,
// summed over the labels in without.
func Increase(selector, without string) string {
	return fmt.Sprintf("sum without (%s) (increase(%s[%s]))", without, selector, Range)
}

// Rate is the per-second rate of the selected counters over
// Window, summed over the labels in without.
func Rate(selector, without string) string {
	return fmt.Sprintf("sum without (%s) (rate(%s[%s]))", without, selector, Range)
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
		out[i] = Sel(MetricNetstat, Eq("section", sec), In("name", names[sec]...))
	}
	return out
}

// NetstatIncrease is the summed increase of netstat counters over
// Window ("TcpExt.ListenOverflows", "Ip6.InDiscards").
func NetstatIncrease(counters ...string) string {
	return netstatFn("increase", counters)
}

// NetstatRate is the summed per-second rate of netstat counters.
func NetstatRate(counters ...string) string {
	return netstatFn("rate", counters)
}

func netstatFn(fn string, counters []string) string {
	parts := netstatSel(counters)
	for i, p := range parts {
		parts[i] = fmt.Sprintf("%s(%s[%s])", fn, p, Range)
	}
	return fmt.Sprintf("sum without (%s) (%s)", ByNetstat, strings.Join(parts, " or "))
}

// SysctlValue is one integer of a setting (index 0 for one-integer
// settings), without the labels that name it.
func SysctlValue(name string, index int) string {
	return fmt.Sprintf("max without (name, index) (%s)", Sel(MetricSysctl, Eq("name", name), Eq("index", strconv.Itoa(index))))
}

// Unless is the warning half of a two-level alert: warn while crit does
// not hold, so one finding is one alert.
func Unless(warn, crit string) string {
	return "(\n  " + warn + "\n)\nunless\n(\n  " + crit + "\n)"
}

// Num writes a threshold as PromQL reads it.
func Num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// Seconds writes a duration threshold in seconds.
func Seconds(d time.Duration) string { return Num(d.Seconds()) }

// DropsIncrease is the increase over Window of the kernel's drops of
// the given reasons, per namespace.
func DropsIncrease(reasons ...string) string {
	return Increase(Sel(MetricDrops, In("reason", reasons...)), ByDropPlace)
}

// DropsRate is their per-second rate, per namespace.
func DropsRate(reasons ...string) string {
	return Rate(Sel(MetricDrops, In("reason", reasons...)), ByDropPlace)
}
