package diagnose

import (
	"strconv"

	"github.com/netdx/netdx/internal/promql"

	"github.com/netdx/netdx/collectors"
)

// mptcpCounters reads MPTcpExt counters from the diag input as changes
// over the interval, or as since-boot totals when there is no first
// snapshot.
type mptcpCounters struct {
	before, after collectors.NetCounters
	secs          float64
	// sinceBoot is set when deltas are totals since boot.
	sinceBoot bool
}

const mptcpSection = "MPTcpExt"

// newMPTCPCounters returns the counters, and false when the second
// snapshot holds no MPTcpExt section (a kernel without MPTCP).
func newMPTCPCounters(d *collectors.Window) (mptcpCounters, bool) {
	c := mptcpCounters{after: d.After.Netstat}
	if _, ok := c.after[mptcpSection]; !ok {
		return c, false
	}
	if d.Before != nil && d.Interval > 0 {
		if _, ok := d.Before.Netstat[mptcpSection]; ok {
			c.before = d.Before.Netstat
			c.secs = d.Interval.Seconds()
			return c, true
		}
	}
	c.sinceBoot = true
	return c, true
}

// delta is a counter's change over the interval (its total when judging
// since boot). A counter that went backwards was reset, by a namespace
// recreated or a module reloaded: its current value is what counted since.
// Absent counters are 0 and not ok.
func (c mptcpCounters) delta(name string) (uint64, bool) {
	now, ok := c.after.Get(mptcpSection, name)
	if !ok {
		return 0, false
	}
	if c.sinceBoot {
		return now, true
	}
	was, ok := c.before.Get(mptcpSection, name)
	if !ok || now < was {
		return now, true
	}
	return now - was, true
}

// sum adds the deltas of names.
func (c mptcpCounters) sum(names ...string) uint64 {
	var n uint64
	for _, name := range names {
		d, _ := c.delta(name)
		n += d
	}
	return n
}

// evidence is the counter as a finding shows it: its total, and its
// change and rate when sampled twice.
func (c mptcpCounters) evidence(name string) (Evidence, bool) {
	now, ok := c.after.Get(mptcpSection, name)
	if !ok {
		return Evidence{}, false
	}
	full := mptcpSection + "." + name
	if c.sinceBoot {
		return Num(full, float64(now), ""), true
	}
	d, _ := c.delta(name)
	return Counter(full, float64(now), float64(d), float64(d)/c.secs), true
}

// evidenceOf lists the evidence of the names the kernel has, leaving out
// counters that did not move when others did.
func (c mptcpCounters) evidenceOf(names ...string) []Evidence {
	var out []Evidence
	for _, n := range names {
		d, _ := c.delta(n)
		if d == 0 {
			continue
		}
		if e, ok := c.evidence(n); ok {
			out = append(out, e)
		}
	}
	return out
}

// span says what the deltas cover, for summaries.
func (c mptcpCounters) span() string {
	if c.sinceBoot {
		return "since boot"
	}
	return "in " + strconv.FormatFloat(c.secs, 'g', 3, 64) + "s"
}

// mptcpIncrease is the summed increase of MPTcpExt counters, for alerts.
func mptcpIncrease(names ...string) string {
	return promql.NetstatIncrease(prefixed(mptcpSection, names)...)
}
