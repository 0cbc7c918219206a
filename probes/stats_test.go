package probes

import (
	"testing"
	"time"
)

func TestRTTStats(t *testing.T) {
	ms := func(v ...float64) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x*float64(time.Millisecond)))
		}
		return out
	}
	s := newRTTStats(ms(10, 12, 11, 30, 10, 10, 11, 12, 10, 14))
	check := func(name string, got, want time.Duration) {
		t.Helper()
		if d := got - want; d > time.Microsecond || d < -time.Microsecond {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	check("last", s.Last, 14*time.Millisecond)
	check("best", s.Best, 10*time.Millisecond)
	check("worst", s.Worst, 30*time.Millisecond)
	check("avg", s.Avg, 13*time.Millisecond)
	check("p50", s.P50, 11*time.Millisecond) // nearest rank 5 of 10
	check("p95", s.P95, 30*time.Millisecond) // nearest rank 10 of 10
	// |2|+|1|+|19|+|20|+0+|1|+|1|+|2|+|4| = 50 over 9 differences.
	check("jitter mean", s.JitterMean, 50*time.Millisecond/9)
	check("jitter max", s.JitterMax, 20*time.Millisecond)
	// Sample standard deviation: squared deviations from 13 sum to 336.
	check("stdev", s.StDev, time.Duration(6.110101*float64(time.Millisecond)))
	if z := newRTTStats(nil); z.N != 0 || z.Avg != 0 {
		t.Errorf("empty stats %+v", z)
	}
}

func TestReturnHops(t *testing.T) {
	for _, c := range []struct{ ttl, want int }{{64, 1}, {61, 4}, {128, 1}, {120, 9}, {250, 6}, {0, 0}} {
		if got := returnHops(c.ttl); got != c.want {
			t.Errorf("returnHops(%d) = %d, want %d", c.ttl, got, c.want)
		}
	}
}
