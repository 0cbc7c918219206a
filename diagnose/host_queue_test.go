package diagnose

import (
	"strings"
	"testing"

	"github.com/netdx/netdx/collectors"
)

// The listen and SYN queue cases of issue 12, on the healthy pair: which
// counters move under each net.ipv4.tcp_syncookies mode (the lab truth of
// docs/diag.md), which listener is named, what tcp_abort_on_overflow and
// tcp_max_syn_backlog are said to do.
func init() {
	syncookies := func(s *collectors.Snapshot, v string) {
		s.Sysctls["net.ipv4.tcp_syncookies"] = collectors.Sysctl{Value: v}
	}
	ruleCases = append(ruleCases,
		ruleCase{name: "SYN queue full at the listener's own backlog, cookies off", id: "tcp.syn_queue_overflow", want: Critical,
			mutate: func(b, a *collectors.Snapshot) {
				syncookies(a, "0")
				bump(a, "TcpExt", "TCPReqQFullDrop", 91)
				bump(a, "TcpExt", "ListenDrops", 91)
				l := listener(a, 8080)
				l.SynRecv, l.Drops = u64(129), u64(91)
			},
			check: func(t *testing.T, f Finding) {
				if f.Subject != "[::]:8080 (java[900])" {
					t.Errorf("subject %q", f.Subject)
				}
				for _, l := range f.Fix {
					if strings.Contains(l, "tcp_max_syn_backlog") {
						t.Errorf("advises tcp_max_syn_backlog though the listener's backlog (128) is the limit: %s", l)
					}
				}
				contains(t, "notes", f.Notes, "is not what fills this queue: [::]:8080 (java[900])'s own backlog (128) is")
				contains(t, "fix", f.Fix, "asked listen() for a backlog of 128")
				contains(t, "summary", []string{f.Summary}, "129 half-open, backlog 128")
			}},
		ruleCase{name: "SYN cookies at a listener's full SYN queue", id: "tcp.syn_queue_overflow", want: Critical,
			mutate: func(b, a *collectors.Snapshot) {
				bump(a, "TcpExt", "TCPReqQFullDoCookies", 910)
				bump(a, "TcpExt", "SyncookiesSent", 910)
				listener(a, 8080).SynRecv = u64(129)
			},
			check: func(t *testing.T, f Finding) {
				if f.Subject != "[::]:8080 (java[900])" {
					t.Errorf("subject %q", f.Subject)
				}
				contains(t, "summary", []string{f.Summary}, "910 SYNs in 10s (91.0/s) answered with SYN cookies")
			}},
		// tcp_syncookies=2, accept queue full: DoCookies counts every SYN,
		// each then dropped at the full accept queue; no cookie is sent.
		ruleCase{name: "cookies always on, accept queue full: no SYN queue finding", id: "tcp.syn_queue_overflow",
			mutate: func(b, a *collectors.Snapshot) {
				syncookies(a, "2")
				bump(a, "TcpExt", "TCPReqQFullDoCookies", 496)
				bump(a, "TcpExt", "ListenOverflows", 496)
				bump(a, "TcpExt", "ListenDrops", 496)
				l := listener(a, 8080)
				l.AcceptQueue, l.Drops = 129, u64(496)
			}},
		ruleCase{name: "cookies always on, accept queue full", id: "tcp.listen_overflow", want: Critical,
			mutate: func(b, a *collectors.Snapshot) {
				syncookies(a, "2")
				bump(a, "TcpExt", "TCPReqQFullDoCookies", 496)
				bump(a, "TcpExt", "ListenOverflows", 496)
				bump(a, "TcpExt", "ListenDrops", 496)
				l := listener(a, 8080)
				l.AcceptQueue, l.Drops, l.SynRecv = 129, u64(496), u64(0)
			},
			check: func(t *testing.T, f Finding) {
				if f.Subject != "[::]:8080 (java[900])" {
					t.Errorf("subject %q", f.Subject)
				}
				contains(t, "notes", f.Notes, "dropped before any cookie was sent (SyncookiesSent +0)")
				contains(t, "notes", f.Notes, "would change nothing for them")
			}},
		ruleCase{name: "cookies always on, half-open flood", id: "tcp.syn_queue_overflow", want: Critical,
			mutate: func(b, a *collectors.Snapshot) {
				syncookies(a, "2")
				bump(a, "TcpExt", "TCPReqQFullDoCookies", 1000)
				bump(a, "TcpExt", "SyncookiesSent", 1000)
			},
			check: func(t *testing.T, f Finding) {
				contains(t, "summary", []string{f.Summary}, "always on (net.ipv4.tcp_syncookies=2)")
				contains(t, "summary", []string{f.Summary}, "1000 SYNs in 10s (100/s) answered with SYN cookies were never answered back")
				if f.Subject != "listener not identified" {
					t.Errorf("subject %q: two listeners, and cookies leave no trace of which", f.Subject)
				}
				contains(t, "fix", f.Fix, "sysctl -w net.ipv4.tcp_syncookies=1")
			}},
		ruleCase{name: "cookies always on, every cookie answered", id: "tcp.syn_queue_overflow",
			mutate: func(b, a *collectors.Snapshot) {
				syncookies(a, "2")
				bump(a, "TcpExt", "TCPReqQFullDoCookies", 1000)
				bump(a, "TcpExt", "SyncookiesSent", 1000)
				bump(a, "TcpExt", "SyncookiesRecv", 1000)
			}},
		ruleCase{name: "a listener's SYN queue full since boot", id: "tcp.syn_queue_overflow", want: Warning,
			mutate: func(b, a *collectors.Snapshot) { listener(a, 8080).SynRecv = u64(129) },
			check: func(t *testing.T, f Finding) {
				if f.Subject != "[::]:8080 (java[900])" {
					t.Errorf("subject %q", f.Subject)
				}
			}},
		ruleCase{name: "completed handshakes meet the full accept queue", id: "tcp.listen_overflow", want: Warning,
			mutate: func(b, a *collectors.Snapshot) {
				bump(a, "TcpExt", "ListenOverflows", 6)
				bump(a, "TcpExt", "ListenDrops", 6)
				l := listener(a, 8080)
				l.AcceptQueue, l.Drops, l.SynRecv = 129, u64(6), u64(3)
			},
			check: func(t *testing.T, f Finding) {
				contains(t, "notes", f.Notes, "To confirm, net.ipv4.tcp_abort_on_overflow=1")
			}},
		ruleCase{name: "abort_on_overflow=1 with SYNs at the full queue", id: "tcp.listen_overflow", want: Critical,
			mutate: func(b, a *collectors.Snapshot) {
				a.Sysctls["net.ipv4.tcp_abort_on_overflow"] = collectors.Sysctl{Value: "1"}
				bump(a, "TcpExt", "ListenOverflows", 100)
				bump(a, "TcpExt", "ListenDrops", 100)
				bump(a, "Tcp", "OutRsts", 0)
				l := listener(a, 8080)
				l.AcceptQueue, l.Drops, l.SynRecv = 129, u64(100), u64(0)
			},
			check: func(t *testing.T, f Finding) {
				contains(t, "notes", f.Notes, "changed nothing here: no reset was sent (Tcp.OutRsts +0)")
				for _, n := range f.Notes {
					if strings.Contains(n, "get a reset instead") {
						t.Errorf("promises resets: %s", n)
					}
				}
			}},
		ruleCase{name: "abort_on_overflow=1 with completed handshakes reset", id: "tcp.listen_overflow", want: Warning,
			mutate: func(b, a *collectors.Snapshot) {
				a.Sysctls["net.ipv4.tcp_abort_on_overflow"] = collectors.Sysctl{Value: "1"}
				bump(a, "TcpExt", "ListenOverflows", 3)
				bump(a, "TcpExt", "ListenDrops", 3)
				bump(a, "Tcp", "OutRsts", 3)
				l := listener(a, 8080)
				l.AcceptQueue, l.Drops, l.SynRecv = 129, u64(3), u64(0)
			},
			check: func(t *testing.T, f Finding) {
				contains(t, "notes", f.Notes, "Tcp.OutRsts grew by 3")
			}},
	)
}
