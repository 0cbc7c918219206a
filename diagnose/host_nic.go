package diagnose

import (
	"fmt"
	"sort"
	"strings"

	"github.com/netdx/netdx/internal/promql"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/report"
)

// Thresholds of the NIC and driver rules.
const (
	nicErrorShare         = 0.01 // errors of packets (Prometheus NodeNetworkReceiveErrs)
	nicDropShare          = 0.02 // drops of packets (netdata's inbound/outbound_packets_dropped_ratio)
	nicDropMinPackets     = 1000 // received packets before the receive drop share is judged
	nicDropInfoMin        = 100  // receive drops that are information below the share
	saturationShare       = 0.9  // of the line rate (netdata's 1m_received_traffic_overflow)
	flapMinChanges        = 2    // carrier changes: a down and an up
	ringOverflowCritShare = 0.01 // ring drops of received packets
)

// notLo leaves loopback out of the NIC and driver rules' alerts.
var notLo = promql.NotIn("interface", "lo")

// linkIncrease is the increase of interface counters (but loopback's),
// summed.
func linkIncrease(stats ...string) string {
	return promql.Increase(promql.Sel(promql.MetricIfaceStat, promql.In("stat", stats...), notLo), promql.ByStat)
}

// nicErrorsExpr is the rule on receive and transmit errors. Receive errors
// are the CRC, frame and length counters where netlink was read (then
// rx_crc_errors exists), rx_errors where only /proc/net/dev was.
func nicErrorsExpr() string {
	rx := fmt.Sprintf("(%s\n   and max without (%s) (%s))\n  or %s", linkIncrease("rx_crc_errors", "rx_frame_errors", "rx_length_errors"),
		promql.ByStat, promql.Sel(promql.MetricIfaceStat, promql.Eq("stat", "rx_crc_errors"), notLo), linkIncrease("rx_errors"))
	cond := func(errs, packets string) string {
		return fmt.Sprintf("(%s) >= %d\nand (%s)\n  / (%s + (%s)) >= %s", errs, minEvents, errs, packets, errs, promql.Num(nicErrorShare))
	}
	return "(" + cond(rx, linkIncrease("rx_packets")) + ")\nor\n(" + cond(linkIncrease("tx_errors"), linkIncrease("tx_packets")) + ")"
}

// saturationExpr is the rule on bit rate against the line rate.
func saturationExpr() string {
	var dirs []string
	for _, dir := range []string{"rx", "tx"} {
		dirs = append(dirs, fmt.Sprintf("%s\n  / (%s * %s > 0) >= %s",
			promql.Rate(promql.Sel(promql.MetricIfaceStat, promql.Eq("stat", dir+"_bytes"), notLo), promql.ByStat), promql.MetricIfaceSpeed, promql.MetricIfaceLineRate, promql.Num(saturationShare)))
	}
	return "(" + strings.Join(dirs, ")\nor\n(") + ")"
}

func init() { onFirstUse(registerHostNic) }

// registerHostNic registers this file's rules, on the catalog's first use.
func registerHostNic() {
	// The alerts' PromQL, built with the catalog, not at start-up.
	var (
		// ringDropsExpr is the largest of the three ways drivers count ring
		// overflows, as the rule takes it: the link's missed/FIFO/over
		// counters, the largest device-wide ethtool counter, the sum of the
		// per-queue ones.
		ringDropsExpr = fmt.Sprintf(`max without (part) (
    label_replace(%s, "part", "link", "", "")
    or label_replace(max without (%s) (increase(%s[%s])), "part", "device", "", "")
    or label_replace(%s, "part", "queue", "", "")
  )`,
			promql.Increase(promql.Sel(promql.MetricIfaceStat, promql.In("stat", "rx_missed_errors", "rx_fifo_errors", "rx_over_errors"), notLo), promql.ByStat),
			promql.ByNICStat, promql.Sel(promql.MetricNICDrops, promql.Eq("kind", "ring"), promql.NotIn("direction", "tx"), promql.Eq("queue", ""), notLo), promql.Range,
			promql.Increase(promql.Sel(promql.MetricNICDrops, promql.Eq("kind", "ring"), promql.NotIn("direction", "tx"), promql.NotIn("queue", ""), notLo), promql.ByNICStat))
		ringCrit = fmt.Sprintf("%s >= %d\nand %s\n  / (%s + %s) >= %s", ringDropsExpr, minEvents, ringDropsExpr,
			linkIncrease("rx_packets"), ringDropsExpr, promql.Num(ringOverflowCritShare))
	)
	register(Rule{Name: "interface errors", Source: SourceHost, Layer: LayerNIC, Check: checkNICErrors}, Entry{
		ID: "nic.errors", Title: "Interface receive or transmit errors",
		Object: report.ObjectInterface,
		Source: SourceHost, Layer: LayerNIC, Severity: Warning,
		Explanation: "Frames arrived damaged (CRC, frame alignment, length errors) or could not be sent (carrier, " +
			"aborted, window errors). These are physical-layer problems: cabling, optics, a bad port, or a " +
			"duplex or speed mismatch with the switch.",
		Thresholds: "Over the interval, with at least 10 errors: errors of 1% or more of the packets in that " +
			"direction are a warning (Prometheus NodeNetworkReceiveErrs/TransmitErrs and HostNetworkReceiveErrors: " +
			"1%). Since boot: 1% or more with more than 500 errors is information.",
		Remediation: "Check the link's physical layer: reseat or replace the cable or optic, compare speed and " +
			"duplex with the switch port (ethtool DEV), look at the switch port's error counters.",
		Evidence: []string{"rx_crc_errors", "rx_frame_errors", "rx_length_errors", "rx_errors", "tx_errors",
			"tx_carrier_errors", "rx_packets", "tx_packets", "duplex"},
		Alerts: []Alert{{Severity: Warning, For: forCounter, Subject: "interface", Expr: nicErrorsExpr()}},
	})
	register(Rule{Name: "interface drops", Source: SourceHost, Layer: LayerNIC, Check: checkNICDrops}, Entry{
		ID: "nic.rx_dropped", Title: "Interface dropped received packets",
		Object: report.ObjectInterface,
		Source: SourceHost, Layer: LayerNIC, Severity: Warning,
		Explanation: "The kernel or driver dropped packets the interface received, after the NIC delivered them " +
			"(rx_dropped, not counting ring overflows, which driver.ring_overflow covers): no memory for the " +
			"packet, a full per-CPU backlog, a bond's inactive slave, or a filter. Bond slaves and interfaces " +
			"that see protocols nobody listens to drop by design.",
		Thresholds: "Over the interval, with at least 10 drops and 1000 packets: 2% or more of received packets is a " +
			"warning (netdata's inbound_packets_dropped_ratio), 100 or more drops below that information. Since " +
			"boot: 2% or more with more than 500 drops is information.",
		Remediation: "Compare with softnet.backlog_drops (a full backlog counts here too); on bond slaves and " +
			"bridges, check whether the drops are the expected ones of an inactive slave.",
		Evidence: []string{"rx_dropped", "rx_packets", "master", "softnet dropped"},
		Alerts: []Alert{{Severity: Warning, For: forCounter, Subject: "interface", Expr: fmt.Sprintf(
			"%s >= %d\nand %s >= %d\nand %s\n  / (%s + %s) >= %s",
			linkIncrease("rx_dropped"), minEvents, linkIncrease("rx_packets"), nicDropMinPackets,
			linkIncrease("rx_dropped"), linkIncrease("rx_packets"), linkIncrease("rx_dropped"), promql.Num(nicDropShare))}},
	}, Entry{
		ID: "nic.tx_dropped", Title: "Interface dropped packets on transmit",
		Object: report.ObjectInterface,
		Source: SourceHost, Layer: LayerNIC, Severity: Warning,
		Explanation: "The interface dropped packets it was asked to send. On a veth the peer namespace could not " +
			"take them (its backlog was full or it is down); on a tun/tap the program reading the device is " +
			"too slow and its queue (txqueuelen) overflowed; on hardware the driver had no descriptors or the " +
			"link was down.",
		Thresholds: "Over the interval: 10 or more drops and 2% or more of packets sent is a warning (netdata's " +
			"outbound_packets_dropped_ratio). Since boot: the same ratio with more than 500 drops is information.",
		Remediation: "tun/tap: speed up the reader or raise txqueuelen; veth: look at the peer's softnet drops; " +
			"hardware: check link state and the TX ring size.",
		Evidence: []string{"tx_dropped", "tx_packets", "kind", "txqueuelen"},
		Alerts: []Alert{{Severity: Warning, For: forCounter, Subject: "interface", Expr: fmt.Sprintf(
			"%s >= %d\nand %s\n  / (%s + %s) >= %s",
			linkIncrease("tx_dropped"), minEvents, linkIncrease("tx_dropped"), linkIncrease("tx_packets"), linkIncrease("tx_dropped"), promql.Num(nicDropShare))}},
	})
	register(Rule{Name: "link utilisation", Source: SourceHost, Layer: LayerNIC, Check: checkSaturation}, Entry{
		ID: "nic.link_saturated", Title: "Link near line rate",
		Object: report.ObjectInterface,
		Source: SourceHost, Layer: LayerNIC, Severity: Warning,
		Explanation: "The interface carried 90% or more of its negotiated speed in one direction over the " +
			"interval. Queues build and drop at the bottleneck; latency grows before loss does.",
		Thresholds: "Over the interval, on interfaces with a driver-reported speed (hardware, not veth or tun): 90% " +
			"or more of the speed is a warning (netdata's 1m_received_traffic_overflow: 90%; " +
			"HostNetworkInterfaceSaturated uses 80%). Since boot it is not judged.",
		Remediation: "Add capacity (faster link, bonding), move traffic, or shape it so the queue forms where an " +
			"AQM manages it.",
		Evidence: []string{"rx_bytes", "tx_bytes", "speed", "utilisation"},
		Alerts:   []Alert{{Severity: Warning, For: forCounter, Subject: "interface", Expr: saturationExpr()}},
	})
	register(Rule{Name: "link stability", Source: SourceHost, Layer: LayerNIC, Check: checkFlapping}, Entry{
		ID: "nic.link_flapping", Title: "Link went down and up",
		Object: report.ObjectInterface,
		Source: SourceHost, Layer: LayerNIC, Severity: Warning,
		Explanation: "The carrier changed state during the interval: the link went down and came back. " +
			"Everything sent meanwhile was lost, and routing, bonding or MPTCP had to react.",
		Thresholds: "Over the interval: 2 or more carrier changes (a down and an up) is a warning " +
			"(kube-prometheus NodeNetworkInterfaceFlapping: more than 2 in 2 minutes). Since boot it is not judged.",
		Remediation: "Check the cable or optic and the switch port's log; on virtual interfaces, whatever manages " +
			"them (a container runtime restarting, a VPN reconnecting).",
		Evidence: []string{"carrier_changes", "operstate"},
		Alerts: []Alert{{Severity: Warning, For: forCounter, Subject: "interface",
			Expr: fmt.Sprintf("increase(%s[%s]) >= %d", promql.MetricIfaceCarrier, promql.Range, flapMinChanges)}},
	})
	register(Rule{Name: "cloud allowances", Source: SourceHost, Layer: LayerNIC, Check: checkAllowances}, Entry{
		ID: "nic.allowance_exceeded", Title: "Cloud instance network allowance exceeded",
		Object: report.ObjectInterface,
		Source: SourceHost, Layer: LayerNIC, Severity: Warning,
		Explanation: "The hypervisor queued or dropped packets because the instance exceeded an allowance of its " +
			"type (AWS ENA: bandwidth in or out, packets per second, tracked connections, or link-local " +
			"traffic such as DNS and the metadata service). The guest sees only these counters.",
		Thresholds: "Over the interval: any growth is a warning. Since boot: any non-zero total is information.",
		Remediation: "Use a larger instance type or spread load; for conntrack_allowance track fewer " +
			"connections; for linklocal_allowance cache DNS locally.",
		Evidence: []string{"bw_in_allowance_exceeded", "bw_out_allowance_exceeded", "pps_allowance_exceeded",
			"conntrack_allowance_exceeded", "linklocal_allowance_exceeded"},
		References: []string{"https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-network-performance-ena.html"},
		Alerts: []Alert{{Severity: Warning, For: forCounter, Subject: "interface",
			Expr: promql.Increase(promql.Sel(promql.MetricNICDrops, promql.Eq("kind", "allowance")), promql.ByNICStat) + " > 0"}},
	})
	register(Rule{Name: "NIC rings", Source: SourceHost, Layer: LayerDriver, Check: checkRingOverflow}, Entry{
		ID: "driver.ring_overflow", Title: "NIC receive ring overflow: packets lost before the kernel saw them",
		Object: report.ObjectInterface,
		Source: SourceHost, Layer: LayerDriver, Severity: Warning,
		Explanation: "The NIC had packets but no free receive descriptor or buffer to put them in, because the " +
			"ring was too small for the burst or the CPU serving the queue did not refill it in time (missed, " +
			"no-buffer, out-of-buffer, FIFO and per-queue drop counters, named differently by each driver).",
		Thresholds: "Over the interval: 10 or more drops is a warning, 1% or more of received packets critical. Since " +
			"boot: more than 500 is information.",
		Remediation: "Grow the ring to the driver's maximum (ethtool -G DEV rx MAX); if it is already there, add " +
			"queues (ethtool -L DEV combined N) and spread their interrupts over CPUs; if one queue takes the " +
			"drops, fix the RSS hash or that queue's IRQ placement.",
		Evidence: []string{"rx_missed_errors", "rx_fifo_errors", "rx_over_errors", "ethtool per-queue and device drop statistics",
			"ring RX current and maximum", "channels"},
		Alerts: []Alert{
			{Severity: Critical, For: forCounter, Subject: "interface", Expr: ringCrit},
			{Severity: Warning, For: forCounter, Subject: "interface", Expr: promql.Unless(fmt.Sprintf("%s >= %d", ringDropsExpr, minEvents), ringCrit)},
		},
	})
	register(Rule{Name: "NIC port buffers", Source: SourceHost, Layer: LayerDriver, Check: checkPortDiscards}, Entry{
		ID: "driver.port_discards", Title: "NIC port buffer overflow",
		Object: report.ObjectInterface,
		Source: SourceHost, Layer: LayerDriver, Severity: Warning,
		Explanation: "The adapter's own packet buffer overflowed before packets reached the host's rings " +
			"(mlx5 rx_discards_phy, i40e port.rx_dropped/port.rx_discards): the adapter or its PCIe link " +
			"could not move packets to memory fast enough, or the port received more than it can buffer " +
			"without flow control.",
		Thresholds: "Over the interval: 10 or more is a warning. Since boot: more than 500 is information.",
		Remediation: "Check the PCIe link width and speed the adapter negotiated (lspci -vv), flow control " +
			"(ethtool -a DEV), and whether the host's receive rings also overflow.",
		Evidence: []string{"ethtool port drop statistics"},
		Alerts: []Alert{{Severity: Warning, For: forCounter, Subject: "interface",
			Expr: fmt.Sprintf("%s >= %d", promql.Increase(promql.Sel(promql.MetricNICDrops, promql.Eq("kind", "port")), promql.ByNICStat), minEvents)}},
	})
}

func checkNICErrors(in *Input) Outcome {
	s := newSample(in)
	if !s.HasLinks() {
		return Outcome{NotChecked: "interfaces not read"}
	}
	var out []Finding
	for l := range s.links(notLoopback) {
		for _, dir := range []string{"rx", "tx"} {
			var errs collectors.Change
			var parts []string
			if dir == "rx" && l.StatsSource == "netlink" {
				errs = s.LinkSum(l.Name, "receive errors", "rx_crc_errors", "rx_frame_errors", "rx_length_errors")
				parts = []string{"rx_crc_errors", "rx_frame_errors", "rx_length_errors"}
			} else if dir == "rx" {
				errs = s.LinkStat(l.Name, "rx_errors")
				parts = []string{"rx_errors", "rx_frame_errors"}
			} else {
				errs = s.LinkStat(l.Name, "tx_errors")
				parts = []string{"tx_errors", "tx_carrier_errors", "tx_aborted_errors"}
			}
			pk := s.LinkStat(l.Name, dir+"_packets")
			r := report.Ratio(errs.Delta, pk.Delta+errs.Delta)
			sev := grade(
				info(s.SinceBoot && errs.Total > sinceBootMin && r >= nicErrorShare),
				warning(!s.SinceBoot && errs.Delta >= minEvents && r >= nicErrorShare),
			)
			if sev == 0 {
				continue
			}
			f := Finding{ID: "nic.errors", Severity: sev, Subject: l.Name,
				Summary: fmt.Sprintf("%s had %s (%s of packets).", l.Name, s.amount(errs, map[string]string{"rx": "receive", "tx": "transmit"}[dir]+" errors"), fmtPct(r))}
			for _, p := range parts {
				if c := s.LinkStat(l.Name, p); c.OK {
					f.Evidence = append(f.Evidence, s.ev(c))
				}
			}
			f.Evidence = append(f.Evidence, s.ev(pk))
			if l.Duplex != "" {
				f.Evidence = append(f.Evidence, Text(l.Name+" duplex", l.Duplex))
			}
			if l.Duplex == "half" {
				f.Fix = append(f.Fix, fmt.Sprintf("%s runs half duplex, the classic sign of an autonegotiation mismatch: set both ends to autonegotiate (ethtool -s %s autoneg on) or to the same fixed speed and duplex", l.Name, l.Name))
			}
			f.Fix = append(f.Fix, fmt.Sprintf("Check the physical link of %s: reseat or swap the cable or optic, and compare with the switch port's error counters", l.Name))
			out = append(out, f)
		}
	}
	if len(out) > 0 {
		return Outcome{Findings: out}
	}
	return Outcome{Detail: fmt.Sprintf("%s, no error rate of 1%% %s", plural(len(s.After.Links), "interface"), s.window())}
}

func checkNICDrops(in *Input) Outcome {
	s := newSample(in)
	if !s.HasLinks() {
		return Outcome{NotChecked: "interfaces not read"}
	}
	var out []Finding
	for l := range s.links(notLoopback) {
		if f, ok := s.rxDropped(l); ok {
			out = append(out, f)
		}
		if f, ok := s.txDropped(l); ok {
			out = append(out, f)
		}
	}
	if len(out) > 0 {
		return Outcome{Findings: out}
	}
	return Outcome{Detail: fmt.Sprintf("%s, no drop rate worth reporting %s", plural(len(s.After.Links), "interface"), s.window())}
}

func (s *sample) rxDropped(l collectors.Link) (Finding, bool) {
	d, pk := s.LinkStat(l.Name, "rx_dropped"), s.LinkStat(l.Name, "rx_packets")
	r := report.Ratio(d.Delta, pk.Delta+d.Delta)
	sev := grade(
		info(s.SinceBoot && d.Total > sinceBootMin && r >= nicDropShare),
		warning(!s.SinceBoot && d.Delta >= minEvents && pk.Delta >= nicDropMinPackets && r >= nicDropShare),
		info(!s.SinceBoot && d.Delta >= nicDropInfoMin),
	)
	if sev == 0 {
		return Finding{}, false
	}
	f := Finding{ID: "nic.rx_dropped", Severity: sev, Subject: l.Name,
		Summary:  fmt.Sprintf("%s dropped %s (%s).", l.Name, s.amount(d, "received packets"), fmtPct(r)),
		Evidence: []Evidence{s.ev(d), s.ev(pk)},
	}
	if l.StatsSource == "/proc/net/dev" {
		f.Notes = append(f.Notes, "Read from /proc/net/dev, where the drop column also counts ring overflows (rx_missed_errors).")
	}
	if sn := s.softnetTotal(); sn.read && sn.dropped > 0 && !s.SinceBoot {
		f.Evidence = append(f.Evidence, Num("softnet dropped (all CPUs)", float64(sn.dropped), ""))
		f.Fix = append(f.Fix, "The per-CPU backlogs dropped packets too and count here: fix softnet.backlog_drops first")
	}
	if l.Master != "" || l.Kind == "bond" || l.Kind == "bridge" {
		f.Notes = append(f.Notes, fmt.Sprintf("%s is part of a bond or bridge (master %q): an inactive bond slave drops everything it receives by design.", l.Name, l.Master))
	}
	f.Fix = append(f.Fix, fmt.Sprintf("See what the driver adds: ethtool -S %s | grep -iE 'drop|discard|miss'; and whether the traffic is a protocol nothing on the host handles (tcpdump -ni %s)", l.Name, l.Name))
	return f, true
}

func (s *sample) txDropped(l collectors.Link) (Finding, bool) {
	d, pk := s.LinkStat(l.Name, "tx_dropped"), s.LinkStat(l.Name, "tx_packets")
	r := report.Ratio(d.Delta, pk.Delta+d.Delta)
	sev := grade(
		info(s.SinceBoot && d.Total > sinceBootMin && r >= nicDropShare),
		warning(!s.SinceBoot && d.Delta >= minEvents && r >= nicDropShare),
	)
	if sev == 0 {
		return Finding{}, false
	}
	f := Finding{ID: "nic.tx_dropped", Severity: sev, Subject: l.Name,
		Summary:  fmt.Sprintf("%s dropped %s it was asked to send (%s).", l.Name, s.amount(d, "packets"), fmtPct(r)),
		Evidence: []Evidence{s.ev(d), s.ev(pk)},
	}
	if l.Kind != "" {
		f.Evidence = append(f.Evidence, Text(l.Name+" kind", l.Kind))
	}
	if l.TxQueueLen != nil {
		f.Evidence = append(f.Evidence, Num(l.Name+" txqueuelen", float64(*l.TxQueueLen), "packets"))
	}
	switch l.Kind {
	case "tuntap":
		q := 1000
		if l.TxQueueLen != nil {
			q = max(*l.TxQueueLen*4, 1000)
		}
		f.Fix = append(f.Fix, fmt.Sprintf("The program reading %s (a VPN or VM) does not keep up and its queue overflows: give it CPU, or a longer queue: ip link set dev %s txqueuelen %d", l.Name, l.Name, q))
	case "veth":
		f.Fix = append(f.Fix, fmt.Sprintf("The peer of %s could not take the packets: check the peer namespace is up and look at softnet.backlog_drops (veth delivers through the CPU backlog)", l.Name))
	default:
		f.Fix = append(f.Fix, fmt.Sprintf("Check the link state and TX ring of %s: ethtool %s; ethtool -g %s", l.Name, l.Name, l.Name))
	}
	return f, true
}

func checkSaturation(in *Input) Outcome {
	s := newSample(in)
	if !s.HasLinks() {
		return Outcome{NotChecked: "interfaces not read"}
	}
	if s.SinceBoot {
		return Outcome{NotChecked: "needs two samples (--interval above 0)"}
	}
	var out []Finding
	judged := 0
	for _, l := range s.After.Links {
		if l.SpeedMbps == nil || !collectors.Physical(&l, s.After.NICs[l.Name]) {
			continue
		}
		judged++
		for _, dir := range []string{"rx", "tx"} {
			u, _ := s.Utilisation(l.Name, dir+"_bytes")
			if u < saturationShare {
				continue
			}
			c := s.LinkStat(l.Name, dir+"_bytes")
			out = append(out, Finding{ID: "nic.link_saturated", Subject: l.Name,
				Summary: fmt.Sprintf("%s %s at %.0f Mb/s, %s of its %d Mb/s.", l.Name, map[string]string{"rx": "received", "tx": "sent"}[dir],
					c.Rate*8/1e6, fmtPct(u), *l.SpeedMbps),
				Evidence: []Evidence{s.ev(c), Num(l.Name+" speed", float64(*l.SpeedMbps), "Mb/s"), pctEvidence(l.Name+" "+dir+" utilisation", u)},
				Fix:      []string{"Add capacity (a faster link or a bond), move traffic elsewhere, or shape it below the line rate so the queue forms where an AQM manages it"},
			})
		}
	}
	if len(out) > 0 {
		return Outcome{Findings: out}
	}
	if judged == 0 {
		return Outcome{NotChecked: "no interface reports a line-rate speed"}
	}
	return Outcome{Detail: fmt.Sprintf("%s with a known speed, all below 90%%", plural(judged, "interface"))}
}

func checkFlapping(in *Input) Outcome {
	s := newSample(in)
	if !s.HasLinks() {
		return Outcome{NotChecked: "interfaces not read"}
	}
	if s.SinceBoot {
		return Outcome{NotChecked: "needs two samples (--interval above 0)"}
	}
	var out []Finding
	judged := 0
	for _, l := range s.After.Links {
		b, _ := s.Link(l.Name)
		if l.CarrierChanges == nil || b == nil || b.CarrierChanges == nil {
			continue
		}
		judged++
		d, _ := collectors.Delta64(*b.CarrierChanges, *l.CarrierChanges)
		if d < flapMinChanges {
			continue
		}
		out = append(out, Finding{ID: "nic.link_flapping", Subject: l.Name,
			Summary: fmt.Sprintf("The carrier of %s changed state %d times %s; it is %s now.", l.Name, d, s.window(), l.OperState),
			Evidence: []Evidence{Counter(l.Name+".carrier_changes", float64(*l.CarrierChanges), float64(d), report.Round(s.Rate(d), 3)),
				Text(l.Name+" operstate", l.OperState)},
			Fix: []string{fmt.Sprintf("Check the cable or optic of %s and the switch port's log (or, for a virtual interface, what manages it)", l.Name)},
		})
	}
	if len(out) > 0 {
		return Outcome{Findings: out}
	}
	if judged == 0 {
		return Outcome{NotChecked: "carrier changes not read (sysfs)"}
	}
	return Outcome{Detail: fmt.Sprintf("%s stable %s", plural(judged, "link"), s.window())}
}

// nicNames lists the interfaces with ethtool data, sorted.
func (s *sample) nicNames() []string {
	names := make([]string, 0, len(s.After.NICs))
	for n := range s.After.NICs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func checkAllowances(in *Input) Outcome {
	s := newSample(in)
	if s.After.NICs == nil {
		return Outcome{NotChecked: "ethtool statistics not read"}
	}
	var out []Finding
	seen := 0
	for _, name := range s.nicNames() {
		var grew []collectors.Change
		for stat := range s.After.NICs[name].Stats {
			if dropKind(stat) != "allowance" {
				continue
			}
			seen++
			if c := s.EthtoolStat(name, stat); c.Delta > 0 {
				grew = append(grew, c)
			}
		}
		if len(grew) == 0 {
			continue
		}
		sort.Slice(grew, func(i, j int) bool { return grew[i].Name < grew[j].Name })
		sev := grade(info(s.SinceBoot), warning(!s.SinceBoot))
		f := Finding{ID: "nic.allowance_exceeded", Severity: sev, Subject: name}
		var which []string
		for _, c := range grew {
			f.Evidence = append(f.Evidence, s.ev(c))
			which = append(which, fmt.Sprintf("%s %s", strings.TrimPrefix(c.Name, name+"."), s.amount(c, "")))
		}
		f.Summary = fmt.Sprintf("The hypervisor shaped %s: %s.", name, strings.Join(which, "; "))
		for _, c := range grew {
			switch {
			case strings.Contains(c.Name, "conntrack"):
				f.Fix = append(f.Fix, "conntrack_allowance: the instance tracks too many connections; use a larger instance type or security group rules that need no tracking")
			case strings.Contains(c.Name, "linklocal"):
				f.Fix = append(f.Fix, "linklocal_allowance: too much DNS or metadata traffic to the VPC resolver; cache DNS on the host")
			}
		}
		f.Fix = append(f.Fix, "Move to an instance type with a higher network allowance, or spread the load over more instances")
		out = append(out, f)
	}
	if len(out) > 0 {
		return Outcome{Findings: out}
	}
	if seen == 0 {
		return Outcome{Detail: "no driver reports allowance counters"}
	}
	return Outcome{Detail: "no allowance exceeded " + s.window()}
}

// dropKind is ClassifyStat's drop kind ("" when not a drop).
func dropKind(stat string) string {
	c := collectors.ClassifyStat(stat)
	if !c.Drop {
		return ""
	}
	return c.Kind
}

// ringDrops is one NIC's receive-side drop picture over the window.
type ringDrops struct {
	sum      uint64
	perQueue map[int]uint64
	grew     []collectors.Change
	packets  collectors.Change
}

func (s *sample) ringDrops(iface string) ringDrops {
	rd := ringDrops{perQueue: map[int]uint64{}}
	var linkSum, devMax, queueSum uint64
	for _, st := range []string{"rx_missed_errors", "rx_fifo_errors", "rx_over_errors"} {
		if c := s.LinkStat(iface, st); c.Delta > 0 {
			linkSum += c.Delta
			rd.grew = append(rd.grew, c)
		}
	}
	if n := s.After.NICs[iface]; n != nil {
		names := make([]string, 0, len(n.Stats))
		for st := range n.Stats {
			names = append(names, st)
		}
		sort.Strings(names)
		for _, st := range names {
			cl := collectors.ClassifyStat(st)
			if !cl.Drop || cl.Kind != "ring" || cl.Dir == "tx" {
				continue
			}
			c := s.EthtoolStat(iface, st)
			if c.Delta == 0 {
				continue
			}
			rd.grew = append(rd.grew, c)
			if cl.Queue >= 0 {
				rd.perQueue[cl.Queue] += c.Delta
				queueSum += c.Delta
			} else {
				// Device-wide counters may overlap (igb counts a packet
				// that waited for a descriptor in rx_no_buffer_count and,
				// if it was then lost, in rx_missed_errors): take the
				// largest rather than the sum.
				devMax = max(devMax, c.Delta)
			}
		}
	}
	// Drivers count the same drops at several levels (per queue and in
	// total, in ethtool and in the link statistics): take the largest.
	rd.sum = max(linkSum, devMax, queueSum)
	rd.packets = s.LinkStat(iface, "rx_packets")
	return rd
}

func checkRingOverflow(in *Input) Outcome {
	s := newSample(in)
	if !s.HasLinks() {
		return Outcome{NotChecked: "interfaces not read"}
	}
	var out []Finding
	for l := range s.links(notLoopback) {
		rd := s.ringDrops(l.Name)
		r := report.Ratio(rd.sum, rd.packets.Delta+rd.sum)
		sev := grade(
			info(s.SinceBoot && rd.sum > sinceBootMin),
			critical(!s.SinceBoot && rd.sum >= minEvents && r >= ringOverflowCritShare),
			warning(!s.SinceBoot && rd.sum >= minEvents),
		)
		if sev == 0 {
			continue
		}
		n := s.After.NICs[l.Name]
		f := Finding{ID: "driver.ring_overflow", Severity: sev, Subject: l.Name,
			Summary: fmt.Sprintf("%s lost %s for lack of ring buffers (%s of packets).", l.Name,
				s.amount(collectors.Change{Total: rd.sum, Delta: rd.sum, Rate: s.Rate(rd.sum)}, "received packets"), fmtPct(r))}
		if s.SinceBoot {
			f.Summary = fmt.Sprintf("%s lost %d received packets for lack of ring buffers since boot.", l.Name, rd.sum)
		}
		for _, c := range rd.grew {
			f.Evidence = append(f.Evidence, s.ev(c))
		}
		f.Evidence = append(f.Evidence, s.ev(rd.packets))
		if n != nil && n.Driver != nil {
			f.Evidence = append(f.Evidence, Text(l.Name+" driver", n.Driver.Driver))
		}
		switch {
		case n == nil || n.Ring == nil:
			f.Notes = append(f.Notes, fmt.Sprintf("The ring size of %s could not be read (see NOT READ).", l.Name))
		case n.Ring.RxPending < n.Ring.RxMax:
			f.Evidence = append(f.Evidence, Text(l.Name+" RX ring", fmt.Sprintf("%d of max %d", n.Ring.RxPending, n.Ring.RxMax)))
			f.Fix = append(f.Fix, fmt.Sprintf("ethtool -G %s rx %d   (the RX ring is %d of a possible %d; the link resets briefly while it resizes)", l.Name, n.Ring.RxMax, n.Ring.RxPending, n.Ring.RxMax))
		default:
			f.Evidence = append(f.Evidence, Text(l.Name+" RX ring", fmt.Sprintf("%d of max %d", n.Ring.RxPending, n.Ring.RxMax)))
			f.Notes = append(f.Notes, fmt.Sprintf("The RX ring of %s is already at its maximum (%d): the CPUs serving its queues must refill it faster.", l.Name, n.Ring.RxMax))
		}
		if n != nil && n.Channels != nil {
			ch := n.Channels
			cur, mx := ch.Combined+ch.Rx, ch.MaxCombined+ch.MaxRx
			f.Evidence = append(f.Evidence, Text(l.Name+" channels", fmt.Sprintf("%d of max %d", cur, mx)))
			if ch.MaxCombined > ch.Combined {
				f.Fix = append(f.Fix, fmt.Sprintf("ethtool -L %s combined %d   (more queues spread the receive work over more CPUs)", l.Name, ch.MaxCombined))
			}
		}
		multiQueue := len(rd.perQueue) > 1 || (n != nil && n.Channels != nil && n.Channels.Combined+n.Channels.Rx > 1)
		if q, share := dominantQueue(rd.perQueue); share >= 0.8 && multiQueue {
			f.Fix = append(f.Fix, fmt.Sprintf("Queue %d takes %s of the drops: one heavy flow, or that queue's interrupt shares a busy CPU; check grep %s /proc/interrupts, the RSS spread (ethtool -x %s) and the IRQ affinity", q, fmtPct(share), l.Name, l.Name))
		}
		f.Fix = append(f.Fix, "Keep the CPUs serving the NIC's interrupts free of other heavy work (irqbalance, or pin IRQs with /proc/irq/N/smp_affinity_list)")
		out = append(out, f)
	}
	if len(out) > 0 {
		return Outcome{Findings: out}
	}
	return Outcome{Detail: "no ring overflow " + s.window()}
}

// dominantQueue returns the queue with the most drops and its share.
func dominantQueue(perQueue map[int]uint64) (int, float64) {
	var sum, best uint64
	q := -1
	for k, v := range perQueue {
		sum += v
		if v > best || (v == best && k < q) {
			best, q = v, k
		}
	}
	return q, report.Ratio(best, sum)
}

func checkPortDiscards(in *Input) Outcome {
	s := newSample(in)
	if s.After.NICs == nil {
		return Outcome{NotChecked: "ethtool statistics not read"}
	}
	var out []Finding
	for _, name := range s.nicNames() {
		var grew []collectors.Change
		var total uint64
		for stat := range s.After.NICs[name].Stats {
			if dropKind(stat) != "port" {
				continue
			}
			if c := s.EthtoolStat(name, stat); c.Delta > 0 {
				grew = append(grew, c)
				total += c.Delta
			}
		}
		sev := grade(
			info(s.SinceBoot && total > sinceBootMin),
			warning(!s.SinceBoot && total >= minEvents),
		)
		if sev == 0 {
			continue
		}
		sort.Slice(grew, func(i, j int) bool { return grew[i].Name < grew[j].Name })
		f := Finding{ID: "driver.port_discards", Severity: sev, Subject: name,
			Summary: fmt.Sprintf("The adapter behind %s discarded %s in its own buffer, before the host's rings.", name,
				s.amount(collectors.Change{Total: total, Delta: total, Rate: s.Rate(total)}, "packets"))}
		for _, c := range grew {
			f.Evidence = append(f.Evidence, s.ev(c))
		}
		f.Fix = []string{
			fmt.Sprintf("Check flow control: ethtool -a %s (pause frames let the adapter slow the sender instead of dropping)", name),
			"Check the PCIe link the adapter negotiated against what it needs: lspci -vv -s BUS (LnkSta width and speed)",
		}
		if n := s.After.NICs[name]; n.Driver != nil && n.Driver.BusInfo != "" {
			f.Fix[1] = fmt.Sprintf("Check the PCIe link the adapter negotiated against what it needs: lspci -vv -s %s (LnkSta width and speed)", n.Driver.BusInfo)
		}
		out = append(out, f)
	}
	if len(out) > 0 {
		return Outcome{Findings: out}
	}
	return Outcome{Detail: "no port buffer overflow " + s.window()}
}
