package diagnose

import (
	"strings"
	"testing"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/drops"
	"github.com/netdx/netdx/internal/owners"
	"github.com/netdx/netdx/report"
)

// Fixture windows of drop reasons over the healthy pair's window.
var (
	selfNS = drops.Netns{Cookie: 1, Inode: 4026531840, Current: true, Host: true}
	blueNS = drops.Netns{Cookie: 9, Inode: 4026532999, Name: "blue"}
	sink   = &drops.Socket{Inode: 4242, Local: "198.18.0.2:5000", Process: &owners.Process{PID: 77, Comm: "sink"}}
)

func dropWindow(rows ...drops.Drop) *drops.Window {
	return &drops.Window{Kind: drops.KindBTF, Names: "btf", Start: t0, End: t0.Add(testInterval), Drops: rows}
}

func row(reason string, ns drops.Netns, proto uint8, n uint64) drops.Drop {
	return drops.Drop{Reason: reason, Netns: ns, Ifindex: 2, Interface: "eth0", EtherType: 0x0800, IPProto: proto, Count: n}
}

func atSocket(d drops.Drop, s *drops.Socket) drops.Drop { d.Socket = s; return d }

// reconcile evaluates the pair with the drops and returns the findings
// and the reconciliation rows by family.
func reconcile(t *testing.T, before, after *collectors.Snapshot, w *drops.Window) ([]Finding, map[string]report.DropReconciliation) {
	t.Helper()
	in := &Input{Diag: collectors.NewWindow(before, after, testInterval), Drops: w}
	fs, _ := Evaluate(in)
	rows := map[string]report.DropReconciliation{}
	for _, r := range Reconcile(in) {
		rows[r.Family] = r
	}
	return fs, rows
}

func TestReconcileExplained(t *testing.T) {
	before, after := healthyPair()
	bump(after, "Udp", "RcvbufErrors", 500)
	bump(after, "Udp", "NoPorts", 300)
	bump(after, "TcpExt", "IPReversePathFilter", 40)
	w := dropWindow(
		atSocket(row("SOCKET_RCVBUFF", selfNS, 17, 498), sink),
		row("NO_SOCKET", selfNS, 17, 300),
		row("IP_RPFILTER", selfNS, 17, 40),
		row("NOT_SPECIFIED", selfNS, 0, 1000),   // background: counted, never judged
		row("SOCKET_RCVBUFF", blueNS, 17, 9000), // another namespace: not reconciled here
	)
	fs, rows := reconcile(t, before, after, w)
	for fam, want := range map[string]uint64{"socket buffers (UDP)": 498, "no socket (UDP)": 300, "reverse path": 40} {
		r, ok := rows[fam]
		if !ok || r.Verdict != report.VerdictMatch || r.ReasonDrops != want {
			t.Errorf("%s: %+v, want a match of %d", fam, r, want)
		}
	}
	// The host finding gains the reason and the socket with its process.
	udp := findingsWithID(fs, "udp.receive_buffer_errors")
	if len(udp) != 1 {
		t.Fatalf("udp.receive_buffer_errors: %v", hostFindings(t, fs))
	}
	var names []string
	for _, e := range udp[0].Evidence {
		names = append(names, e.Name)
	}
	contains(t, "evidence", names, "drop reason SOCKET_RCVBUFF")
	contains(t, "evidence", names, "drops at socket 198.18.0.2:5000 socket:[4242] sink[77]")
	contains(t, "notes", udp[0].Notes, "The kernel's drop reasons agree: 498 drops")
	// Each namespace has its own finding, named by the namespace.
	sb := findingsWithID(fs, "drops.socket_buffer")
	if len(sb) != 2 || sb[0].Subject != "blue" || sb[0].Severity != Critical || sb[1].Subject != "host" || sb[1].Severity != Warning {
		t.Fatalf("drops.socket_buffer: %+v", sb)
	}
	contains(t, "summary", []string{sb[1].Summary}, "most at socket 198.18.0.2:5000 socket:[4242] sink[77]")
	if len(findingsWithID(fs, "drops.other")) != 0 {
		t.Error("NOT_SPECIFIED was judged")
	}
}

func TestReconcileCountersAbove(t *testing.T) {
	before, after := healthyPair()
	bump(after, "TcpExt", "ListenOverflows", 100)
	linkBump(after, "eth0", "rx_missed_errors", 250)
	w := dropWindow(row("NO_SOCKET", selfNS, 6, 30))
	fs, rows := reconcile(t, before, after, w)
	l := rows["listen queues"]
	if l.Verdict != report.VerdictCountersAbove || l.ReasonDrops != 30 || l.CounterDrops == nil || *l.CounterDrops != 100 ||
		!strings.Contains(l.Note, "freed with no drop reason") {
		t.Errorf("listen queues: %+v", l)
	}
	b := rows["below the kernel"]
	if b.Verdict != report.VerdictCountersOnly || *b.CounterDrops != 250 || len(b.Counters) != 1 || b.Counters[0] != "eth0" {
		t.Errorf("below the kernel: %+v", b)
	}
	bk := findingsWithID(fs, "drops.below_kernel")
	if len(bk) != 1 || bk[0].Subject != "eth0" || bk[0].Severity != Warning {
		t.Fatalf("drops.below_kernel: %+v", bk)
	}
	contains(t, "summary", []string{bk[0].Summary}, "250 packets in 10s")
}

func TestReconcileReasonsWithoutCounters(t *testing.T) {
	before, after := healthyPair()
	w := dropWindow(
		row("NETFILTER_DROP", selfNS, 17, 60),
		row("NEIGH_FAILED", selfNS, 1, 12),
	)
	w.Rules = []drops.Rule{{Netns: selfNS, Family: "inet", Table: "filter", Chain: "input", Policy: true, Since: t0}}
	_, rows := reconcile(t, before, after, w)
	if r := rows["netfilter"]; r.Verdict != report.VerdictReasonsOnly || r.ReasonDrops != 60 {
		t.Errorf("netfilter without counted rules: %+v", r)
	}
	if r := rows["neighbour"]; r.Verdict != report.VerdictReasonsOnly || r.ReasonDrops != 12 || !strings.Contains(r.Note, "arp_cache") {
		t.Errorf("neighbour: %+v", r)
	}
	// With a counted rule the count is set against it.
	w.Rules = append(w.Rules, drops.Rule{Netns: selfNS, Family: "inet", Table: "filter", Chain: "input", Handle: 4, Counted: true, Packets: 20, Since: t0})
	_, rows = reconcile(t, before, after, w)
	if r := rows["netfilter"]; r.Verdict != report.VerdictReasonsAbove || *r.CounterDrops != 20 || !strings.Contains(r.Note, "40 drops no counter shows") {
		t.Errorf("netfilter with a counted rule: %+v", r)
	}
}

func TestDropsWithoutHost(t *testing.T) {
	w := dropWindow(row("NETFILTER_DROP", blueNS, 17, 50), row("QDISC_DROP", blueNS, 6, 5))
	w.Rules = []drops.Rule{{Netns: blueNS, Family: "inet", Table: "t", Chain: "in", Handle: 2, Comment: "x", Counted: true, Packets: 50, Since: t0}}
	fs, checks := Evaluate(&Input{Drops: w})
	nf := findingsWithID(fs, "drops.netfilter")
	if len(nf) != 1 || nf[0].Subject != "blue" || nf[0].Severity != Info {
		t.Fatalf("drops.netfilter: %+v", nf)
	}
	contains(t, "fix", nf[0].Fix, "ip netns exec blue nft -a list chain inet t in")
	if len(findingsWithID(fs, "drops.qdisc")) != 0 {
		t.Error("5 qdisc drops made a finding")
	}
	for _, c := range checks {
		switch c.Name {
		case "drop reasons against the counters":
			if c.Status != report.StatusNotChecked {
				t.Errorf("reconciliation without the host: %+v", c)
			}
		case "drop reasons: qdiscs":
			if !strings.Contains(c.Detail, "5 in blue") {
				t.Errorf("qdisc check: %+v", c)
			}
		}
	}
}

func TestDropFamiliesDisjoint(t *testing.T) {
	seen := map[string]string{}
	for _, f := range DropFamilies() {
		for _, r := range f.Reasons {
			if other, dup := seen[r]; dup {
				t.Errorf("%s is in %s and %s", r, other, f.ID)
			}
			seen[r] = f.ID
		}
	}
	if DropFamilyOf("NOT_SPECIFIED") != "" || DropFamilyOf("OPENVSWITCH+3") != "other" || DropFamilyOf("QDISC_DROP") != "qdisc" {
		t.Error("families of NOT_SPECIFIED, a subsystem reason or QDISC_DROP")
	}
}

// TestReconcileQuietWindow: two host samples and reasons, no drops on
// either side. The reconciliation ran and found nothing: ok, not "not
// checked".
func TestReconcileQuietWindow(t *testing.T) {
	before, after := healthyPair()
	_, checks := Evaluate(&Input{Diag: collectors.NewWindow(before, after, testInterval), Drops: dropWindow()})
	for _, c := range checks {
		if c.Name == "drop reasons against the counters" && (c.Status != report.StatusOK || c.Detail != "nothing to reconcile") {
			t.Errorf("quiet window: %+v, want ok, nothing to reconcile", c)
		}
	}
}
