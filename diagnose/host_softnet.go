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

// Thresholds of the softnet rules (netdata's 1min_netdev_backlog_exceeded
// and 1min_netdev_budget_ran_outs).
const (
	backlogWarnRate = 10 // backlog drops per second, all CPUs
	backlogCritRate = 100
	squeezeInfoRate = 10 // budget run-outs per second, all CPUs
	squeezeWarnRate = 100
)

func init() { onFirstUse(registerHostSoftnet) }

// registerHostSoftnet registers this file's rules, on the catalog's first use.
func registerHostSoftnet() {
	// The alerts' PromQL, built with the catalog, not at start-up.
	var (
		softnetDrops       = promql.Increase(promql.MetricSoftnetDropped, promql.ByCPU)
		softnetBacklogCrit = fmt.Sprintf("%s >= %d\nand %s > %s", softnetDrops, minEvents, promql.Rate(promql.MetricSoftnetDropped, promql.ByCPU), promql.Num(backlogCritRate))
	)
	register(Rule{Name: "softnet backlog", Source: SourceHost, Layer: LayerSoftnet, Check: checkSoftnetDrops}, Entry{
		ID: "softnet.backlog_drops", Title: "Per-CPU input backlog full: packets dropped before the IP stack",
		Object: report.ObjectCPU,
		Source: SourceHost, Layer: LayerSoftnet, Severity: Warning,
		Explanation: "Packets handed to a CPU's input backlog (RPS steering, and the netif_rx path of veth, " +
			"loopback, tun and many tunnels) were dropped because the backlog already held " +
			"net.core.netdev_max_backlog packets: that CPU could not process them as fast as they came. " +
			"Host-global: softnet_stat is per CPU and the same in every namespace.",
		Thresholds: "Host-global. Over the interval: 10 or more drops at above 10/s is a warning (netdata's " +
			"1min_netdev_backlog_exceeded: average above 10), above 100/s critical. Since boot: more than 500 is " +
			"information.",
		Remediation: "Raise net.core.netdev_max_backlog (1000 by default); if one CPU takes the drops, spread " +
			"the load (RPS/RFS, IRQ affinity, more NIC queues).",
		Evidence: []string{"softnet_stat dropped per CPU", "net.core.netdev_max_backlog"},
		Alerts: []Alert{
			{Severity: Critical, For: forCounter, Expr: softnetBacklogCrit},
			{Severity: Warning, For: forCounter, Expr: promql.Unless(fmt.Sprintf("%s >= %d\nand %s > %s", softnetDrops, minEvents,
				promql.Rate(promql.MetricSoftnetDropped, promql.ByCPU), promql.Num(backlogWarnRate)), softnetBacklogCrit)},
		},
	})
	register(Rule{Name: "softnet budget", Source: SourceHost, Layer: LayerSoftnet, Check: checkTimeSqueeze}, Entry{
		ID: "softnet.time_squeeze", Title: "Packet processing ran out of budget with work left",
		Object: report.ObjectCPU,
		Source: SourceHost, Layer: LayerSoftnet, Severity: Info,
		Explanation: "The receive softirq stopped with packets still waiting because it used up its budget " +
			"(net.core.netdev_budget packets or netdev_budget_usecs microseconds per run). The packets wait for " +
			"the next run: latency, and drops once rings fill. Host-global.",
		Thresholds: "Host-global. Over the interval: 10 or more at above 10/s is information (netdata's " +
			"1min_netdev_budget_ran_outs: average above 10), above 100/s a warning. Since boot it is not judged.",
		Remediation: "Raise net.core.netdev_budget (300) and net.core.netdev_budget_usecs; spread receive work over " +
			"more CPUs.",
		Evidence: []string{"softnet_stat time_squeeze per CPU", "net.core.netdev_budget", "net.core.netdev_budget_usecs"},
		Alerts: []Alert{{Severity: Warning, For: forCounter, Expr: fmt.Sprintf("%s >= %d\nand %s > %s",
			promql.Increase(promql.MetricSoftnetSqueeze, promql.ByCPU), minEvents, promql.Rate(promql.MetricSoftnetSqueeze, promql.ByCPU), promql.Num(squeezeWarnRate))}},
	})
	register(Rule{Name: "RPS flow limit", Source: SourceHost, Layer: LayerSoftnet, Check: checkFlowLimit}, Entry{
		ID: "softnet.flow_limit", Title: "RPS flow limit dropped packets of a heavy flow",
		Object: report.ObjectCPU,
		Source: SourceHost, Layer: LayerSoftnet, Severity: Warning,
		Explanation: "The RPS flow limit dropped packets of flows that took more than their share of a busy " +
			"CPU's backlog, protecting small flows from one heavy flow. Host-global.",
		Thresholds: "Host-global. Over the interval: 10 or more flow_limit_count drops is a warning. Since boot: more " +
			"than 500 is information.",
		Remediation: "If the heavy flow is legitimate, raise net.core.flow_limit_table_len or take the CPU out " +
			"of /proc/sys/net/core/flow_limit_cpu_bitmap; otherwise the limit is doing its job.",
		Evidence: []string{"softnet_stat flow_limit_count per CPU", "net.core.flow_limit_table_len"},
		Alerts:   []Alert{{Severity: Warning, For: forCounter, Expr: fmt.Sprintf("%s >= %d", promql.Increase(promql.MetricSoftnetFlowLim, promql.ByCPU), minEvents)}},
	})
}

// softnetCPU is one CPU's softnet counters over the window.
type softnetCPU struct {
	cpu                                     int
	processed, dropped, squeezed, flowLimit uint64
}

// softnetTotals sums the CPUs' changes.
type softnetTotals struct {
	processed, dropped, squeezed, flowLimit uint64
	cpus                                    []softnetCPU
	read                                    bool
}

// softnetTotal pairs CPUs by id and sums their 32-bit counter changes.
func (s *sample) softnetTotal() softnetTotals {
	var t softnetTotals
	if s.After.Softnet == nil || (s.Before != nil && s.Before.Softnet == nil) {
		return t
	}
	t.read = true
	before := map[int]collectors.SoftnetCPU{}
	if s.Before != nil {
		for _, c := range s.Before.Softnet {
			before[c.CPU] = c
		}
	}
	d := func(b, a uint64, hb bool) uint64 {
		if s.SinceBoot || !hb {
			return a
		}
		v, _ := collectors.Delta32(b, a)
		return v
	}
	opt := func(p *uint64) uint64 {
		if p == nil {
			return 0
		}
		return *p
	}
	for _, a := range s.After.Softnet {
		b, hb := before[a.CPU]
		c := softnetCPU{cpu: a.CPU,
			processed: d(b.Processed, a.Processed, hb),
			dropped:   d(b.Dropped, a.Dropped, hb),
			squeezed:  d(b.TimeSqueeze, a.TimeSqueeze, hb),
			flowLimit: d(opt(b.FlowLimitCount), opt(a.FlowLimitCount), hb),
		}
		t.cpus = append(t.cpus, c)
		t.processed += c.processed
		t.dropped += c.dropped
		t.squeezed += c.squeezed
		t.flowLimit += c.flowLimit
	}
	return t
}

// topCPUs names the CPUs with the largest values of field, for summaries.
func topCPUs(cpus []softnetCPU, field func(softnetCPU) uint64) (string, uint64) {
	cs := append([]softnetCPU(nil), cpus...)
	sort.SliceStable(cs, func(i, j int) bool { return field(cs[i]) > field(cs[j]) })
	var parts []string
	for _, c := range cs {
		if field(c) == 0 || len(parts) == 4 {
			break
		}
		parts = append(parts, fmt.Sprintf("CPU %d: %d", c.cpu, field(c)))
	}
	if len(cs) == 0 {
		return "", 0
	}
	return strings.Join(parts, ", "), field(cs[0])
}

// worstCPU names the CPU with the largest value of field, the subject of
// a softnet finding.
func worstCPU(cpus []softnetCPU, field func(softnetCPU) uint64) string {
	if len(cpus) == 0 {
		return notIdentified(report.ObjectCPU)
	}
	w := cpus[0]
	for _, c := range cpus[1:] {
		if field(c) > field(w) {
			w = c
		}
	}
	return fmt.Sprintf("CPU %d", w.cpu)
}

// totalEvidence is a summed change as evidence.
func (s *sample) totalEvidence(name string, total, delta uint64) Evidence {
	return s.ev(collectors.Change{Name: name, Total: total, Delta: delta, Rate: s.Rate(delta), OK: true})
}

func softnetAfterTotal(snap *collectors.Snapshot, field func(collectors.SoftnetCPU) uint64) uint64 {
	var v uint64
	for _, c := range snap.Softnet {
		v += field(c)
	}
	return v
}

func checkSoftnetDrops(in *Input) Outcome {
	s := newSample(in)
	t := s.softnetTotal()
	if !t.read {
		return Outcome{NotChecked: "/proc/net/softnet_stat not read"}
	}
	r := s.Rate(t.dropped)
	sev := grade(
		info(s.SinceBoot && t.dropped > sinceBootMin),
		critical(!s.SinceBoot && t.dropped >= minEvents && r > backlogCritRate),
		warning(!s.SinceBoot && t.dropped >= minEvents && r > backlogWarnRate),
	)
	if sev == 0 {
		return Outcome{Detail: fmt.Sprintf("%d backlog drops on %s %s", t.dropped, plural(len(t.cpus), "CPU"), s.window())}
	}
	top, worst := topCPUs(t.cpus, func(c softnetCPU) uint64 { return c.dropped })
	total := softnetAfterTotal(s.After, func(c collectors.SoftnetCPU) uint64 { return c.Dropped })
	ev, backlog, haveBacklog := s.sysctl("net.core.netdev_max_backlog")
	f := Finding{ID: "softnet.backlog_drops", Severity: sev, Subject: worstCPU(t.cpus, func(c softnetCPU) uint64 { return c.dropped }),
		Summary:  fmt.Sprintf("CPU input backlogs dropped %s (%s).", s.amount(collectors.Change{Total: total, Delta: t.dropped, Rate: r}, "packets"), top),
		Evidence: []Evidence{s.totalEvidence("softnet dropped (all CPUs)", total, t.dropped), Text("by CPU", top), ev},
	}
	var rs []remedy
	if haveBacklog && len(backlog) == 1 {
		rs = append(rs, settingInt("net.core.netdev_max_backlog", max(backlog[0]*4, 4096), ""))
	}
	if len(t.cpus) > 1 && t.dropped > 0 && float64(worst) >= 0.8*float64(t.dropped) {
		rs = append(rs, step("One CPU takes most drops: spread the receive work with RPS (echo MASK > /sys/class/net/DEV/queues/rx-N/rps_cpus), more NIC queues (ethtool -L DEV combined N), or IRQ affinity"))
	}
	s.prescribe(&f, rs...)
	f.Notes = append(f.Notes, "Host-global: these counters are per CPU and the same in every network namespace. Traffic through veth, loopback and tun passes this backlog too, so container traffic can cause it.")
	return Outcome{Findings: []Finding{f}}
}

func checkTimeSqueeze(in *Input) Outcome {
	s := newSample(in)
	t := s.softnetTotal()
	if !t.read {
		return Outcome{NotChecked: "/proc/net/softnet_stat not read"}
	}
	if s.SinceBoot {
		return Outcome{NotChecked: fmt.Sprintf("%d budget run-outs since boot; needs two samples (--interval above 0)", t.squeezed)}
	}
	r := s.Rate(t.squeezed)
	if t.squeezed < minEvents || r <= squeezeInfoRate {
		return Outcome{Detail: fmt.Sprintf("%d budget run-outs %s", t.squeezed, s.window())}
	}
	sev := grade(warning(r > squeezeWarnRate), info(r > squeezeInfoRate))
	top, _ := topCPUs(t.cpus, func(c softnetCPU) uint64 { return c.squeezed })
	total := softnetAfterTotal(s.After, func(c collectors.SoftnetCPU) uint64 { return c.TimeSqueeze })
	budgetEv, budget, haveBudget := s.sysctl("net.core.netdev_budget")
	usecsEv, usecs, haveUsecs := s.sysctl("net.core.netdev_budget_usecs")
	f := Finding{ID: "softnet.time_squeeze", Severity: sev, Subject: worstCPU(t.cpus, func(c softnetCPU) uint64 { return c.squeezed }),
		Summary:  fmt.Sprintf("The receive softirq ran out of budget with packets left: %s (%s).", s.amount(collectors.Change{Total: total, Delta: t.squeezed, Rate: r}, "times"), top),
		Evidence: []Evidence{s.totalEvidence("softnet time_squeeze (all CPUs)", total, t.squeezed), Text("by CPU", top), budgetEv, usecsEv},
	}
	var rs []remedy
	if haveBudget && len(budget) == 1 {
		rs = append(rs, settingInt("net.core.netdev_budget", budget[0]*2, ""))
	}
	if haveUsecs && len(usecs) == 1 {
		rs = append(rs, settingInt("net.core.netdev_budget_usecs", usecs[0]*2, ""))
	}
	rs = append(rs, step("Spread receive processing over more CPUs (ethtool -L DEV combined N, RPS, IRQ affinity) if a few CPUs take it all"))
	s.prescribe(&f, rs...)
	return Outcome{Findings: []Finding{f}}
}

func checkFlowLimit(in *Input) Outcome {
	s := newSample(in)
	t := s.softnetTotal()
	if !t.read {
		return Outcome{NotChecked: "/proc/net/softnet_stat not read"}
	}
	if len(s.After.Softnet) > 0 && s.After.Softnet[0].FlowLimitCount == nil {
		return Outcome{NotChecked: "flow_limit_count is absent on this kernel"}
	}
	sev := grade(
		info(s.SinceBoot && t.flowLimit > sinceBootMin),
		warning(!s.SinceBoot && t.flowLimit >= minEvents),
	)
	if sev == 0 {
		return Outcome{Detail: fmt.Sprintf("%d flow-limit drops %s", t.flowLimit, s.window())}
	}
	top, _ := topCPUs(t.cpus, func(c softnetCPU) uint64 { return c.flowLimit })
	total := softnetAfterTotal(s.After, func(c collectors.SoftnetCPU) uint64 {
		if c.FlowLimitCount == nil {
			return 0
		}
		return *c.FlowLimitCount
	})
	ev, tbl, haveTbl := s.sysctl("net.core.flow_limit_table_len")
	f := Finding{ID: "softnet.flow_limit", Severity: sev, Subject: worstCPU(t.cpus, func(c softnetCPU) uint64 { return c.flowLimit }),
		Summary:  fmt.Sprintf("The RPS flow limit dropped %s of heavy flows (%s).", s.amount(collectors.Change{Total: total, Delta: t.flowLimit, Rate: s.Rate(t.flowLimit)}, "packets"), top),
		Evidence: []Evidence{s.totalEvidence("softnet flow_limit_count (all CPUs)", total, t.flowLimit), ev},
	}
	if haveTbl && len(tbl) == 1 {
		s.prescribe(&f, step(fmt.Sprintf("If the heavy flow is legitimate: sysctl -w net.core.flow_limit_table_len=%d, or clear its CPU from /proc/sys/net/core/flow_limit_cpu_bitmap", tbl[0]*2)).
			sets("net.core.flow_limit_table_len", strconv.FormatInt(tbl[0]*2, 10)))
	}
	return Outcome{Findings: []Finding{f}}
}
