package cli

import (
	"strconv"

	"github.com/netdx/netdx/probes"
	"github.com/netdx/netdx/render/plot"
)

// probeFate is a finished probe's fate as the trace's loss statistics
// judge it (probes.Hop.Lost): answered; unanswered and explained by the
// responder's fitted ICMP rate limit (not loss); or lost.
func probeFate(p *probes.ProbeRecord) plot.ProbeFate {
	switch {
	case p.Reply != nil:
		return plot.Answered
	case p.Limited:
		return plot.NoReply
	}
	return plot.ForwardLost
}

// hopRTT is the picture of a finished trace: every probe of every hop the
// trace reports, by send time, with its round trip and fate.
func hopRTT(tr *probes.Trace) *plot.HopRTT {
	h := &plot.HopRTT{Target: tr.Config.Target.String(), Method: string(tr.Config.Method)}
	if n := tr.Config.TargetName; n != "" && n != h.Target {
		h.Target = n + " (" + h.Target + ")"
	}
	h.Notes = append(h.Notes, strconv.Itoa(tr.Rounds)+" rounds; end: "+string(tr.End))
	first := tr.Config.FirstTTL
	for _, hop := range tr.Hops {
		x := plot.Hop{TTL: hop.TTL, Dest: hop.Dest}
		for _, r := range hop.Responders {
			x.Responders = append(x.Responders, plot.Responder{Addr: r.Addr, Name: r.Name})
			if b := r.Budget; !b.Free() && hop.Limited > 0 && x.Note == "" {
				x.Note = "rate-limited " + strconv.FormatFloat(b.PerSecond(), 'g', 2, 64) + "/s"
			}
		}
		h.Hops = append(h.Hops, x)
	}
	for i := range tr.Probes {
		p := &tr.Probes[i]
		k := p.TTL - first
		if k < 0 || k >= len(h.Hops) || h.Hops[k].TTL != p.TTL {
			continue // beyond the hops the trace reports, as its statistics
		}
		h.Hops[k].Probes = append(h.Hops[k].Probes, plot.Probe{Sent: p.Sent.Sub(tr.Started), RTT: p.RTT(), Fate: probeFate(p)})
	}
	return h
}
