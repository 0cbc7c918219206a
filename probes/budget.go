package probes

import (
	"math"
	"slices"
	"time"
)

// Routers and hosts limit the ICMP errors they send: a probe that expires
// at a router whose budget is spent gets no time-exceeded, and that says
// nothing about the packets the router forwards. The tracer keeps, per
// responder, an estimate of that budget as a token bucket, paces its
// probes within it, and fits the bucket to which probes were answered.
//
// Linux (net/ipv4/icmp.c icmpv4_xrlim_allow, net/ipv4/inetpeer.c
// inet_peer_xrlim_allow): one bucket per destination of the ICMP (here,
// the prober's address) holding at most XRLIM_BURST_FACTOR = 6 tokens,
// refilled by one token per net.ipv4.icmp_ratelimit (default 1000 ms);
// a message is sent when a whole token is there, and a refused one
// costs nothing. A new peer starts full. net.ipv4.icmp_ratemask (default
// 0x1818) limits destination-unreachable, source-quench, time-exceeded
// and parameter-problem; echo replies are not limited. IPv6 uses
// net.ipv6.icmp.ratelimit on every error type but packet-too-big: 1000 ms
// (divided by 4 for a /64 route before 6.18) and 100 ms from 6.18 on.

// Budget is a responder's ICMP rate limit: Burst answers at once, then one
// per Interval. The zero Budget is no limit.
type Budget struct {
	Burst    int
	Interval time.Duration
}

// Free reports whether the budget sets no limit.
func (b Budget) Free() bool { return b.Interval <= 0 }

// PerSecond is the sustained answer rate, 0 for a free budget.
func (b Budget) PerSecond() float64 {
	if b.Free() {
		return 0
	}
	return float64(time.Second) / float64(b.Interval)
}

// LinuxBudget is a Linux router's at kernel defaults: six time-exceeded
// at once, then one per second, per prober address.
var LinuxBudget = Budget{Burst: linuxBurst, Interval: time.Second}

// linuxBurst is XRLIM_BURST_FACTOR.
const linuxBurst = 6

// budgetIntervals are the refill intervals a fit may choose, fastest
// first: Linux's IPv6 default since 6.18 (100 ms) and on a /64 before it
// (250 ms), its IPv4 default (1 s), and stricter operator settings up to
// one answer in 10 s.
var budgetIntervals = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second}

// budgetSlack is how far apart the prober's send times and the router's
// arrival times may drift: a probe within budgetSlack of a token's refill
// is neither evidence of a budget nor against it.
const budgetSlack = 20 * time.Millisecond

// budgetChance is how unlikely it must be that loss alone left every
// probe a stricter budget explains unanswered before the fit takes that
// budget over the prior.
const budgetChance = 1e-3

// outcome is what became of one probe sent to a responder.
type outcome struct {
	at      time.Time
	settled bool // answered or expired; false while in flight
	answer  bool
}

// bucket is the result of replaying a responder's probes through a
// budget.
type bucket struct {
	consistent bool
	// over marks each outcome sent with no whole token; within counts
	// the others, withinMiss those of them unanswered.
	over               []bool
	nOver, nOverMiss   int
	within, withinMiss int
	tokens             float64 // at the end of the replay
	last               time.Time
}

// replay runs outs, in send order, through b starting with start tokens.
// An answered or in-flight probe takes a token; an unanswered one takes
// none (a probe lost on the way never arrived, one refused costs
// nothing). An answer with clearly no token left makes b inconsistent.
func (b Budget) replay(start float64, outs []outcome) bucket {
	res := bucket{consistent: true, over: make([]bool, len(outs)), tokens: start}
	if b.Free() {
		for _, o := range outs {
			res.within++
			if o.settled && !o.answer {
				res.withinMiss++
			}
		}
		return res
	}
	slack := float64(budgetSlack) / float64(b.Interval)
	for i, o := range outs {
		if i > 0 {
			res.tokens += float64(o.at.Sub(res.last)) / float64(b.Interval)
		}
		res.tokens = min(res.tokens, float64(b.Burst))
		res.last = o.at
		takes := !o.settled || o.answer
		switch {
		case res.tokens >= 1+slack, takes && res.tokens >= 1-slack:
			// A whole token, or an answer close enough to one.
			res.within++
			if !takes {
				res.withinMiss++
			}
		default:
			res.over[i] = true
			res.nOver++
			switch {
			case !o.settled:
			case o.answer && res.tokens < 1-slack:
				res.consistent = false
			default:
				res.nOverMiss++
			}
		}
		if takes {
			res.tokens = max(res.tokens-1, 0)
		}
	}
	return res
}

// tokensAt is how many tokens the bucket holds at t.
func (b Budget) tokensAt(res bucket, t time.Time) float64 {
	if b.Free() {
		return math.Inf(1)
	}
	if res.last.IsZero() {
		return float64(b.Burst)
	}
	return min(float64(b.Burst), res.tokens+float64(t.Sub(res.last))/float64(b.Interval))
}

// fit is a budget fitted to a responder's probes and the bucket level it
// started with.
type fit struct {
	budget Budget
	start  float64
}

// fitBudget picks the budget that explains a responder's unanswered
// probes. Only budgets that allowed every answer are candidates. The prior
// stands while it allows every answer; a stricter budget replaces it when
// it explains more unanswered probes than loss plausibly would (every
// probe it puts over budget unanswered, where the others lose at most a
// small share); with no candidate that explains anything, the responder
// answers freely. The bucket may have started below full: another trace
// may have spent it; the lowest starting level that allows every answer
// is taken.
func fitBudget(outs []outcome, prior Budget) fit {
	best, bestOver, found := fit{}, -1, false
	consider := func(b Budget) {
		// The lowest starting level that allows every answer, to a
		// twentieth of a token: a higher level allows more.
		lo, hi := 0.0, float64(b.Burst)
		if !b.replay(hi, outs).consistent {
			return
		}
		for hi-lo > 0.05 {
			if mid := (lo + hi) / 2; b.replay(mid, outs).consistent {
				hi = mid
			} else {
				lo = mid
			}
		}
		res := b.replay(hi, outs)
		if b != prior {
			rate := (float64(res.withinMiss) + 1) / (float64(res.within) + 2)
			if res.nOverMiss < 3 || math.Pow(rate, float64(res.nOverMiss)) > budgetChance {
				return
			}
		}
		// Ties go to the budget considered first: the prior, then the
		// more generous.
		if res.nOverMiss > bestOver {
			best, bestOver, found = fit{b, hi}, res.nOverMiss, true
		}
	}
	if !prior.Free() {
		consider(prior)
	}
	priorHolds := found
	for _, iv := range budgetIntervals {
		b := Budget{Burst: linuxBurst, Interval: iv}
		if b == prior || (priorHolds && iv < prior.Interval) {
			continue
		}
		consider(b)
	}
	if !found {
		return fit{}
	}
	return best
}

// priorBudget is what a responder answering with kind is assumed to allow
// before its own answers say otherwise: ICMP errors as a Linux router at
// its defaults, echo replies and TCP answers freely.
func priorBudget(kind ReplyKind) Budget {
	switch kind {
	case KindEchoReply, KindTCPSynAck, KindTCPReset, "":
		return Budget{}
	}
	return LinuxBudget
}

// limitedMisses marks, in outs, the unanswered probes f explains.
func (f fit) limitedMisses(outs []outcome) []bool {
	res := f.budget.replay(f.start, outs)
	marks := slices.Clone(res.over)
	for i, o := range outs {
		marks[i] = marks[i] && o.settled && !o.answer
	}
	return marks
}
