package diagnose

import (
	"fmt"
	"sort"
	"strings"

	"github.com/netdx/netdx/internal/promql"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/report"
)

// Thresholds of the listen and SYN queue rules (netdata's
// 1m_tcp_accept_queue_overflows and 1m_tcp_syn_queue_cookies).
const (
	listenOverflowCritRate = 5 // overflows per second
	synCookieWarnRate      = 1 // SYNs answered with cookies per second
	synQueueCritRate       = 5 // cookies or SYN queue drops per second
)

var (
	listenOverflowCrit = promql.NetstatRate("TcpExt.ListenOverflows") + " > " + promql.Num(listenOverflowCritRate)
	// synCookieRate is the larger of the two cookie counters' rates, as
	// the rule takes it.
	synCookieRate = fmt.Sprintf("max without (%s) (rate(%s[%s]))", promql.ByNetstat,
		promql.Sel(promql.MetricNetstat, promql.Eq("section", "TcpExt"), promql.In("name", "TCPReqQFullDoCookies", "SyncookiesSent")), promql.Range)
	synQueueCrit = fmt.Sprintf("(%s > 0 and ignoring (name, index) %s{%s,%s} == 0)\nor %s > %s\nor %s > %s",
		promql.NetstatIncrease("TcpExt.TCPReqQFullDrop"), promql.MetricSysctl, promql.Eq("name", "net.ipv4.tcp_syncookies"), promql.Eq("index", "0"),
		synCookieRate, promql.Num(synQueueCritRate), promql.NetstatRate("TcpExt.TCPReqQFullDrop"), promql.Num(synQueueCritRate))
	synQueueWarn = fmt.Sprintf("%s > 0\nor %s > %s", promql.NetstatIncrease("TcpExt.TCPReqQFullDrop"), synCookieRate, promql.Num(synCookieWarnRate))
)

func init() {
	register(Rule{Name: "listen accept queues", Source: SourceHost, Layer: LayerTCP, Check: checkListenOverflow}, Entry{
		ID: "tcp.listen_overflow", Title: "Accept queue overflow: connections dropped at a full listen queue",
		Source: SourceHost, Layer: LayerTCP, Severity: Warning,
		Explanation: "A listening socket's accept queue (connections the kernel finished but the application has " +
			"not yet accept()ed) was full, so the kernel dropped the client's handshake ACK or SYN. The client " +
			"retransmits after at least a second, so each overflow is a connection stalled by a second or more, " +
			"or lost. The queue's limit is the listen() backlog, capped by net.core.somaxconn when listen() ran.",
		Thresholds: "Per-namespace. Over the interval: any growth of TcpExt.ListenOverflows is a warning (an idle host " +
			"has none, and each one stalls a client by at least the SYN retransmit timeout); above 5/s it is " +
			"critical (netdata's 1m_tcp_accept_queue_overflows: warn >1/s, crit >5/s). Since boot (--interval 0): " +
			"a warning when a listener is at its limit now, information when the total exceeds 500 (hotsos).",
		Remediation: "Make the application accept() faster (more workers, less blocking in the accept loop) and " +
			"give it a deeper queue: raise the backlog it passes to listen() and, if that is capped, " +
			"net.core.somaxconn; then restart it, since the cap is applied when listen() runs.",
		Evidence: []string{"TcpExt.ListenOverflows", "TcpExt.ListenDrops", "net.core.somaxconn",
			"net.ipv4.tcp_abort_on_overflow", "per listener: accept queue, backlog, drops"},
		References: []string{"https://man7.org/linux/man-pages/man2/listen.2.html",
			"https://blog.cloudflare.com/syn-packet-handling-in-the-wild/"},
		Alerts: []Alert{
			{Severity: Critical, For: forCounter, Expr: listenOverflowCrit},
			{Severity: Warning, For: forCounter, Expr: promql.Unless(promql.NetstatIncrease("TcpExt.ListenOverflows")+" > 0", listenOverflowCrit)},
		},
	})
	register(Rule{Name: "SYN queue", Source: SourceHost, Layer: LayerTCP, Check: checkSynQueue}, Entry{
		ID: "tcp.syn_queue_overflow", Title: "SYN queue overflow: handshakes answered with cookies or dropped",
		Source: SourceHost, Layer: LayerTCP, Severity: Warning,
		Explanation: "The queue of half-open connections (SYN received, SYN-ACK sent) was full. With " +
			"net.ipv4.tcp_syncookies on, the kernel answers with SYN cookies, which keeps connections working " +
			"but drops TCP options the cookie cannot carry; with it off, it drops the SYN. A full SYN queue means " +
			"a SYN flood or a listen backlog too small for the connection rate.",
		Thresholds: "Per-namespace. Over the interval: any TcpExt.TCPReqQFullDrop is a warning, critical with " +
			"tcp_syncookies=0; TcpExt.TCPReqQFullDoCookies or SyncookiesSent above 1/s is a warning, above 5/s " +
			"critical (netdata's 1m_tcp_syn_queue_drops and _cookies: warn >1/s, crit >5/s). Since boot: totals " +
			"above 500 are information (hotsos).",
		Remediation: "Keep net.ipv4.tcp_syncookies=1. Raise the listen() backlog (the SYN queue is bounded by it) " +
			"and net.core.somaxconn. net.ipv4.tcp_max_syn_backlog only matters while cookies are off. If " +
			"SyncookiesRecv stays far below SyncookiesSent, most cookies are never answered: a spoofed flood, " +
			"to be filtered upstream.",
		Evidence: []string{"TcpExt.TCPReqQFullDrop", "TcpExt.TCPReqQFullDoCookies", "TcpExt.SyncookiesSent",
			"TcpExt.SyncookiesRecv", "TcpExt.SyncookiesFailed", "net.ipv4.tcp_syncookies", "net.ipv4.tcp_max_syn_backlog"},
		References: []string{"https://www.kernel.org/doc/html/latest/networking/ip-sysctl.html"},
		Alerts: []Alert{
			{Severity: Critical, For: forCounter, Expr: synQueueCrit},
			{Severity: Warning, For: forCounter, Expr: promql.Unless(synQueueWarn, synQueueCrit)},
		},
	})
}

// listenerName names a listener by its address and process.
func listenerName(ls collectors.ListenerChange) string {
	if ls.Process != nil {
		return ls.Local + " (" + ls.Process.String() + ")"
	}
	return ls.Local
}

func checkListenOverflow(in *Input) Outcome {
	s := newSample(in)
	if !s.HasNetstat() {
		return Outcome{NotChecked: "netstat counters not read"}
	}
	ov := s.Netstat("TcpExt", "ListenOverflows")
	if !ov.OK {
		return Outcome{NotChecked: "TcpExt.ListenOverflows is absent on this kernel"}
	}
	drops := s.Netstat("TcpExt", "ListenDrops")
	ls, haveSockets := s.Listeners()
	var culprits []collectors.ListenerChange
	for _, l := range ls {
		if l.AtLimit || (l.DroppedOK && l.Dropped > 0) {
			culprits = append(culprits, l)
		}
	}
	sort.SliceStable(culprits, func(i, j int) bool { return culprits[i].Dropped > culprits[j].Dropped })

	sev := grade(
		warning(s.SinceBoot && len(culprits) > 0 && anyAtLimit(culprits)),
		info(s.SinceBoot && ov.Total > sinceBootMin),
		critical(!s.SinceBoot && ov.Delta > 0 && ov.Rate > listenOverflowCritRate),
		warning(!s.SinceBoot && ov.Delta > 0),
	)
	if sev == 0 {
		return Outcome{Detail: listenDetail(ls, haveSockets)}
	}

	somaxconn, haveSomax := s.sysctlInt("net.core.somaxconn", 0)
	somaxEv, _, _ := s.sysctl("net.core.somaxconn")
	abortEv, abort, _ := s.sysctl("net.ipv4.tcp_abort_on_overflow")
	f := Finding{ID: "tcp.listen_overflow", Severity: sev}
	f.Evidence = []Evidence{s.ev(ov), s.ev(drops), somaxEv, abortEv}
	var where string
	switch len(culprits) {
	case 0:
		where = "no listening socket was at its limit when sampled, so the overflow came in bursts"
	case 1:
		f.Subject = listenerName(culprits[0])
		where = "the accept queue of " + listenerName(culprits[0]) + " was full"
	default:
		f.Subject = fmt.Sprintf("%d listeners", len(culprits))
		where = fmt.Sprintf("%d listeners were full or dropping, worst %s", len(culprits), listenerName(culprits[0]))
	}
	if s.SinceBoot && sev == Info {
		f.Summary = fmt.Sprintf("TcpExt.ListenOverflows is %d since boot; %s. Run with an interval to see whether it still grows.", ov.Total, where)
	} else {
		f.Summary = fmt.Sprintf("TcpExt.ListenOverflows grew by %s: connections were dropped because %s.", s.amount(ov, ""), where)
	}
	for _, c := range culprits {
		f.Evidence = append(f.Evidence, listenerEvidence(s, c)...)
	}
	if !haveSockets {
		f.Notes = append(f.Notes, "The listening sockets could not be read (see NOT READ), so netdx cannot name the one overflowing; `ss -ltn` shows Recv-Q (queued) against Send-Q (limit).")
	}

	f.Fix = append(f.Fix, "Make the application accept() faster: an accept queue fills when its accept loop or worker pool cannot keep up (check its CPU and blocked workers).")
	for _, c := range culprits {
		f.Fix = append(f.Fix, backlogFix(c, somaxconn, haveSomax)...)
	}
	if len(culprits) == 0 && haveSomax {
		next := nextSomaxconn(somaxconn)
		f.Fix = append(f.Fix, fmt.Sprintf("sysctl -w net.core.somaxconn=%d, and raise the listen() backlog of the busy service to match; restart it so listen() runs again", next))
	}
	if len(abort) == 1 && abort[0] == 1 {
		f.Notes = append(f.Notes, "net.ipv4.tcp_abort_on_overflow=1: clients of an overflowing listener get a reset instead of a silent drop and retry, so they see errors rather than delays.")
	} else {
		f.Notes = append(f.Notes, "To confirm the diagnosis, net.ipv4.tcp_abort_on_overflow=1 makes overflowing connections fail with a reset the clients will log; it is a diagnostic, not a fix: set it back to 0 afterwards.")
	}
	if drops.OK && drops.Delta > ov.Delta {
		f.Notes = append(f.Notes, fmt.Sprintf("TcpExt.ListenDrops grew by %d more than the overflows: listeners also dropped connections for other reasons (SYN queue full, memory).", drops.Delta-ov.Delta))
	}
	return Outcome{Findings: []Finding{f}}
}

func anyAtLimit(ls []collectors.ListenerChange) bool {
	for _, l := range ls {
		if l.AtLimit {
			return true
		}
	}
	return false
}

// listenerEvidence is one listener's queue, limit and drops.
func listenerEvidence(s *sample, c collectors.ListenerChange) []Evidence {
	prefix := "listener " + c.Local
	ev := []Evidence{
		Num(prefix+" accept_queue", float64(c.AcceptQueue), ""),
		Num(prefix+" backlog", float64(c.Backlog), ""),
	}
	if c.DroppedOK && !s.SinceBoot {
		ev = append(ev, Counter(prefix+" drops", float64(*c.Drops), float64(c.Dropped), report.Round(float64(c.Dropped)/max(s.Secs, 1e-9), 3)))
	} else if c.Drops != nil {
		ev = append(ev, Num(prefix+" drops", float64(*c.Drops), ""))
	}
	return ev
}

// backlogFix says which limit caps a listener's queue and what to raise.
func backlogFix(c collectors.ListenerChange, somaxconn int64, haveSomax bool) []string {
	name := listenerName(c)
	switch {
	case !haveSomax:
		return []string{fmt.Sprintf("%s: its backlog is %d; raise the backlog the application passes to listen() and restart it.", name, c.Backlog)}
	case int64(c.Backlog) < somaxconn:
		return []string{fmt.Sprintf("%s: the application asked listen() for a backlog of %d, below net.core.somaxconn=%d, so raising somaxconn alone will not help: raise the application's own backlog setting and restart it.",
			name, c.Backlog, somaxconn)}
	default:
		next := nextSomaxconn(somaxconn)
		return []string{fmt.Sprintf("%s: its backlog %d is capped by net.core.somaxconn=%d: sysctl -w net.core.somaxconn=%d (persist it in /etc/sysctl.d), make sure the application asks listen() for at least that, and restart it.",
			name, c.Backlog, somaxconn, next)}
	}
}

// nextSomaxconn proposes a somaxconn: 4096 (the default since 5.4), or
// four times the current value when that is already 4096 or more.
func nextSomaxconn(cur int64) int64 {
	if cur < 4096 {
		return 4096
	}
	return cur * 4
}

// listenDetail summarises healthy listeners for the health table.
func listenDetail(ls []collectors.ListenerChange, have bool) string {
	if !have {
		return "no overflow; listening sockets not read"
	}
	if len(ls) == 0 {
		return "no overflow; no listening TCP sockets"
	}
	best := ls[0]
	for _, l := range ls[1:] {
		if report.Ratio(l.AcceptQueue, l.Backlog) > report.Ratio(best.AcceptQueue, best.Backlog) {
			best = l
		}
	}
	return fmt.Sprintf("no overflow; %s, fullest %s at %d/%d", plural(len(ls), "listener"), best.Local, best.AcceptQueue, best.Backlog)
}

func checkSynQueue(in *Input) Outcome {
	s := newSample(in)
	if !s.HasNetstat() {
		return Outcome{NotChecked: "netstat counters not read"}
	}
	drop := s.Netstat("TcpExt", "TCPReqQFullDrop")
	cookies := s.Netstat("TcpExt", "TCPReqQFullDoCookies")
	sent := s.Netstat("TcpExt", "SyncookiesSent")
	recv := s.Netstat("TcpExt", "SyncookiesRecv")
	failed := s.Netstat("TcpExt", "SyncookiesFailed")
	if !drop.OK && !sent.OK {
		return Outcome{NotChecked: "the SYN queue counters are absent on this kernel"}
	}
	syncookies, haveCookies := s.sysctlInt("net.ipv4.tcp_syncookies", -1)
	cookieRate := max(cookies.Rate, sent.Rate)
	cookieDelta := max(cookies.Delta, sent.Delta)

	now := !s.SinceBoot
	overflowing := drop.Delta > 0 || cookieRate > synQueueCritRate
	sev := grade(
		info(s.SinceBoot && (drop.Total > sinceBootMin || cookieDelta > sinceBootMin)),
		critical(now && drop.Delta > 0 && haveCookies && syncookies == 0),
		critical(now && overflowing && (cookieRate > synQueueCritRate || drop.Rate > synQueueCritRate)),
		warning(now && overflowing),
		warning(now && cookieRate > synCookieWarnRate),
	)
	if sev == 0 {
		return Outcome{Detail: fmt.Sprintf("no SYN queue overflow %s", s.window())}
	}
	cookiesEv, _, _ := s.sysctl("net.ipv4.tcp_syncookies")
	synBacklogEv, _, _ := s.sysctl("net.ipv4.tcp_max_syn_backlog")
	f := Finding{ID: "tcp.syn_queue_overflow", Severity: sev,
		Evidence: []Evidence{s.ev(drop), s.ev(cookies), s.ev(sent), s.ev(recv), s.ev(failed), cookiesEv, synBacklogEv}}
	var parts []string
	if drop.Delta > 0 {
		parts = append(parts, fmt.Sprintf("%s dropped (TCPReqQFullDrop)", s.amount(drop, "SYNs")))
	}
	if cookieDelta > 0 {
		parts = append(parts, fmt.Sprintf("%s answered with SYN cookies", s.amount(maxChange(cookies, sent), "SYNs")))
	}
	f.Summary = "The SYN queue was full: " + strings.Join(parts, "; ") + "."
	if haveCookies && syncookies == 0 {
		f.Fix = append(f.Fix, "sysctl -w net.ipv4.tcp_syncookies=1 (with cookies off a full SYN queue drops handshakes)")
		if v, ok := s.sysctlInt("net.ipv4.tcp_max_syn_backlog", 0); ok {
			f.Fix = append(f.Fix, fmt.Sprintf("while cookies stay off, net.ipv4.tcp_max_syn_backlog (%d) bounds the queue too: sysctl -w net.ipv4.tcp_max_syn_backlog=%d", v, max(v*4, 4096)))
		}
	} else {
		f.Notes = append(f.Notes, "net.ipv4.tcp_max_syn_backlog does not matter here: it only limits the SYN queue while SYN cookies are off.")
	}
	f.Fix = append(f.Fix, "raise the listen() backlog of the busy service, and net.core.somaxconn if it caps it: the SYN queue is bounded by the listen backlog")
	if !s.SinceBoot && sent.Delta >= 100 && recv.OK && recv.Delta*10 < sent.Delta {
		f.Notes = append(f.Notes, fmt.Sprintf("Only %d of %d cookies came back (SyncookiesRecv): most SYNs were never followed by an ACK, the signature of a spoofed SYN flood; filter it upstream.", recv.Delta, sent.Delta))
	}
	if failed.OK && failed.Delta > 0 && !s.SinceBoot {
		f.Notes = append(f.Notes, fmt.Sprintf("SyncookiesFailed grew by %d: ACKs carried cookies that did not validate (late or forged).", failed.Delta))
	}
	return Outcome{Findings: []Finding{f}}
}

func maxChange(a, b collectors.Change) collectors.Change {
	if b.Delta > a.Delta {
		return b
	}
	return a
}
