package diagnose

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/netdx/netdx/probes"
	"github.com/netdx/netdx/report"
)

// Path loss: where loss really begins, which hops merely rate-limit the
// ICMP they generate, and which hops never answer.

func init() { onFirstUse(registerPathLoss) }

// registerPathLoss registers this file's rules, on the catalog's first use.
func registerPathLoss() {
	register(Rule{Name: "forwarding loss", Source: SourcePath, Layer: LayerPath, Check: checkForwardingLoss}, Entry{
		ID: "path.forwarding_loss", Title: "Packet loss begins at a hop and persists to the destination",
		Object: report.ObjectPath,
		Source: SourcePath, Layer: LayerPath, Severity: Critical,
		Explanation: "Probes stop getting through from one hop onwards: that hop and every hop after it, the destination included, " +
			"lose a similar share of probes. Loss that persists to the end of the path is real forwarding loss; it begins on the link " +
			"between the last clean hop and the first lossy one, or inside the first lossy router.",
		Thresholds: "Loss counts only probes sent within the answering router's or host's ICMP rate limit. The destination lost at " +
			"least one such probe; the onset is the first hop from which a loss significantly above zero persists to the destination " +
			"(95%, one-sided), the clean side the nearest earlier hop losing significantly less. Critical at 5% or more with at " +
			"least 3 lost probes, warning below.",
		Remediation: "Show the finding to whoever runs the link between the two named hops (your provider when the onset is beyond " +
			"your edge). Without -c, netdx trace --report goes on probing until it places the onset on one link (at most 20 s); " +
			"confirm with another protocol (--udp, --tcp) to rule out a filter on one protocol.",
		Evidence:   []string{"destination loss", "loss at the hop before the onset", "loss at the onset hop", "95% confidence interval"},
		References: []string{"https://www.nanog.org/meetings/nanog47/presentations/Sunday/RAS_Traceroute_N47_Sun.pdf"},
	})
	register(Rule{Name: "ICMP rate limiting at hops", Source: SourcePath, Layer: LayerPath, Check: checkRateLimited}, Entry{
		ID: "path.icmp_rate_limited", Title: "Hops rate-limit or de-prioritise ICMP: not packet loss",
		Object: report.ObjectPath,
		Source: SourcePath, Layer: LayerPath, Severity: Info,
		Explanation: "Routers (and hosts, for the ICMP errors that answer UDP probes) limit the ICMP they send: Linux allows a " +
			"burst of six per prober address, then one per net.ipv4.icmp_ratelimit (1 s; IPv6 net.ipv6.icmp.ratelimit, 100 ms " +
			"since Linux 6.18). A probe that finds the budget spent gets no answer although the packet went through. netdx fits " +
			"each responder's budget to the probes it answered, paces its probes within it, and never counts a probe the budget " +
			"explains as loss. A router that answers last when busy also leaves probes unanswered that deeper hops answer. " +
			"Neither is packet loss nor a fault: do not file a ticket against it.",
		Thresholds: "A responder's fitted budget explains at least one unanswered probe, or an intermediate hop lost more than the " +
			"deeper hops by more than chance allows with at least one lost probe followed by a deeper answer in the same round. " +
			"One finding per trace lists every such hop.",
		Remediation: "Nothing to fix. Judge the path by the destination's loss and the LOSS% column, which leaves rate-limited probes out.",
		Evidence:    []string{"hops and their answer rate", "probes the budget explains", "loss at the hop against the deeper hops"},
	})
	register(Rule{Name: "silent hops", Source: SourcePath, Layer: LayerPath, Check: checkSilentHops}, Entry{
		ID: "path.silent_hop", Title: "A hop never answers, but the path continues",
		Object: report.ObjectPath,
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
		if dest.Lost() == 0 {
			_, hi := wilson(0, dest.Measured())
			details = append(details, fmt.Sprintf("destination answered %d of %d probes within its ICMP budget (loss below %.0f%% at 95%% confidence)", dest.Recv, dest.Measured(), hi))
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

// lossOnset is the trace's loss onset (probes.LocateOnset) as indexes in
// tr.Hops: onset the first lossy hop, prev the last clean one (-1 when the
// loss begins at the first hop); onset is -1 when the probes cannot place
// the loss.
func lossOnset(tr *probes.Trace) (onset, prev int) {
	onset, prev = -1, -1
	for i, h := range tr.Hops {
		switch h.TTL {
		case tr.Onset.TTL:
			onset = i
		case tr.Onset.CleanTTL:
			prev = i
		}
	}
	if onset < 0 {
		prev = -1
	}
	return onset, prev
}

// forwardingLoss describes the loss of a trace that reached its
// destination and where it begins (probes.LocateOnset), and how long the
// trace took to place it.
func forwardingLoss(tr *probes.Trace) (Finding, bool) {
	hops := tr.Hops
	dest := hops[len(hops)-1]
	ld := lossFrac(dest)
	onset, prev := lossOnset(tr)
	lost := dest.Lost()
	lo, hi := wilson(lost, dest.Measured())
	if onset < 0 {
		f := Finding{
			ID:      "path.forwarding_loss",
			Subject: traceSubject(tr),
			Summary: fmt.Sprintf("The destination lost %d of %d probes (%.0f%%; 95%% interval %.0f–%.0f%%), but no hop before it loses significantly less, so these probes cannot place where the loss begins.",
				lost, dest.Measured(), 100*ld, lo, hi),
			Evidence: []Evidence{
				Num("destination.loss", 100*ld, "percent"),
				Num("destination.lost", float64(lost), "probes"),
				Num("destination.sent", float64(dest.Measured()), "probes"),
			},
			Fix:      []string{placeFix(tr)},
			Severity: Warning,
		}
		for _, n := range []string{localiseNote(tr), echoNote(tr)} {
			if n != "" {
				f.Notes = append(f.Notes, n)
			}
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
			where, lost, dest.Measured(), 100*ld, lo, hi, at.TTL),
		Evidence: []Evidence{
			Num("destination.loss", 100*ld, "percent"),
			Num("destination.lost", float64(lost), "probes"),
			Num("destination.sent", float64(dest.Measured()), "probes"),
			Num("destination.loss_ci95_low", lo, "percent"),
			Num("destination.loss_ci95_high", hi, "percent"),
			Num(fmt.Sprintf("hop%d.loss", at.TTL), at.LossPct(), "percent"),
		},
		Fix: []string{
			fmt.Sprintf("Report loss %s to its operator, with this trace (netdx trace --json) as evidence.", where),
			fmt.Sprintf("Rule out a per-protocol filter: netdx trace --tcp --port 443 %s", tr.Config.Target),
		},
	}
	if prev >= 0 {
		f.Evidence = append(f.Evidence, Num(fmt.Sprintf("hop%d.loss", hops[prev].TTL), hops[prev].LossPct(), "percent"))
	}
	if c := tr.Onset.Confidence; c > 0 {
		f.Evidence = append(f.Evidence, Num("onset.confidence", report.Round(100*c, 3), "percent"))
	}
	if gap := at.TTL - hops[max(prev, 0)].TTL; prev >= 0 && gap > 1 {
		f.Notes = append(f.Notes, fmt.Sprintf("The %d hop(s) in between answer too rarely or rate-limit, so the loss cannot be placed more precisely yet.", gap-1))
		f.Fix = append(f.Fix, placeFix(tr))
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
	if n := localiseNote(tr); n != "" {
		f.Notes = append(f.Notes, n)
	}
	if n := echoNote(tr); n != "" {
		f.Notes = append(f.Notes, n)
	}
	return f, true
}

// echoNote says what the echo witnesses to the hops' own addresses saw.
func echoNote(tr *probes.Trace) string {
	var parts []string
	for _, h := range tr.Hops {
		if e := h.Echo; e.Sent > 0 {
			parts = append(parts, fmt.Sprintf("hop %d %d of %d", h.TTL, e.Recv, e.Sent-e.Limited))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "Second witness: echo requests to the hops' own addresses, which cross the same links, were answered " + strings.Join(parts, ", ") + "."
}

// localiseNote says how long placing the loss took and how sure it is,
// or that the trace did not go on to place it.
func localiseNote(tr *probes.Trace) string {
	o, l := tr.Onset, tr.Localised
	switch {
	case o.Placed && l.Took > 0:
		return fmt.Sprintf("Placed on one link after %.1f s of probing (%.1f s past the planned rounds' end), at %.1f%% confidence.",
			l.Took.Seconds(), (l.Took - plannedEnd(tr)).Seconds(), 100*o.Confidence)
	case o.Placed:
		return fmt.Sprintf("Placed on one link by the planned rounds, at %.1f%% confidence.", 100*o.Confidence)
	case l.Extended:
		return fmt.Sprintf("The trace went on probing to place the loss (%.0f s in all, %.0f s allowed) and could not place it on one link.",
			tr.Ended.Sub(tr.Started).Seconds(), l.Limit.Seconds())
	}
	return ""
}

// plannedEnd is a rough time the planned rounds took: the trace's length
// when it did not go on.
func plannedEnd(tr *probes.Trace) time.Duration {
	if !tr.Localised.Extended {
		return tr.Ended.Sub(tr.Started)
	}
	var last time.Time
	for _, p := range tr.Probes {
		if p.Round < tr.Config.Count && p.Sent.After(last) {
			last = p.Sent
		}
	}
	if last.IsZero() {
		return 0
	}
	return last.Sub(tr.Started)
}

// placeFix says what would place the loss: more probes at the hops around
// the onset, at the pace their ICMP budgets allow.
func placeFix(tr *probes.Trace) string {
	more := tr.Onset.MoreProbes
	if more <= 0 {
		more = 50
	}
	rate := 0.0 // the slowest budget of the path, answers per second
	for _, h := range tr.Hops {
		for _, r := range h.Responders {
			if pr := r.Budget.PerSecond(); pr > 0 && (rate == 0 || pr < rate) {
				rate = pr
			}
		}
	}
	count := tr.Rounds + more
	if rate == 0 {
		return fmt.Sprintf("About %d more probes per hop would place it: netdx trace --report -c %d %s", more, count, tr.Config.Target)
	}
	secs := float64(more) / rate
	return fmt.Sprintf("About %d more probes per hop would place it, about %.0f s at the slowest hop's ICMP rate limit (%.1f answers/s): netdx trace --report -c %d --timeout %.0fs %s",
		more, secs, rate, count, secs+tr.Ended.Sub(tr.Started).Seconds()+10, tr.Config.Target)
}

func checkRateLimited(in *Input) Outcome {
	var out Outcome
	n := 0
	for _, tr := range in.Traces {
		var names, words []string
		var ev []Evidence
		explained, excess, excessLost := 0, 0, 0
		for _, h := range limitingHops(tr, &n) {
			names = append(names, hopName(h.hop))
			explained += h.hop.Limited
			if h.excess {
				excess++
				excessLost += h.hop.Lost()
			}
			ev = append(ev, Num(fmt.Sprintf("hop%d.rate_limited", h.hop.TTL), float64(h.hop.Limited), "probes"),
				Num(fmt.Sprintf("hop%d.loss", h.hop.TTL), h.hop.LossPct(), "percent"))
			if b := budgetOf(h.hop); !b.Free() {
				ev = append(ev, Num(fmt.Sprintf("hop%d.icmp_answers_per_s", h.hop.TTL), report.Round(b.PerSecond(), 3), "per second"))
				words = append(words, fmt.Sprintf("hop %d %s", h.hop.TTL, BudgetText(b)))
			}
		}
		if len(names) == 0 {
			continue
		}
		f := Finding{
			ID:       "path.icmp_rate_limited",
			Subject:  traceSubject(tr),
			Evidence: ev,
		}
		switch {
		case excess == 0:
			verb := "rate-limit the ICMP they send"
			if len(names) == 1 {
				verb = "rate-limits the ICMP it sends"
			}
			f.Summary = fmt.Sprintf("%s %s: %d unanswered probe(s) are explained by the limit and not counted as loss.", joinAnd(names), verb, explained)
		case explained == 0:
			verb := "answer fewer probes than the hops after them: they rate-limit or de-prioritise the ICMP they send"
			if len(names) == 1 {
				verb = "answers fewer probes than the hops after it: it rate-limits or de-prioritises the ICMP it sends"
			}
			f.Summary = fmt.Sprintf("%s %s (%d probe(s) unanswered that went through).", joinAnd(names), verb, excessLost)
		default:
			f.Summary = fmt.Sprintf("%s rate-limit or de-prioritise the ICMP they send: %d unanswered probe(s) are explained by a fitted rate limit and %d by answering less than the hops after.",
				joinAnd(names), explained, excessLost)
		}
		f.Summary += " This is not packet loss; do not file a ticket against it."
		if len(words) > 0 {
			f.Notes = append(f.Notes, "Fitted limits: "+strings.Join(words, "; ")+".")
		}
		if excess > 0 {
			f.Notes = append(f.Notes, fmt.Sprintf("%d of these hop(s) also left probes unanswered that deeper hops answered in the same round, more than the deeper hops lose: the router answers last when busy.", excess))
		}
		out.Findings = append(out.Findings, f)
	}
	if len(out.Findings) == 0 {
		out.Detail = fmt.Sprintf("%d intermediate hop(s) with unanswered probes; none rate-limited or losing more than the hops after them", n)
	}
	return out
}

// limitingHop is a hop that rate-limits its answers: by a fitted budget,
// or by losing more than the hops after it (excess).
type limitingHop struct {
	hop    probes.Hop
	excess bool
}

// limitingHops lists the trace's hops whose fitted budget explains an
// unanswered probe, or (intermediate hops) that lose more than every
// deeper answering hop by more than chance allows, with at least one lost
// probe followed by a deeper answer in its round. n counts the
// intermediate hops with unanswered probes.
func limitingHops(tr *probes.Trace, n *int) []limitingHop {
	var out []limitingHop
	idx := answering(tr)
	for k, i := range idx {
		h := tr.Hops[i]
		if h.Recv == h.Sent {
			continue
		}
		if !h.Dest && k < len(idx)-1 {
			*n++
		}
		excess := false
		if !h.Dest && k < len(idx)-1 && h.Lost() > 0 {
			minDeeper, minN := 1.0, 0
			for _, j := range idx[k+1:] {
				if l := lossFrac(tr.Hops[j]); l <= minDeeper {
					minDeeper, minN = l, tr.Hops[j].Measured()
				}
			}
			lh := lossFrac(h)
			notForward := h.Lost() - h.ForwardLost
			d := lh - minDeeper
			excess = notForward >= 1 && d > 0 && (minDeeper == 0 || d >= lossMargin(lh, h.Measured(), minDeeper, minN))
		}
		if h.Limited > 0 || excess {
			out = append(out, limitingHop{h, excess})
		}
	}
	return out
}

// budgetOf is the fitted budget of the hop's main responder.
func budgetOf(h probes.Hop) probes.Budget {
	if len(h.Responders) == 0 {
		return probes.Budget{}
	}
	return h.Responders[0].Budget
}

// BudgetText describes an ICMP budget in words: "answers 1.0/s after a
// burst of 6".
func BudgetText(b probes.Budget) string {
	return fmt.Sprintf("answers %s/s after a burst of %d", strconv.FormatFloat(b.PerSecond(), 'f', -1, 64), b.Burst)
}

func joinAnd(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
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
