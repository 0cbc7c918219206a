package diagnose

import (
	"fmt"
	"strings"

	"github.com/netdx/netdx/probes"
)

// Path loss: where loss really begins, which hops merely rate-limit the
// ICMP they generate, and which hops never answer.

func init() {
	register(Rule{Name: "forwarding loss", Source: SourcePath, Layer: LayerPath, Check: checkForwardingLoss}, Entry{
		ID: "path.forwarding_loss", Title: "Packet loss begins at a hop and persists to the destination",
		Source: SourcePath, Layer: LayerPath, Severity: Critical,
		Explanation: "Probes stop getting through from one hop onwards: that hop and every hop after it, the destination included, " +
			"lose a similar share of probes. Loss that persists to the end of the path is real forwarding loss; it begins on the link " +
			"between the last clean hop and the first lossy one, or inside the first lossy router.",
		Thresholds: "The destination lost at least one probe, and every answering hop from the onset to the destination lost at least " +
			"the destination's share minus two standard errors. Critical at 5% or more with at least 3 lost probes, warning below.",
		Remediation: "Show the finding to whoever runs the link between the two named hops (your provider when the onset is beyond " +
			"your edge). Confirm with a longer run (-c 200) and with another protocol (--udp, --tcp) to rule out a filter on one protocol.",
		Evidence:   []string{"destination loss", "loss at the hop before the onset", "loss at the onset hop", "95% confidence interval"},
		References: []string{"https://www.nanog.org/meetings/nanog47/presentations/Sunday/RAS_Traceroute_N47_Sun.pdf"},
	})
	register(Rule{Name: "ICMP rate limiting at hops", Source: SourcePath, Layer: LayerPath, Check: checkRateLimited}, Entry{
		ID: "path.icmp_rate_limited", Title: "A hop rate-limits or de-prioritises ICMP: not packet loss",
		Source: SourcePath, Layer: LayerPath, Severity: Info,
		Explanation: "A router on the path did not answer some probes, yet deeper hops answered in those same rounds and lose less. " +
			"The probes went through; only the router's own ICMP time-exceeded answers were missing. Routers generate ICMP in their " +
			"control plane, which limits its rate (Linux: net.ipv4.icmp_ratelimit, one per second per destination after a burst " +
			"of six) and answers last when busy. This is not packet loss and not a fault: do not file a ticket against it.",
		Thresholds: "An intermediate hop lost more than the deeper hops by more than chance allows, and at least one of its lost " +
			"probes was followed by an answer from a deeper hop in the same round.",
		Remediation: "Nothing to fix. Judge the path by the destination's loss. A slower interval (-i 1s) avoids the rate limit.",
		Evidence:    []string{"loss at the hop", "lowest loss of any deeper hop", "lost probes with a deeper answer"},
	})
	register(Rule{Name: "silent hops", Source: SourcePath, Layer: LayerPath, Check: checkSilentHops}, Entry{
		ID: "path.silent_hop", Title: "A hop never answers, but the path continues",
		Source: SourcePath, Layer: LayerPath, Severity: Info,
		Explanation: "Probes expired at this hop without any answer, while deeper hops answered. The router forwards traffic but does " +
			"not send ICMP time-exceeded (filtered, disabled, or an MPLS core that hides its hops). It is not loss.",
		Thresholds:  "No answer at the TTL in any round while a deeper TTL answered.",
		Remediation: "Nothing to fix. Another protocol (--udp, --tcp) sometimes gets an answer where ICMP does not.",
		Evidence:    []string{"probes sent to the hop", "deepest answering hop"},
	})
}

func checkForwardingLoss(in *Input) Outcome {
	var out Outcome
	var details []string
	for _, tr := range in.Traces {
		if tr.End != probes.EndReached || len(tr.Hops) == 0 {
			details = append(details, fmt.Sprintf("%s: destination not reached", traceSubject(tr)))
			continue
		}
		dest := tr.Hops[len(tr.Hops)-1]
		lost := dest.Sent - dest.Recv
		if lost == 0 {
			_, hi := wilson(0, dest.Sent)
			details = append(details, fmt.Sprintf("destination answered %d of %d (loss below %.0f%% at 95%% confidence)", dest.Recv, dest.Sent, hi))
			continue
		}
		if f, ok := forwardingLoss(tr); ok {
			out.Findings = append(out.Findings, f)
		}
	}
	if len(out.Findings) == 0 {
		out.Detail = strings.Join(details, "; ")
	}
	return out
}

// lossOnset places where forwarding loss begins on a trace that reached
// its destination: onset is the index in tr.Hops of the first hop from
// which a significant loss persists, prev the nearest earlier hop that
// loses significantly less (-1 when the loss begins at the first hop).
// onset is -1 when the probes cannot place the loss. The loss that
// persists from a hop on is the least loss of it and every answering hop
// after it (a rate-limited hop loses more than what persists); it can only
// grow along the path.
func lossOnset(tr *probes.Trace) (onset, prev int) {
	hops := tr.Hops
	idx := answering(tr)
	// persist[k] is the hop holding the least loss from idx[k] on.
	persist := make([]probes.Hop, len(idx))
	for k := len(idx) - 1; k >= 0; k-- {
		persist[k] = hops[idx[k]]
		if k+1 < len(idx) && lossFrac(persist[k+1]) <= lossFrac(persist[k]) {
			persist[k] = persist[k+1]
		}
	}
	// The first hop from which a significant loss persists.
	first := -1
	for k := range idx {
		zero := probes.Hop{Sent: persist[k].Sent, Recv: persist[k].Sent}
		if lossZ(persist[k], zero) >= zSignificant {
			first = k
			break
		}
	}
	onset, prev = -1, -1
	if first < 0 {
		return onset, prev
	}
	// A hop that loses clearly more than what persists also rate-limits:
	// it cannot tell whether the loss begins before or after it, so the
	// onset moves past it.
	end := first
	for end+1 < len(idx) && lossZ(hops[idx[end]], persist[first]) >= zStrong {
		end++
	}
	onset = idx[end]
	// The clean side: the nearest earlier hop losing significantly less
	// than what persists.
	for j := first - 1; j >= 0; j-- {
		if lossZ(persist[first], hops[idx[j]]) >= zSignificant {
			prev = idx[j]
			break
		}
	}
	if prev < 0 && hops[idx[0]].TTL != tr.Config.FirstTTL {
		return -1, -1 // the first hops never answered: cannot place it
	}
	return onset, prev
}

// forwardingLoss describes the loss of a trace that reached its
// destination and where it begins (lossOnset): loss begins at the first
// hop where the persisting loss is significantly above the previous
// answering hop's (or above zero at the first hop). When no step is
// significant, the probes cannot place it.
func forwardingLoss(tr *probes.Trace) (Finding, bool) {
	hops := tr.Hops
	dest := hops[len(hops)-1]
	ld := lossFrac(dest)
	onset, prev := lossOnset(tr)
	lost := dest.Sent - dest.Recv
	lo, hi := wilson(lost, dest.Sent)
	if onset < 0 {
		f := Finding{
			ID:      "path.forwarding_loss",
			Subject: traceSubject(tr),
			Summary: fmt.Sprintf("The destination lost %d of %d probes (%.0f%%; 95%% interval %.0f–%.0f%%), but no hop before it loses significantly less, so these probes cannot place where the loss begins.",
				lost, dest.Sent, 100*ld, lo, hi),
			Evidence: []Evidence{
				Num("destination.loss", 100*ld, "percent"),
				Num("destination.lost", float64(lost), "probes"),
				Num("destination.sent", float64(dest.Sent), "probes"),
			},
			Fix:      []string{fmt.Sprintf("Run longer to localise it: netdx trace -c 200 %s", tr.Config.Target)},
			Severity: Warning,
		}
		if n := sampleNote(dest.Sent); n != "" {
			f.Notes = append(f.Notes, n)
		}
		return f, true
	}
	at := hops[onset]
	where := fmt.Sprintf("between the prober and %s", hopName(at))
	if prev >= 0 {
		where = fmt.Sprintf("between %s and %s", hopName(hops[prev]), hopName(at))
	}
	f := Finding{
		ID:      "path.forwarding_loss",
		Subject: traceSubject(tr),
		Summary: fmt.Sprintf("Forwarding loss begins %s: %d of %d probes to the destination were lost (%.0f%%; 95%% interval %.0f–%.0f%%), and every answering hop from %d on loses as much.",
			where, lost, dest.Sent, 100*ld, lo, hi, at.TTL),
		Evidence: []Evidence{
			Num("destination.loss", 100*ld, "percent"),
			Num("destination.lost", float64(lost), "probes"),
			Num("destination.sent", float64(dest.Sent), "probes"),
			Num("destination.loss_ci95_low", lo, "percent"),
			Num("destination.loss_ci95_high", hi, "percent"),
			Num(fmt.Sprintf("hop%d.loss", at.TTL), at.LossPct(), "percent"),
		},
		Fix: []string{
			fmt.Sprintf("Report loss %s to its operator, with this trace (netdx trace --json) as evidence.", where),
			fmt.Sprintf("Confirm with more samples: netdx trace -c 200 %s", tr.Config.Target),
			fmt.Sprintf("Rule out a per-protocol filter: netdx trace --tcp --port 443 %s", tr.Config.Target),
		},
	}
	if prev >= 0 {
		f.Evidence = append(f.Evidence, Num(fmt.Sprintf("hop%d.loss", hops[prev].TTL), hops[prev].LossPct(), "percent"))
	}
	if gap := at.TTL - hops[max(prev, 0)].TTL; prev >= 0 && gap > 1 {
		f.Notes = append(f.Notes, fmt.Sprintf("The %d hop(s) in between answer too rarely or rate-limit, so the loss cannot be placed more precisely.", gap-1))
	}
	// Evidence from rounds: in how many rounds was everything from the
	// onset on lost together (an outage) rather than scattered?
	outage := 0
	for _, p := range tr.Probes {
		if p.TTL == at.TTL && p.ForwardLoss {
			outage++
		}
	}
	f.Evidence = append(f.Evidence, Num(fmt.Sprintf("hop%d.forward_lost", at.TTL), float64(outage), "probes"))
	if ld < 0.05 || lost < 3 {
		f.Severity = Warning
	}
	if n := sampleNote(dest.Sent); n != "" {
		f.Notes = append(f.Notes, n)
	}
	if tr.Config.Method == probes.UDP {
		f.Notes = append(f.Notes, "UDP probes are answered by ICMP port-unreachable, which the destination itself rate-limits; confirm with --icmp or --tcp before blaming the path.")
	}
	return f, true
}

func checkRateLimited(in *Input) Outcome {
	var out Outcome
	n := 0
	for _, tr := range in.Traces {
		idx := answering(tr)
		for k, i := range idx {
			h := tr.Hops[i]
			if h.Dest || h.Recv == h.Sent || k == len(idx)-1 {
				continue
			}
			n++
			// The least loss of any deeper answering hop.
			minDeeper, minN, least := 1.0, 0, h
			for _, j := range idx[k+1:] {
				if l := lossFrac(tr.Hops[j]); l <= minDeeper {
					minDeeper, minN, least = l, tr.Hops[j].Sent, tr.Hops[j]
				}
			}
			lh := lossFrac(h)
			notForward := (h.Sent - h.Recv) - h.ForwardLost
			// Rate limiting needs a lost probe that demonstrably went
			// on, and more loss than the deeper hops by more than
			// chance (any at all when they lost nothing).
			excess := lh - minDeeper
			if notForward < 1 || excess <= 0 || (minDeeper > 0 && excess < lossMargin(lh, h.Sent, minDeeper, minN)) {
				continue
			}
			f := Finding{
				ID:      "path.icmp_rate_limited",
				Subject: fmt.Sprintf("%s, %s", traceSubject(tr), hopName(h)),
				Summary: fmt.Sprintf("%s left %.0f%% of probes unanswered, but deeper hops lose at most %.0f%%: the router rate-limits or de-prioritises the ICMP it sends. This is not packet loss; do not file a ticket against it.",
					hopName(h), 100*lh, 100*minDeeper),
				Evidence: []Evidence{
					Num(fmt.Sprintf("hop%d.loss", h.TTL), 100*lh, "percent"),
					Num("deeper_hops.min_loss", 100*minDeeper, "percent"),
					Num(fmt.Sprintf("hop%d.lost_with_deeper_answer", h.TTL), float64(notForward), "probes"),
				},
			}
			f.Notes = append(f.Notes, fmt.Sprintf("%d of its lost probes were followed by an answer from a deeper hop in the same round: those packets went through.", notForward))
			if lossZ(h, least) < zSignificant {
				f.Notes = append(f.Notes, fmt.Sprintf("With %d probes the loss difference alone is not statistically significant; the rounds above are the evidence. A longer run (-c 100) settles it.", h.Sent))
			}
			out.Findings = append(out.Findings, f)
		}
	}
	if len(out.Findings) == 0 {
		out.Detail = fmt.Sprintf("%d intermediate hop(s) with unanswered probes; none lose more than the hops after them", n)
	}
	return out
}

func checkSilentHops(in *Input) Outcome {
	var out Outcome
	for _, tr := range in.Traces {
		idx := answering(tr)
		if len(idx) == 0 {
			continue
		}
		deepest := tr.Hops[idx[len(idx)-1]]
		for _, h := range tr.Hops[:idx[len(idx)-1]] {
			if h.Recv > 0 || h.Sent == 0 {
				continue
			}
			out.Findings = append(out.Findings, Finding{
				ID:      "path.silent_hop",
				Subject: fmt.Sprintf("%s, hop %d", traceSubject(tr), h.TTL),
				Summary: fmt.Sprintf("Hop %d never answered (%d probes) while %s did: the router forwards but sends no ICMP time-exceeded. Not loss.", h.TTL, h.Sent, hopName(deepest)),
				Evidence: []Evidence{
					Num(fmt.Sprintf("hop%d.sent", h.TTL), float64(h.Sent), "probes"),
					Num("deepest_answering_ttl", float64(deepest.TTL), ""),
				},
			})
		}
	}
	if len(out.Findings) == 0 {
		out.Detail = "every hop up to the deepest answering one answered"
	}
	return out
}
