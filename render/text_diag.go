package render

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/netdx/netdx/report"
)

// diagRows caps the rows of the per-interface, per-socket and per-CPU
// tables; the JSON document has them all.
const diagRows = 12

// diag prints what netdx diag read, by layer from the wire up: NIC,
// driver and ring, softnet, qdisc, IP, TCP and UDP, sockets, conntrack,
// MPTCP. Rates are per second over the interval; since boot, totals.
func (p *printer) diag(d *report.Diag) {
	if d == nil {
		return
	}
	v := diagView{d: d}
	if d.SinceBoot {
		p.heading("DIAG", "one sample: totals since boot (--interval 0), no rates"+uptime(d.UptimeSeconds))
	} else {
		p.heading("DIAG", fmt.Sprintf("two samples %ss apart; rates per second", Number(d.IntervalSeconds)))
	}
	p.wrap("", readFromText(d.ReadFrom))
	p.diagNIC(v)
	p.diagDriver(v)
	p.diagSoftnet(v)
	p.diagQdisc(v)
	p.diagProtocols(v)
	p.diagSockets(v)
	p.diagConntrack(v)
	p.mptcp(d.MPTCP)
}

// diagView formats counters for the window: a rate over an interval, a
// total since boot.
type diagView struct{ d *report.Diag }

func (v diagView) val(c report.DiagCounter) string {
	if v.d.SinceBoot || c.RatePerSec == nil {
		return compact(float64(c.Total))
	}
	return compact(*c.RatePerSec)
}

// delta is the counter's change over the window (its total since boot).
func (v diagView) delta(c report.DiagCounter) uint64 {
	if c.Delta != nil {
		return *c.Delta
	}
	return c.Total
}

// stat sums counters of one map; found is false when none is present.
func (v diagView) stat(m map[string]report.DiagCounter, names ...string) (sum report.DiagCounter, found bool) {
	for _, n := range names {
		if c, ok := m[n]; ok {
			found = true
			addCounter(&sum, c)
		}
	}
	return sum, found
}

// addCounter adds c into dst, keeping delta and rate absent when c has none.
func addCounter(dst *report.DiagCounter, c report.DiagCounter) {
	dst.Total += c.Total
	if c.Delta != nil {
		d := *c.Delta
		if dst.Delta != nil {
			d += *dst.Delta
		}
		dst.Delta = &d
	}
	if c.RatePerSec != nil {
		r := *c.RatePerSec
		if dst.RatePerSec != nil {
			r += *dst.RatePerSec
		}
		dst.RatePerSec = &r
	}
}

func (v diagView) show(m map[string]report.DiagCounter, names ...string) string {
	c, ok := v.stat(m, names...)
	if !ok {
		return "-"
	}
	return v.val(c)
}

func (p *printer) sub(title, detail string) {
	if p.t.Styled {
		title = p.style().Bold(true).Render(title)
	}
	if detail != "" {
		title += "  " + detail
	}
	p.printf("\n")
	p.wrap("", title)
}

// more says how many rows were left out.
func (p *printer) more(n int, what string) {
	if n > 0 {
		p.printf("… %d more %s (all in --json)\n", n, what)
	}
}

func (p *printer) diagNIC(v diagView) {
	ifs := append([]report.DiagInterface(nil), v.d.Interfaces...)
	if len(ifs) == 0 {
		return
	}
	// Interfaces with drops or errors first, then the busiest.
	trouble := func(i report.DiagInterface) uint64 {
		var n uint64
		for _, s := range []string{"rx_dropped", "tx_dropped", "rx_errors", "tx_errors", "rx_missed_errors"} {
			if c, ok := i.Stats[s]; ok {
				n += v.delta(c)
			}
		}
		return n
	}
	traffic := func(i report.DiagInterface) uint64 {
		c, _ := v.stat(i.Stats, "rx_packets", "tx_packets")
		return v.delta(c)
	}
	sort.SliceStable(ifs, func(a, b int) bool {
		ta, tb := trouble(ifs[a]), trouble(ifs[b])
		if (ta > 0) != (tb > 0) {
			return ta > 0
		}
		return traffic(ifs[a]) > traffic(ifs[b])
	})
	p.sub("NIC", "")
	linkRows, trafficRows := [][]string{}, [][]string{}
	for i, f := range ifs {
		if i == diagRows {
			break
		}
		linkRows = append(linkRows, []string{f.Name, dash(f.Kind), dash(f.OperState), speedText(f.SpeedMbps), positive(f.MTU),
			intPtr(f.TxQueueLen), dash(f.Master)})
		trafficRows = append(trafficRows, []string{f.Name, v.show(f.Stats, "rx_packets"), v.show(f.Stats, "tx_packets"),
			bits(v, f.Stats, "rx_bytes"), bits(v, f.Stats, "tx_bytes"), v.show(f.Stats, "rx_dropped", "rx_missed_errors"),
			v.show(f.Stats, "tx_dropped"), v.show(f.Stats, "rx_errors", "tx_errors")})
	}
	p.table([]string{"IFACE", "KIND", "STATE", "SPEED", "MTU", "TXQLEN", "MASTER"}, linkRows)
	p.table([]string{"IFACE", "RX PKT", "TX PKT", "RX BIT", "TX BIT", "RX DROP", "TX DROP", "ERR"}, trafficRows)
	p.more(len(ifs)-diagRows, "interfaces")
}

// bits is the bit rate of a byte counter (its bits since boot).
func bits(v diagView, m map[string]report.DiagCounter, name string) string {
	c, ok := m[name]
	if !ok {
		return "-"
	}
	if v.d.SinceBoot || c.RatePerSec == nil {
		return compact(float64(c.Total) * 8)
	}
	return compact(*c.RatePerSec * 8)
}

func speedText(mbps *int64) string {
	switch {
	case mbps == nil:
		return "-"
	case *mbps >= 1000 && *mbps%1000 == 0:
		return fmt.Sprintf("%dG", *mbps/1000)
	default:
		return fmt.Sprintf("%dM", *mbps)
	}
}

// dash stands in for an empty cell.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func positive(n int) string {
	if n <= 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

func intPtr(n *int) string {
	if n == nil {
		return "-"
	}
	return strconv.Itoa(*n)
}

func (p *printer) diagDriver(v diagView) {
	rows := [][]string{}
	for _, f := range v.d.Interfaces {
		if f.Driver == nil && f.Ring == nil && f.Channels == nil {
			continue
		}
		driver := "-"
		if f.Driver != nil {
			driver = f.Driver.Driver
		}
		ring := "n/a"
		if f.Ring != nil {
			ring = fmt.Sprintf("%d/%d %d/%d", f.Ring.Rx, f.Ring.RxMax, f.Ring.Tx, f.Ring.TxMax)
		}
		ch := "n/a"
		if c := f.Channels; c != nil {
			ch = fmt.Sprintf("%d/%d", c.Combined+c.Rx, c.MaxCombined+c.MaxRx)
		}
		rows = append(rows, []string{f.Name, driver, ring, ch, offloadText(f.Offloads), dropStats(v, f.EthtoolStats, f.EthtoolDropStats)})
	}
	if len(rows) == 0 {
		return
	}
	p.sub("DRIVER / RING", "ring and channels: current/max")
	shown := rows
	if len(shown) > diagRows {
		shown = shown[:diagRows]
	}
	p.table([]string{"IFACE", "DRIVER", "RING RX TX", "CHANNELS", "OFFLOADS", "DROP COUNTERS"}, shown)
	p.more(len(rows)-len(shown), "interfaces")
}

func offloadText(o map[string]bool) string {
	var on []string
	for _, f := range []struct{ key, label string }{{"rx-gro", "gro"}, {"rx-gro-hw", "gro-hw"}, {"rx-lro", "lro"},
		{"tx-generic-segmentation", "gso"}, {"tx-tcp-segmentation", "tso"}} {
		if o[f.key] {
			on = append(on, f.label)
		}
	}
	if len(on) == 0 {
		return "-"
	}
	return strings.Join(on, ",")
}

// dropStats lists the ethtool drop statistics that grew, largest first.
func dropStats(v diagView, m map[string]report.DiagCounter, drops []string) string {
	type kv struct {
		name string
		d    uint64
	}
	var grew []kv
	for _, name := range drops {
		if d := v.delta(m[name]); d > 0 {
			grew = append(grew, kv{name, d})
		}
	}
	sort.Slice(grew, func(i, j int) bool {
		if grew[i].d != grew[j].d {
			return grew[i].d > grew[j].d
		}
		return grew[i].name < grew[j].name
	})
	var parts []string
	for i, g := range grew {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("+%d more", len(grew)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("%s +%d", g.name, g.d))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func (p *printer) diagSoftnet(v diagView) {
	cpus := v.d.Softnet
	if len(cpus) == 0 {
		return
	}
	var all report.DiagSoftnetCPU
	var busy []report.DiagSoftnetCPU
	for _, c := range cpus {
		addCounter(&all.Processed, c.Processed)
		addCounter(&all.Dropped, c.Dropped)
		addCounter(&all.TimeSqueeze, c.TimeSqueeze)
		if c.FlowLimitCount != nil {
			if all.FlowLimitCount == nil {
				all.FlowLimitCount = &report.DiagCounter{}
			}
			addCounter(all.FlowLimitCount, *c.FlowLimitCount)
		}
		if v.delta(c.Dropped)+v.delta(c.TimeSqueeze) > 0 {
			busy = append(busy, c)
		}
	}
	p.sub("SOFTNET", fmt.Sprintf("%d CPUs%s", len(cpus), v.mark("softnet")))
	row := func(name string, c report.DiagSoftnetCPU) []string {
		fl := "-"
		if c.FlowLimitCount != nil {
			fl = v.val(*c.FlowLimitCount)
		}
		return []string{name, v.val(c.Processed), v.val(c.Dropped), v.val(c.TimeSqueeze), fl}
	}
	rows := [][]string{row("all", all)}
	sort.SliceStable(busy, func(i, j int) bool {
		return v.delta(busy[i].Dropped)+v.delta(busy[i].TimeSqueeze) > v.delta(busy[j].Dropped)+v.delta(busy[j].TimeSqueeze)
	})
	for i, c := range busy {
		if i == diagRows {
			break
		}
		rows = append(rows, row(strconv.Itoa(c.CPU), c))
	}
	p.table([]string{"CPU", "PROCESSED", "DROPPED", "SQUEEZED", "FLOW LIMIT"}, rows)
	p.more(len(busy)-diagRows, "CPUs with drops or squeezes")
}

func (p *printer) diagQdisc(v diagView) {
	var rows [][]string
	for _, q := range v.d.Qdiscs {
		if !q.Root && v.delta(q.Drops)+v.delta(q.Requeues) == 0 {
			continue
		}
		if q.Kind == "noqueue" {
			continue
		}
		rows = append(rows, []string{q.Iface, q.Kind, q.Parent, v.val(q.Packets), v.val(q.Drops), v.val(q.Overlimits),
			v.val(q.Requeues), strconv.FormatUint(q.BacklogBytes, 10), strconv.FormatUint(q.Qlen, 10)})
	}
	if len(rows) == 0 {
		return
	}
	p.sub("QDISC", "root qdiscs, and children that dropped or requeued")
	shown := rows
	if len(shown) > diagRows {
		shown = shown[:diagRows]
	}
	p.table([]string{"IFACE", "KIND", "PARENT", "PKT", "DROPS", "OVERLIMITS", "REQUEUES", "BACKLOG B", "QLEN"}, shown)
	p.more(len(rows)-len(shown), "qdiscs")
}

// line prints "label  name value · name value" for counters of one layer.
func (p *printer) line(label string, parts []string) {
	var keep []string
	for _, s := range parts {
		if s != "" {
			keep = append(keep, s)
		}
	}
	if len(keep) == 0 {
		return
	}
	p.sub(label, "")
	p.wrap("", strings.Join(keep, " · "))
}

func (v diagView) counter(section, name, label string) string {
	c, ok := v.d.Netstat[section][name]
	if !ok {
		return ""
	}
	return label + " " + v.val(c)
}

func (p *printer) diagProtocols(v diagView) {
	if v.d.Netstat == nil {
		return
	}
	p.line("IP", []string{
		v.counter("Ip", "InReceives", "in"), v.counter("Ip", "InDiscards", "discards"),
		v.counter("Ip", "InHdrErrors", "header errors"), v.counter("Ip", "ReasmFails", "reassembly failures"),
		v.counter("IpExt", "InNoRoutes", "no route"), v.counter("TcpExt", "IPReversePathFilter", "rp_filter drops"),
		v.counter("Ip6", "InReceives", "in6"), v.counter("Ip6", "InDiscards", "discards6"),
	})
	retrans := ""
	if o, ok := v.d.Netstat["Tcp"]["OutSegs"]; ok {
		if r, ok := v.d.Netstat["Tcp"]["RetransSegs"]; ok && v.delta(o) > 0 {
			retrans = fmt.Sprintf("retransmitted %s", pct(float64(v.delta(r))/float64(v.delta(o))))
		}
	}
	p.line("TCP", []string{
		v.counter("Tcp", "InSegs", "in"), v.counter("Tcp", "OutSegs", "out"), v.counter("Tcp", "RetransSegs", "retrans"), retrans,
		v.counter("TcpExt", "TCPTimeouts", "RTOs"), v.counter("TcpExt", "TCPSynRetrans", "SYN retrans"),
		v.counter("TcpExt", "ListenOverflows", "listen overflows"), v.counter("TcpExt", "TCPReqQFullDrop", "SYN drops"),
		v.counter("TcpExt", "SyncookiesSent", "cookies sent"), v.counter("TcpExt", "TCPRcvQDrop", "rcvq drops"),
		v.counter("TcpExt", "TCPBacklogDrop", "backlog drops"), v.counter("TcpExt", "TCPZeroWindowDrop", "zero-window drops"),
		v.counter("TcpExt", "TCPSACKReorder", "SACK reorder"), v.counter("TcpExt", "TCPDSACKRecv", "DSACKs"),
		v.counter("Tcp", "CurrEstab", "established"),
	})
	p.line("UDP", []string{
		v.counter("Udp", "InDatagrams", "in"), v.counter("Udp", "OutDatagrams", "out"),
		v.counter("Udp", "RcvbufErrors", "rcvbuf errors"), v.counter("Udp", "SndbufErrors", "sndbuf errors"),
		v.counter("Udp", "InErrors", "in errors"), v.counter("Udp", "NoPorts", "no port"),
		v.counter("Udp6", "RcvbufErrors", "rcvbuf errors6"), v.counter("Udp", "MemErrors", "mem errors"),
	})
}

func (p *printer) diagSockets(v diagView) {
	s := v.d.Sockets
	if s == nil {
		return
	}
	detail := ""
	if st := s.Sockstat; st != nil {
		var parts []string
		if t, ok := st["TCP"]; ok {
			parts = append(parts, fmt.Sprintf("TCP in use %d, orphans %d%s, time-wait %d, memory %d pages%s", t["inuse"], t["orphan"],
				v.mark("sockets.sockstat.TCP.orphan"), t["tw"], t["mem"], v.mark("sockets.sockstat.TCP.mem")))
		}
		if u, ok := st["UDP"]; ok {
			parts = append(parts, fmt.Sprintf("UDP in use %d, memory %d pages%s", u["inuse"], u["mem"], v.mark("sockets.sockstat.UDP.mem")))
		}
		detail = strings.Join(parts, "; ")
	}
	p.sub("SOCKETS", detail)
	if len(s.Listeners) > 0 {
		ls := append([]report.DiagListener(nil), s.Listeners...)
		sort.SliceStable(ls, func(i, j int) bool { return ls[i].FillPct > ls[j].FillPct })
		rows := [][]string{}
		for i, l := range ls {
			if i == diagRows {
				break
			}
			drops := "-"
			if l.Drops != nil {
				drops = strconv.FormatUint(v.delta(*l.Drops), 10)
			}
			rows = append(rows, []string{l.Local, procText(l.Process), strconv.FormatUint(l.AcceptQueue, 10),
				strconv.FormatUint(l.Backlog, 10), pct(l.FillPct / 100), drops})
		}
		p.table([]string{"LISTEN", "PROCESS", "QUEUE", "BACKLOG", "FILL", "DROPS"}, rows)
		p.more(len(ls)-diagRows, "listeners")
	}
	if len(s.UDP) > 0 {
		us := append([]report.DiagUDPSocket(nil), s.UDP...)
		sort.SliceStable(us, func(i, j int) bool { return v.delta(us[i].Drops) > v.delta(us[j].Drops) })
		rows := [][]string{}
		for i, u := range us {
			if i == diagRows {
				break
			}
			rows = append(rows, []string{u.Local, procText(u.Process), strconv.FormatUint(u.RxQueueBytes, 10),
				strconv.FormatUint(v.delta(u.Drops), 10), strconv.FormatUint(u.Drops.Total, 10)})
		}
		p.table([]string{"UDP", "PROCESS", "RX QUEUE B", "DROPS", "DROPS TOTAL"}, rows)
		p.more(len(us)-diagRows, "UDP sockets")
	}
	if len(s.TCP) > 0 {
		ts := append([]report.DiagTCPSocket(nil), s.TCP...)
		sort.SliceStable(ts, func(i, j int) bool { return v.delta(ts[i].Drops) > v.delta(ts[j].Drops) })
		rows := [][]string{}
		for i, c := range ts {
			if i == diagRows {
				break
			}
			rows = append(rows, []string{c.Local, c.Remote, procText(c.Process), fmt.Sprintf("%d/%d", c.RecvQBytes, c.RcvBufBytes),
				strconv.FormatUint(v.delta(c.Drops), 10), strconv.FormatUint(c.Drops.Total, 10)})
		}
		p.table([]string{"TCP", "PEER", "PROCESS", "RECV-Q/RCVBUF B", "DROPS", "DROPS TOTAL"}, rows)
		p.more(len(ts)-diagRows, "TCP connections with drops")
	}
}

func procText(pr *report.DiagProcess) string {
	if pr == nil {
		return "-"
	}
	return fmt.Sprintf("%s[%d]", pr.Comm, pr.PID)
}

func (p *printer) diagConntrack(v diagView) {
	ct := v.d.Conntrack
	if ct == nil {
		return
	}
	var parts []string
	if ct.Count != nil && ct.Max != nil {
		fill := ""
		if ct.FillPct != nil {
			fill = " (" + pct(*ct.FillPct/100) + ")"
		}
		parts = append(parts, fmt.Sprintf("entries %d of %d%s%s", *ct.Count, *ct.Max, v.mark("conntrack.max"), fill))
	}
	for _, n := range []string{"drop", "early_drop", "insert_failed", "invalid", "clashres", "search_restart"} {
		if c, ok := ct.Stats[n]; ok {
			parts = append(parts, n+" "+v.val(c))
		}
	}
	p.line("CONNTRACK", parts)
}

// compact formats a count or rate briefly: 950, 12.3k, 4.5M, 1.2G.
func compact(x float64) string {
	a := math.Abs(x)
	switch {
	case a >= 1e9:
		return strconv.FormatFloat(x/1e9, 'f', 1, 64) + "G"
	case a >= 1e6:
		return strconv.FormatFloat(x/1e6, 'f', 1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(x/1e3, 'f', 1, 64) + "k"
	case a == math.Trunc(a):
		return strconv.FormatFloat(x, 'f', 0, 64)
	default:
		return strconv.FormatFloat(x, 'f', 1, 64)
	}
}

func pct(r float64) string {
	p := r * 100
	switch {
	case p >= 10 || p == 0:
		return fmt.Sprintf("%.0f%%", p)
	case p >= 1:
		return fmt.Sprintf("%.1f%%", p)
	default:
		return fmt.Sprintf("%.2f%%", p)
	}
}

func uptime(secs float64) string {
	if secs <= 0 {
		return ""
	}
	d := int64(secs)
	return fmt.Sprintf(", up %dd %dh", d/86400, d%86400/3600)
}
