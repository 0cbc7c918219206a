package render

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/netdx/netdx/report"
)

// TraceSection writes one trace's hop table alone, as the live view of
// `netdx trace` redraws it every round.
func (t Text) TraceSection(w io.Writer, tr *report.Trace) error {
	p := &printer{t: t, w: w}
	p.trace(tr)
	return p.err
}

// trace prints the hop table the way mtr's report does: one row per hop,
// and one more per extra address that answered for it (ECMP), each with
// its own counts.
func (p *printer) trace(tr *report.Trace) {
	if tr == nil {
		return
	}
	target := tr.Target.IP
	if tr.Target.Name != "" && tr.Target.Name != tr.Target.IP {
		target = fmt.Sprintf("%s (%s)", tr.Target.Name, tr.Target.IP)
	}
	probe := tr.Probe.Method
	if tr.Probe.Port != nil {
		probe += " port " + strconv.Itoa(*tr.Probe.Port)
	}
	if tr.Probe.Paris {
		probe += " paris"
	}
	pacing := ""
	if tr.Probe.Pacing == "icmp_budget" {
		pacing = " paced within ICMP rate limits"
	}
	p.heading("TRACE "+target, fmt.Sprintf("%s probes, %s sockets, %d round(s)%s, %s", probe, tr.Probe.Sockets, tr.Rounds, pacing, endText(tr)))
	headers := []string{"HOP", "HOST", "LOSS%", "SNT", "RECV", "LAST", "AVG", "BEST", "WRST", "STDEV", "P95", "JTTR", "NOTE"}
	var rows [][]string
	for i, h := range tr.Hops {
		if len(h.Responders) == 0 {
			// A hop that never answered while a deeper one did says
			// nothing about loss: it forwards but stays silent (or has
			// not answered yet, its ICMP budget spent by another trace).
			loss := lossPct(h.ForwardingLossPct)
			for _, d := range tr.Hops[i+1:] {
				if d.Received > 0 {
					loss = "--"
				}
			}
			rows = append(rows, []string{strconv.Itoa(h.TTL), "???", loss, strconv.Itoa(h.Sent), "0",
				"", "", "", "", "", "", "", ""})
			continue
		}
		ttl, loss, sent := strconv.Itoa(h.TTL), lossPct(h.ForwardingLossPct), strconv.Itoa(h.Sent)
		if len(h.Responders) > 1 {
			// An ECMP hop: its totals, then each address's own.
			rows = append(rows, append([]string{ttl, fmt.Sprintf("(%d addresses)", len(h.Responders)), loss, sent,
				strconv.Itoa(h.Received)}, append(rttCols(h.RTT), "")...))
			ttl, loss, sent = "", "", ""
		}
		for _, r := range h.Responders {
			row := []string{ttl, hostText(r), loss, sent, strconv.Itoa(r.Received)}
			rows = append(rows, append(row, append(rttCols(r.RTT), noteText(h, r))...))
		}
	}
	p.notesTable(headers, rows, 1)
	for _, h := range tr.Hops {
		for _, r := range h.Responders {
			for _, stack := range r.MPLS {
				var ls []string
				for _, l := range stack {
					ls = append(ls, fmt.Sprintf("label %d tc %d s %d ttl %d", l.Label, l.TC, b2i(l.BottomOfStack), l.TTL))
				}
				p.wrap("  ", fmt.Sprintf("hop %d %s MPLS: %s", h.TTL, r.IP, strings.Join(ls, " / ")))
			}
		}
	}
}

// rttCols are LAST AVG BEST WRST STDEV P95 JTTR in ms, blank without data.
func rttCols(s *report.RTTStats) []string {
	if s == nil {
		return []string{"", "", "", "", "", "", ""}
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
	return []string{f(s.LastMs), f(s.AvgMs), f(s.BestMs), f(s.WorstMs), f(s.StDevMs), f(s.P95Ms), f(s.JitterMs)}
}

// lossPct formats a percentage the way mtr prints Loss%.
func lossPct(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + "%" }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func hostText(r report.TraceResponder) string {
	if r.Name != "" {
		return r.Name + " (" + r.IP + ")"
	}
	return r.IP
}

// noteText flags what mtr users look for beside the numbers: ICMP rate
// limiting (probes left out of LOSS%), answers other than time-exceeded,
// and return paths of another length.
func noteText(h report.TraceHop, r report.TraceResponder) string {
	var notes []string
	if b := r.ICMPBudget; b != nil && h.RateLimited > 0 {
		notes = append(notes, fmt.Sprintf("rate-limited %s/s (%d unanswered)", strconv.FormatFloat(b.AnswersPerS, 'g', 2, 64), h.RateLimited))
	}
	switch r.Reply.Kind {
	case "time_exceeded", "echo_reply", "port_unreachable", "tcp_syn_ack", "tcp_reset", "":
	default:
		notes = append(notes, strings.ReplaceAll(r.Reply.Kind, "_", " "))
	}
	if r.Asymmetric && r.ReturnHops != nil {
		notes = append(notes, fmt.Sprintf("return path %d hops", *r.ReturnHops))
	}
	if len(r.MPLS) > 0 {
		notes = append(notes, "MPLS")
	}
	return strings.Join(notes, ", ")
}

func endText(tr *report.Trace) string {
	switch tr.EndReason {
	case "reached":
		if tr.DestinationTTL != nil {
			return fmt.Sprintf("destination reached at hop %d", *tr.DestinationTTL)
		}
		return "destination reached"
	case "max_ttl":
		return fmt.Sprintf("destination not reached by TTL %d", tr.Probe.MaxTTL)
	case "unreachable":
		return "a hop answered unreachable"
	}
	return "no round completed"
}
