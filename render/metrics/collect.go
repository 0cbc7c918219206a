// Package metrics turns a netdx report into Prometheus metrics: the host's
// kernel and NIC counters as counters, settings as gauges, each finding as
// netdx_finding{id,severity,subject}, and per-hop trace statistics. It is
// the one place that does so: `netdx diag -o prometheus` writes a report
// through Write, and `netdx serve` exports the latest report through an
// Exporter, which adds netdx's own health. docs/prometheus.md lists every
// metric.
package metrics

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/internal/promtext"
	"github.com/netdx/netdx/report"
)

// emitter adds series to a Set, leaving out a second series with the same
// labels (two findings alike, a duplicated listener) so a scrape never
// fails on a duplicate, and keeping every other error.
type emitter struct {
	set *promtext.Set
	// serve allows serve's own definitions.
	serve bool
	errs  []error
	// dropsDone says serve's drop reasons were exported.
	dropsDone bool
}

func (e *emitter) emit(d *Def, v float64, labels ...string) {
	if !listed(d) || d.Serve && !e.serve {
		e.errs = append(e.errs, fmt.Errorf("%s: not a metric exported here (render/metrics defs)", d.Name))
		return
	}
	if err := e.set.Add(&d.Desc, v, labels...); err != nil && !errors.Is(err, promtext.ErrDuplicate) {
		e.errs = append(e.errs, err)
	}
}

// Write writes rep as Prometheus text exposition, sorted by metric name and
// labels, for node_exporter's textfile collector. It writes nothing when a
// series is wrong (a label missing).
func Write(w io.Writer, rep *report.Report) error {
	var set promtext.Set
	em := &emitter{set: &set}
	collectReport(em, rep)
	if err := errors.Join(em.errs...); err != nil {
		return fmt.Errorf("gather metrics: %w", err)
	}
	return set.Write(w)
}

// collectReport emits everything a report holds.
func collectReport(e *emitter, rep *report.Report) {
	if rep == nil {
		return
	}
	e.emit(mBuildInfo, 1, rep.Tool.Version, rep.Tool.Commit, runtime.Version())
	if !rep.EndedAt.IsZero() {
		e.emit(mReportTS, unix(rep.EndedAt))
	}
	count := map[report.Severity]int{}
	for _, f := range rep.Findings {
		count[f.Severity]++
		e.emit(mFinding, 1, f.ID, f.Severity.String(), f.Subject)
	}
	for _, sev := range []report.Severity{report.Info, report.Warning, report.Critical} {
		e.emit(mFindings, float64(count[sev]), sev.String())
	}
	for _, c := range rep.Checks {
		e.emit(mCheck, 1, string(c.Source), string(c.Layer), c.Name, c.Status)
	}
	reportDrops(e, rep.Drops)
	for _, s := range rep.Skipped {
		e.emit(mSkipped, 1, s.Source, s.Reason)
	}
	if d := rep.Diag; d != nil {
		if !d.SinceBoot {
			e.emit(mWindow, d.IntervalSeconds)
		}
		collectDiag(e, d)
	}
	for i := range rep.Traces {
		collectTrace(e, &rep.Traces[i])
	}
}

func collectDiag(e *emitter, d *report.Diag) {
	for section, names := range d.Netstat {
		for name, c := range names {
			if report.NetstatGauge(section, name) {
				e.emit(mNetstatGauge, float64(c.Total), section, name)
			} else {
				e.emit(mNetstat, float64(c.Total), section, name)
			}
		}
	}
	for _, c := range d.Softnet {
		cpu := strconv.Itoa(c.CPU)
		e.emit(mSoftProcessed, float64(c.Processed.Total), cpu)
		e.emit(mSoftDropped, float64(c.Dropped.Total), cpu)
		e.emit(mSoftSqueezed, float64(c.TimeSqueeze.Total), cpu)
		if c.ReceivedRPS != nil {
			e.emit(mSoftRPS, float64(c.ReceivedRPS.Total), cpu)
		}
		if c.FlowLimitCount != nil {
			e.emit(mSoftFlowLimit, float64(c.FlowLimitCount.Total), cpu)
		}
		if c.BacklogLen != nil {
			e.emit(mSoftBacklog, float64(*c.BacklogLen), cpu)
		}
	}
	for i := range d.Interfaces {
		collectInterface(e, &d.Interfaces[i])
	}
	for _, q := range d.Qdiscs {
		l := []string{q.Iface, q.Kind, q.Handle, q.Parent}
		e.emit(mQdiscBytes, float64(q.Bytes.Total), l...)
		e.emit(mQdiscPackets, float64(q.Packets.Total), l...)
		e.emit(mQdiscDrops, float64(q.Drops.Total), l...)
		e.emit(mQdiscOver, float64(q.Overlimits.Total), l...)
		e.emit(mQdiscRequeues, float64(q.Requeues.Total), l...)
		e.emit(mQdiscBacklog, float64(q.BacklogBytes), l...)
		e.emit(mQdiscQlen, float64(q.Qlen), l...)
	}
	for name, s := range d.Sysctls {
		collectSysctl(e, name, s.Value)
	}
	collectSockets(e, d.Sockets)
	if c := d.Connections; c != nil {
		e.emit(mTCPConns, float64(c.Conns))
		count := map[string]int{}
		for _, l := range c.Limits {
			count[l.Limit] = l.Count
		}
		// Every limit, 0 when none: a series that comes and goes with
		// the count would read as missing data.
		for _, l := range collectors.TCPLimits {
			e.emit(mTCPLimited, float64(count[string(l)]), string(l))
		}
	}
	if ct := d.Conntrack; ct != nil {
		optGauge(e, mCtEntries, ct.Count)
		optGauge(e, mCtLimit, ct.Max)
		optGauge(e, mCtBuckets, ct.Buckets)
		for name, c := range ct.Stats {
			if name != "entries" { // the global count again, not a counter
				e.emit(mCtStat, float64(c.Total), name)
			}
		}
	}
	collectMPTCP(e, d.MPTCP)
}

func optGauge(e *emitter, d *Def, v *uint64, labels ...string) {
	if v != nil {
		e.emit(d, float64(*v), labels...)
	}
}

func collectInterface(e *emitter, l *report.DiagInterface) {
	driver, bus := "", ""
	if l.Driver != nil {
		driver, bus = l.Driver.Driver, l.Driver.BusInfo
	}
	e.emit(mIfaceInfo, 1, l.Name, l.Kind, l.OperState, l.Master, driver, l.Duplex)
	e.emit(mIfaceLineRate, boolValue(collectors.LineRate(l.Name, l.Kind, bus)), l.Name)
	if l.MTU > 0 {
		e.emit(mIfaceMTU, float64(l.MTU), l.Name)
	}
	if l.TxQueueLen != nil {
		e.emit(mIfaceTxQLen, float64(*l.TxQueueLen), l.Name)
	}
	if l.SpeedMbps != nil && *l.SpeedMbps > 0 {
		e.emit(mIfaceSpeed, float64(*l.SpeedMbps)*1e6/8, l.Name)
	}
	if l.NumRxQueues > 0 {
		e.emit(mIfaceQueues, float64(l.NumRxQueues), l.Name, "rx")
	}
	if l.NumTxQueues > 0 {
		e.emit(mIfaceQueues, float64(l.NumTxQueues), l.Name, "tx")
	}
	if l.CarrierChanges != nil {
		e.emit(mIfaceCarrier, float64(l.CarrierChanges.Total), l.Name)
	}
	for stat, c := range l.Stats {
		e.emit(mIfaceStat, float64(c.Total), l.Name, stat)
	}
	if r := l.Ring; r != nil {
		e.emit(mRing, float64(r.Rx), l.Name, "rx")
		e.emit(mRing, float64(r.Tx), l.Name, "tx")
		e.emit(mRingMax, float64(r.RxMax), l.Name, "rx")
		e.emit(mRingMax, float64(r.TxMax), l.Name, "tx")
	}
	if c := l.Channels; c != nil {
		for _, ch := range []struct {
			typ      string
			cur, max uint32
		}{{"rx", c.Rx, c.MaxRx}, {"tx", c.Tx, c.MaxTx}, {"other", c.Other, c.MaxOther}, {"combined", c.Combined, c.MaxCombined}} {
			e.emit(mChannels, float64(ch.cur), l.Name, ch.typ)
			e.emit(mChannelsMax, float64(ch.max), l.Name, ch.typ)
		}
	}
	for f, on := range l.Offloads {
		e.emit(mOffload, boolValue(on), l.Name, f)
	}
	for _, stat := range l.EthtoolDropStats {
		c, ok := l.EthtoolStats[stat]
		if !ok {
			continue
		}
		cl := collectors.ClassifyStat(stat)
		queue := ""
		if cl.Queue >= 0 {
			queue = strconv.Itoa(cl.Queue)
		}
		e.emit(mNICDrops, float64(c.Total), l.Name, stat, queue, cl.Dir, cl.Kind)
	}
}

// collectSysctl exports a setting of integers as one series per integer,
// anything else as an info series.
func collectSysctl(e *emitter, name, value string) {
	fields := strings.Fields(value)
	nums := make([]float64, 0, len(fields))
	for _, f := range fields {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			e.emit(mSysctlInfo, 1, name, value)
			return
		}
		nums = append(nums, float64(n))
	}
	if len(nums) == 0 {
		e.emit(mSysctlInfo, 1, name, value)
		return
	}
	for i, n := range nums {
		e.emit(mSysctl, n, name, strconv.Itoa(i))
	}
}

// collectSockets exports listeners by address and owner (sockets sharing
// an address with SO_REUSEPORT are summed) and the sockstat counts.
func collectSockets(e *emitter, s *report.DiagSockets) {
	if s == nil {
		return
	}
	type agg struct {
		queue, backlog, drops uint64
		haveDrops             bool
	}
	type key struct{ addr, proc string }
	listen := map[key]*agg{}
	var keys []key
	for _, l := range s.Listeners {
		k := key{addr: l.Local}
		if l.Process != nil {
			k.proc = l.Process.Comm
		}
		a := listen[k]
		if a == nil {
			a = &agg{}
			listen[k] = a
			keys = append(keys, k)
		}
		a.queue += l.AcceptQueue
		a.backlog += l.Backlog
		if l.Drops != nil {
			a.drops += l.Drops.Total
			a.haveDrops = true
		}
	}
	for _, k := range keys {
		a := listen[k]
		e.emit(mListenQueue, float64(a.queue), k.addr, k.proc)
		e.emit(mListenBacklog, float64(a.backlog), k.addr, k.proc)
		if a.haveDrops {
			e.emit(mListenDrops, float64(a.drops), k.addr, k.proc)
		}
	}
	for proto, kv := range s.Sockstat {
		for k, v := range kv {
			switch k {
			case "mem":
				e.emit(mSockMemPages, float64(v), proto)
			case "memory":
				e.emit(mSockMemBytes, float64(v), proto)
			default:
				e.emit(mSockets, float64(v), proto, k)
			}
		}
	}
}

func collectMPTCP(e *emitter, m *report.DiagMPTCP) {
	if m == nil {
		return
	}
	if m.Enabled != nil {
		e.emit(mMPTCPEnabled, boolValue(*m.Enabled))
	}
	e.emit(mMPTCPInfo, 1, m.PathManager, m.Sysctls["net.mptcp.scheduler"])
	names := make([]string, 0, len(m.Sysctls))
	for n := range m.Sysctls {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		collectSysctl(e, n, m.Sysctls[n])
	}
	if pm := m.PM; pm != nil {
		e.emit(mMPTCPLimit, float64(pm.Limits.Subflows), "subflows")
		e.emit(mMPTCPLimit, float64(pm.Limits.AddAddrAccepted), "add_addr_accepted")
		for _, ep := range pm.Endpoints {
			e.emit(mMPTCPEndpoint, 1, strconv.Itoa(int(ep.ID)), ep.Address, ep.Interface, strings.Join(ep.Flags, ","))
		}
	}
	if s := m.Sockets; s != nil {
		subflows := 0
		for _, c := range s.Connections {
			subflows += c.Subflows
		}
		e.emit(mMPTCPConns, float64(len(s.Connections)))
		e.emit(mMPTCPSubflows, float64(subflows))
	}
}

func collectTrace(e *emitter, t *report.Trace) {
	target := t.Target.Name
	e.emit(mTraceInfo, 1, target, t.Target.IP, t.Probe.Method, t.Probe.Sockets)
	if !t.EndedAt.IsZero() {
		e.emit(mTraceTS, unix(t.EndedAt), target)
	}
	e.emit(mTraceRounds, float64(t.Rounds), target)
	e.emit(mTraceReached, boolValue(t.EndReason == "reached"), target)
	if t.DestinationTTL != nil {
		e.emit(mTraceDestHop, float64(*t.DestinationTTL), target)
	}
	for _, h := range t.Hops {
		addr := ""
		if len(h.Responders) > 0 {
			addr = h.Responders[0].IP
		}
		l := []string{target, strconv.Itoa(h.TTL), addr}
		if m := h.Sent - h.RateLimited; m > 0 { // exact, where forwarding_loss_pct is rounded
			e.emit(mHopLoss, float64(m-h.Received)/float64(m), l...)
		}
		e.emit(mHopSent, float64(h.Sent), l...)
		e.emit(mHopRateLimited, float64(h.RateLimited), l...)
		e.emit(mHopRecv, float64(h.Received), l...)
		if r := h.RTT; r != nil {
			for _, v := range []struct {
				d  *Def
				ms float64
			}{{mHopRTTAvg, r.AvgMs}, {mHopRTTBest, r.BestMs}, {mHopRTTWorst, r.WorstMs}, {mHopRTTP50, r.P50Ms},
				{mHopRTTP95, r.P95Ms}, {mHopRTTStdev, r.StDevMs}, {mHopJitter, r.JitterMs}} {
				e.emit(v.d, v.ms/1000, l...)
			}
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
