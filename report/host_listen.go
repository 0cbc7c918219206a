package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/netdx/netdx/collectors"
)

// Thresholds of the listen and SYN queue rules (netdata's
// 1m_tcp_accept_queue_overflows and 1m_tcp_syn_queue_cookies).
const (
	listenOverflowCritRate = 5 // overflows per second
	synCookieWarnRate      = 1 // SYNs answered with cookies per second
	synQueueCritRate       = 5 // cookies or SYN queue drops per second
)

var (
	listenOverflowCrit = netstatRate("TcpExt.ListenOverflows") + " > " + num(listenOverflowCritRate)
	// synCookieRate is the larger of the two cookie counters' rates, as
	// the rule takes it.
	synCookieRate = fmt.Sprintf("max without (%s) (rate(%s[%s]))", byNetstat,
		sel(metricNetstat, eq("section", "TcpExt"), in("name", "TCPReqQFullDoCookies", "SyncookiesSent")), promRange)
	synQueueCrit = fmt.Sprintf("(%s > 0 and ignoring (name, index) %s{%s,%s} == 0)\nor %s > %s\nor %s > %s",
		netstatIncrease("TcpExt.TCPReqQFullDrop"), metricSysctl, eq("name", "net.ipv4.tcp_syncookies"), eq("index", "0"),
		synCookieRate, num(synQueueCritRate), netstatRate("TcpExt.TCPReqQFullDrop"), num(synQueueCritRate))
	synQueueWarn = fmt.Sprintf("%s > 0\nor %s > %s", netstatIncrease("TcpExt.TCPReqQFullDrop"), synCookieRate, num(synCookieWarnRate))
)

func init() {
	Define(Entry{
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
			{Severity: Warning, For: forCounter, Expr: unless(netstatIncrease("TcpExt.ListenOverflows")+" > 0", listenOverflowCrit)},
		},
	})
	Define(Entry{
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
			{Severity: Warning, For: forCounter, Expr: unless(synQueueWarn, synQueueCrit)},
		},
	})
	RegisterRule(Rule{Name: "listen accept queues", Source: SourceHost, Layer: LayerTCP, Check: checkListenOverflow})
	RegisterRule(Rule{Name: "SYN queue", Source: SourceHost, Layer: LayerTCP, Check: checkSynQueue})
}

// listenerState is one listening socket over the window.
type listenerState struct {
	l collectors.Listener
	// drops is the socket's own drop count change; ok when known.
	drops   uint64
	dropsOK bool
	atLimit bool
}

func (ls listenerState) name() string {
	if ls.l.Process != nil {
		return ls.l.Local + " (" + ls.l.Process.String() + ")"
	}
	return ls.l.Local
}

// listeners pairs each listening socket with its state before, by inode.
func (s *sample) listeners() ([]listenerState, bool) {
	if s.after.Sockets == nil || s.after.Sockets.Listeners == nil {
		return nil, false
	}
	before := map[uint64]collectors.Listener{}
	haveBefore := s.before != nil && s.before.Sockets != nil && s.before.Sockets.Listeners != nil
	if haveBefore {
		for _, l := range s.before.Sockets.Listeners {
			before[l.Inode] = l
		}
	}
	out := make([]listenerState, 0, len(s.after.Sockets.Listeners))
	for _, l := range s.after.Sockets.Listeners {
		st := listenerState{l: l, atLimit: l.Backlog > 0 && l.AcceptQueue >= l.Backlog}
		if l.Drops != nil {
			switch b, ok := before[l.Inode]; {
			case s.sinceBoot:
				st.drops, st.dropsOK = *l.Drops, true
			case !haveBefore:
			case ok && b.Drops != nil:
				st.drops, _ = collectors.Delta64(*b.Drops, *l.Drops)
				st.dropsOK = true
			case !ok:
				st.drops, st.dropsOK = *l.Drops, true // opened during the window
			}
		}
		out = append(out, st)
	}
	return out, true
}

func checkListenOverflow(in *Input) Outcome {
	s := newSample(in)
	if !s.hasNetstat() {
		return Outcome{NotChecked: "netstat counters not read"}
	}
	ov := s.netstat("TcpExt", "ListenOverflows")
	if !ov.ok {
		return Outcome{NotChecked: "TcpExt.ListenOverflows is absent on this kernel"}
	}
	drops := s.netstat("TcpExt", "ListenDrops")
	ls, haveSockets := s.listeners()
	var culprits []listenerState
	for _, l := range ls {
		if l.atLimit || (l.dropsOK && l.drops > 0) {
			culprits = append(culprits, l)
		}
	}
	sort.SliceStable(culprits, func(i, j int) bool { return culprits[i].drops > culprits[j].drops })

	sev := Severity(0)
	switch {
	case s.sinceBoot && len(culprits) > 0 && anyAtLimit(culprits):
		sev = Warning
	case s.sinceBoot && ov.total > sinceBootMin:
		sev = Info
	case !s.sinceBoot && ov.delta > 0 && ov.rate > listenOverflowCritRate:
		sev = Critical
	case !s.sinceBoot && ov.delta > 0:
		sev = Warning
	}
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
		f.Subject = culprits[0].name()
		where = "the accept queue of " + culprits[0].name() + " was full"
	default:
		f.Subject = fmt.Sprintf("%d listeners", len(culprits))
		where = fmt.Sprintf("%d listeners were full or dropping, worst %s", len(culprits), culprits[0].name())
	}
	if s.sinceBoot && sev == Info {
		f.Summary = fmt.Sprintf("TcpExt.ListenOverflows is %d since boot; %s. Run with an interval to see whether it still grows.", ov.total, where)
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
	if drops.ok && drops.delta > ov.delta {
		f.Notes = append(f.Notes, fmt.Sprintf("TcpExt.ListenDrops grew by %d more than the overflows: listeners also dropped connections for other reasons (SYN queue full, memory).", drops.delta-ov.delta))
	}
	return Outcome{Findings: []Finding{f}}
}

func anyAtLimit(ls []listenerState) bool {
	for _, l := range ls {
		if l.atLimit {
			return true
		}
	}
	return false
}

// listenerEvidence is one listener's queue, limit and drops.
func listenerEvidence(s *sample, c listenerState) []Evidence {
	prefix := "listener " + c.l.Local
	ev := []Evidence{
		Num(prefix+" accept_queue", float64(c.l.AcceptQueue), ""),
		Num(prefix+" backlog", float64(c.l.Backlog), ""),
	}
	if c.dropsOK && !s.sinceBoot {
		ev = append(ev, Counter(prefix+" drops", float64(*c.l.Drops), float64(c.drops), round(float64(c.drops)/max(s.secs, 1e-9), 3)))
	} else if c.l.Drops != nil {
		ev = append(ev, Num(prefix+" drops", float64(*c.l.Drops), ""))
	}
	return ev
}

// backlogFix says which limit caps a listener's queue and what to raise.
func backlogFix(c listenerState, somaxconn int64, haveSomax bool) []string {
	name := c.name()
	switch {
	case !haveSomax:
		return []string{fmt.Sprintf("%s: its backlog is %d; raise the backlog the application passes to listen() and restart it.", name, c.l.Backlog)}
	case int64(c.l.Backlog) < somaxconn:
		return []string{fmt.Sprintf("%s: the application asked listen() for a backlog of %d, below net.core.somaxconn=%d, so raising somaxconn alone will not help: raise the application's own backlog setting and restart it.",
			name, c.l.Backlog, somaxconn)}
	default:
		next := nextSomaxconn(somaxconn)
		return []string{fmt.Sprintf("%s: its backlog %d is capped by net.core.somaxconn=%d: sysctl -w net.core.somaxconn=%d (persist it in /etc/sysctl.d), make sure the application asks listen() for at least that, and restart it.",
			name, c.l.Backlog, somaxconn, next)}
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
func listenDetail(ls []listenerState, have bool) string {
	if !have {
		return "no overflow; listening sockets not read"
	}
	if len(ls) == 0 {
		return "no overflow; no listening TCP sockets"
	}
	best := ls[0]
	for _, l := range ls[1:] {
		if ratio(l.l.AcceptQueue, l.l.Backlog) > ratio(best.l.AcceptQueue, best.l.Backlog) {
			best = l
		}
	}
	return fmt.Sprintf("no overflow; %s, fullest %s at %d/%d", plural(len(ls), "listener"), best.l.Local, best.l.AcceptQueue, best.l.Backlog)
}

func checkSynQueue(in *Input) Outcome {
	s := newSample(in)
	if !s.hasNetstat() {
		return Outcome{NotChecked: "netstat counters not read"}
	}
	drop := s.netstat("TcpExt", "TCPReqQFullDrop")
	cookies := s.netstat("TcpExt", "TCPReqQFullDoCookies")
	sent := s.netstat("TcpExt", "SyncookiesSent")
	recv := s.netstat("TcpExt", "SyncookiesRecv")
	failed := s.netstat("TcpExt", "SyncookiesFailed")
	if !drop.ok && !sent.ok {
		return Outcome{NotChecked: "the SYN queue counters are absent on this kernel"}
	}
	syncookies, haveCookies := s.sysctlInt("net.ipv4.tcp_syncookies", -1)
	cookieRate := max(cookies.rate, sent.rate)
	cookieDelta := max(cookies.delta, sent.delta)

	sev := Severity(0)
	if s.sinceBoot {
		if drop.total > sinceBootMin || cookieDelta > sinceBootMin {
			sev = Info
		}
	} else {
		switch {
		case drop.delta > 0 && haveCookies && syncookies == 0:
			sev = Critical
		case drop.delta > 0 || cookieRate > synQueueCritRate:
			sev = max(sev, Warning)
			if cookieRate > synQueueCritRate || drop.rate > synQueueCritRate {
				sev = Critical
			}
		case cookieRate > synCookieWarnRate:
			sev = Warning
		}
	}
	if sev == 0 {
		return Outcome{Detail: fmt.Sprintf("no SYN queue overflow %s", s.window())}
	}
	cookiesEv, _, _ := s.sysctl("net.ipv4.tcp_syncookies")
	synBacklogEv, _, _ := s.sysctl("net.ipv4.tcp_max_syn_backlog")
	f := Finding{ID: "tcp.syn_queue_overflow", Severity: sev,
		Evidence: []Evidence{s.ev(drop), s.ev(cookies), s.ev(sent), s.ev(recv), s.ev(failed), cookiesEv, synBacklogEv}}
	var parts []string
	if drop.delta > 0 {
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
	if !s.sinceBoot && sent.delta >= 100 && recv.ok && recv.delta*10 < sent.delta {
		f.Notes = append(f.Notes, fmt.Sprintf("Only %d of %d cookies came back (SyncookiesRecv): most SYNs were never followed by an ACK, the signature of a spoofed SYN flood; filter it upstream.", recv.delta, sent.delta))
	}
	if failed.ok && failed.delta > 0 && !s.sinceBoot {
		f.Notes = append(f.Notes, fmt.Sprintf("SyncookiesFailed grew by %d: ACKs carried cookies that did not validate (late or forged).", failed.delta))
	}
	return Outcome{Findings: []Finding{f}}
}

func maxChange(a, b change) change {
	if b.delta > a.delta {
		return b
	}
	return a
}
