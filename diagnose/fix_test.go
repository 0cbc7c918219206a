package diagnose

import (
	"reflect"
	"testing"

	"github.com/netdx/netdx/collectors"
)

// TestPrescribe checks the fix lines against what was read, in the one
// place that does it: a setting already at the value is left out, one the
// namespace cannot write goes to the host, a line whose condition says it
// cannot help becomes a note, alternatives are marked as such.
func TestPrescribe(t *testing.T) {
	no, yes := false, true
	b, a := healthyPair()
	a.Sysctls["net.core.netdev_max_backlog"] = collectors.Sysctl{Value: "1000", Scope: "host", Writable: &no}
	a.Sysctls["net.ipv4.tcp_rmem"] = collectors.Sysctl{Value: "4096  131072 6291456", Scope: "netns", Writable: &yes}
	a.Conntrack.MaxWritable = &no
	s := &sample{collectors.NewWindow(b, a, testInterval)}
	for _, tc := range []struct {
		name  string
		rs    []remedy
		fix   []string
		notes []string
	}{
		{"a plain step", []remedy{step("look at it")}, []string{"look at it"}, nil},
		{"already in effect, blanks aside", []remedy{setting("net.ipv4.tcp_rmem", "4096 131072 6291456", "")}, nil, nil},
		{"writable here", []remedy{setting("net.ipv4.tcp_rmem", "4096 131072 12582912", "grow")},
			[]string{`sysctl -w net.ipv4.tcp_rmem="4096 131072 12582912"   (grow)`}, nil},
		{"read-only here", []remedy{settingInt("net.core.netdev_max_backlog", 4096, "")},
			[]string{"On the host (net.core.netdev_max_backlog is read-only in this network namespace; the host's value applies to every namespace): sysctl -w net.core.netdev_max_backlog=4096"}, nil},
		{"conntrack's limit read-only here", []remedy{settingInt("net.netfilter.nf_conntrack_max", 524288, "")},
			[]string{"On the host (net.netfilter.nf_conntrack_max is read-only in this network namespace; the host's value applies to every namespace): sysctl -w net.netfilter.nf_conntrack_max=524288"}, nil},
		{"a free-text line that writes a setting", []remedy{step("raise it: sysctl -w net.core.somaxconn=4096").sets("net.core.somaxconn", "4096")}, nil, nil},
		{"not relevant, said", []remedy{step("shorten TCP timeouts").unless(true, "The table holds UDP.")}, nil, []string{"The table holds UDP."}},
		{"not relevant, silently", []remedy{step("x").unless(true, "")}, nil, nil},
		{"alternatives", []remedy{oneOf(step("a"), step("b").unless(true, ""), step("c"))}, []string{"either: a", "or: c"}, nil},
		{"one alternative left", []remedy{oneOf(step("a"), setting("net.ipv4.tcp_rmem", "4096 131072 6291456", ""))}, []string{"a"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f Finding
			s.prescribe(&f, tc.rs...)
			if !reflect.DeepEqual(f.Fix, tc.fix) || !reflect.DeepEqual(f.Notes, tc.notes) {
				t.Errorf("fix %q notes %q; want %q and %q", f.Fix, f.Notes, tc.fix, tc.notes)
			}
		})
	}
}
