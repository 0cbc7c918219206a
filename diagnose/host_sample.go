package diagnose

import (
	"fmt"
	"iter"
	"strings"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/report"
)

// sample is what the host rules judge: the host's counters over the
// window (collectors.Window), with the words and evidence the rules make
// of them.
type sample struct{ *collectors.Window }

// newSample is the host sample of the input, or nil when there is no host
// data.
func newSample(in *Input) *sample {
	if in.Diag == nil || in.Diag.After == nil {
		return nil
	}
	return &sample{in.Diag}
}

// ev is the counter as finding evidence: total, delta and rate over an
// interval; since boot, the total alone.
func (s *sample) ev(c collectors.Change) Evidence {
	if !c.OK {
		return Text(c.Name, "absent on this kernel")
	}
	total := float64(c.Total)
	if s.SinceBoot {
		return Evidence{Name: c.Name, Value: &total}
	}
	return Counter(c.Name, total, float64(c.Delta), report.Round(c.Rate, 3))
}

// sysctl returns a setting as evidence and its integer value(s).
func (s *sample) sysctl(name string) (Evidence, []int64, bool) {
	v, ok := s.After.Sysctls[name]
	if !ok {
		return Text(name, "not read"), nil, false
	}
	ints, _ := s.After.Sysctls.Ints(name)
	return Text(name, v.Value), ints, true
}

// sysctlInt returns a one-integer setting, or def when it was not read.
func (s *sample) sysctlInt(name string, def int64) (int64, bool) {
	v, ok := s.After.Sysctls.Int(name)
	if !ok {
		return def, false
	}
	return v, true
}

// window describes the window for sentences: "in 1s" or "since boot".
func (s *sample) window() string {
	if s.SinceBoot {
		return "since boot"
	}
	return "in " + fmtSeconds(s.Secs)
}

// amount formats a counter's change for a sentence: "200 packets in 10s
// (20/s)", or, since boot, "200 packets since boot".
func (s *sample) amount(c collectors.Change, noun string) string {
	v, suffix := c.Delta, fmt.Sprintf(" in %s (%s/s)", fmtSeconds(s.Secs), fmtRate(c.Rate))
	if s.SinceBoot {
		v, suffix = c.Total, " since boot"
	}
	n := fmtCount(v)
	if noun != "" {
		n += " " + noun
	}
	return n + suffix
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
	return Num(name, report.Round(r*100, 3), "percent")
}

// links yields the interfaces of the last sample that keep accepts: the
// loop every per-interface rule starts with.
func (s *sample) links(keep func(l *collectors.Link) bool) iter.Seq[collectors.Link] {
	return func(yield func(collectors.Link) bool) {
		for i := range s.After.Links {
			if keep(&s.After.Links[i]) && !yield(s.After.Links[i]) {
				return
			}
		}
	}
}

// notLoopback keeps every interface but lo.
func notLoopback(l *collectors.Link) bool { return l.Name != "lo" }

// isTunnel keeps the tunnel interfaces.
func isTunnel(l *collectors.Link) bool { return tunnelKinds[l.Kind] }
