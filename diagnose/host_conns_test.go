package diagnose

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/netdx/netdx/collectors"
)

// The per-connection rules' cases join the host rules' table: the
// healthy pair's connections (a busy transfer on port 443, an
// application-limited one on 8080, an idle one on 22) with one of them
// changed.
func init() {
	const busy = "198.18.0.10:443 → 198.18.5.20:51000"
	port := func(p uint16) func(s *collectors.Snapshot) *collectors.TCPInfo {
		return func(s *collectors.Snapshot) *collectors.TCPInfo { return connInfo(s, p) }
	}
	on443 := port(443)
	ruleCases = append(ruleCases,
		ruleCase{name: "one connection resends 3% by fast recovery", id: "tcp.conn_retransmits", want: Warning,
			mutate: func(b, a *collectors.Snapshot) {
				i := on443(a)
				i.TotalRetrans += 2400
				i.DSACKDups += 40
			},
			check: func(t *testing.T, f Finding) {
				if f.Subject != busy {
					t.Errorf("subject %q", f.Subject)
				}
				contains(t, "summary", []string{f.Summary}, "resent 2420 of its 80000 data segments in 10s (3.0%), by fast recovery")
				contains(t, "fix", f.Fix, "netdx trace 198.18.5.20")
				contains(t, "notes", f.Notes, "40 of those resends as duplicates")
			}},
		ruleCase{name: "one connection resends 12% after timeouts", id: "tcp.conn_retransmits", want: Critical,
			mutate: func(b, a *collectors.Snapshot) {
				i := on443(a)
				i.TotalRetrans += 9600
				i.TotalRTO += 3000
			},
			check: func(t *testing.T, f Finding) {
				contains(t, "summary", []string{f.Summary}, "3000 of them after retransmission timeouts")
			}},
		ruleCase{name: "one connection resends 0.5%", id: "tcp.conn_retransmits",
			mutate: func(b, a *collectors.Snapshot) { on443(a).TotalRetrans += 400 }},
		ruleCase{name: "a connection's segments reordered", id: "tcp.conn_reordering", want: Warning,
			mutate: func(b, a *collectors.Snapshot) {
				i := on443(a)
				i.ReordSeen += 300
				i.TotalRetrans += 40
				i.DSACKDups += 40
			},
			check: func(t *testing.T, f Finding) {
				contains(t, "summary", []string{f.Summary}, "out of order 300 times in 10s")
			}},
		ruleCase{name: "a few reordering events", id: "tcp.conn_reordering",
			mutate: func(b, a *collectors.Snapshot) { on443(a).ReordSeen += 5 }},
		ruleCase{name: "a connection waits on its peer's window", id: "tcp.conn_rwnd_limited", want: Warning,
			mutate: func(b, a *collectors.Snapshot) { on443(a).RwndLimited += 9_000_000 },
			check: func(t *testing.T, f Finding) {
				contains(t, "summary", []string{f.Summary}, "the receiver at 198.18.5.20:51000 sets the pace")
				contains(t, "fix", f.Fix, "On the peer 198.18.5.20")
			}},
		ruleCase{name: "a connection waits on its peer's window for a blip", id: "tcp.conn_rwnd_limited",
			mutate: func(b, a *collectors.Snapshot) {
				i := on443(a)
				i.BusyTime -= 9_000_000 // busy 1 s of the 10
				i.RwndLimited += 600_000
			}},
		ruleCase{name: "a connection's send buffer is full, autotuning at its cap", id: "tcp.conn_sndbuf_limited", want: Info,
			mutate: func(b, a *collectors.Snapshot) {
				a.Sysctls["net.ipv4.tcp_wmem"] = collectors.Sysctl{Value: "4096 16384 87040", Scope: "netns"}
				on443(a).SndbufLimited += 2_000_000
			},
			check: func(t *testing.T, f Finding) {
				contains(t, "fix", f.Fix, `sysctl -w net.ipv4.tcp_wmem="4096 16384 174080"`)
			}},
		ruleCase{name: "a connection's send buffer is full below tcp_wmem's cap", id: "tcp.conn_sndbuf_limited", want: Info,
			mutate: func(b, a *collectors.Snapshot) {
				a.Sysctls["net.ipv4.tcp_wmem"] = collectors.Sysctl{Value: "4096 16384 4194304", Scope: "netns"}
				on443(a).SndbufLimited += 2_000_000
			},
			check: func(t *testing.T, f Finding) {
				contains(t, "notes", f.Notes, "most likely set SO_SNDBUF")
				for _, l := range f.Fix {
					if strings.Contains(l, "tcp_wmem") {
						t.Errorf("raises tcp_wmem though autotuning is not the cap: %s", l)
					}
				}
			}},
		ruleCase{name: "send buffer full for a moment", id: "tcp.conn_sndbuf_limited",
			mutate: func(b, a *collectors.Snapshot) { on443(a).SndbufLimited += 50_000 }},
		ruleCase{name: "the connection asked about is application limited", id: "tcp.conn_app_limited", want: Info,
			conns:  &collectors.TCPHealthOptions{Filter: mustFilter("8080")},
			mutate: func(b, a *collectors.Snapshot) {},
			check: func(t *testing.T, f Finding) {
				if f.Subject != "198.18.0.10:8080 → 198.18.5.21:40000" {
					t.Errorf("subject %q", f.Subject)
				}
			}},
		ruleCase{name: "application-limited connections not asked about", id: "tcp.conn_app_limited",
			mutate: func(b, a *collectors.Snapshot) {}},
	)
}

func mustFilter(s string) collectors.ConnFilter {
	f, err := collectors.ParseConnFilter(s)
	if err != nil {
		panic(err)
	}
	return f
}

// TestConnsNameTheWorstAndCountTheRest: of several connections past the
// threshold, the subject is the worst, evidence lists the others up to
// connListed, and the rest are counted.
func TestConnsNameTheWorstAndCountTheRest(t *testing.T) {
	b, a := healthyPair()
	for i := range 8 {
		for _, s := range []*collectors.Snapshot{b, a} {
			c := b.TCPConns.Conns[0]
			c.Cookie = uint64(100 + i)
			c.Remote = netipPort("198.18.6.1", 40000+i)
			s.TCPConns.Conns = append(s.TCPConns.Conns, c)
		}
		n := &a.TCPConns.Conns[len(a.TCPConns.Conns)-1].Info
		n.DataSegsOut += 10000
		n.TotalRetrans += uint32(200 + 100*i)
	}
	fs, _ := evaluateWith(b, a, &collectors.TCPHealthOptions{Top: 6})
	got := findingsWithID(fs, "tcp.conn_retransmits")
	if len(got) != 1 {
		t.Fatalf("findings %v", hostFindings(t, fs))
	}
	f := got[0]
	if f.Subject != "198.18.0.10:443 → 198.18.6.1:40007" {
		t.Errorf("subject %q, want the connection that resent most", f.Subject)
	}
	listed := 0
	for _, e := range f.Evidence {
		if strings.HasPrefix(e.Name, "connection ") {
			listed++
		}
	}
	if listed != connListed {
		t.Errorf("%d connections in evidence, want %d", listed, connListed)
	}
	contains(t, "notes", f.Notes, "3 more connections have this limit")
	contains(t, "summary", []string{f.Summary}, "7 more connections resent 1.0% or more too")
}

func netipPort(addr string, port int) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr(addr), uint16(port))
}
