package probes

import "math"

// Onset is where forwarding loss begins on a path that reached its
// destination, as far as the probes can tell. Loss counts only probes
// sent within their responder's ICMP budget (Hop.Lost, Hop.Measured): a
// rate-limited answer is no evidence either way.
type Onset struct {
	// TTL is the first hop from which a significant loss persists to the
	// destination; 0 when the probes cannot place it.
	TTL int
	// CleanTTL is the nearest earlier hop that loses less, at 99.5%
	// one-sided (the trace looks again and again while it localises, so
	// one look must not decide on 95%);
	// 0 when the loss begins at the first hop probed (between the prober
	// and it), or when TTL is 0.
	CleanTTL int
	// Placed is set when the onset is one link: CleanTTL is the hop
	// right before TTL (or TTL is the first hop).
	Placed bool
	// Confidence is the one-sided confidence that the onset hop's
	// persisting loss exceeds the clean hop's (0-1); 0 when not placed.
	Confidence float64
	// MoreProbes estimates how many more probes per hop, at the loss
	// rates measured so far, would make the step significant; 0 when
	// it already is or there is nothing to place.
	MoreProbes int
}

// One-sided thresholds of lossZ: 95% for "loses more", 99.5% where a
// chance difference would mislead (moving a loss onset past a hop).
const (
	zSignificant = 1.645
	zStrong      = 2.576
)

// LocateOnset places where the loss that reaches the destination begins.
// The loss that persists from a hop on is the least loss of it and every
// answering hop after it (loss can only grow along the path; a hop that
// loses more than what persists answers less, it does not forward less).
// The onset is the first hop from which a significant loss persists; the
// clean side is the nearest earlier hop losing less at 99.5%.
func LocateOnset(tr *Trace) Onset {
	var idx []int
	for i, h := range tr.Hops {
		if h.Recv > 0 {
			idx = append(idx, i)
		}
	}
	if tr.End != EndReached || len(idx) == 0 || tr.Hops[len(tr.Hops)-1].Lost() == 0 {
		return Onset{}
	}
	hops := make([]Hop, len(tr.Hops))
	for i, h := range tr.Hops {
		hops[i] = h.withEcho()
	}
	// persist[k] is the hop holding the least loss from idx[k] on.
	persist := make([]Hop, len(idx))
	for k := len(idx) - 1; k >= 0; k-- {
		persist[k] = hops[idx[k]]
		if k+1 < len(idx) && persist[k+1].lossFrac() <= persist[k].lossFrac() {
			persist[k] = persist[k+1]
		}
	}
	first := -1
	for k := range idx {
		zero := Hop{Sent: persist[k].Measured(), Recv: persist[k].Measured()}
		if lossZ(persist[k], zero) >= zSignificant {
			first = k
			break
		}
	}
	dest := hops[len(hops)-1]
	if first < 0 {
		return Onset{MoreProbes: moreProbes(dest.lossFrac(), 0, dest.Measured())}
	}
	// A hop that loses clearly more than what persists also limits its
	// answers: it cannot tell whether the loss begins before or after
	// it, so the onset moves past it.
	end := first
	for end+1 < len(idx) && lossZ(hops[idx[end]], persist[first]) >= zStrong {
		end++
	}
	o := Onset{TTL: hops[idx[end]].TTL}
	clean := -1
	for j := first - 1; j >= 0; j-- {
		if z := lossZ(persist[first], hops[idx[j]]); z >= zStrong {
			clean = idx[j]
			o.Confidence = normalCDF(z)
			break
		}
	}
	switch {
	case clean >= 0:
		o.CleanTTL = hops[clean].TTL
		o.Placed = o.CleanTTL+1 == o.TTL
	case hops[idx[0]].TTL != tr.Config.FirstTTL:
		return Onset{} // the first hops never answered: cannot place it
	case first == 0:
		zero := Hop{Sent: persist[0].Measured(), Recv: persist[0].Measured()}
		o.Placed = o.TTL == tr.Config.FirstTTL
		o.Confidence = normalCDF(lossZ(persist[0], zero))
	}
	if !o.Placed {
		// The hop before the onset does not yet lose significantly less.
		before := hops[max(o.TTL-tr.Config.FirstTTL-1, 0)]
		o.MoreProbes = moreProbes(persist[first].lossFrac(), before.lossFrac(), min(before.Measured(), persist[first].Measured()))
	}
	return o
}

// moreProbes estimates how many more probes per hop would make a loss of
// hi significantly larger than lo, given n so far.
func moreProbes(hi, lo float64, n int) int {
	d := hi - lo
	if d <= 0 {
		return 0
	}
	p := (hi + lo) / 2
	need := int(math.Ceil(2 * p * (1 - p) * (zSignificant / d) * (zSignificant / d)))
	return max(need-n, 1)
}

// lossZ is the pooled two-proportion z statistic for "hop a loses more
// than hop b", over the probes each measured.
func lossZ(a, b Hop) float64 {
	na, nb := a.Measured(), b.Measured()
	if na == 0 || nb == 0 {
		return 0
	}
	p := float64(a.Lost()+b.Lost()) / float64(na+nb)
	se := math.Sqrt(p * (1 - p) * (1/float64(na) + 1/float64(nb)))
	if se == 0 {
		return 0
	}
	return (a.lossFrac() - b.lossFrac()) / se
}

func normalCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// withEcho is the hop with its echo witnesses counted among its probes,
// when they are usable: some were answered, and they do not lose more than
// the hop's time-exceeded probes at 99.5% (a router that answers echo last
// or limits it is no witness).
func (h Hop) withEcho() Hop {
	e := h.Echo
	if e.Recv == 0 {
		return h
	}
	eh := Hop{Sent: e.Sent, Recv: e.Recv, Limited: e.Limited}
	if h.Measured() > 0 && lossZ(eh, h) >= zStrong {
		return h
	}
	h.Sent += e.Sent
	h.Recv += e.Recv
	h.Limited += e.Limited
	return h
}

// needsPlacing reports whether a trace that reached its destination has
// loss it cannot yet account for: the destination lost probes and the
// onset is not one link; or a hop loses significantly more than nothing
// and not yet significantly more than the destination, so it may be
// forwarding loss the destination's probes have not shown yet, or a
// router answering last.
func needsPlacing(tr *Trace) bool {
	if tr.End != EndReached || len(tr.Hops) == 0 {
		return false
	}
	dest := tr.Hops[len(tr.Hops)-1].withEcho()
	if dest.Lost() > 0 {
		return !tr.Onset.Placed
	}
	for _, h := range tr.Hops[:len(tr.Hops)-1] {
		h = h.withEcho()
		zero := Hop{Sent: h.Measured(), Recv: h.Measured()}
		if h.Recv > 0 && lossZ(h, zero) >= zSignificant && lossZ(h, dest) < zStrong {
			return true
		}
	}
	return false
}
