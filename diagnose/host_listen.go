package diagnose

import (
	"fmt"
	"sort"
	"strconv"
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
	// synBacklogShare is the share of net.ipv4.tcp_max_syn_backlog past
	// which, with cookies off, the kernel drops SYNs (tcp_conn_request:
	// when fewer than a quarter of it are left).
	synBacklogShare = 0.75
)

// The SYN queue's evidence, by net.ipv4.tcp_syncookies (the lab truth in
// docs/diag.md): the SYN queue was involved when TcpExt.TCPReqQFullDrop
// moved (cookies off: SYNs dropped at a full queue), when SyncookiesSent
// moved (cookies on: SYNs answered with a cookie), or when a listener
// holds half-open connections past its backlog. TCPReqQFullDoCookies
// alone proves nothing: with tcp_syncookies=2 the kernel counts it for
// every SYN, including those then dropped at a full accept queue, and
// sends no cookie for them. With =2 cookies are always on and no SYN is
// queued, so what tells a flood is the cookies that never came back.

func init() { onFirstUse(registerHostListen) }

// registerHostListen registers this file's rules, on the catalog's first use.
func registerHostListen() {
	// The alerts' PromQL, built with the catalog, not at start-up.
	var (
		listenOverflowCrit = promql.NetstatRate("TcpExt.ListenOverflows") + " > " + promql.Num(listenOverflowCritRate)
		syncookiesMode     = promql.SysctlValue("net.ipv4.tcp_syncookies", 0)
		// synCookieRate is the rate of cookies sent, or with cookies always
		// on (=2) of cookies sent and never answered, as the rule takes it.
		synCookieRate = fmt.Sprintf("(%s unless %s == 2)\nor ((%s - %s) and %s == 2)",
			promql.NetstatRate("TcpExt.SyncookiesSent"), syncookiesMode,
			promql.NetstatRate("TcpExt.SyncookiesSent"), promql.NetstatRate("TcpExt.SyncookiesRecv"), syncookiesMode)
		synQueueCrit = fmt.Sprintf("(%s > 0 and %s == 0)\nor (%s) > %s\nor %s > %s",
			promql.NetstatIncrease("TcpExt.TCPReqQFullDrop"), syncookiesMode,
			synCookieRate, promql.Num(synQueueCritRate), promql.NetstatRate("TcpExt.TCPReqQFullDrop"), promql.Num(synQueueCritRate))
		synQueueWarn = fmt.Sprintf("%s > 0\nor (%s) > %s", promql.NetstatIncrease("TcpExt.TCPReqQFullDrop"), synCookieRate, promql.Num(synCookieWarnRate))
	)
	register(Rule{Name: "listen accept queues", Source: SourceHost, Layer: LayerTCP, Check: checkListenOverflow}, Entry{
		ID: "tcp.listen_overflow", Title: "Accept queue overflow: connections dropped at a full listen queue",
		Source: SourceHost, Layer: LayerTCP, Object: report.ObjectListener, Severity: Warning,
		Explanation: "A listening socket's accept queue (connections the kernel finished but the application has " +
			"not yet accept()ed) was full, so the kernel dropped the client's SYN, or its handshake ACK. The client " +
			"retransmits after at least a second, so each overflow is a connection stalled by a second or more, " +
			"or lost. The queue's limit is the listen() backlog, capped by net.core.somaxconn when listen() ran.",
		Thresholds: "Per-namespace. Over the interval: any growth of TcpExt.ListenOverflows is a warning (an idle host " +
			"has none, and each one stalls a client by at least the SYN retransmit timeout); above 5/s it is " +
			"critical (netdata's 1m_tcp_accept_queue_overflows: warn >1/s, crit >5/s). Since boot (--interval 0): " +
			"a warning when a listener is at its limit now, information when the total exceeds 500 (hotsos). The " +
			"listener is the one whose own drop counter grew, or whose queue is full.",
		Remediation: "Make the application accept() faster (more workers, less blocking in the accept loop) and " +
			"give it a deeper queue: raise the backlog it passes to listen() and, if that is capped, " +
			"net.core.somaxconn; then restart it, since the cap is applied when listen() runs. " +
			"net.ipv4.tcp_abort_on_overflow=1 turns the drop of a completed handshake into a reset; it does " +
			"nothing for SYNs dropped at the full queue.",
		Evidence: []string{"TcpExt.ListenOverflows", "TcpExt.ListenDrops", "net.core.somaxconn",
			"net.ipv4.tcp_abort_on_overflow", "Tcp.OutRsts", "per listener: accept queue, backlog, drops, SYN-RECV"},
		References: []string{"https://man7.org/linux/man-pages/man2/listen.2.html",
			"https://blog.cloudflare.com/syn-packet-handling-in-the-wild/"},
		Alerts: []Alert{
			{Severity: Critical, For: forCounter, Expr: listenOverflowCrit},
			{Severity: Warning, For: forCounter, Expr: promql.Unless(promql.NetstatIncrease("TcpExt.ListenOverflows")+" > 0", listenOverflowCrit)},
		},
	})
	register(Rule{Name: "SYN queue", Source: SourceHost, Layer: LayerTCP, Check: checkSynQueue}, Entry{
		ID: "tcp.syn_queue_overflow", Title: "SYN queue overflow: handshakes answered with cookies or dropped",
		Source: SourceHost, Layer: LayerTCP, Object: report.ObjectListener, Severity: Warning,
		Explanation: "A listener's queue of half-open connections (SYN received, SYN-ACK sent) was full. With " +
			"net.ipv4.tcp_syncookies=1 the kernel then answers with SYN cookies, which keeps connections working " +
			"but drops TCP options the cookie cannot carry; with 0 it drops the SYN. With 2 cookies are always " +
			"on: every SYN is answered with a cookie and none is queued, so the queue cannot overflow, and a " +
			"flood shows as cookies that never come back. A full SYN queue means a SYN flood or a listen backlog " +
			"too small for the connection rate: the SYN queue is bounded by the listener's own backlog.",
		Thresholds: fmt.Sprintf("Per-namespace, on evidence that the SYN queue was involved: TcpExt.TCPReqQFullDrop, "+
			"TcpExt.SyncookiesSent, or a listener holding more half-open connections than its backlog "+
			"(TCPReqQFullDoCookies alone is not: with tcp_syncookies=2 it counts every SYN). Over the interval: any "+
			"TCPReqQFullDrop is a warning, critical with tcp_syncookies=0; cookies sent (with =2, sent and never "+
			"answered: SyncookiesSent less SyncookiesRecv) above %d/s are a warning, above %d/s critical (netdata's "+
			"1m_tcp_syn_queue_drops and _cookies: warn >1/s, crit >5/s). Since boot: a listener's SYN queue full now "+
			"is a warning, totals above 500 information (hotsos). With cookies off, tcp_max_syn_backlog limits the "+
			"queue once it holds %.0f%% of it.", synCookieWarnRate, synQueueCritRate, synBacklogShare*100),
		Remediation: "Keep net.ipv4.tcp_syncookies=1. Raise the listen() backlog of the listener named (the SYN queue " +
			"is bounded by it) and net.core.somaxconn if it caps it. net.ipv4.tcp_max_syn_backlog only matters " +
			"while cookies are off, and only for a listener whose backlog is above three quarters of it. If " +
			"SyncookiesRecv stays far below SyncookiesSent, most cookies are never answered: a spoofed flood, " +
			"to be filtered upstream.",
		Evidence: []string{"TcpExt.TCPReqQFullDrop", "TcpExt.TCPReqQFullDoCookies", "TcpExt.SyncookiesSent",
			"TcpExt.SyncookiesRecv", "TcpExt.SyncookiesFailed", "net.ipv4.tcp_syncookies", "net.ipv4.tcp_max_syn_backlog",
			"per listener: SYN-RECV, backlog, drops"},
		References: []string{"https://www.kernel.org/doc/html/latest/networking/ip-sysctl.html",
			"https://blog.cloudflare.com/syn-packet-handling-in-the-wild/"},
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

// notIdentified is the subject of a finding whose object netdx cannot
// name; the finding says why.
func notIdentified(o report.Object) string { return string(o) + " not identified" }

// synRecvFull reports whether a listener holds more half-open connections
// than its backlog: the kernel counts a queue full only past it, so a full
// SYN queue holds backlog+1.
func synRecvFull(l collectors.ListenerChange) bool {
	return l.SynRecv != nil && *l.SynRecv > l.Backlog
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
		if l.AtLimit || (l.DroppedOK && l.Dropped > 0 && !synRecvFull(l)) {
			culprits = append(culprits, l)
		}
	}
	sort.SliceStable(culprits, func(i, j int) bool { return culprits[i].Dropped > culprits[j].Dropped })

	sev := grade(
		warning(s.SinceBoot && anyAtLimit(culprits)),
		info(s.SinceBoot && ov.Total > sinceBootMin),
		critical(!s.SinceBoot && ov.Delta > 0 && ov.Rate > listenOverflowCritRate),
		warning(!s.SinceBoot && ov.Delta > 0),
	)
	if sev == 0 {
		return Outcome{Detail: listenDetail(ls, haveSockets)}
	}

	somaxconn, haveSomax := s.sysctlInt("net.core.somaxconn", 0)
	somaxEv, _, _ := s.sysctl("net.core.somaxconn")
	abortEv, _, _ := s.sysctl("net.ipv4.tcp_abort_on_overflow")
	rsts := s.Netstat("Tcp", "OutRsts")
	f := Finding{ID: "tcp.listen_overflow", Severity: sev}
	f.Evidence = []Evidence{s.ev(ov), s.ev(drops), somaxEv, abortEv, s.ev(rsts)}
	var where string
	switch len(culprits) {
	case 0:
		f.Subject = notIdentified(report.ObjectListener)
		where = "no listening socket was at its limit when sampled, nor did one's own drop counter grow, so the overflow came in bursts"
		if !haveSockets {
			where = "the listening sockets could not be read"
		}
	case 1:
		f.Subject = listenerName(culprits[0])
		where = "the accept queue of " + listenerName(culprits[0]) + " was full"
	default:
		f.Subject = listenerName(culprits[0])
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

	rs := []remedy{step("Make the application accept() faster: an accept queue fills when its accept loop or worker pool cannot keep up (check its CPU and blocked workers).")}
	for _, c := range culprits {
		rs = append(rs, backlogFix(c, somaxconn, haveSomax))
	}
	if len(culprits) == 0 && haveSomax {
		rs = append(rs, settingInt("net.core.somaxconn", nextSomaxconn(somaxconn), "and raise the listen() backlog of the busy service to match; restart it so listen() runs again"))
	}
	s.prescribe(&f, rs...)
	f.Notes = append(f.Notes, abortNotes(s, culprits, rsts)...)
	if mode, ok := s.sysctlInt("net.ipv4.tcp_syncookies", -1); ok && mode == 2 {
		if dc := s.Netstat("TcpExt", "TCPReqQFullDoCookies"); dc.Delta > 0 && !s.SinceBoot {
			f.Notes = append(f.Notes, fmt.Sprintf("TcpExt.TCPReqQFullDoCookies grew by %d too: with net.ipv4.tcp_syncookies=2 (cookies always on) the kernel counts it for every SYN, and SYNs that met the full accept queue were dropped before any cookie was sent (SyncookiesSent +%d). The SYN queue is not involved.",
				dc.Delta, s.Netstat("TcpExt", "SyncookiesSent").Delta))
		}
	}
	if drops.OK && drops.Delta > ov.Delta {
		f.Notes = append(f.Notes, fmt.Sprintf("TcpExt.ListenDrops grew by %d more than the overflows: listeners also dropped connections for other reasons (SYN queue full, memory).", drops.Delta-ov.Delta))
	}
	return Outcome{Findings: []Finding{f}}
}

// abortNotes says what net.ipv4.tcp_abort_on_overflow does for these
// overflows. It acts only on a completed handshake whose final ACK meets
// the full queue (the client is reset instead of left to retransmit); a
// SYN that meets it is dropped before any handshake exists. A listener
// at its limit that holds half-open connections is where completed
// handshakes meet the full queue: with the setting off their requests
// wait there, ACKed.
func abortNotes(s *sample, culprits []collectors.ListenerChange, rsts collectors.Change) []string {
	abort, ok := s.sysctlInt("net.ipv4.tcp_abort_on_overflow", -1)
	if !ok {
		return nil
	}
	completed, known := false, len(culprits) > 0
	for _, c := range culprits {
		known = known && c.SynRecv != nil
		if c.AtLimit && c.SynRecv != nil && *c.SynRecv > 0 {
			completed = true
		}
	}
	switch {
	case abort == 1 && !s.SinceBoot && rsts.OK && rsts.Delta > 0:
		return []string{fmt.Sprintf("net.ipv4.tcp_abort_on_overflow=1: clients whose completed handshake met the full queue are reset instead of left to retransmit; Tcp.OutRsts grew by %d in the window (resets of any cause).", rsts.Delta)}
	case abort == 1 && !s.SinceBoot:
		return []string{"net.ipv4.tcp_abort_on_overflow=1 changed nothing here: no reset was sent (Tcp.OutRsts +0), so the overflows were SYNs dropped at the full queue before any handshake existed; the setting acts only on completed handshakes."}
	case abort == 1:
		return []string{"net.ipv4.tcp_abort_on_overflow=1: clients whose completed handshake meets the full queue are reset; SYNs that meet it are still dropped silently."}
	case completed:
		return []string{"Completed handshakes are waiting for room in the full accept queue (the listener holds half-open connections): each client retransmits and every retransmission counts as another overflow, so the count exceeds the connections affected. To confirm, net.ipv4.tcp_abort_on_overflow=1 makes those connections fail with a reset the clients will log; it is a diagnostic, not a fix: set it back to 0 afterwards."}
	case !known:
		return []string{"net.ipv4.tcp_abort_on_overflow=1 would make connections whose completed handshake meets the full queue fail with a reset the clients log, which confirms the diagnosis (set it back to 0 afterwards); it does nothing for SYNs dropped at the full queue, and the half-open connections that would tell which these were could not be read."}
	case len(culprits) > 0:
		return []string{"The overflows were SYNs meeting the full queue (no completed handshake was waiting), dropped before any handshake existed: clients retry after 1 s, 3 s, 7 s... net.ipv4.tcp_abort_on_overflow would change nothing for them."}
	}
	return nil
}

func anyAtLimit(ls []collectors.ListenerChange) bool {
	for _, l := range ls {
		if l.AtLimit {
			return true
		}
	}
	return false
}

// listenerEvidence is one listener's queues, limit and drops.
func listenerEvidence(s *sample, c collectors.ListenerChange) []Evidence {
	prefix := "listener " + c.Local
	ev := []Evidence{
		Num(prefix+" accept_queue", float64(c.AcceptQueue), ""),
		Num(prefix+" backlog", float64(c.Backlog), ""),
	}
	if c.SynRecv != nil {
		ev = append(ev, Num(prefix+" syn_recv", float64(*c.SynRecv), ""))
	}
	if c.DroppedOK && !s.SinceBoot {
		ev = append(ev, Counter(prefix+" drops", float64(*c.Drops), float64(c.Dropped), report.Round(float64(c.Dropped)/max(s.Secs, 1e-9), 3)))
	} else if c.Drops != nil {
		ev = append(ev, Num(prefix+" drops", float64(*c.Drops), ""))
	}
	return ev
}

// backlogFix says which limit caps a listener's queues and what to raise.
func backlogFix(c collectors.ListenerChange, somaxconn int64, haveSomax bool) remedy {
	name := listenerName(c)
	switch {
	case !haveSomax:
		return step(fmt.Sprintf("%s: its backlog is %d; raise the backlog the application passes to listen() and restart it.", name, c.Backlog))
	case int64(c.Backlog) < somaxconn:
		return step(fmt.Sprintf("%s: the application asked listen() for a backlog of %d, below net.core.somaxconn=%d, so raising somaxconn alone will not help: raise the application's own backlog setting and restart it.",
			name, c.Backlog, somaxconn))
	default:
		next := nextSomaxconn(somaxconn)
		return step(fmt.Sprintf("%s: its backlog %d is capped by net.core.somaxconn=%d: sysctl -w net.core.somaxconn=%d (persist it in /etc/sysctl.d), make sure the application asks listen() for at least that, and restart it.",
			name, c.Backlog, somaxconn, next)).sets("net.core.somaxconn", strconv.FormatInt(next, 10))
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

// synQueueListeners are the listeners the SYN queue evidence points to,
// the worst first: those holding more half-open connections than their
// backlog, then (cookies off) those whose own drop counter grew while
// their accept queue had room. With cookies always on (=2) the kernel
// keeps no per-listener trace; a namespace with one listener names it
// all the same, since cookies answer only SYNs for a listening socket.
func synQueueListeners(ls []collectors.ListenerChange, mode int64, dropsMoved bool) []collectors.ListenerChange {
	var out []collectors.ListenerChange
	for _, l := range ls {
		if synRecvFull(l) || (dropsMoved && l.DroppedOK && l.Dropped > 0 && !l.AtLimit) {
			out = append(out, l)
		}
	}
	if len(out) == 0 && mode == 2 && len(ls) == 1 {
		out = ls
	}
	sort.SliceStable(out, func(i, j int) bool {
		if a, b := synRecvFull(out[i]), synRecvFull(out[j]); a != b {
			return a
		}
		return out[i].Dropped > out[j].Dropped
	})
	return out
}

func checkSynQueue(in *Input) Outcome {
	s := newSample(in)
	if !s.HasNetstat() {
		return Outcome{NotChecked: "netstat counters not read"}
	}
	drop := s.Netstat("TcpExt", "TCPReqQFullDrop")
	doCookies := s.Netstat("TcpExt", "TCPReqQFullDoCookies")
	sent := s.Netstat("TcpExt", "SyncookiesSent")
	recv := s.Netstat("TcpExt", "SyncookiesRecv")
	failed := s.Netstat("TcpExt", "SyncookiesFailed")
	if !drop.OK && !sent.OK {
		return Outcome{NotChecked: "the SYN queue counters are absent on this kernel"}
	}
	mode, haveMode := s.sysctlInt("net.ipv4.tcp_syncookies", -1)
	always := haveMode && mode == 2
	// cookies are the cookies that tell of a full queue: all of them,
	// or with cookies always on those never answered.
	cookies := sent
	if always {
		cookies.Delta, _ = collectors.Delta64(recv.Delta, sent.Delta)
		cookies.Rate = s.Rate(cookies.Delta)
	}
	ls, haveSockets := s.Listeners()
	listeners := synQueueListeners(ls, mode, !s.SinceBoot && drop.Delta > 0)
	fullNow := false
	for _, l := range listeners {
		fullNow = fullNow || synRecvFull(l)
	}

	now := !s.SinceBoot
	sev := grade(
		warning(s.SinceBoot && fullNow),
		info(s.SinceBoot && (drop.Total > sinceBootMin || cookies.Total > sinceBootMin)),
		critical(now && drop.Delta > 0 && haveMode && mode == 0),
		critical(now && (cookies.Rate > synQueueCritRate || drop.Rate > synQueueCritRate)),
		warning(now && (drop.Delta > 0 || cookies.Rate > synCookieWarnRate)),
	)
	if sev == 0 {
		return Outcome{Detail: synQueueDetail(s, always, sent, recv)}
	}
	cookiesEv, _, _ := s.sysctl("net.ipv4.tcp_syncookies")
	synBacklogEv, _, _ := s.sysctl("net.ipv4.tcp_max_syn_backlog")
	f := Finding{ID: "tcp.syn_queue_overflow", Severity: sev,
		Evidence: []Evidence{s.ev(drop), s.ev(doCookies), s.ev(sent), s.ev(recv), s.ev(failed), cookiesEv, synBacklogEv}}
	for _, l := range listeners {
		f.Evidence = append(f.Evidence, listenerEvidence(s, l)...)
	}
	var where string
	switch {
	case len(listeners) > 0:
		f.Subject = listenerName(listeners[0])
		where = " at " + listenerName(listeners[0])
		if l := listeners[0]; l.SynRecv != nil {
			where += fmt.Sprintf(" (%d half-open, backlog %d)", *l.SynRecv, l.Backlog)
		}
		if len(listeners) > 1 {
			where += fmt.Sprintf(" and %d more listeners", len(listeners)-1)
		}
	case always:
		f.Subject = notIdentified(report.ObjectListener)
		f.Notes = append(f.Notes, "With cookies always on the kernel keeps no half-open connection and counts no drop per listener, so netdx cannot tell which listener the SYNs were for: `ss -ltn` lists them; a capture (`tcpdump -n 'tcp[tcpflags] == tcp-syn'`) shows the port.")
	default:
		f.Subject = notIdentified(report.ObjectListener)
		if !haveSockets {
			f.Notes = append(f.Notes, "The listening sockets could not be read (see NOT READ), so netdx cannot name the listener.")
		} else {
			f.Notes = append(f.Notes, "No listener holds half-open connections past its backlog now, nor did one's own drop counter grow: the overflow came in bursts. `ss -ltn state syn-recv` during the next burst names it.")
		}
	}
	var parts []string
	if drop.Delta > 0 {
		parts = append(parts, fmt.Sprintf("%s dropped (TCPReqQFullDrop)", s.amount(drop, "SYNs")))
	}
	switch {
	case always && cookies.Delta > 0:
		parts = append(parts, fmt.Sprintf("%s answered with SYN cookies were never answered back (SyncookiesSent less SyncookiesRecv): handshakes never completed", s.amount(cookies, "SYNs")))
	case cookies.Delta > 0:
		parts = append(parts, fmt.Sprintf("%s answered with SYN cookies (SyncookiesSent)", s.amount(sent, "SYNs")))
	}
	if len(parts) == 0 {
		parts = append(parts, "half-open connections fill it now")
	}
	f.Summary = "The SYN queue" + where + " was full: " + strings.Join(parts, "; ") + "."
	if always {
		f.Summary = "SYN cookies are always on (net.ipv4.tcp_syncookies=2), so no SYN is queued" + where + ": " + strings.Join(parts, "; ") + "."
	}

	synBacklog, haveSynBacklog := s.sysctlInt("net.ipv4.tcp_max_syn_backlog", 0)
	somaxconn, haveSomax := s.sysctlInt("net.core.somaxconn", 0)
	var rs []remedy
	switch {
	case haveMode && mode == 0:
		rs = append(rs, setting("net.ipv4.tcp_syncookies", "1", "with cookies off a full SYN queue drops handshakes"))
		if haveSynBacklog {
			rs = append(rs, settingInt("net.ipv4.tcp_max_syn_backlog", max(synBacklog*4, 4096),
				fmt.Sprintf("while cookies stay off it bounds the queue too, at %.0f%% of it", synBacklogShare*100)).
				unless(!synBacklogLimits(listeners, synBacklog), synBacklogNotLimit(listeners, synBacklog)))
		}
	case always:
		rs = append(rs, step("The kernel answered every SYN itself: nothing overflowed. If the cookies that never came back are a flood, filter it upstream; SyncookiesRecv against SyncookiesSent over time tells a spoofed flood (few return) from slow clients."),
			setting("net.ipv4.tcp_syncookies", "1", "cookies only when a SYN queue overflows: ordinary handshakes keep their TCP options; 2 is meant for testing"))
	default:
		f.Notes = append(f.Notes, "net.ipv4.tcp_max_syn_backlog does not matter here: it only limits the SYN queue while SYN cookies are off.")
	}
	if !always {
		for _, l := range listeners {
			rs = append(rs, backlogFix(l, somaxconn, haveSomax))
		}
		if len(listeners) == 0 {
			rs = append(rs, step("Raise the listen() backlog of the busy service, and net.core.somaxconn if it caps it: the SYN queue is bounded by the listen backlog."))
		}
	}
	s.prescribe(&f, rs...)
	if now && !always && sent.Delta >= 100 && recv.OK && recv.Delta*10 < sent.Delta {
		f.Notes = append(f.Notes, fmt.Sprintf("Only %d of %d cookies came back (SyncookiesRecv): most SYNs were never followed by an ACK, the signature of a spoofed SYN flood; filter it upstream.", recv.Delta, sent.Delta))
	}
	if failed.OK && failed.Delta > 0 && now {
		f.Notes = append(f.Notes, fmt.Sprintf("SyncookiesFailed grew by %d: ACKs carried cookies that did not validate (late or forged).", failed.Delta))
	}
	return Outcome{Findings: []Finding{f}}
}

// synBacklogLimits reports whether net.ipv4.tcp_max_syn_backlog can be
// what limits the named listeners' SYN queues with cookies off: the kernel
// drops SYNs once a queue holds synBacklogShare of it, which matters only
// for a queue allowed to grow that far (backlog+1 entries). Unknown
// listeners leave it possible.
func synBacklogLimits(ls []collectors.ListenerChange, synBacklog int64) bool {
	if len(ls) == 0 {
		return true
	}
	for _, l := range ls {
		if float64(l.Backlog+1) >= synBacklogShare*float64(synBacklog) {
			return true
		}
	}
	return false
}

func synBacklogNotLimit(ls []collectors.ListenerChange, synBacklog int64) string {
	if len(ls) == 0 {
		return ""
	}
	return fmt.Sprintf("net.ipv4.tcp_max_syn_backlog (%d) is not what fills this queue: %s's own backlog (%d) is, far below the %.0f%% of it at which the kernel would drop SYNs.",
		synBacklog, listenerName(ls[0]), ls[0].Backlog, synBacklogShare*100)
}

// synQueueDetail is what the health table says when nothing overflowed.
func synQueueDetail(s *sample, always bool, sent, recv collectors.Change) string {
	if always {
		return fmt.Sprintf("tcp_syncookies=2 (cookies always on, no SYN queue): %d SYNs answered with cookies, %d came back %s", sent.Delta, recv.Delta, s.window())
	}
	return fmt.Sprintf("no SYN queue overflow %s", s.window())
}
