package report

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/netdx/netdx/collectors"
)

// sample is what the host rules judge: two snapshots an interval apart, or
// (interval 0) one snapshot's since-boot totals. Every counter read
// through it comes back with its total, its change over the window and
// its rate, so rules never subtract counters themselves.
type sample struct {
	before, after *collectors.Snapshot
	// secs is the window in seconds: the time between the snapshots, or
	// the uptime when judging since-boot totals (0 when unknown).
	secs      float64
	sinceBoot bool
}

// newSample builds the sample from the diag input, or nil when there is
// no host data.
func newSample(in *Input) *sample {
	if in.Diag == nil || in.Diag.After == nil {
		return nil
	}
	d := in.Diag
	s := &sample{before: d.Before, after: d.After}
	if d.Before == nil {
		s.sinceBoot = true
		s.secs = d.After.Uptime.Seconds()
		return s
	}
	s.secs = d.window().Seconds()
	return s
}

// window is the time between the two samples: their timestamps' distance,
// or the requested interval when the clock gives none.
func (d *DiagInput) window() time.Duration {
	if w := d.After.Taken.Sub(d.Before.Taken); w > 0 {
		return w
	}
	return d.Interval
}

// change is one counter over the window.
type change struct {
	name  string
	total uint64
	// delta is the change over the window; since boot it is the total.
	delta uint64
	// rate is delta per second; 0 when the window is unknown.
	rate  float64
	reset bool
	// ok is false when the counter is absent on this kernel.
	ok bool
}

// ev is the counter as finding evidence: total, delta and rate over an
// interval; since boot, the total alone.
func (s *sample) ev(c change) Evidence {
	if !c.ok {
		return Text(c.name, "absent on this kernel")
	}
	total := float64(c.total)
	if s.sinceBoot {
		return Evidence{Name: c.name, Value: &total}
	}
	return Counter(c.name, total, float64(c.delta), round(c.rate, 3))
}

// mk turns a total and a before value into a change over the window.
func (s *sample) mk(name string, before, after uint64, haveBefore, ok bool, wide bool) change {
	c := change{name: name, total: after, ok: ok}
	if !ok {
		return c
	}
	switch {
	case s.sinceBoot:
		c.delta = after
	case !haveBefore:
		// The counter appeared during the window (a new socket or queue):
		// it counted from zero.
		c.delta = after
	case wide:
		c.delta, c.reset = collectors.Delta64(before, after)
	default:
		c.delta, c.reset = collectors.Delta32(before, after)
	}
	if s.secs > 0 {
		c.rate = float64(c.delta) / s.secs
	}
	return c
}

// netstat is a /proc/net/netstat or snmp counter ("TcpExt",
// "ListenOverflows").
func (s *sample) netstat(section, name string) change {
	a, ok := s.after.Netstat.Get(section, name)
	var b uint64
	hb := false
	if s.before != nil {
		b, hb = s.before.Netstat.Get(section, name)
	}
	return s.mk(section+"."+name, b, a, hb, ok, true)
}

// netstatSum adds counters of one section into one change named name.
func (s *sample) netstatSum(name, section string, names ...string) change {
	out := change{name: name}
	for _, n := range names {
		c := s.netstat(section, n)
		if !c.ok {
			continue
		}
		out.ok = true
		out.total += c.total
		out.delta += c.delta
		out.rate += c.rate
		out.reset = out.reset || c.reset
	}
	return out
}

// hasNetstat reports whether the netstat counters were read in every
// snapshot the window needs.
func (s *sample) hasNetstat() bool {
	return s.after.Netstat != nil && (s.before == nil || s.before.Netstat != nil)
}

// link returns the interface in both snapshots (before is nil since boot
// or when the interface appeared during the window).
func (s *sample) link(name string) (before, after *collectors.Link) {
	after = s.after.Link(name)
	if s.before != nil {
		before = s.before.Link(name)
	}
	return before, after
}

// linkStat is one interface counter over the window.
func (s *sample) linkStat(iface, stat string) change {
	b, a := s.link(iface)
	if a == nil || (s.before != nil && s.before.Links == nil) {
		return change{name: iface + "." + stat}
	}
	av, ok := a.Stat(stat)
	var bv uint64
	hb := false
	if b != nil {
		bv, hb = b.Stat(stat)
	}
	// /proc/net/dev and netlink counters are 64-bit on 64-bit kernels.
	return s.mk(iface+"."+stat, bv, av, hb, ok, true)
}

// ethtoolStat is one driver statistic over the window.
func (s *sample) ethtoolStat(iface, stat string) change {
	var a, b *collectors.NIC
	a = s.after.NICs[iface]
	if s.before != nil {
		b = s.before.NICs[iface]
	}
	if a == nil || (s.before != nil && s.before.NICs == nil) {
		return change{name: iface + "." + stat}
	}
	av, ok := a.Stats[stat]
	var bv uint64
	hb := false
	if b != nil {
		bv, hb = b.Stats[stat]
	}
	return s.mk(iface+"."+stat, bv, av, hb, ok, true)
}

// sysctl returns a setting as evidence and its integer value(s).
func (s *sample) sysctl(name string) (Evidence, []int64, bool) {
	v, ok := s.after.Sysctls[name]
	if !ok {
		return Text(name, "not read"), nil, false
	}
	ints, _ := s.after.Sysctls.Ints(name)
	return Text(name, v.Value), ints, true
}

// sysctlInt returns a one-integer setting, or def when it was not read.
func (s *sample) sysctlInt(name string, def int64) (int64, bool) {
	v, ok := s.after.Sysctls.Int(name)
	if !ok {
		return def, false
	}
	return v, true
}

// window describes the window for sentences: "in 1s" or "since boot".
func (s *sample) window() string {
	if s.sinceBoot {
		return "since boot"
	}
	return "in " + fmtSeconds(s.secs)
}

// amount formats a counter's change for a sentence: "200 packets in 10s
// (20/s)", or, since boot, "200 packets since boot".
func (s *sample) amount(c change, noun string) string {
	v, suffix := c.delta, fmt.Sprintf(" in %s (%s/s)", fmtSeconds(s.secs), fmtRate(c.rate))
	if s.sinceBoot {
		v, suffix = c.total, " since boot"
	}
	n := fmtCount(v)
	if noun != "" {
		n += " " + noun
	}
	return n + suffix
}

// ratio is part/whole, 0 when whole is 0.
func ratio(part, whole uint64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole)
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

func fmtSeconds(s float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", s), "0"), ".") + "s"
}

// plural is "1 listener", "2 listeners".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func fmtRate(r float64) string {
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0f", r)
	case r >= 10:
		return fmt.Sprintf("%.1f", r)
	default:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", r), "0"), ".")
	}
}

func fmtCount(v uint64) string { return fmt.Sprintf("%d", v) }

func fmtPct(r float64) string {
	p := r * 100
	switch {
	case p >= 10:
		return fmt.Sprintf("%.0f%%", p)
	case p >= 1:
		return fmt.Sprintf("%.1f%%", p)
	default:
		return fmt.Sprintf("%.2f%%", p)
	}
}

// pctEvidence is a ratio as percent evidence.
func pctEvidence(name string, r float64) Evidence {
	return Num(name, round(r*100, 3), "percent")
}
