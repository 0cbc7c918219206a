package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Run is one timed process.
type Run struct {
	Wall   time.Duration
	CPU    time.Duration // user + system, the process and its waited-for children
	MaxRSS int64         // bytes: the largest resident set of any process in the tree
	Faults int64         // page faults, minor and major, of the process and its waited-for children
}

// Summary is what the document says about one command's runs.
type Summary struct {
	N                 int
	Median, P90, Min  time.Duration
	CPU               time.Duration // median
	MaxRSS, MedianRSS int64
	Faults            int64 // median
}

func summarize(runs []Run) Summary {
	if len(runs) == 0 {
		return Summary{}
	}
	wall := make([]float64, len(runs))
	cpu := make([]float64, len(runs))
	rss := make([]float64, len(runs))
	faults := make([]float64, len(runs))
	s := Summary{N: len(runs)}
	for i, r := range runs {
		wall[i], cpu[i], rss[i], faults[i] = float64(r.Wall), float64(r.CPU), float64(r.MaxRSS), float64(r.Faults)
		s.MaxRSS = max(s.MaxRSS, r.MaxRSS)
	}
	s.Median = time.Duration(quantile(wall, 0.5))
	s.P90 = time.Duration(quantile(wall, 0.9))
	s.Min = time.Duration(slices.Min(wall))
	s.CPU = time.Duration(quantile(cpu, 0.5))
	s.MedianRSS = int64(quantile(rss, 0.5))
	s.Faults = int64(quantile(faults, 0.5))
	return s
}

// quantile is the q-quantile of xs, interpolating linearly between the
// two nearest ranks (R's type 7, numpy's default): the median of an even
// count is the mean of the middle two. xs is not changed.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	h := q * float64(len(s)-1)
	lo := int(math.Floor(h))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}

// pairRatios divides each run of a by the run of b made next to it: with
// interleaved runs, drift in the machine's speed cancels in each pair, so
// their spread says how far to trust the ratio of the medians.
func pairRatios(a, b []Run) []float64 {
	n := min(len(a), len(b))
	out := make([]float64, n)
	for i := range n {
		out[i] = float64(a[i].Wall) / float64(b[i].Wall)
	}
	return out
}

// fmtDuration prints a time with three significant digits or so: 6.42 ms,
// 57.3 ms, 132 ms, 1.53 s.
func fmtDuration(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 10:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f ms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.0f ms", ms)
	default:
		return fmt.Sprintf("%.2f s", ms/1000)
	}
}

// fmtRatio prints a ratio: 0.48×, 3.9×, 27×, 103×.
func fmtRatio(r float64) string {
	switch {
	case math.IsNaN(r) || math.IsInf(r, 0):
		return "–"
	case r < 1:
		return fmt.Sprintf("%.2f×", r)
	case r < 10:
		return fmt.Sprintf("%.1f×", r)
	default:
		return fmt.Sprintf("%.0f×", r)
	}
}

// fmtBytes prints a size in MiB: 18.2 MiB, 3.1 MiB.
func fmtBytes(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
