package render

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/netdx/netdx/report"
)

// capture prints one analysed capture: what was read, the totals, the
// reordering metrics, the worst flows and the tunnels.
func (p *printer) capture(c *report.Capture) {
	head := []string{c.Format}
	if c.Compressed {
		head[0] += " (gzip)"
	}
	head = append(head, fmt.Sprintf("%d packets", c.Packets), fmt.Sprintf("%s s", Number(c.DurationS)))
	var links []string
	for _, i := range c.Interfaces {
		links = append(links, i.LinkType)
	}
	if len(links) > 0 {
		head = append(head, "link "+strings.Join(links, ", "))
	}
	if !c.Complete {
		head = append(head, "INCOMPLETE")
	}
	p.heading("CAPTURE "+c.File, strings.Join(head, " · "))

	mix := []string{fmt.Sprintf("TCP %d", c.TCPPackets), fmt.Sprintf("UDP %d", c.UDPPackets)}
	for _, x := range []struct {
		name string
		n    uint64
	}{{"other IP", c.OtherIPPackets}, {"non-IP", c.NonIPPackets}, {"fragments", c.FragmentPackets},
		{"filtered out", c.FilteredPackets}, {"snap-truncated", c.SnapTruncatedPackets}, {"overlong", c.OverlongPackets}} {
		if x.n > 0 {
			mix = append(mix, fmt.Sprintf("%s %d", x.name, x.n))
		}
	}
	var undecoded uint64
	for _, u := range c.Undecoded {
		undecoded += u.Packets
	}
	if undecoded > 0 {
		mix = append(mix, fmt.Sprintf("undecoded %d", undecoded))
	}
	p.wrap("  ", strings.Join(mix, " · "))
	flows := fmt.Sprintf("  flows %d (TCP %d, UDP %d)", c.FlowsTotal, c.Totals.TCPFlows, c.Totals.UDPFlows)
	if c.FlowsEvicted > 0 {
		flows += fmt.Sprintf(", %d evicted from a full flow table", c.FlowsEvicted)
	}
	p.wrap("", fmt.Sprintf("%s · tunnels %d", flows, c.TunnelsTotal))

	t := &c.Totals
	p.wrap("  ", fmt.Sprintf("retransmitted %d segments, %d bytes (%s%% of %d; %d after timeout, %d fast, %d spurious)",
		t.RetransmittedPackets, t.RetransmittedBytes, Number(t.RetransmittedRatio*100), t.DataSegments,
		t.TimeoutRetransmissions, t.FastRetransmissions, t.SpuriousRetransmissions))
	p.wrap("  ", fmt.Sprintf("reordered %d (%s%%) · lost before the capture point %d · acknowledged but not captured %d · capture duplicates %d",
		t.ReorderedPackets, Number(t.ReorderedRatio*100), t.LostSegments, t.NotCapturedSegments, t.CaptureDuplicates))
	if r := t.TCP.Reordering; r != nil && r.ReorderedPackets > 0 {
		p.captureReorderLine("  ", r)
	}
	if d := t.TCP.HoleDecisions; d != (report.CaptureDecisions{}) {
		p.wrap("  ", "out-of-order segments decided by: "+capDecisions(d))
	}
	p.captureFlows(c)
	p.captureTunnels(c)
}

// captureReorderLine prints the RFC 4737 and RFC 5236 metrics in one line.
func (p *printer) captureReorderLine(indent string, r *report.CaptureReorder) {
	parts := []string{fmt.Sprintf("extent max %d mean %s", r.ExtentMax, Number(r.ExtentMean))}
	var ns []string
	for _, n := range r.NReordering {
		k := strconv.Itoa(n.N)
		if n.OrMore {
			k += "+"
		}
		ns = append(ns, fmt.Sprintf("%s:%d", k, n.Packets))
	}
	if len(ns) > 0 {
		parts = append(parts, "n-reordering "+strings.Join(ns, " "))
	}
	var ds []string
	for _, d := range r.Density {
		if d.Displacement != 0 {
			ds = append(ds, fmt.Sprintf("%+d:%s%%", d.Displacement, Number(d.Fraction*100)))
		}
	}
	if len(ds) > 0 {
		parts = append(parts, "density "+strings.Join(ds, " "))
	}
	parts = append(parts, fmt.Sprintf("late up to %s ms", Number(r.LateMsMax)))
	p.wrap(indent, "reordering: "+strings.Join(parts, " · "))
}

func capDecisions(d report.CaptureDecisions) string {
	var out []string
	for _, x := range []struct {
		name string
		v    report.CaptureDecision
	}{{"TCP timestamps", d.TSval}, {"IPv4 IDs", d.IPID}, {"timing", d.Timing}} {
		if x.v.Reordered+x.v.Retransmitted > 0 {
			out = append(out, fmt.Sprintf("%s %d reordered/%d retransmitted", x.name, x.v.Reordered, x.v.Retransmitted))
		}
	}
	if d.Undecided > 0 {
		out = append(out, fmt.Sprintf("undecided: %d segments", d.Undecided))
	}
	return strings.Join(out, ", ")
}

func (p *printer) captureFlows(c *report.Capture) {
	if len(c.Flows) == 0 {
		return
	}
	p.heading("FLOWS", fmt.Sprintf("worst %d of %d, by retransmitted, reordered and lost share", len(c.Flows), c.FlowsTotal))
	rows := make([][]string, 0, len(c.Flows))
	for _, f := range c.Flows {
		var pk, segs, rtx, to, fast, spur, reo, lost uint64
		var ext uint64
		var goodput float64
		rtt := "-"
		for _, d := range f.Directions {
			pk += d.Packets
			segs += d.DataSegments
			rtx += d.RetransmittedPackets
			to += d.TimeoutRetransmissions
			fast += d.FastRetransmissions
			spur += d.SpuriousRetransmissions
			reo += d.ReorderedPackets
			lost += d.LostSegments
			if d.Reordering != nil {
				ext = max(ext, d.Reordering.ExtentMax)
			}
			goodput = max(goodput, d.GoodputBps)
		}
		if f.HandshakeRTTMs != nil {
			rtt = Number(*f.HandshakeRTTMs)
		}
		rows = append(rows, []string{f.ID, strconv.FormatUint(pk, 10), strconv.FormatUint(segs, 10),
			fmt.Sprintf("%d (%d/%d/%d)", rtx, to, fast, spur), capShare(reo, segs), strconv.FormatUint(ext, 10),
			strconv.FormatUint(lost, 10), rtt, capBitrate(goodput)})
	}
	p.table([]string{"FLOW", "PKTS", "SEGS", "RETRANS (TO/FAST/SPUR)", "REORDERED", "EXTENT", "LOST", "RTT MS", "GOODPUT"}, rows)
}

func (p *printer) captureTunnels(c *report.Capture) {
	if len(c.Tunnels) == 0 {
		return
	}
	p.heading("TUNNELS", "")
	var rows [][]string
	for _, t := range c.Tunnels {
		name := t.Type
		if t.ID != nil {
			name += " " + strconv.FormatUint(uint64(*t.ID), 10)
		}
		first := true
		for _, d := range t.Directions {
			if d.Packets == 0 {
				continue
			}
			seq, lost, reo, rep := "-", "-", "-", "-"
			if s := d.Sequence; s != nil {
				seq = d.SequenceSource
				lost, reo, rep = strconv.FormatUint(s.Lost, 10), strconv.FormatUint(s.ReorderedPackets, 10), strconv.FormatUint(s.Replays, 10)
			} else if d.OuterIPIDInOrder+d.OuterIPIDOutOfOrder > 0 {
				seq = fmt.Sprintf("outer IP ID %d up/%d back", d.OuterIPIDInOrder, d.OuterIPIDOutOfOrder)
			}
			inner := "-"
			if t.Flows > 0 && first {
				inner = fmt.Sprintf("%d flows, %d retrans, %d reordered", t.Flows, t.Inner.RetransmittedPackets, t.Inner.ReorderedPackets)
				if o := t.Inner.OuterOrder; o != nil && o.Underlay+o.BeforeEncapsulation > 0 {
					inner += fmt.Sprintf(" (%d late outside too, %d before encapsulation)", o.Underlay, o.BeforeEncapsulation)
				}
			}
			first = false
			rows = append(rows, []string{name, d.From + " > " + d.To, strconv.FormatUint(d.Packets, 10), seq, lost, reo, rep, inner})
		}
	}
	p.table([]string{"TUNNEL", "DIRECTION", "PKTS", "OUTER SEQUENCE", "LOST", "REORDERED", "REPLAYS", "INNER"}, rows)
}

func capShare(n, of uint64) string {
	if n == 0 {
		return "0"
	}
	if of == 0 {
		return strconv.FormatUint(n, 10)
	}
	return fmt.Sprintf("%d (%s%%)", n, Number(100*float64(n)/float64(of)))
}

func capBitrate(bps float64) string {
	switch {
	case bps <= 0:
		return "-"
	case bps >= 1e9:
		return Number(bps/1e9) + " Gbit/s"
	case bps >= 1e6:
		return Number(bps/1e6) + " Mbit/s"
	case bps >= 1e3:
		return Number(bps/1e3) + " kbit/s"
	}
	return Number(bps) + " bit/s"
}
