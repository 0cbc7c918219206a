package diagnose

import (
	"fmt"
	"strings"

	"github.com/netdx/netdx/internal/promql"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/report"
)

// Thresholds of the UDP rules.
const (
	udpRcvbufCritRate = 100  // receive buffer errors per second
	udpMemWarnShare   = 0.85 // of udp_mem's maximum (hotsos)
	udpMemCritShare   = 1.0
)

func init() { onFirstUse(registerHostUdp) }

// registerHostUdp registers this file's rules, on the catalog's first use.
func registerHostUdp() {
	// The alerts' PromQL, built with the catalog, not at start-up.
	var (
		udpRcvbufErrors = promql.NetstatIncrease("Udp.RcvbufErrors", "Udp6.RcvbufErrors")
		udpRcvbufCrit   = fmt.Sprintf("%s >= %d\nand %s > %s", udpRcvbufErrors, minEvents,
			promql.NetstatRate("Udp.RcvbufErrors", "Udp6.RcvbufErrors"), promql.Num(udpRcvbufCritRate))
		udpMemPages = fmt.Sprintf("max without (protocol) (%s)", promql.Sel(promql.MetricSockstatMem, promql.Eq("protocol", "UDP")))
		udpMemHigh  = promql.SysctlValue("net.ipv4.udp_mem", 2)
		udpMemCrit  = fmt.Sprintf("%s / %s >= %s and %s > 0", udpMemPages, udpMemHigh, promql.Num(udpMemCritShare), udpMemHigh)
	)
	register(Rule{Name: "UDP receive buffers", Source: SourceHost, Layer: LayerUDP, Check: checkUDPRcvbuf}, Entry{
		ID: "udp.receive_buffer_errors", Title: "UDP datagrams dropped: socket receive buffers full",
		Object: report.ObjectSocket,
		Source: SourceHost, Layer: LayerUDP, Severity: Warning,
		Explanation: "Datagrams arrived for sockets whose receive buffer was full, because the application " +
			"read too slowly for the rate, or its buffer is too small for the bursts. UDP has no " +
			"retransmission: for DNS, syslog, metrics or media these are lost. Udp.InErrors includes these " +
			"drops; netdx does not count them twice.",
		Thresholds: "Per-namespace. Over the interval: 10 or more Udp.RcvbufErrors (plus Udp6) is a warning, above " +
			"100/s critical (netdata's 1m_ipv4_udp_receive_buffer_errors warns above 10 on average). Since boot: " +
			"more than 500 is information (hotsos).",
		Remediation: "Let the application use a larger buffer: raise net.core.rmem_max and have it set " +
			"SO_RCVBUF, or raise net.core.rmem_default for applications that do not set it; and give the " +
			"reader more CPU or threads (SO_REUSEPORT).",
		Evidence: []string{"Udp.RcvbufErrors", "Udp6.RcvbufErrors", "Udp.InDatagrams", "net.core.rmem_default",
			"net.core.rmem_max", "sockets with drops (/proc/net/udp drops column)"},
		Alerts: []Alert{
			{Severity: Critical, For: forCounter, Expr: udpRcvbufCrit},
			{Severity: Warning, For: forCounter, Expr: promql.Unless(fmt.Sprintf("%s >= %d", udpRcvbufErrors, minEvents), udpRcvbufCrit)},
		},
	})
	register(Rule{Name: "UDP send buffers", Source: SourceHost, Layer: LayerUDP, Check: checkUDPSndbuf}, Entry{
		ID: "udp.send_buffer_errors", Title: "UDP sends failed: socket send buffers full",
		Source: SourceHost, Layer: LayerUDP, Severity: Warning,
		Explanation: "Applications tried to send UDP datagrams while their socket's send buffer was full; the " +
			"datagrams were not sent.",
		Thresholds: "Per-namespace. Over the interval: 10 or more Udp.SndbufErrors (plus Udp6) is a warning. Since " +
			"boot: more than 500 is information.",
		Remediation: "Raise net.core.wmem_max (and SO_SNDBUF in the application) or net.core.wmem_default; " +
			"check for qdisc drops on the way out.",
		Evidence: []string{"Udp.SndbufErrors", "Udp6.SndbufErrors", "net.core.wmem_default", "net.core.wmem_max"},
		Alerts: []Alert{{Severity: Warning, For: forCounter, Expr: fmt.Sprintf("%s >= %d",
			promql.NetstatIncrease("Udp.SndbufErrors", "Udp6.SndbufErrors"), minEvents)}},
	})
	register(Rule{Name: "UDP memory", Source: SourceHost, Layer: LayerSocket, Check: checkUDPMemory}, Entry{
		ID: "udp.memory_pressure", Title: "UDP memory near its limit",
		Source: SourceHost, Layer: LayerSocket, Severity: Warning,
		Explanation: "All UDP sockets together hold memory close to net.ipv4.udp_mem's pressure or hard limit; " +
			"past it the kernel drops datagrams (Udp.MemErrors on recent kernels). Host-global.",
		Thresholds: "Host-global. sockstat's UDP mem at 85% or more of udp_mem's maximum is a warning (hotsos), 100% " +
			"critical; growth of Udp.MemErrors over the interval is a warning.",
		Remediation: "Find the sockets with large receive queues (ss -uamn) and make their readers faster; raise " +
			"net.ipv4.udp_mem if the host has the RAM.",
		Evidence: []string{"sockstat UDP.mem (pages)", "net.ipv4.udp_mem", "Udp.MemErrors"},
		Alerts: []Alert{
			{Severity: Critical, For: forLevel, Expr: udpMemCrit},
			{Severity: Warning, For: forLevel, Expr: promql.Unless(fmt.Sprintf("(%s / %s >= %s and %s > 0)\nor (%s > 0 and %s and %s)",
				udpMemPages, udpMemHigh, promql.Num(udpMemWarnShare), udpMemHigh, promql.NetstatIncrease("Udp.MemErrors"), udpMemPages, udpMemHigh), udpMemCrit)},
		},
	})
}

// tcpName names a connection by its addresses and process.
func tcpName(c collectors.TCPSocket) string {
	n := c.Local + " ↔ " + c.Remote
	if c.Process != nil {
		n += " (" + c.Process.String() + ")"
	}
	return n
}

// udpName names a UDP socket by its address and process.
func udpName(u collectors.UDPSocket) string {
	if u.Process != nil {
		return u.Local + " (" + u.Process.String() + ")"
	}
	return u.Local
}

func checkUDPRcvbuf(in *Input) Outcome {
	s := newSample(in)
	if !s.HasNetstat() {
		return Outcome{NotChecked: "netstat counters not read"}
	}
	v4, v6 := s.Netstat("Udp", "RcvbufErrors"), s.Netstat("Udp6", "RcvbufErrors")
	if !v4.OK {
		return Outcome{NotChecked: "Udp.RcvbufErrors absent"}
	}
	sum := collectors.Change{Name: "Udp+Udp6 RcvbufErrors", Total: v4.Total + v6.Total, Delta: v4.Delta + v6.Delta, Rate: v4.Rate + v6.Rate, OK: true}
	sev := grade(
		info(s.SinceBoot && sum.Total > sinceBootMin),
		critical(!s.SinceBoot && sum.Delta >= minEvents && sum.Rate > udpRcvbufCritRate),
		warning(!s.SinceBoot && sum.Delta >= minEvents),
	)
	if sev == 0 {
		return Outcome{Detail: fmt.Sprintf("%d receive buffer errors %s", sum.Delta, s.window())}
	}
	socks := s.UDPDrops()
	f := Finding{ID: "udp.receive_buffer_errors", Severity: sev,
		Evidence: []Evidence{s.ev(v4), s.ev(v6), s.ev(s.Netstat("Udp", "InDatagrams"))}}
	var named []string
	for i, d := range socks {
		if i == 5 {
			break
		}
		named = append(named, fmt.Sprintf("%s dropped %d", udpName(d.Sock), d.Delta))
		f.Evidence = append(f.Evidence, Num("udp socket "+d.Sock.Local+" drops", float64(d.Delta), ""),
			Num("udp socket "+d.Sock.Local+" rx_queue", float64(d.Sock.RxQueue), "bytes"))
	}
	f.Summary = fmt.Sprintf("UDP dropped %s because socket receive buffers were full.", s.amount(sum, "datagrams"))
	if len(socks) == 0 {
		f.Subject = notIdentified(report.ObjectSocket)
		f.Notes = append(f.Notes, "No UDP socket in this namespace shows drops now: the sockets that dropped may have closed, or be IPv6 sockets /proc/net/udp6 did not list.")
	} else {
		f.Subject = udpName(socks[0].Sock)
		f.Summary += " " + strings.Join(named, "; ") + "."
	}
	defEv, def, haveDef := s.sysctl("net.core.rmem_default")
	maxEv, mx, haveMax := s.sysctl("net.core.rmem_max")
	f.Evidence = append(f.Evidence, defEv, maxEv)
	var rs []remedy
	if haveMax && len(mx) == 1 {
		rs = append(rs, settingInt("net.core.rmem_max", max(mx[0]*4, 8<<20), "then have the application ask for it with SO_RCVBUF: the kernel caps SO_RCVBUF at rmem_max"))
	}
	if haveDef && len(def) == 1 {
		rs = append(rs, settingInt("net.core.rmem_default", max(def[0]*4, 1<<20), "for applications that do not set SO_RCVBUF"))
	}
	rs = append(rs, step("If the reader is CPU-bound, more reader threads on SO_REUSEPORT sockets spread the load"))
	s.prescribe(&f, rs...)
	if v, ok := s.After.Netstat.Get("Udp", "InErrors"); ok {
		f.Notes = append(f.Notes, fmt.Sprintf("Udp.InErrors (%d) includes these drops; it is not counted again.", v))
	}
	return Outcome{Findings: []Finding{f}}
}

func checkUDPSndbuf(in *Input) Outcome {
	s := newSample(in)
	if !s.HasNetstat() {
		return Outcome{NotChecked: "netstat counters not read"}
	}
	v4, v6 := s.Netstat("Udp", "SndbufErrors"), s.Netstat("Udp6", "SndbufErrors")
	if !v4.OK {
		return Outcome{NotChecked: "Udp.SndbufErrors absent"}
	}
	sum := collectors.Change{Total: v4.Total + v6.Total, Delta: v4.Delta + v6.Delta, Rate: v4.Rate + v6.Rate, OK: true}
	sev := grade(
		info(s.SinceBoot && sum.Total > sinceBootMin),
		warning(!s.SinceBoot && sum.Delta >= minEvents),
	)
	if sev == 0 {
		return Outcome{Detail: fmt.Sprintf("%d send buffer errors %s", sum.Delta, s.window())}
	}
	defEv, def, haveDef := s.sysctl("net.core.wmem_default")
	maxEv, mx, haveMax := s.sysctl("net.core.wmem_max")
	f := Finding{ID: "udp.send_buffer_errors", Severity: sev,
		Summary:  fmt.Sprintf("UDP could not send %s because socket send buffers were full.", s.amount(sum, "datagrams")),
		Evidence: []Evidence{s.ev(v4), s.ev(v6), defEv, maxEv}}
	var rs []remedy
	if haveMax && len(mx) == 1 {
		rs = append(rs, settingInt("net.core.wmem_max", max(mx[0]*4, 8<<20), "and SO_SNDBUF in the application"))
	}
	if haveDef && len(def) == 1 {
		rs = append(rs, settingInt("net.core.wmem_default", max(def[0]*4, 1<<20), "for applications that do not set SO_SNDBUF"))
	}
	s.prescribe(&f, rs...)
	if local := localDropSummary(s); local != "" {
		f.Notes = append(f.Notes, "The way out is congested too: "+local+".")
	}
	return Outcome{Findings: []Finding{f}}
}

func checkUDPMemory(in *Input) Outcome {
	s := newSample(in)
	mem, haveMem := s.After.Sockstat.Get("UDP", "mem")
	limEv, lim, haveLim := s.sysctl("net.ipv4.udp_mem")
	memErr := s.Netstat("Udp", "MemErrors")
	if !haveMem || !haveLim || len(lim) != 3 || lim[2] <= 0 {
		return Outcome{NotChecked: "sockstat UDP mem or net.ipv4.udp_mem not read"}
	}
	r := report.Ratio(mem, uint64(lim[2]))
	sev := grade(
		critical(r >= udpMemCritShare),
		warning(r >= udpMemWarnShare),
		warning(!s.SinceBoot && memErr.OK && memErr.Delta > 0),
	)
	if sev == 0 {
		return Outcome{Detail: fmt.Sprintf("UDP holds %d pages, %s of udp_mem's limit", mem, fmtPct(r))}
	}
	f := Finding{ID: "udp.memory_pressure", Severity: sev,
		Summary:  fmt.Sprintf("UDP sockets hold %d pages, %s of net.ipv4.udp_mem's limit (%d).", mem, fmtPct(r), lim[2]),
		Evidence: []Evidence{Num("sockstat UDP.mem", float64(mem), "pages"), limEv, s.ev(memErr)},
		Notes:    []string{"udp_mem is host-global: every namespace's sockets count against it."},
	}
	s.prescribe(&f, step("Find the sockets with the largest receive queues: ss -uamn"),
		setting("net.ipv4.udp_mem", fmt.Sprintf("%d %d %d", lim[0]*2, lim[1]*2, lim[2]*2), "if the host has the RAM"))
	return Outcome{Findings: []Finding{f}}
}
