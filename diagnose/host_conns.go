package diagnose

import (
	"fmt"
	"strings"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/report"
)

// Per-connection TCP health: which connections suffer, and from what,
// judged on each connection's own tcp_info over the window (the
// collectors' TCPHealth view, which lists the worst of each limit).

// Thresholds of the per-connection rules. They ask more than the
// collectors' listing floors (collectors.TCPRetransMinSegs and friends):
// a connection listed is not yet a finding.
const (
	connRetransMinSegs   = 10   // segments one connection resent in the window
	connRetransWarnShare = 0.01 // of its data segments (as tcp.retransmits)
	connRetransCritShare = 0.10
	connRTOShare         = 0.20 // of its retransmissions, RTOs that make it tail loss
	connReorderMin       = 10   // reordering events of one connection in the window
	connReorderRate      = 1    // per second
	connSpuriousShare    = 0.10 // D-SACKed share of its retransmissions: reordering costs resends
	connStallInfoShare   = 0.10 // of its busy time stalled by the peer's window or its send buffer
	connStallWarnShare   = 0.50
	connStallWindowShare = 0.10 // the stall's share of the window, so a blip of a mostly idle connection is none
	connAppMinBytes      = 65536
)

// connListed caps how many connections a finding names in its evidence.
const connListed = 5

func init() { onFirstUse(registerHostConns) }

// registerHostConns registers this file's rules, on the catalog's first use.
func registerHostConns() {
	since := "Since boot (--interval 0) the counts cover each connection's life, and findings are information at most."
	register(Rule{Name: "TCP connections", Source: SourceHost, Layer: LayerTCP, Check: checkConns}, Entry{
		ID: "tcp.conn_retransmits", Title: "Connections retransmitting",
		Source: SourceHost, Layer: LayerTCP, Object: report.ObjectConnection, Severity: Warning,
		Explanation: "These connections resent a share of their data segments in the window (their own tcp_info): " +
			"segments or their acknowledgements were lost on the way to or from that peer, or the sender took " +
			"late ones for lost. Retransmission timeouts (RTOs) cost at least 200 ms each; fast recovery a round " +
			"trip. D-SACKs from the peer say which resends were spurious.",
		Thresholds: fmt.Sprintf("Per connection, over the interval: %d or more segments resent and %.0f%% or more of "+
			"its data segments is a warning, %.0f%% or more critical. RTOs making up %.0f%% or more of the resends "+
			"are called tail loss. %s", connRetransMinSegs, connRetransWarnShare*100, connRetransCritShare*100,
			connRTOShare*100, since),
		Remediation: "Find where that peer's packets are lost: local drops first (qdisc, NIC, softnet findings), " +
			"then the path (`netdx trace PEER`). Resends the peer reports as duplicates (D-SACK) were not lost: " +
			"reordering or a timeout too short for the path.",
		Evidence: []string{"per connection: tcpi_total_retrans, tcpi_data_segs_out, tcpi_total_rto, tcpi_dsack_dups, rtt, cwnd, process"},
	}, Entry{
		ID: "tcp.conn_reordering", Title: "Connections see their segments reordered",
		Source: SourceHost, Layer: LayerTCP, Object: report.ObjectConnection, Severity: Info,
		Explanation: "The sender saw its segments delivered out of order (tcpi_reord_seen): the path to that peer " +
			"reorders (ECMP or bonding spreading one flow, tunnel endpoints batching, multi-queue forwarding). " +
			"Reordering makes TCP resend segments that were only late; the peer's D-SACKs count those.",
		Thresholds: fmt.Sprintf("Per connection, over the interval: %d or more reordering events at %d/s or more is "+
			"information, a warning when D-SACKs make up %.0f%% or more of its resends. %s", connReorderMin,
			connReorderRate, connSpuriousShare*100, since),
		Remediation: "Keep RACK on (net.ipv4.tcp_recovery=1); look for what spreads the flow over paths or " +
			"queues between the peers (the ECMP or bond hash, GRO/GSO at tunnel endpoints).",
		Evidence: []string{"per connection: tcpi_reord_seen, tcpi_dsack_dups, tcpi_total_retrans, process"},
	}, Entry{
		ID: "tcp.conn_rwnd_limited", Title: "Connections held back by the peer's receive window",
		Source: SourceHost, Layer: LayerTCP, Object: report.ObjectConnection, Severity: Info,
		Explanation: "This host had data to send and room in its congestion window, but the peer's advertised " +
			"receive window was full (tcpi_rwnd_limited): the peer's receiver sets the pace, because its " +
			"application reads slowly or its receive buffer is small. Nothing on this host or the path would " +
			"make it faster.",
		Thresholds: fmt.Sprintf("Per connection, over the interval: stalled by the peer's window %.0f%% or more of its "+
			"busy time (and %.0f%% or more of the window) is information, %.0f%% or more a warning. %s",
			connStallInfoShare*100, connStallWindowShare*100, connStallWarnShare*100, since),
		Remediation: "On the peer: see whether its application keeps up reading (`ss -tm` there: a large Recv-Q) " +
			"and whether its receive buffer may grow (net.ipv4.tcp_rmem, and SO_RCVBUF, which stops autotuning).",
		Evidence: []string{"per connection: tcpi_rwnd_limited, tcpi_busy_time, notsent bytes, send queue, process"},
	}, Entry{
		ID: "tcp.conn_sndbuf_limited", Title: "Connections held back by their own send buffer",
		Source: SourceHost, Layer: LayerTCP, Object: report.ObjectConnection, Severity: Info,
		Explanation: "The peer and the path could have taken more, but this socket's send buffer was full " +
			"(tcpi_sndbuf_limited): the buffer is smaller than the connection's bandwidth-delay product. " +
			"Autotuning grows it up to net.ipv4.tcp_wmem's maximum unless the application set SO_SNDBUF, which " +
			"caps it at net.core.wmem_max.",
		Thresholds: fmt.Sprintf("Per connection, over the interval: stalled by its send buffer %.0f%% or more of its "+
			"busy time (and %.0f%% or more of the window) is information, %.0f%% or more a warning. %s",
			connStallInfoShare*100, connStallWindowShare*100, connStallWarnShare*100, since),
		Remediation: "Raise the maximum of net.ipv4.tcp_wmem; for an application that sets SO_SNDBUF, raise its " +
			"setting and net.core.wmem_max, or let it stop setting it.",
		Evidence: []string{"per connection: tcpi_sndbuf_limited, tcpi_busy_time, send buffer, net.ipv4.tcp_wmem, net.core.wmem_max, process"},
	}, Entry{
		ID: "tcp.conn_app_limited", Title: "Connection limited by its application, not the network",
		Source: SourceHost, Layer: LayerTCP, Object: report.ObjectConnection, Severity: Info,
		Explanation: "The connection asked about (--conn) sent data, and the kernel's last delivery-rate sample " +
			"found the application, not the network, was what kept it from sending more: it wrote less than the " +
			"connection could carry. Most connections are, most of the time, so it is said only of the " +
			"connections --conn names, when nothing else limited them.",
		Thresholds: fmt.Sprintf("With --conn, per connection: the app-limited flag set, at least %d bytes sent in "+
			"the window, and no other limit.", connAppMinBytes),
		Remediation: "Look at the application (how it writes, its CPU, what it waits on), not the network.",
		Evidence:    []string{"per connection: tcpi_delivery_rate_app_limited, bytes sent, delivery rate, process"},
	})
}

// connName names a connection by its addresses and process.
func connName(c *collectors.TCPConnHealth) string {
	s := c.Local.String() + " → " + c.Remote.String()
	if c.Process != nil {
		s += " (" + c.Process.String() + ")"
	}
	return s
}

// connView is the per-connection view with what the rules read of it.
type connView struct {
	h         *collectors.TCPHealth
	s         *sample
	sinceBoot bool
	secs      float64
}

func checkConns(in *Input) Outcome {
	s := newSample(in)
	h := in.TCPHealth()
	if h == nil {
		for _, sk := range s.After.Skipped {
			if strings.HasPrefix(sk.Source, "sock_diag") {
				return Outcome{NotChecked: "TCP connections not read: " + sk.Message}
			}
		}
		if s.After.Sockets != nil && s.After.Sockets.TCP != nil {
			return Outcome{NotChecked: "no tcp_info in this recording (made before netdx read it)"}
		}
		return Outcome{NotChecked: "TCP connections not read"}
	}
	v := connView{h: h, s: s, sinceBoot: h.WindowSeconds == 0, secs: h.WindowSeconds}
	var out Outcome
	for _, f := range []*Finding{v.retransmits(), v.reordering(), v.stalled(collectors.TCPRwndLimited), v.stalled(collectors.TCPSndbufLimited), v.appLimited()} {
		if f != nil {
			out.Findings = append(out.Findings, *f)
		}
	}
	if len(out.Findings) == 0 {
		out.Detail = v.detail()
	}
	return out
}

// detail says what the view holds when nothing is worth a finding.
func (v connView) detail() string {
	d := fmt.Sprintf("%s %s", plural(v.h.Conns, "connection"), v.window())
	if v.h.Filter != "" {
		d += " matching " + v.h.Filter
	}
	var parts []string
	for _, g := range v.h.Limits {
		parts = append(parts, fmt.Sprintf("%d %s", len(g.Conns)+g.More, strings.ReplaceAll(string(g.Limit), "_", "-")))
	}
	if len(parts) == 0 {
		return d + ", none held back"
	}
	return d + ", none past the thresholds (" + strings.Join(parts, ", ") + ")"
}

// window says what the counts cover.
func (v connView) window() string {
	if v.sinceBoot {
		return "over their life"
	}
	return "in " + fmtSeconds(v.secs)
}

// judged lists the connections of limit l whose severity is not 0, the
// worst first, with the severity of the worst.
func (v connView) judged(l collectors.TCPLimit, judge func(c *collectors.TCPConnHealth) Severity) ([]*collectors.TCPConnHealth, Severity, int) {
	g := v.h.Group(l)
	if g == nil {
		return nil, 0, 0
	}
	var out []*collectors.TCPConnHealth
	var worst Severity
	for _, c := range g.Conns {
		sev := judge(c)
		if sev == 0 {
			continue
		}
		if v.sinceBoot {
			sev = Info
		}
		if len(out) == 0 {
			worst = sev
		}
		out = append(out, c)
	}
	return out, worst, g.More
}

// finding starts a finding about conns, the worst named as its subject,
// each listed in evidence up to connListed, more counted.
func (v connView) finding(id string, sev Severity, conns []*collectors.TCPConnHealth, more int, describe func(c *collectors.TCPConnHealth) string) *Finding {
	f := &Finding{ID: id, Severity: sev, Subject: connName(conns[0])}
	for i, c := range conns {
		if i == connListed {
			more += len(conns) - connListed
			break
		}
		f.Evidence = append(f.Evidence, Text("connection "+connName(c), describe(c)))
	}
	if more > 0 {
		f.Evidence = append(f.Evidence, Num("connections with this limit not listed", float64(more), ""))
		f.Notes = append(f.Notes, fmt.Sprintf("%d more connections have this limit; --conn narrows the view, --conn-top lists more, --json has every one listed.", more))
	}
	return f
}

// others says how many more connections a summary's first one stands for.
func others(conns []*collectors.TCPConnHealth, more int, what string) string {
	n := len(conns) - 1 + more
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" %s %s too.", plural(n, "more connection"), what)
}

func u64v(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}

func f64v(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

func (v connView) retransmits() *Finding {
	conns, sev, more := v.judged(collectors.TCPRetransmitting, func(c *collectors.TCPConnHealth) Severity {
		share := f64v(c.RetransShare)
		gate := c.RetransSegs >= connRetransMinSegs && c.RetransShare != nil
		return grade(critical(gate && share >= connRetransCritShare), warning(gate && share >= connRetransWarnShare))
	})
	if len(conns) == 0 {
		return nil
	}
	describe := func(c *collectors.TCPConnHealth) string {
		parts := []string{fmt.Sprintf("%d of %d data segments resent (%s)", c.RetransSegs, u64v(c.DataSegsOut), fmtPct(f64v(c.RetransShare)))}
		if c.RTOs != nil {
			parts = append(parts, fmt.Sprintf("%d RTOs", *c.RTOs))
		}
		if c.DSACKDups != nil {
			parts = append(parts, fmt.Sprintf("%d D-SACKed", *c.DSACKDups))
		}
		parts = append(parts, fmt.Sprintf("rtt %s ms, cwnd %d, %s", fmtMs(c.RTTUs), c.SndCwnd, c.CAState))
		return strings.Join(parts, ", ")
	}
	w := conns[0]
	f := v.finding("tcp.conn_retransmits", sev, conns, more, describe)
	how := "by fast recovery"
	switch {
	case w.RTOs == nil:
		how = "(this kernel does not count a connection's RTOs)"
	case *w.RTOs > 0 && float64(*w.RTOs) >= connRTOShare*float64(w.RetransSegs):
		how = fmt.Sprintf("%d of them after retransmission timeouts: tail loss, or whole windows lost", *w.RTOs)
	case *w.RTOs > 0:
		how = fmt.Sprintf("mostly by fast recovery (%d RTOs)", *w.RTOs)
	}
	f.Summary = fmt.Sprintf("%s resent %d of its %d data segments %s (%s), %s.%s", connName(w), w.RetransSegs,
		u64v(w.DataSegsOut), v.window(), fmtPct(f64v(w.RetransShare)), how, others(conns, more, fmt.Sprintf("resent %s or more", fmtPct(connRetransWarnShare))))
	if sp := f64v(w.SpuriousShare); w.DSACKDups != nil && *w.DSACKDups > 0 {
		f.Notes = append(f.Notes, fmt.Sprintf("The peer reported %d of those resends as duplicates (D-SACK, %s): they were late, not lost, so part of this is reordering or a timeout too short for the path.", *w.DSACKDups, fmtPct(sp)))
	}
	rs := []remedy{}
	if local := localDropSummary(v.s); local != "" {
		rs = append(rs, step("This host drops packets too ("+local+"): fix those findings first."))
	}
	peers := map[string]bool{}
	for _, c := range conns {
		if p := c.Remote.Addr().String(); !peers[p] && len(peers) < connListed {
			peers[p] = true
			rs = append(rs, step("Trace the path to the peer: netdx trace "+p))
		}
	}
	v.s.prescribe(f, rs...)
	return f
}

func (v connView) reordering() *Finding {
	conns, sev, more := v.judged(collectors.TCPReordering, func(c *collectors.TCPConnHealth) Severity {
		reord := u64v(c.ReordSeen)
		often := reord >= connReorderMin && (v.sinceBoot || float64(reord)/v.secs >= connReorderRate)
		costly := c.RetransSegs > 0 && float64(u64v(c.DSACKDups)) >= connSpuriousShare*float64(c.RetransSegs)
		return grade(warning(often && costly), info(often))
	})
	if len(conns) == 0 {
		return nil
	}
	w := conns[0]
	f := v.finding("tcp.conn_reordering", sev, conns, more, func(c *collectors.TCPConnHealth) string {
		return fmt.Sprintf("%d reordering events, %d segments resent, %d D-SACKed, rtt %s ms", u64v(c.ReordSeen), c.RetransSegs, u64v(c.DSACKDups), fmtMs(c.RTTUs))
	})
	f.Summary = fmt.Sprintf("%s saw its segments delivered out of order %d times %s; %d of its %d resends were duplicates the peer already had (D-SACK).%s",
		connName(w), u64v(w.ReordSeen), v.window(), u64v(w.DSACKDups), w.RetransSegs, others(conns, more, "saw reordering"))
	rs := []remedy{step("Trace the path to " + w.Remote.Addr().String() + " for where it splits (ECMP, bonds, tunnels): netdx trace " + w.Remote.Addr().String())}
	if rec, ok := v.s.sysctlInt("net.ipv4.tcp_recovery", -1); ok && rec&1 == 0 {
		rs = append(rs, settingInt("net.ipv4.tcp_recovery", rec|1, "RACK: tell reordering from loss by time"))
	}
	v.s.prescribe(f, rs...)
	return f
}

// stallShares are a stall limit's share of the busy time and of the
// window of c.
func (v connView) stallShares(l collectors.TCPLimit, c *collectors.TCPConnHealth) (busy, window float64) {
	us, share := c.RwndLimitedUs, c.RwndShare
	if l == collectors.TCPSndbufLimited {
		us, share = c.SndbufLimitedUs, c.SndbufShare
	}
	window = 1 // a new connection's (or a since-boot) window is its life
	if !c.New && v.secs > 0 {
		window = float64(u64v(us)) / (v.secs * 1e6)
	}
	return f64v(share), window
}

func (v connView) stalled(l collectors.TCPLimit) *Finding {
	conns, sev, more := v.judged(l, func(c *collectors.TCPConnHealth) Severity {
		busy, window := v.stallShares(l, c)
		long := window >= connStallWindowShare
		return grade(warning(long && busy >= connStallWarnShare), info(long && busy >= connStallInfoShare))
	})
	if len(conns) == 0 {
		return nil
	}
	describe := func(c *collectors.TCPConnHealth) string {
		busy, _ := v.stallShares(l, c)
		parts := []string{fmt.Sprintf("stalled %s of its busy time", fmtPct(busy))}
		if c.NotsentBytes != nil {
			parts = append(parts, fmt.Sprintf("%d bytes written and not yet sent", *c.NotsentBytes))
		}
		parts = append(parts, fmt.Sprintf("send queue %d bytes", c.SendQ))
		if c.SndBuf != nil {
			parts = append(parts, fmt.Sprintf("send buffer %d bytes", *c.SndBuf))
		}
		return strings.Join(parts, ", ")
	}
	w := conns[0]
	busy, _ := v.stallShares(l, w)
	if l == collectors.TCPRwndLimited {
		f := v.finding("tcp.conn_rwnd_limited", sev, conns, more, describe)
		f.Summary = fmt.Sprintf("%s waited on the peer's receive window %s of the time it had data to send %s: the receiver at %s sets the pace.%s",
			connName(w), fmtPct(busy), v.window(), w.Remote, others(conns, more, "waited on their peer's window"))
		v.s.prescribe(f, step("On the peer "+w.Remote.Addr().String()+": see whether the application reading port "+fmt.Sprint(w.Remote.Port())+" keeps up (`ss -tm` there: a Recv-Q that stays large) and whether its receive buffer may grow (net.ipv4.tcp_rmem; SO_RCVBUF stops autotuning)"))
		f.Notes = append(f.Notes, "Nothing on this host or the path would make this connection faster: more bandwidth or a larger send buffer here only queues more data for the same window.")
		return f
	}
	f := v.finding("tcp.conn_sndbuf_limited", sev, conns, more, describe)
	f.Summary = fmt.Sprintf("%s had its send buffer full %s of the time it had data to send %s: the network could have taken more.%s",
		connName(w), fmtPct(busy), v.window(), others(conns, more, "had their send buffer full"))
	wmemEv, wmem, haveWmem := v.s.sysctl("net.ipv4.tcp_wmem")
	wmaxEv, wmax, _ := v.s.sysctl("net.core.wmem_max")
	f.Evidence = append(f.Evidence, wmemEv, wmaxEv)
	var rs []remedy
	if haveWmem && len(wmem) == 3 {
		grown := w.SndBuf != nil && int64(*w.SndBuf) >= wmem[2]
		rs = append(rs, setting("net.ipv4.tcp_wmem", fmt.Sprintf("%d %d %d", wmem[0], wmem[1], wmem[2]*2), "let autotuning grow send buffers further").
			unless(!grown && w.SndBuf != nil, fmt.Sprintf("Its send buffer (%d bytes) is below net.ipv4.tcp_wmem's maximum (%d), so autotuning is not what stops it: the application most likely set SO_SNDBUF, which caps it.", u32v(w.SndBuf), wmem[2])))
	}
	if len(wmax) == 1 {
		rs = append(rs, step(fmt.Sprintf("If the application sets SO_SNDBUF (%s holds the socket), raise its setting, and net.core.wmem_max (%d) which caps it, or let it stop setting it", processText(w), wmax[0])))
	}
	v.s.prescribe(f, rs...)
	return f
}

func u32v(p *uint32) uint32 {
	if p == nil {
		return 0
	}
	return *p
}

// processText names the process holding a connection, or says it is not
// known.
func processText(c *collectors.TCPConnHealth) string {
	if c.Process == nil {
		return "an unnamed process"
	}
	return c.Process.String()
}

func (v connView) appLimited() *Finding {
	if v.h.Filter == "" {
		return nil
	}
	conns, sev, more := v.judged(collectors.TCPAppLimited, func(c *collectors.TCPConnHealth) Severity {
		only := len(c.Limits) == 1
		return grade(info(only && u64v(c.BytesSent) >= connAppMinBytes))
	})
	if len(conns) == 0 {
		return nil
	}
	w := conns[0]
	f := v.finding("tcp.conn_app_limited", sev, conns, more, func(c *collectors.TCPConnHealth) string {
		s := fmtBytes(u64v(c.BytesSent)) + " sent"
		if c.DeliveryRate != nil {
			s += fmt.Sprintf(", last delivery rate %.1f Mbit/s", float64(*c.DeliveryRate)*8/1e6)
		}
		return s + fmt.Sprintf(", rtt %s ms", fmtMs(c.RTTUs))
	})
	f.Summary = fmt.Sprintf("%s sent %s %s and its application, not the network, kept it from sending more: nothing retransmitted, no window or buffer stalled it.%s",
		connName(w), fmtBytes(u64v(w.BytesSent)), v.window(), others(conns, more, "were limited by their application"))
	v.s.prescribe(f, step("Look at "+processText(w)+": how it writes, its CPU, what it waits on"))
	return f
}

// fmtBytes formats a byte count: 950 bytes, 12.3 KiB, 15.7 MiB.
func fmtBytes(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", b)
}

// fmtMs formats microseconds as milliseconds.
func fmtMs(us uint32) string { return fmtRate(float64(us) / 1000) }
