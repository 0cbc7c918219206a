package cli

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netdx/netdx/drops"
	"github.com/netdx/netdx/internal/netlab"
	"github.com/netdx/netdx/report"
)

// signalSource is a real drops.Source that says when its first snapshot
// is taken: the start of the command's window.
type signalSource struct {
	*drops.Source
	once  sync.Once
	first chan struct{}
}

func (s *signalSource) Snapshot() (drops.Window, error) {
	w, err := s.Source.Snapshot()
	s.once.Do(func() { close(s.first) })
	return w, err
}

// withSignalSource makes the commands' drop-reason source tell started
// when its window begins.
func withSignalSource(t *testing.T) (started <-chan struct{}) {
	t.Helper()
	first := make(chan struct{})
	orig := newReasonSource
	newReasonSource = func(proc string) reasonSource {
		return &signalSource{Source: drops.New(drops.Options{ProcDir: proc}), first: first}
	}
	t.Cleanup(func() { newReasonSource = orig })
	return first
}

// receiverScenario is the scenario: a namespace with an nft rule
// dropping one UDP port, a socket with a tiny receive buffer, and a port
// nothing listens on.
type receiverScenario struct {
	p    *netlab.Path
	sink *netlab.UDPSink
}

const (
	labSent       = 5000
	labClosedPort = 9
	labNFTPort    = 10
	labRuleTag    = "ndx-cli-drop"
)

func newReceiverScenario(t *testing.T) *receiverScenario {
	t.Helper()
	netlab.RequireRoot(t)
	netlab.RequireNFT(t)
	p := netlab.NewPath(t, netlab.PathSpec{})
	if err := p.Target.NFT(fmt.Sprintf(`table inet ndx_cli_drops {
	chain in {
		type filter hook input priority 0; policy accept;
		udp dport %d counter drop comment %q
	}
}`, labNFTPort, labRuleTag)); err != nil {
		t.Fatal(err)
	}
	sink, err := p.Target.NewUDPSink(netip.AddrPortFrom(p.TargetAddr.V4, 0), 1024)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	return &receiverScenario{p: p, sink: sink}
}

// send sends labSent datagrams to each port from the prober and waits
// for the target's counters to settle.
func (sc *receiverScenario) send(t *testing.T) {
	t.Helper()
	for _, port := range []uint16{labClosedPort, labNFTPort, sc.sink.Port} {
		dst := netip.AddrPortFrom(sc.p.TargetAddr.V4, port)
		if n, err := sc.p.Prober.SendUDP(netip.Addr{}, dst, labSent, 64); err != nil || n < labSent*9/10 {
			t.Errorf("sent %d of %d datagrams to %s: %v", n, labSent, dst, err)
		}
	}
	if _, err := sc.p.Target.Settle(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// kernel reads the counters the reasons are checked against.
func (sc *receiverScenario) kernel(t *testing.T) (netlab.Counters, uint64) {
	t.Helper()
	c, err := sc.p.Target.Counters()
	if err != nil {
		t.Fatal(err)
	}
	rule, err := sc.p.Target.NFTRuleCounter(labRuleTag)
	if err != nil {
		t.Fatal(err)
	}
	return c, rule
}

// runCommand runs args in process while the scenario sends once the
// command's window has begun, and returns its report.
func (sc *receiverScenario) runCommand(t *testing.T, prepare func(*diagOptions), args ...string) (*report.Report, int, string) {
	t.Helper()
	started := withSignalSource(t)
	a, out, errb := testApp()
	done := make(chan int, 1)
	go func() { done <- execute(t, a, prepare, args...) }()
	select {
	case <-started:
	case code := <-done:
		t.Fatalf("%s exited %d before its window began: %s", args, code, errb)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no window after 30s", args)
	}
	sc.send(t)
	code := <-done
	var rep report.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%s: %v\n%s\n%s", args, err, out, errb)
	}
	return &rep, code, errb.String()
}

func within(got, want uint64, tol float64) bool {
	return math.Abs(float64(got)-float64(want)) <= tol*float64(want)
}

// entries sums the report's UDP drops of reason in namespace ns.
func entries(rep *report.Report, ns, reason string) (n uint64, es []report.DropEntry) {
	for _, e := range rep.Drops.Entries {
		if e.Netns.Name == ns && e.Reason == reason && e.Protocol == "udp" {
			n += e.Count
			es = append(es, e)
		}
	}
	return n, es
}

// TestLabDropsCommandReceiver is the check through the real
// command line: `netdx drops --duration 6s --json`, run on the host
// while a namespace receives datagrams to a closed port, to an
// nft-dropped port and to a full socket buffer, reports each reason for
// that namespace, by its name, within 10 % of the kernel's counters
// there; the rule and the socket's process are named.
func TestLabDropsCommandReceiver(t *testing.T) {
	sc := newReceiverScenario(t)
	before, ruleBefore := sc.kernel(t)
	rep, code, errs := sc.runCommand(t, nil, "drops", "--duration", "6s", "--json", "--fail-on", "none")
	after, ruleAfter := sc.kernel(t)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if rep.Command != "drops" || rep.Drops == nil {
		t.Fatalf("report of %q without drops", rep.Command)
	}
	if rep.Drops.Source != string(drops.KindBTF) {
		t.Skipf("skipped: the tp_btf source could not run here: %+v", rep.Drops.Failures)
	}
	kernel := after.Sub(before)
	name := sc.p.Target.Name
	for _, tc := range []struct {
		reason, counter string
		want            uint64
	}{
		{"NO_SOCKET", "Udp.NoPorts", uint64(kernel["Udp.NoPorts"])},
		{"NETFILTER_DROP", "nft rule counter", ruleAfter - ruleBefore},
		{"SOCKET_RCVBUFF", "Udp.RcvbufErrors", uint64(kernel["Udp.RcvbufErrors"])},
	} {
		got, es := entries(rep, name, tc.reason)
		t.Logf("%s in netns %s: %d in the report, %s %d", tc.reason, name, got, tc.counter, tc.want)
		if tc.want < labSent/2 {
			t.Errorf("%s moved by %d for %d datagrams: the scenario did not provoke %s", tc.counter, tc.want, labSent, tc.reason)
		}
		if !within(got, tc.want, 0.10) {
			t.Errorf("%s: %d in netns %s, %s says %d (more than 10 %% apart)", tc.reason, got, name, tc.counter, tc.want)
		}
		for _, e := range es {
			if e.Netns.Cookie == 0 || e.Netns.Inode == 0 || e.Interface != sc.p.TargetIface || e.Source != string(drops.KindBTF) {
				t.Errorf("%s entry %+v: want the namespace's cookie and inode, interface %s, source bpf-tp_btf", tc.reason, e, sc.p.TargetIface)
			}
			if tc.reason == "SOCKET_RCVBUFF" && (e.Socket == nil || e.Socket.Inode != sc.sink.Inode || e.Socket.Process == nil || e.Socket.Process.PID != os.Getpid()) {
				t.Errorf("SOCKET_RCVBUFF at %+v, want socket:[%d] of this process [%d]", e.Socket, sc.sink.Inode, os.Getpid())
			}
		}
	}
	var rule *report.DropRule
	for i, r := range rep.Drops.Rules {
		if r.Comment == labRuleTag && r.Netns.Name == name {
			rule = &rep.Drops.Rules[i]
		}
	}
	if rule == nil || rule.Packets == nil || !within(*rule.Packets, ruleAfter-ruleBefore, 0.10) || rule.Table != "ndx_cli_drops" {
		t.Errorf("rule %q not named with its count %d: %+v", labRuleTag, ruleAfter-ruleBefore, rep.Drops.Rules)
	}
	ids := map[string]report.Finding{}
	for _, f := range rep.Findings {
		if f.Subject == name {
			ids[f.ID] = f
		}
	}
	for _, id := range []string{"drops.no_socket", "drops.netfilter", "drops.socket_buffer"} {
		if _, ok := ids[id]; !ok {
			t.Errorf("no %s finding for netns %s; findings: %+v", id, name, rep.Findings)
		}
	}
	if f := ids["drops.netfilter"]; !strings.Contains(strings.Join(f.Fix, " "), "ndx_cli_drops in handle") {
		t.Errorf("drops.netfilter fix does not name the rule: %q", f.Fix)
	}
}

// TestLabDiagNamesDropSocket: diag of the namespace, in the same
// scenario, names the socket and the process behind SOCKET_RCVBUFF on
// its UDP finding, and reconciles each reason with its counter.
func TestLabDiagNamesDropSocket(t *testing.T) {
	sc := newReceiverScenario(t)
	rep, code, errs := sc.runCommand(t, nil, "diag", "--netns", sc.p.Target.Name, "--interval", "4s", "--json", "--fail-on", "none")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if rep.Drops == nil || rep.Drops.Source != string(drops.KindBTF) {
		t.Skipf("skipped: no tp_btf drop reasons in diag: %+v", rep.Drops)
	}
	sock := fmt.Sprintf("socket:[%d]", sc.sink.Inode)
	proc := fmt.Sprintf("[%d]", os.Getpid())
	var udp *report.Finding
	for i, f := range rep.Findings {
		if f.ID == "udp.receive_buffer_errors" {
			udp = &rep.Findings[i]
		}
	}
	if udp == nil {
		t.Fatalf("no udp.receive_buffer_errors finding: %+v", rep.Findings)
	}
	named := false
	for _, e := range udp.Evidence {
		if strings.Contains(e.Name, sock) && strings.Contains(e.Name, proc) {
			named = true
		}
	}
	if !named {
		t.Errorf("udp.receive_buffer_errors does not name %s of process %s: %+v", sock, proc, udp.Evidence)
	}
	want := map[string]bool{"no socket (UDP)": false, "netfilter": false, "socket buffers (UDP)": false}
	for _, r := range rep.Drops.Reconciliation {
		if _, ok := want[r.Family]; ok {
			want[r.Family] = r.Verdict == report.VerdictMatch
			t.Logf("%s: reasons %d, counters %v: %s %s", r.Family, r.ReasonDrops, *r.CounterDrops, r.Verdict, r.Note)
		}
	}
	for fam, ok := range want {
		if !ok {
			t.Errorf("reconciliation of %s: no match; rows %+v", fam, rep.Drops.Reconciliation)
		}
	}
}
