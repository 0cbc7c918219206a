package probes

import (
	"math"
	"net/netip"
	"slices"
	"sort"
	"time"
)

// RTTStats summarises round-trip times in the order they were measured.
type RTTStats struct {
	N                      int
	Last, Best, Worst, Avg time.Duration
	StDev                  time.Duration
	P50, P95               time.Duration
	JitterMean, JitterMax  time.Duration
}

// newRTTStats computes the statistics of rtts, given in measurement order.
// Percentiles use the nearest-rank method; jitter is the difference
// between consecutive samples, as mtr and Trippy define it.
func newRTTStats(rtts []time.Duration) RTTStats {
	s := RTTStats{N: len(rtts)}
	if len(rtts) == 0 {
		return s
	}
	s.Last = rtts[len(rtts)-1]
	s.Best, s.Worst = rtts[0], rtts[0]
	var sum float64
	for i, d := range rtts {
		s.Best = min(s.Best, d)
		s.Worst = max(s.Worst, d)
		sum += float64(d)
		if i > 0 {
			j := d - rtts[i-1]
			if j < 0 {
				j = -j
			}
			s.JitterMean += j
			s.JitterMax = max(s.JitterMax, j)
		}
	}
	mean := sum / float64(len(rtts))
	s.Avg = time.Duration(mean)
	if len(rtts) > 1 {
		s.JitterMean /= time.Duration(len(rtts) - 1)
		var sq float64
		for _, d := range rtts {
			sq += (float64(d) - mean) * (float64(d) - mean)
		}
		s.StDev = time.Duration(math.Sqrt(sq / float64(len(rtts)-1)))
	}
	sorted := slices.Clone(rtts)
	slices.Sort(sorted)
	s.P50 = percentile(sorted, 50)
	s.P95 = percentile(sorted, 95)
	return s
}

// percentile is the nearest-rank percentile of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

// buildHops turns probe records into per-hop statistics for TTLs up to
// limit. When the destination was not reached, hops end one past the
// deepest that answered, so the report shows that nothing answered beyond.
func buildHops(tr *Trace, limit int, names func(string) string, budgets map[netip.Addr]Budget) []Hop {
	first := tr.Config.FirstTTL
	last := 0
	for _, p := range tr.Probes {
		if p.Reply != nil {
			last = max(last, p.TTL)
		}
	}
	switch {
	case tr.DestTTL > 0:
		last = tr.DestTTL
	case last < limit:
		last++
	}
	if last < first {
		return nil
	}
	type acc struct {
		rtts  []time.Duration
		last  Reply
		mpls  [][]MPLSLabel
		order int
	}
	hops := make([]Hop, last-first+1)
	byAddr := make([]map[netip.Addr]*acc, len(hops))
	hopRTTs := make([][]time.Duration, len(hops))
	for i := range hops {
		hops[i].TTL = first + i
		hops[i].Dest = tr.DestTTL == first+i
		byAddr[i] = map[netip.Addr]*acc{}
	}
	for _, p := range tr.Probes {
		i := p.TTL - first
		if i < 0 || i >= len(hops) {
			continue
		}
		h := &hops[i]
		h.Sent++
		if p.Reply == nil {
			if p.ForwardLoss {
				h.ForwardLost++
			}
			if p.Limited {
				h.Limited++
			}
			continue
		}
		h.Recv++
		rtt := p.RTT()
		hopRTTs[i] = append(hopRTTs[i], rtt)
		a := byAddr[i][p.Reply.From]
		if a == nil {
			a = &acc{order: len(byAddr[i])}
			byAddr[i][p.Reply.From] = a
		}
		a.rtts = append(a.rtts, rtt)
		a.last = *p.Reply
		if len(p.Reply.MPLS) > 0 && !slices.ContainsFunc(a.mpls, func(s []MPLSLabel) bool { return slices.Equal(s, p.Reply.MPLS) }) {
			a.mpls = append(a.mpls, p.Reply.MPLS)
		}
	}
	for i := range hops {
		hops[i].Stats = newRTTStats(hopRTTs[i])
		for addr, a := range byAddr[i] {
			r := Responder{
				Addr:       addr,
				Recv:       len(a.rtts),
				Stats:      newRTTStats(a.rtts),
				Kind:       a.last.Kind,
				Type:       a.last.Type,
				Code:       a.last.Code,
				ReplyTTL:   a.last.TTL,
				ReturnHops: returnHops(a.last.TTL),
				MPLS:       a.mpls,
				Budget:     budgets[addr],
			}
			if names != nil {
				r.Name = names(addr.String())
			}
			hops[i].Responders = append(hops[i].Responders, r)
		}
		rs := hops[i].Responders
		sort.Slice(rs, func(x, y int) bool {
			if rs[x].Recv != rs[y].Recv {
				return rs[x].Recv > rs[y].Recv
			}
			return rs[x].Addr.Less(rs[y].Addr)
		})
	}
	return hops
}
