package probes

import (
	"math/rand/v2"
	"testing"
	"time"
)

// kernelBucket answers like inet_peer_xrlim_allow: tokens in time units,
// capped at burst intervals, a message sent when a whole interval is
// there. A new peer starts full.
type kernelBucket struct {
	b      Budget
	tokens time.Duration
	last   time.Time
	used   bool
}

func (k *kernelBucket) allow(t time.Time) bool {
	if k.b.Free() {
		return true
	}
	if !k.used {
		k.tokens, k.used = time.Duration(k.b.Burst)*k.b.Interval, true
	} else {
		k.tokens += t.Sub(k.last)
	}
	k.last = t
	k.tokens = min(k.tokens, time.Duration(k.b.Burst)*k.b.Interval)
	if k.tokens >= k.b.Interval {
		k.tokens -= k.b.Interval
		return true
	}
	return false
}

// probeAt sends n probes every gap through a router with budget real,
// losing each on the way in with probability loss, and returns what the
// prober saw.
func probeAt(real Budget, n int, gap time.Duration, loss float64, seed uint64) []outcome {
	rng := rand.New(rand.NewPCG(seed, 1))
	k := &kernelBucket{b: real}
	t0 := time.Unix(1000, 0)
	var outs []outcome
	for i := range n {
		at := t0.Add(time.Duration(i) * gap)
		answered := rng.Float64() >= loss && k.allow(at)
		outs = append(outs, outcome{at: at, settled: true, answer: answered})
	}
	return outs
}

func TestFitBudget(t *testing.T) {
	five := Budget{Burst: 6, Interval: 5 * time.Second}
	for _, c := range []struct {
		name        string
		real, prior Budget
		gap         time.Duration
		n           int
		loss        float64
		want        Budget
	}{
		{"linux router at the prior", LinuxBudget, LinuxBudget, 200 * time.Millisecond, 30, 0, LinuxBudget},
		{"router answering freely", Budget{}, LinuxBudget, 200 * time.Millisecond, 12, 0, Budget{}},
		{"router with a 5 s limit", five, LinuxBudget, time.Second, 20, 0, five},
		{"IPv6 router at 100 ms", Budget{Burst: 6, Interval: 100 * time.Millisecond}, LinuxBudget, 50 * time.Millisecond, 60, 0,
			Budget{Burst: 6, Interval: 100 * time.Millisecond}},
		{"destination limiting echo replies", LinuxBudget, Budget{}, 200 * time.Millisecond, 30, 0, LinuxBudget},
		{"free destination behind 25% loss", Budget{}, Budget{}, 200 * time.Millisecond, 60, 0.25, Budget{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for seed := range uint64(10) {
				outs := probeAt(c.real, c.n, c.gap, c.loss, seed)
				f := fitBudget(outs, c.prior)
				if f.budget != c.want {
					t.Fatalf("seed %d: fitted %+v, want %+v", seed, f.budget, c.want)
				}
				if c.loss > 0 {
					continue
				}
				// Without loss, the fit explains every unanswered probe.
				for i, lim := range f.limitedMisses(outs) {
					if !outs[i].answer && !lim {
						t.Errorf("seed %d: probe %d unanswered but not explained by %+v", seed, i, f.budget)
					}
				}
			}
		})
	}
}

// TestFitBudgetKeepsLoss: a Linux router paced within its budget behind a
// lossy link loses what the link drops, and the fit explains none of it.
func TestFitBudgetKeepsLoss(t *testing.T) {
	for seed := range uint64(20) {
		outs := probeAt(LinuxBudget, 40, time.Second, 0.25, seed)
		f := fitBudget(outs, LinuxBudget)
		lost, explained := 0, 0
		for i, lim := range f.limitedMisses(outs) {
			if !outs[i].answer {
				lost++
			}
			if lim {
				explained++
			}
		}
		if explained > lost/4 {
			t.Errorf("seed %d: %+v explains %d of %d losses", seed, f.budget, explained, lost)
		}
	}
}

// TestFitBudgetSpentBucket: another trace left the router's bucket
// partly spent. The probes it refused at the start are explained, at any
// fraction of a token.
func TestFitBudgetSpentBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, left := range []time.Duration{0, 300 * time.Millisecond, 500 * time.Millisecond, 900 * time.Millisecond} {
		k := &kernelBucket{b: LinuxBudget, tokens: left, last: t0, used: true}
		var outs []outcome
		for i := range 15 {
			at := t0.Add(time.Duration(i) * 200 * time.Millisecond)
			outs = append(outs, outcome{at: at, settled: true, answer: k.allow(at)})
		}
		f := fitBudget(outs, LinuxBudget)
		for i, lim := range f.limitedMisses(outs) {
			if !outs[i].answer && !lim {
				t.Errorf("%s left: probe %d unanswered and not explained by %+v from %.2f tokens", left, i, f.budget, f.start)
			}
		}
	}
}
