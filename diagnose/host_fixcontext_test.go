package diagnose

import (
	"strings"
	"testing"

	"github.com/netdx/netdx/collectors"
)

// The cases of issue 12 where a fix line must fit what was read: the
// reverse-path filter's arrival interface and its alternatives, and a
// conntrack table of UDP entries in a child namespace.
func init() {
	rp := func(s *collectors.Snapshot, conf, v string) {
		s.Sysctls["net.ipv4.conf."+conf+".rp_filter"] = collectors.Sysctl{Value: v, Scope: "netns"}
	}
	// eth1 is the way back: strict too, but it received nothing.
	wayBack := func(b, a *collectors.Snapshot) {
		for _, s := range []*collectors.Snapshot{b, a} {
			s.Links = append(s.Links, collectors.Link{Name: "eth1", Kind: "device", OperState: "up", StatsSource: "netlink",
				Stats: map[string]uint64{"rx_packets": 500, "tx_packets": 9000}})
			rp(s, "eth1", "1")
		}
		linkBump(a, "eth1", "tx_packets", 50)
	}
	noneAbout := func(t *testing.T, what string, lines []string, sub string) {
		t.Helper()
		for _, l := range lines {
			if strings.Contains(l, sub) {
				t.Errorf("%s mentions %s: %s", what, sub, l)
			}
		}
	}
	childUDP := func(b, a *collectors.Snapshot) {
		no := false
		for _, s := range []*collectors.Snapshot{b, a} {
			s.Conntrack.Count, s.Conntrack.MaxWritable = u64(262_141), &no
			s.Conntrack.ByProto, s.Conntrack.Counted = map[string]uint64{"udp": 8192}, 8192
		}
		a.Conntrack.PerCPU[0][11] += 2003 // early_drop
	}
	ruleCases = append(ruleCases,
		ruleCase{name: "rp_filter strict on the way in, the way back strict too", id: "ip.rp_filter_drops", want: Warning,
			mutate: func(b, a *collectors.Snapshot) {
				wayBack(b, a)
				bump(a, "TcpExt", "IPReversePathFilter", 50)
			},
			check: func(t *testing.T, f Finding) {
				if f.Subject != "eth0" {
					t.Errorf("subject %q, want the arrival interface", f.Subject)
				}
				if len(f.Fix) != 1 || f.Fix[0] != "sysctl -w net.ipv4.conf.eth0.rp_filter=2   (loose on eth0 only: the larger of conf.all=0 and 2 is 2)" {
					t.Errorf("fix %q", f.Fix)
				}
				noneAbout(t, "fix", f.Fix, "eth1")
				var ev []string
				for _, e := range f.Evidence {
					ev = append(ev, e.Name)
				}
				noneAbout(t, "evidence", ev, "eth1")
			}},
		ruleCase{name: "rp_filter strict by conf.all", id: "ip.rp_filter_drops", want: Warning,
			mutate: func(b, a *collectors.Snapshot) {
				rp(a, "all", "1")
				rp(a, "eth0", "0")
				bump(a, "TcpExt", "IPReversePathFilter", 50)
			},
			check: func(t *testing.T, f Finding) {
				want := []string{
					"either: sysctl -w net.ipv4.conf.eth0.rp_filter=2   (loose on eth0 only: the larger of conf.all=1 and 2 is 2)",
					"or: sysctl -w net.ipv4.conf.all.rp_filter=0   (then each interface's own value decides: eth0's is 0)",
					"or: sysctl -w net.ipv4.conf.all.rp_filter=2   (loose on every interface)",
				}
				if strings.Join(f.Fix, "\n") != strings.Join(want, "\n") {
					t.Errorf("fix:\n%s\nwant:\n%s", strings.Join(f.Fix, "\n"), strings.Join(want, "\n"))
				}
				contains(t, "notes", f.Notes, "Setting conf.eth0.rp_filter=0 would not help while conf.all.rp_filter=1")
			}},
		ruleCase{name: "rp_filter loose everywhere drops unroutable sources", id: "ip.rp_filter_drops", want: Warning,
			mutate: func(b, a *collectors.Snapshot) {
				rp(a, "eth0", "2")
				bump(a, "TcpExt", "IPReversePathFilter", 5)
			},
			check: func(t *testing.T, f Finding) {
				contains(t, "summary", []string{f.Summary}, "Loose reverse-path filtering")
				contains(t, "fix", f.Fix, "Add the missing route back")
			}},
		ruleCase{name: "conntrack full of UDP in a child namespace", id: "conntrack.drops", want: Warning,
			mutate: childUDP,
			check: func(t *testing.T, f Finding) {
				contains(t, "summary", []string{f.Summary}, "evicted 2003 entries in 10s")
				contains(t, "summary", []string{f.Summary}, "100% udp")
				contains(t, "summary", []string{f.Summary}, "no packet was dropped (drop +0)")
				contains(t, "fix", f.Fix, "namespace): sysctl -w net.netfilter.nf_conntrack_max=524288")
				contains(t, "fix", f.Fix, "Keep fewer UDP entries")
				noneAbout(t, "fix", f.Fix, "tcp_timeout")
				contains(t, "notes", f.Notes, "Shortening nf_conntrack_tcp_timeout_established would not help: TCP holds none of the 8192 entries read")
				if f.Subject != "this netns" {
					t.Errorf("subject %q", f.Subject)
				}
			}},
		ruleCase{name: "conntrack table of UDP full in a child namespace", id: "conntrack.table_full", want: Critical,
			mutate: childUDP,
			check: func(t *testing.T, f Finding) {
				for _, l := range f.Fix {
					if strings.HasPrefix(l, "sysctl -w net.netfilter.nf_conntrack_max") || strings.Contains(l, "tcp_timeout") {
						t.Errorf("fix %q: read-only here, or for TCP", l)
					}
				}
				contains(t, "fix", f.Fix, "namespace): sysctl -w net.netfilter.nf_conntrack_max=524288")
			}},
	)
}
