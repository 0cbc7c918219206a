package diagnose

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/netdx/netdx/internal/promql"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/report"
)

// Thresholds of the qdisc rules.
const (
	qdiscDropCritShare     = 0.02 // drops of packets sent (netdata's outbound_packets_dropped_ratio)
	requeueInfoRate        = 10   // requeues per second
	requeueWarnRate        = 100
	standingQueueInfoDelay = 5 * time.Millisecond // to drain the standing backlog at line rate
	standingQueueWarnDelay = 50 * time.Millisecond
	standingQueueMinBytes  = 1 << 20 // standing backlog when the speed is unknown
)

// Alert expressions of the qdisc rules: root qdiscs, by interface.

func init() { onFirstUse(registerHostQdisc) }

// registerHostQdisc registers this file's rules, on the catalog's first use.
func registerHostQdisc() {
	// The alerts' PromQL, built with the catalog, not at start-up.
	var (
		qdiscDrops = promql.Increase(promql.Sel(promql.MetricQdiscDropped, promql.Eq("parent", "root"), promql.NotIn("kind", append([]string{"noqueue"}, shapers()...)...)), promql.ByQdisc)
		qdiscSent  = promql.Increase(promql.Sel(promql.MetricQdiscSent, promql.Eq("parent", "root"), promql.NotIn("kind", append([]string{"noqueue"}, shapers()...)...)), promql.ByQdisc)
		qdiscCrit  = fmt.Sprintf("%s >= %d\nand %s\n  / (%s + %s) >= %s", qdiscDrops, minEvents, qdiscDrops, qdiscSent, qdiscDrops, promql.Num(qdiscDropCritShare))
		qdiscRoot  = []string{promql.Eq("parent", "root"), promql.NotIn("kind", "noqueue")}
	)
	register(Rule{Name: "qdisc drops", Source: SourceHost, Layer: LayerQdisc, Check: checkQdiscDrops}, Entry{
		ID: "qdisc.drops", Title: "Egress queue (qdisc) dropped packets",
		Object: report.ObjectQdisc,
		Source: SourceHost, Layer: LayerQdisc, Severity: Warning,
		Explanation: "The interface's root queueing discipline dropped packets it was asked to send: a FIFO " +
			"(pfifo_fast, pfifo) was full (txqueuelen packets), an AQM (fq_codel, fq, cake) dropped to keep " +
			"latency down because the link is the bottleneck, or a shaper (tbf, htb, hfsc) enforced its rate. " +
			"Per-namespace (each interface lives in one namespace).",
		Thresholds: "Over the interval: 10 or more drops is a warning, 2% or more of the packets sent critical " +
			"(netdata's outbound_packets_dropped_ratio: 2%); on a shaper (tbf, htb, hfsc, cake) drops are the " +
			"policy, so information. Since boot: more than 500 is information.",
		Remediation: "For a full FIFO, use an AQM qdisc (tc qdisc replace dev DEV root fq_codel, or fq for " +
			"TCP servers and BBR) rather than a longer queue, which only adds latency; raise txqueuelen only " +
			"for bursty traffic on fast links. For an AQM, the link is saturated: add capacity or shape " +
			"upstream. For a shaper, raise its rate if the limit is wrong.",
		Evidence: []string{"root qdisc kind, drops, packets, overlimits, backlog, qlen", "txqueuelen", "net.core.default_qdisc"},
		Alerts: []Alert{
			{Severity: Critical, For: forCounter, Subject: "interface", Expr: qdiscCrit},
			{Severity: Warning, For: forCounter, Subject: "interface", Expr: promql.Unless(fmt.Sprintf("%s >= %d", qdiscDrops, minEvents), qdiscCrit)},
		},
	})
	register(Rule{Name: "qdisc requeues", Source: SourceHost, Layer: LayerQdisc, Check: checkQdiscRequeues}, Entry{
		ID: "qdisc.requeues", Title: "Driver transmit ring full: qdisc requeued packets",
		Object: report.ObjectQdisc,
		Source: SourceHost, Layer: LayerQdisc, Severity: Info,
		Explanation: "The driver refused packets because its transmit ring was full, so the qdisc put them back " +
			"and retried: the NIC cannot drain the ring as fast as the host fills it (link saturated, pause " +
			"frames, or a ring that is too small for bursts).",
		Thresholds: "Over the interval: 10 or more requeues at above 10/s is information, above 100/s a warning. Since " +
			"boot it is not judged.",
		Remediation: "Raise the TX ring to its maximum (ethtool -G DEV tx MAX) and check for pause frames " +
			"(ethtool -S DEV | grep -i pause) and link saturation.",
		Evidence: []string{"root qdisc requeues", "ethtool ring TX current and maximum"},
		Alerts: []Alert{{Severity: Warning, For: forCounter, Subject: "interface", Expr: fmt.Sprintf("%s >= %d\nand %s > %s",
			promql.Increase(promql.Sel(promql.MetricQdiscRequeued, qdiscRoot...), promql.ByQdisc), minEvents,
			promql.Rate(promql.Sel(promql.MetricQdiscRequeued, qdiscRoot...), promql.ByQdisc), promql.Num(requeueWarnRate))}},
	})
	register(Rule{Name: "qdisc standing queues", Source: SourceHost, Layer: LayerQdisc, Check: checkStandingQueue}, Entry{
		ID: "qdisc.standing_queue", Title: "A standing queue adds latency on egress",
		Object: report.ObjectQdisc,
		Source: SourceHost, Layer: LayerQdisc, Severity: Info,
		Explanation: "The root qdisc held queued packets in both samples: a standing queue rather than a burst. " +
			"Every packet sent waits behind it (bufferbloat).",
		Thresholds: "Over the interval: a backlog in both samples that takes 5 ms or more to drain at the link's " +
			"speed (or 1 MiB when the speed is unknown) is information; 50 ms or more a warning.",
		Remediation: "Use an AQM qdisc that keeps queues short (fq_codel, cake, fq), or shape just below the " +
			"bottleneck's rate so the queue forms where it is managed.",
		Evidence: []string{"root qdisc backlog bytes and qlen in both samples", "link speed"},
		Alerts: []Alert{{Severity: Warning, For: forLevel, Subject: "interface", Expr: fmt.Sprintf(
			"sum without (%s) (min_over_time(%s[%s]))\n  / (%s > 0) >= %s\nand sum without (%s) (min_over_time(%s[%s])) > 0",
			promql.ByQdisc, promql.Sel(promql.MetricQdiscBacklog, qdiscRoot...), promql.Range, promql.MetricIfaceSpeed, promql.Seconds(standingQueueWarnDelay),
			promql.ByQdisc, promql.Sel(promql.MetricQdiscQlen, qdiscRoot...), promql.Range)}},
	})
}

// shaperKinds are qdiscs whose drops enforce a configured rate.
var shaperKinds = map[string]bool{"tbf": true, "htb": true, "hfsc": true, "cake": true, "cbq": true}

// shapers lists shaperKinds, sorted.
func shapers() []string {
	out := make([]string, 0, len(shaperKinds))
	for k := range shaperKinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// qdiscState is one root qdisc over the window.
type qdiscState struct {
	q, before                            collectors.Qdisc
	hasBefore                            bool
	drops, packets, requeues, overlimits collectors.Change
}

// rootQdiscs pairs each interface's root qdisc with its state before, by
// interface, handle and kind; one replaced during the window counts from 0.
func (s *sample) rootQdiscs() []qdiscState {
	if s.After.Qdiscs == nil || (s.Before != nil && s.Before.Qdiscs == nil) {
		return nil
	}
	before := map[string]collectors.Qdisc{}
	if s.Before != nil {
		for _, q := range s.Before.Qdiscs {
			if q.Root {
				before[q.Iface+" "+q.Handle+" "+q.Kind] = q
			}
		}
	}
	var out []qdiscState
	for _, q := range s.After.Qdiscs {
		if !q.Root || q.Kind == "noqueue" {
			continue
		}
		b, hb := before[q.Iface+" "+q.Handle+" "+q.Kind]
		name := "qdisc " + q.Kind + " " + q.Iface
		st := qdiscState{q: q, before: b, hasBefore: hb,
			drops:      s.Change(name+" drops", b.Drops, q.Drops, hb, true, false),
			packets:    s.Change(name+" packets", b.Packets, q.Packets, hb, true, false),
			requeues:   s.Change(name+" requeues", b.Requeues, q.Requeues, hb, true, false),
			overlimits: s.Change(name+" overlimits", b.Overlimits, q.Overlimits, hb, true, false),
		}
		out = append(out, st)
	}
	return out
}

// childKinds names the qdiscs under a multiqueue root (mq, mqprio).
func childKinds(snap *collectors.Snapshot, iface string) string {
	seen := map[string]bool{}
	var kinds []string
	for _, q := range snap.Qdiscs {
		if q.Iface == iface && !q.Root && q.Parent != "ingress" && !seen[q.Kind] {
			seen[q.Kind] = true
			kinds = append(kinds, q.Kind)
		}
	}
	return strings.Join(kinds, ", ")
}

func checkQdiscDrops(in *Input) Outcome {
	s := newSample(in)
	qs := s.rootQdiscs()
	if s.After.Qdiscs == nil {
		return Outcome{NotChecked: "qdiscs not read"}
	}
	var out []Finding
	for _, q := range qs {
		d := q.drops
		r := report.Ratio(d.Delta, q.packets.Delta+d.Delta)
		sev := grade(
			info(s.SinceBoot && d.Total > sinceBootMin),
			info(!s.SinceBoot && d.Delta >= minEvents && shaperKinds[q.q.Kind]),
			critical(!s.SinceBoot && d.Delta >= minEvents && r >= qdiscDropCritShare),
			warning(!s.SinceBoot && d.Delta >= minEvents),
		)
		if sev == 0 {
			continue
		}
		kind := q.q.Kind
		if kind == "mq" || kind == "mqprio" {
			if c := childKinds(s.After, q.q.Iface); c != "" {
				kind += " (" + c + " per queue)"
			}
		}
		l := s.After.Link(q.q.Iface)
		f := Finding{ID: "qdisc.drops", Severity: sev, Subject: q.q.Iface,
			Summary: fmt.Sprintf("The %s qdisc on %s dropped %s (%s of what it sent).", kind, q.q.Iface, s.amount(d, "packets"), fmtPct(r)),
			Evidence: []Evidence{s.ev(d), s.ev(q.packets), s.ev(q.overlimits),
				Num("qdisc "+q.q.Iface+" backlog", float64(q.q.Backlog), "bytes"), Num("qdisc "+q.q.Iface+" qlen", float64(q.q.Qlen), "packets")},
		}
		if l != nil && l.TxQueueLen != nil {
			f.Evidence = append(f.Evidence, Num(q.q.Iface+" txqueuelen", float64(*l.TxQueueLen), "packets"))
		}
		dq, _, _ := s.sysctl("net.core.default_qdisc")
		f.Evidence = append(f.Evidence, dq)
		fifo := strings.Contains(kind, "fifo")
		switch {
		case shaperKinds[q.q.Kind]:
			f.Fix = append(f.Fix, fmt.Sprintf("%s shapes traffic to a configured rate and drops beyond it: check its rate (tc -s qdisc show dev %s; tc class show dev %s) and raise it if the limit is wrong.", q.q.Kind, q.q.Iface, q.q.Iface))
		case fifo:
			f.Fix = append(f.Fix, fmt.Sprintf("tc qdisc replace dev %s root fq_codel   (a FIFO drops only when full, after adding the most latency; fq for TCP servers using BBR)", q.q.Iface))
			if l != nil && l.TxQueueLen != nil {
				f.Fix = append(f.Fix, fmt.Sprintf("or, for bursty traffic on a fast link, a longer FIFO: ip link set dev %s txqueuelen %d", q.q.Iface, max(*l.TxQueueLen*4, 10000)))
			}
		default:
			f.Fix = append(f.Fix, fmt.Sprintf("%s drops to keep latency low when %s is the bottleneck: the link is congested; add capacity, spread traffic, or shape upstream.", q.q.Kind+strings.TrimPrefix(kind, q.q.Kind), q.q.Iface))
		}
		if sat, ok := s.Utilisation(q.q.Iface, "tx_bytes"); ok {
			f.Evidence = append(f.Evidence, pctEvidence(q.q.Iface+" TX utilisation", sat))
		}
		out = append(out, f)
	}
	if len(out) > 0 {
		return Outcome{Findings: out}
	}
	return Outcome{Detail: fmt.Sprintf("%s, no drops worth reporting %s", plural(len(qs), "root qdisc"), s.window())}
}

func checkQdiscRequeues(in *Input) Outcome {
	s := newSample(in)
	if s.After.Qdiscs == nil {
		return Outcome{NotChecked: "qdiscs not read"}
	}
	if s.SinceBoot {
		return Outcome{NotChecked: "needs two samples (--interval above 0)"}
	}
	var out []Finding
	for _, q := range s.rootQdiscs() {
		c := q.requeues
		if c.Delta < minEvents || c.Rate <= requeueInfoRate {
			continue
		}
		sev := grade(warning(c.Rate > requeueWarnRate), info(c.Rate > requeueInfoRate))
		f := Finding{ID: "qdisc.requeues", Severity: sev, Subject: q.q.Iface,
			Summary:  fmt.Sprintf("The driver of %s refused %s because its transmit ring was full.", q.q.Iface, s.amount(c, "packets")),
			Evidence: []Evidence{s.ev(c)},
		}
		if n := s.After.NICs[q.q.Iface]; n != nil && n.Ring != nil {
			f.Evidence = append(f.Evidence, Text(q.q.Iface+" TX ring", fmt.Sprintf("%d of max %d", n.Ring.TxPending, n.Ring.TxMax)))
			if n.Ring.TxPending < n.Ring.TxMax {
				f.Fix = append(f.Fix, fmt.Sprintf("ethtool -G %s tx %d", q.q.Iface, n.Ring.TxMax))
			} else {
				f.Notes = append(f.Notes, "The TX ring is already at its maximum.")
			}
		}
		f.Fix = append(f.Fix, fmt.Sprintf("Look for pause frames and saturation: ethtool -S %s | grep -i pause", q.q.Iface))
		out = append(out, f)
	}
	if len(out) > 0 {
		return Outcome{Findings: out}
	}
	return Outcome{Detail: "no sustained requeues " + s.window()}
}

func checkStandingQueue(in *Input) Outcome {
	s := newSample(in)
	if s.After.Qdiscs == nil {
		return Outcome{NotChecked: "qdiscs not read"}
	}
	if s.SinceBoot {
		return Outcome{NotChecked: "needs two samples (--interval above 0)"}
	}
	var out []Finding
	for _, q := range s.rootQdiscs() {
		if !q.hasBefore || q.before.Qlen == 0 || q.q.Qlen == 0 {
			continue
		}
		backlog := min(q.before.Backlog, q.q.Backlog)
		l := s.After.Link(q.q.Iface)
		// The time to drain the backlog at line rate, in seconds (bytes over
		// bytes per second, as the alert computes it).
		var delay float64
		if l != nil && l.SpeedMbps != nil && *l.SpeedMbps > 0 {
			delay = float64(backlog) / (float64(*l.SpeedMbps) * 1e6 / 8)
		}
		delayMs := delay * 1000
		sev := grade(
			warning(delay >= standingQueueWarnDelay.Seconds()),
			info(delay >= standingQueueInfoDelay.Seconds()),
			info(delay == 0 && backlog >= standingQueueMinBytes),
		)
		if sev == 0 {
			continue
		}
		f := Finding{ID: "qdisc.standing_queue", Severity: sev, Subject: q.q.Iface,
			Summary: fmt.Sprintf("The %s qdisc on %s held a queue in both samples (%d then %d bytes).", q.q.Kind, q.q.Iface, q.before.Backlog, q.q.Backlog),
			Evidence: []Evidence{Num("qdisc "+q.q.Iface+" backlog before", float64(q.before.Backlog), "bytes"),
				Num("qdisc "+q.q.Iface+" backlog after", float64(q.q.Backlog), "bytes"),
				Num("qdisc "+q.q.Iface+" qlen after", float64(q.q.Qlen), "packets")},
		}
		if delayMs > 0 {
			f.Summary += fmt.Sprintf(" At %d Mb/s that is %.1f ms of delay for every packet sent.", *l.SpeedMbps, delayMs)
			f.Evidence = append(f.Evidence, Num("queueing delay", report.Round(delayMs, 2), "ms"))
		}
		if q.q.Kind == "pfifo_fast" || q.q.Kind == "pfifo" || q.q.Kind == "bfifo" || q.q.Kind == "mq" {
			f.Fix = append(f.Fix, fmt.Sprintf("tc qdisc replace dev %s root fq_codel", q.q.Iface))
		}
		f.Fix = append(f.Fix, "If a slower link further on is the bottleneck, shape just below its rate here (tc qdisc replace dev DEV root cake bandwidth RATE) so the queue forms where it is managed")
		out = append(out, f)
	}
	if len(out) > 0 {
		return Outcome{Findings: out}
	}
	return Outcome{Detail: "no standing queue"}
}
