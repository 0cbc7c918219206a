package render

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/netdx/netdx/report"
)

// connLimitNames are the limits as the connections table writes them.
var connLimitNames = map[string]string{"retransmitting": "retrans", "reordering": "reorder", "rwnd_limited": "rwnd",
	"sndbuf_limited": "sndbuf", "app_limited": "app"}

// diagConnections prints the per-connection TCP view: each connection a
// limit held back once, in the view's order (worst of each limit first),
// with what held it back. Connections only their application limited are
// counted, not listed, unless --conn asked about them: most connections
// are, most of the time.
func (p *printer) diagConnections(v diagView) {
	c := v.d.Connections
	if c == nil {
		return
	}
	var counts []string
	for _, l := range c.Limits {
		counts = append(counts, fmt.Sprintf("%d %s", l.Count, connLimitNames[l.Limit]))
	}
	span := "over their life"
	if c.WindowSeconds > 0 {
		span = "in " + Number(c.WindowSeconds) + "s"
	}
	detail := fmt.Sprintf("%d carrying data %s", c.Conns, span)
	if c.Filter != "" {
		detail += " matching " + c.Filter
	}
	if len(counts) > 0 {
		detail += "; held back: " + strings.Join(counts, ", ")
	} else {
		detail += "; none held back"
	}
	p.sub("TCP CONNECTIONS", detail)
	seen := map[uint64]bool{}
	var rows [][]string
	for _, l := range c.Limits {
		if l.Limit == "app_limited" && c.Filter == "" {
			continue
		}
		for _, conn := range l.Conns {
			if seen[conn.Cookie] {
				continue
			}
			seen[conn.Cookie] = true
			rows = append(rows, connRow(conn))
		}
	}
	if len(rows) == 0 {
		return
	}
	shown := rows
	if len(shown) > diagRows {
		shown = shown[:diagRows]
	}
	// The peer names the row (the address to trace); the numbers and
	// this host's end move below the row when the table is too wide for
	// the terminal.
	p.notesTable([]string{"PEER", "PROCESS", "LIMITED BY", "RTT MS", "DETAIL", "LOCAL"}, shown, 2)
	p.more(len(rows)-len(shown), "connections")
}

// connRow is one connection's row of the connections table.
func connRow(c report.DiagConn) []string {
	var limits []string
	for _, l := range c.Limits {
		limits = append(limits, connLimitNames[l])
	}
	var detail []string
	if c.RetransSegs > 0 {
		d := "resent " + strconv.FormatUint(c.RetransSegs, 10)
		if c.RetransPct != nil {
			d += " (" + pct(*c.RetransPct/100) + ")"
		}
		if c.RTOs != nil {
			d += ", " + strconv.FormatUint(*c.RTOs, 10) + " RTO"
		}
		if c.DSACKDups != nil && *c.DSACKDups > 0 {
			d += ", " + strconv.FormatUint(*c.DSACKDups, 10) + " D-SACKed"
		}
		detail = append(detail, d)
	}
	if c.ReordSeen != nil && *c.ReordSeen > 0 {
		detail = append(detail, "reordered "+strconv.FormatUint(*c.ReordSeen, 10))
	}
	if c.RwndLimitedPct != nil && *c.RwndLimitedPct > 0 {
		detail = append(detail, "peer window "+pct(*c.RwndLimitedPct/100)+" of busy time")
	}
	if c.SndbufLimitedPct != nil && *c.SndbufLimitedPct > 0 {
		detail = append(detail, "send buffer "+pct(*c.SndbufLimitedPct/100)+" of busy time")
	}
	if c.BytesSent != nil && len(detail) == 0 {
		detail = append(detail, "sent "+compact(float64(*c.BytesSent))+" B")
	}
	return []string{c.Remote, procText(c.Process), strings.Join(limits, "+"), Number(c.RTTMs), dash(strings.Join(detail, "; ")), c.Local}
}
