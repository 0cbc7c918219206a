package diagnose

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/netdx/netdx/capture"
	"github.com/netdx/netdx/probes"
	"github.com/netdx/netdx/report"
)

// Cross-source rules that put loss measured on a traced path beside the
// retransmissions the host counts or a capture shows, and name the link.

func init() { onFirstUse(registerCrossPath) }

// registerCrossPath registers this file's rules, on the catalog's first use.
func registerCrossPath() {
	register(Rule{Name: "host retransmissions and path loss", Source: SourceCross, Layer: LayerPath, Cross: checkRetransFromPath}, Entry{
		ID: "cross.retransmits_from_path_loss", Title: "The host's retransmissions come from loss on a traced path",
		Object: report.ObjectPath,
		Source: SourceCross, Layer: LayerPath, Severity: Warning,
		Explanation: "The host retransmits a share of its TCP segments, and a path traced at the same time loses " +
			"packets from one hop to the destination. When the host itself dropped nothing over the window (qdisc, " +
			"interface transmit and softnet counters), the retransmissions are the path's loss seen from the " +
			"sender: the place to act is the link the trace names, not this host. When the host drops too, both " +
			"add to the retransmissions and the finding says so.",
		Thresholds: fmt.Sprintf("Needs the host over an interval and a trace. Fires when Tcp.RetransSegs / Tcp.OutSegs is %s or "+
			"more over at least %d segments (as tcp.retransmits) and a trace that reached its destination lost "+
			"probes to it (as path.forwarding_loss). The link is named when the trace can place where the loss begins.",
			fmtPct(retransWarnShare), retransMinSegs),
		Remediation: "Report the loss to whoever runs the link the trace names, with the trace as evidence " +
			"(`netdx trace --json -c 200 PEER`). Nothing changes on this host for these retransmissions unless it " +
			"drops packets itself.",
		Evidence: []string{"Tcp.RetransSegs", "Tcp.OutSegs", "retransmitted share", "destination.loss", "hopN.loss",
			"local drops"},
	})
	register(Rule{Name: "captured loss and path loss", Source: SourceCross, Layer: LayerPath, Cross: checkFlowLossOnPath}, Entry{
		ID: "cross.flow_loss_on_path", Title: "A captured peer's loss is on the traced path to it",
		Object: report.ObjectPath,
		Source: SourceCross, Layer: LayerPath, Severity: Warning,
		Explanation: "Flows with one peer in a capture retransmit for loss or lose segments before the capture " +
			"point, and a trace to that same peer (or to the outer endpoint of the tunnel that carries them) loses " +
			"probes from one hop to the destination. The flows lose their packets on that path: the trace names " +
			"the link.",
		Thresholds: fmt.Sprintf("Needs a capture and a trace. Fires when a trace that reached its destination lost "+
			"probes to it and the captured flows with the traced address (or the tunnel with that outer address) "+
			"retransmitted for loss, lost before the capture point or lost tunnel packets, %d segments or more in all.",
			capRetransMin),
		Remediation: "Report the loss to whoever runs the link the trace names, with the trace and the capture as " +
			"evidence. Trace with TCP to the flows' own port (`netdx trace --tcp --port PORT PEER`) so the probes " +
			"follow the flows' ECMP path.",
		Evidence: []string{"CAPTURE: loss-driven retransmissions", "CAPTURE: lost_segments", "CAPTURE: tunnel lost",
			"destination.loss", "hopN.loss"},
	})
}

// pathLoss is a trace that reached its destination and lost probes to it.
type pathLoss struct {
	tr          *probes.Trace
	onset, prev int // indexes in tr.Hops, -1 when not placed
}

// lossyPaths returns the traces with forwarding loss to the destination.
func lossyPaths(in *Input) []pathLoss {
	var out []pathLoss
	for _, tr := range in.Traces {
		if tr.End != probes.EndReached || len(tr.Hops) == 0 {
			continue
		}
		if dest := tr.Hops[len(tr.Hops)-1]; dest.Sent == dest.Recv {
			continue
		}
		onset, prev := lossOnset(tr)
		out = append(out, pathLoss{tr, onset, prev})
	}
	return out
}

// where says where on the path the loss begins.
func (p pathLoss) where() string {
	dest := p.tr.Hops[len(p.tr.Hops)-1]
	switch {
	case p.onset < 0:
		return fmt.Sprintf("the path to %s loses %.0f%% of probes to the destination (the probes cannot place where it begins)",
			p.tr.Config.Target, 100*lossFrac(dest))
	case p.prev < 0:
		return fmt.Sprintf("the path to %s loses %.0f%% of probes from %s on, between the prober and that hop",
			p.tr.Config.Target, 100*lossFrac(dest), hopName(p.tr.Hops[p.onset]))
	}
	return fmt.Sprintf("the path to %s loses %.0f%% of probes from %s on, between %s and that hop",
		p.tr.Config.Target, 100*lossFrac(dest), hopName(p.tr.Hops[p.onset]), hopName(p.tr.Hops[p.prev]))
}

// link names the link for a fix: "between hop 2 (…) and hop 3 (…)".
func (p pathLoss) link() string {
	switch {
	case p.onset < 0:
		return "on the path to " + p.tr.Config.Target.String()
	case p.prev < 0:
		return "between the prober and " + hopName(p.tr.Hops[p.onset])
	}
	return "between " + hopName(p.tr.Hops[p.prev]) + " and " + hopName(p.tr.Hops[p.onset])
}

func (p pathLoss) evidence() []Evidence {
	dest := p.tr.Hops[len(p.tr.Hops)-1]
	ev := []Evidence{Num("destination.loss", report.Round(100*lossFrac(dest), 3), "percent"),
		Num("destination.sent", float64(dest.Sent), "probes")}
	if p.prev >= 0 {
		h := p.tr.Hops[p.prev]
		ev = append(ev, Num(fmt.Sprintf("hop%d.loss", h.TTL), report.Round(h.LossPct(), 3), "percent"))
	}
	if p.onset >= 0 {
		h := p.tr.Hops[p.onset]
		ev = append(ev, Num(fmt.Sprintf("hop%d.loss", h.TTL), report.Round(h.LossPct(), 3), "percent"))
	}
	return ev
}

// forwardingRefs is the path.forwarding_loss finding of a trace.
func (found Found) forwarding(tr *probes.Trace) []FindingRef {
	subject := traceSubject(tr)
	return found.refs(func(f *Finding) bool { return f.ID == "path.forwarding_loss" && f.Subject == subject })
}

func checkRetransFromPath(in *Input, found Found) Outcome {
	s, why := hostRates(in, SourcePath)
	if s == nil {
		return Outcome{NotChecked: why}
	}
	re, out := s.Netstat("Tcp", "RetransSegs"), s.Netstat("Tcp", "OutSegs")
	r := report.Ratio(re.Delta, out.Delta)
	if out.Delta < retransMinSegs || r < retransWarnShare {
		return Outcome{Detail: fmt.Sprintf("the host retransmitted %s of %d segments %s", fmtPct(r), out.Delta, s.window())}
	}
	paths := lossyPaths(in)
	if len(paths) == 0 {
		return Outcome{Detail: "no traced path loses probes to its destination"}
	}
	local := localDropSummary(s)
	var res Outcome
	for _, p := range paths {
		f := Finding{ID: "cross.retransmits_from_path_loss", Subject: traceSubject(p.tr),
			Evidence: append([]Evidence{s.ev(re), s.ev(out), pctEvidence("retransmitted share", r)}, p.evidence()...),
			Related:  append(found.refs(hasID("tcp.retransmits")), found.forwarding(p.tr)...),
		}
		f.Summary = fmt.Sprintf("This host retransmitted %s of its TCP segments (%d of %d %s)", fmtPct(r), re.Delta, out.Delta, s.window())
		target := p.tr.Config.Target.String()
		if local == "" {
			f.Evidence = append(f.Evidence, Text("local drops", "none in the window"))
			f.Summary += fmt.Sprintf(" without dropping any packet itself, and %s: the retransmissions come from loss %s, not from this host.", p.where(), p.link())
			f.Fix = append(f.Fix, fmt.Sprintf("Report the loss %s to its operator, with the trace as evidence: netdx trace --json -c 200 %s", p.link(), target),
				"Nothing to change on this host for these retransmissions: its qdisc, interface and softnet counters dropped nothing in the window.")
		} else {
			f.Evidence = append(f.Evidence, Text("local drops", local))
			f.Summary += fmt.Sprintf(", and %s; this host drops packets too (%s): both add to the retransmissions.", p.where(), local)
			f.Fix = append(f.Fix, "Fix this host's own drops first (its qdisc, interface and softnet findings).",
				fmt.Sprintf("Report the loss %s to its operator, with the trace as evidence: netdx trace --json -c 200 %s", p.link(), target))
		}
		f.Notes = append(f.Notes, fmt.Sprintf("Tcp.RetransSegs counts every connection of the host: the trace explains those to %s and to peers behind the same link. `ss -ti dst %s` shows the retransmissions of those connections alone.", target, target))
		res.Findings = append(res.Findings, f)
	}
	return res
}

// peerLoss is what the flows with one address, and the tunnels with it as
// an outer endpoint, lost in one capture.
type peerLoss struct {
	retrans, lost, tunnelLost uint64
	segments                  uint64
	flows                     int
	port                      uint16
	tunnels                   []string
}

func capturePeerLoss(r *capture.Result, addr netip.Addr) peerLoss {
	var pl peerLoss
	var worst uint64
	for _, f := range r.Flows {
		if f.Client.Addr() != addr && f.Server.Addr() != addr {
			continue
		}
		pl.flows++
		n := lossDriven(&f.Dir[0]) + lossDriven(&f.Dir[1])
		pl.retrans += n
		pl.lost += f.Dir[0].LostSegments + f.Dir[1].LostSegments
		pl.segments += f.Dir[0].Segments + f.Dir[1].Segments
		if f.Proto == "tcp" && n >= worst {
			worst = n
			pl.port = f.Server.Port()
		}
	}
	for _, t := range r.Tunnels {
		if t.A != addr && t.B != addr {
			continue
		}
		var lost uint64
		for i := range t.Dir {
			if s := t.Dir[i].Seq; s != nil {
				lost += s.Lost
			}
		}
		if lost > 0 {
			pl.tunnelLost += lost
			pl.tunnels = append(pl.tunnels, report.TunnelID(t))
		}
	}
	return pl
}

func checkFlowLossOnPath(in *Input, found Found) Outcome {
	if why, ok := needs(in, SourceCapture, SourcePath); !ok {
		return Outcome{NotChecked: why}
	}
	paths := lossyPaths(in)
	if len(paths) == 0 {
		return Outcome{Detail: "no traced path loses probes to its destination"}
	}
	var res Outcome
	var quiet []string
	for _, p := range paths {
		target := p.tr.Config.Target
		for _, r := range in.Captures {
			pl := capturePeerLoss(r, target)
			if pl.retrans+pl.lost+pl.tunnelLost < capRetransMin {
				quiet = append(quiet, fmt.Sprintf("%s: %d flows with %s lost little", r.Name, pl.flows, target))
				continue
			}
			var what []string
			if pl.flows > 0 {
				what = append(what, fmt.Sprintf("the %d flows with %s retransmitted %d of %d segments for loss and lost %d before the capture point",
					pl.flows, target, pl.retrans, pl.segments, pl.lost))
			}
			if pl.tunnelLost > 0 {
				what = append(what, fmt.Sprintf("tunnel %s lost %d packets", names(pl.tunnels), pl.tunnelLost))
			}
			f := Finding{ID: "cross.flow_loss_on_path", Subject: traceSubject(p.tr),
				Summary: fmt.Sprintf("In %s, %s; and %s: the flows lose their packets %s.", r.Name, strings.Join(what, ", and "), p.where(), p.link()),
				Evidence: append([]Evidence{
					Num(r.Name+": loss-driven retransmissions", float64(pl.retrans), "segments"),
					Num(r.Name+": lost_segments", float64(pl.lost), "segments"),
					Num(r.Name+": tunnel lost", float64(pl.tunnelLost), "packets"),
				}, p.evidence()...),
				Fix: []string{fmt.Sprintf("Report the loss %s to its operator, with the trace (netdx trace --json -c 200 %s) and this capture as evidence.", p.link(), target)},
			}
			if pl.port != 0 {
				f.Fix = append(f.Fix, fmt.Sprintf("netdx trace --tcp --port %s -c 200 %s   # probes on the flows' own port follow their ECMP path", strconv.Itoa(int(pl.port)), target))
			}
			f.Related = found.forwarding(p.tr)
			// The capture's own loss findings fold in when this peer
			// accounts for most of what they count.
			t := &r.Totals.TCP
			if all := lossDriven(t); all > 0 && pl.retrans*2 >= all {
				f.Related = append(f.Related, found.refs(fromCapture(r, "capture.retransmissions"))...)
			}
			if t.LostSegments > 0 && pl.lost*2 >= t.LostSegments {
				f.Related = append(f.Related, found.refs(fromCapture(r, "capture.upstream_loss"))...)
			}
			for _, tn := range pl.tunnels {
				f.Related = append(f.Related, found.refs(func(g *Finding) bool {
					return g.ID == "capture.tunnel_loss" && strings.HasPrefix(g.Subject, r.Name+": ") && tunnelMatches(g.Subject, tn)
				})...)
			}
			res.Findings = append(res.Findings, f)
		}
	}
	if len(res.Findings) == 0 {
		res.Detail = strings.Join(quiet, "; ")
	}
	return res
}

// tunnelMatches reports whether a tunnel_loss subject ("file: vxlan A > B")
// is about the tunnel named id ("vxlan 42 A - B").
func tunnelMatches(subject, id string) bool {
	f := strings.Fields(id)
	if len(f) < 4 {
		return false
	}
	a, b := f[len(f)-3], f[len(f)-1]
	return strings.Contains(subject, a+" > "+b) || strings.Contains(subject, b+" > "+a)
}
