package plot

import (
	"math"
	"slices"
	"strconv"
	"testing"
)

func TestAxisTicks(t *testing.T) {
	for _, c := range []struct {
		name           string
		lo, hi         float64
		units          []unit
		minSpan        float64
		target         int
		extend         bool
		unit           string
		labels         []string
		wantLo, wantHi float64 // checked when extend
	}{
		{"transfer in ms", 0, 0.467, timeUnits, 1e-3, 10, tight, "ms",
			[]string{"0", "50", "100", "150", "200", "250", "300", "350", "400", "450"}, 0, 0},
		{"seconds", 0, 5.06, timeUnits, 1e-3, 10, tight, "s",
			[]string{"0.0", "0.5", "1.0", "1.5", "2.0", "2.5", "3.0", "3.5", "4.0", "4.5", "5.0"}, 0, 0},
		{"microseconds", 0, 250e-6, timeUnits, 1e-3, 5, tight, "µs",
			[]string{"0", "50", "100", "150", "200", "250"}, 0, 0},
		{"minutes from ten on", 0, 1800, timeUnits, 1e-3, 6, tight, "min",
			[]string{"0", "5", "10", "15", "20", "25", "30"}, 0, 0},
		{"megabytes", 0, 1.303e6, byteUnits, 1000, 8, tight, "MB",
			[]string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0", "1.2"}, 0, 0},
		{"negative start", -5000, 20000, byteUnits, 1000, 5, tight, "kB",
			[]string{"-5", "0", "5", "10", "15", "20"}, 0, 0},
		{"exabytes", 0, 9.2e18, byteUnits, 1000, 8, tight, "EB",
			[]string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}, 0, 0},
		{"rtt scale grows to a tick", 0, 0.045, timeUnits, 1e-3, 3, extended, "ms",
			[]string{"0", "20", "40", "60"}, 0, 0.06},
		{"zero span widens", 0, 0, timeUnits, 1e-3, 5, extended, "ms",
			[]string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}, 0, 1e-3},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newAxis(c.lo, c.hi, c.units, c.minSpan, c.target, c.extend)
			if a.unit.name != c.unit {
				t.Errorf("unit %s, want %s", a.unit.name, c.unit)
			}
			if !slices.Equal(a.labels, c.labels) {
				t.Errorf("labels %q, want %q", a.labels, c.labels)
			}
			if a.lo > c.lo || a.hi < c.hi {
				t.Errorf("axis [%g, %g] does not cover the data [%g, %g]", a.lo, a.hi, c.lo, c.hi)
			}
			for i, v := range a.ticks {
				if v < a.lo-1e-9*math.Abs(a.hi-a.lo) || v > a.hi+1e-9*math.Abs(a.hi-a.lo) {
					t.Errorf("tick %s at %g outside [%g, %g]", a.labels[i], v, a.lo, a.hi)
				}
				// The label is the tick's value in the unit.
				if got, err := strconv.ParseFloat(a.labels[i], 64); err != nil || math.Abs(got*a.unit.scale-v) > 1e-6*math.Abs(a.hi-a.lo) {
					t.Errorf("tick %g labelled %s %s", v, a.labels[i], a.unit.name)
				}
			}
			if c.extend && (math.Abs(a.lo-c.wantLo) > 1e-12 || math.Abs(a.hi-c.wantHi) > 1e-12) {
				t.Errorf("extended axis [%g, %g], want [%g, %g]", a.lo, a.hi, c.wantLo, c.wantHi)
			}
		})
	}
}

// TestAxisHostileRanges: non-finite and extreme ranges give a usable
// axis, never a panic or an endless tick list.
func TestAxisHostileRanges(t *testing.T) {
	for _, r := range [][2]float64{
		{math.NaN(), math.NaN()}, {math.Inf(-1), math.Inf(1)}, {5, 5}, {10, -10},
		{-math.MaxFloat64, math.MaxFloat64}, {math.MaxInt64, math.MaxInt64}, {1e-300, 2e-300},
	} {
		for _, extend := range []bool{tight, extended} {
			a := newAxis(r[0], r[1], byteUnits, 1000, 8, extend)
			if len(a.ticks) > maxTicks+1 || math.IsNaN(a.lo) || math.IsNaN(a.hi) || !(a.hi > a.lo) {
				t.Errorf("%g..%g: axis [%g, %g] with %d ticks", r[0], r[1], a.lo, a.hi, len(a.ticks))
			}
		}
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{formatDuration(0), "0 s"},
		{formatDuration(612e-6), "612 µs"},
		{formatDuration(0.02126), "21.3 ms"},
		{formatDuration(1.25), "1.25 s"},
		{formatBytes(1448), "1.45 kB"},
		{formatBytes(29.0e6), "29.0 MB"},
		{count(-1234567), "-1,234,567"},
		{count(999), "999"},
		{plural(1, "hop"), "1 hop"},
		{plural(1000, "hop"), "1,000 hops"},
		{pct(1, 200), "<1%"},
		{pct(1, 12), "8%"},
		{clip("abcdef", 4), "abc…"},
		{clip("a\xffb", 4), "a\uFFFDb"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
