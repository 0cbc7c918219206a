package plot

import (
	"math"
	"strconv"
)

// unit is a display unit: values in base units (seconds, bytes) are
// divided by scale.
type unit struct {
	name  string
	scale float64
}

// Units, smallest first. Bytes are decimal (kB = 1000 B): sequence
// numbers are counts, and 1-2-5 ticks stay round in decimal units.
var (
	timeUnits = []unit{{"µs", 1e-6}, {"ms", 1e-3}, {"s", 1}, {"min", 60}, {"h", 3600}}
	byteUnits = []unit{{"B", 1}, {"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"PB", 1e15}, {"EB", 1e18}}
)

// Time units switch to minutes and hours only for long spans: ten
// minutes still reads best in seconds.
const (
	minutesFrom = 600.0
	hoursFrom   = 36000.0
)

// axis maps values in base units to pixels, with round tick values.
type axis struct {
	lo, hi float64 // the axis range in base units, tick-aligned
	unit   unit
	ticks  []float64 // in base units
	labels []string  // in the display unit, without its name
	// from and to are the pixel positions of lo and hi (to < from for
	// a vertical axis).
	from, to float64
}

// maxTicks bounds the tick count whatever the arithmetic does.
const maxTicks = 40

// Axis ranges: tight axes pad the data a little and put ticks inside;
// extended ones grow to the nearest ticks, so the end of the axis is
// labelled.
const (
	tight    = false
	extended = true
	// pad is the share of the span added on both ends of a tight axis,
	// so marks at the ends stay clear of the frame.
	pad = 0.015
)

// newAxis makes an axis covering [lo, hi] with about target ticks on
// steps of 1, 2 or 5 times a power of ten in the chosen unit. An empty
// span is widened to minSpan; non-finite values are replaced.
func newAxis(lo, hi float64, units []unit, minSpan float64, target int, extend bool) axis {
	if math.IsNaN(lo) || math.IsInf(lo, 0) {
		lo = 0
	}
	if math.IsNaN(hi) || math.IsInf(hi, 0) {
		hi = lo
	}
	if hi < lo {
		lo, hi = hi, lo
	}
	if hi-lo < minSpan*1e-9 || hi-lo <= math.Abs(hi)*1e-12 {
		hi = lo + max(minSpan, math.Abs(lo)*1e-3)
	}
	if !extend {
		span := hi - lo
		lo, hi = lo-span*pad, hi+span*pad
	}
	u := pickUnit(lo, hi, units)
	l, h := lo/u.scale, hi/u.scale
	step, exp := niceStep((h - l) / float64(max(target, 1)))
	k0 := math.Ceil(l/step - 1e-9)
	k1 := math.Floor(h/step + 1e-9)
	a := axis{unit: u, lo: lo, hi: hi}
	if extend {
		k0 = math.Floor(l/step + 1e-9)
		k1 = math.Max(math.Ceil(h/step-1e-9), k0+1)
		a.lo, a.hi = k0*step*u.scale, k1*step*u.scale
	}
	n := int(math.Min(k1-k0, maxTicks))
	decimals := max(0, -exp)
	for i := 0; i <= n; i++ {
		v := (k0 + float64(i)) * step
		a.ticks = append(a.ticks, v*u.scale)
		a.labels = append(a.labels, tickLabel(v, decimals))
	}
	return a
}

// pickUnit chooses the largest unit not larger than the biggest
// magnitude on the axis.
func pickUnit(lo, hi float64, units []unit) unit {
	m := math.Max(math.Abs(lo), math.Abs(hi))
	u := units[0]
	for _, c := range units[1:] {
		limit := c.scale
		switch c.name {
		case "min":
			limit = minutesFrom
		case "h":
			limit = hoursFrom
		}
		if m >= limit {
			u = c
		}
	}
	return u
}

// niceStep rounds raw to the nearest (on a log scale) of 1, 2 or 5 times
// a power of ten and returns it with the exponent of its last
// significant digit: the tick count stays within a factor of 1.6 of the
// target.
func niceStep(raw float64) (float64, int) {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1, 0
	}
	exp := int(math.Floor(math.Log10(raw)))
	pow := math.Pow(10, float64(exp))
	f := raw / pow
	switch {
	case f < math.Sqrt2:
		f = 1
	case f < math.Sqrt(10):
		f = 2
	case f < math.Sqrt(50):
		f = 5
	default:
		f, exp, pow = 1, exp+1, pow*10
	}
	return f * pow, exp
}

// tickLabel formats a tick value with the given number of decimals.
func tickLabel(v float64, decimals int) string {
	if math.Abs(v) < math.Pow(10, -float64(decimals))/2 {
		v = 0
	}
	if math.Abs(v) >= 1e15 {
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

// at maps a value in base units to its pixel position.
func (a *axis) at(v float64) float64 {
	return a.from + (v-a.lo)/(a.hi-a.lo)*(a.to-a.from)
}

// title is the axis name with its unit: "time (ms)".
func (a *axis) title(name string) string { return name + " (" + a.unit.name + ")" }
