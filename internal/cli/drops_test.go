package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netdx/netdx/drops"
	"github.com/netdx/netdx/internal/owners"
	"github.com/netdx/netdx/report"
)

// scriptedSource is a drop-reason source that replays windows: each
// Snapshot returns the next (the last one again once they run out).
type scriptedSource struct {
	kind     drops.Kind
	failures []drops.Failure
	windows  []drops.Window
	n        int
}

func (s *scriptedSource) Start(context.Context) error { return nil }
func (s *scriptedSource) Kind() drops.Kind            { return s.kind }
func (s *scriptedSource) Close() error                { return nil }

func (s *scriptedSource) Snapshot() (drops.Window, error) {
	w := s.windows[min(s.n, len(s.windows)-1)]
	s.n++
	w.Kind, w.Failures = s.kind, s.failures
	return w, nil
}

var (
	blue = drops.Netns{Cookie: 9, Inode: 4026532999, Name: "blue"}
	red  = drops.Netns{Cookie: 11, Inode: 4026533001, Name: "red"}
	self = drops.Netns{Cookie: 1, Inode: 4026531840, Current: true, Host: true}
)

// busyDrops are two cumulative snapshots 6 s apart: a full socket
// buffer and a closed port in blue, an nft rule in red, NOT_SPECIFIED
// background on the host.
func busyDrops() *scriptedSource {
	t1 := testNow.Add(6 * time.Second)
	sock := &drops.Socket{Inode: 4242, Local: "198.18.1.2:5000", Process: &owners.Process{PID: 77, Comm: "sink"}}
	row := func(reason string, ns drops.Netns, iface string, proto uint8, n uint64) drops.Drop {
		return drops.Drop{Reason: reason, Netns: ns, Interface: iface, Ifindex: 2, EtherType: 0x0800, IPProto: proto, Count: n}
	}
	full := row("SOCKET_RCVBUFF", blue, "veth1", 17, 4998)
	full.Socket, full.Via = sock, drops.ViaRxSock
	after := drops.Window{Names: "btf", Start: testNow, End: t1, Drops: []drops.Drop{
		row("NO_SOCKET", blue, "veth1", 17, 5000), full,
		row("NETFILTER_DROP", red, "veth3", 17, 1200),
		row("NOT_SPECIFIED", self, "eth0", 0, 40),
	}, Rules: []drops.Rule{{Netns: red, Family: "inet", Table: "filter", Chain: "input", Handle: 4, Comment: "block 10", Counted: true, Packets: 1200, Since: testNow}}}
	return &scriptedSource{kind: drops.KindBTF, windows: []drops.Window{{Names: "btf", Start: testNow, End: testNow}, after}}
}

// withSource makes the commands read reasons from s.
func withSource(t *testing.T, s reasonSource) {
	t.Helper()
	orig := newReasonSource
	newReasonSource = func(string) reasonSource { return s }
	t.Cleanup(func() { newReasonSource = orig })
}

// runDropsCmd runs netdx drops with args over a fixed host.
func runDropsCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	a, out, errb := testApp()
	root := newRootCmd(a)
	for _, c := range root.Commands() {
		if c.Name() == "drops" {
			root.RemoveCommand(c)
		}
	}
	d := dropsCommand(a, func(ctx context.Context, o *dropsOptions) error {
		o.host = func(string) report.Host { return report.Host{Hostname: "lab", Kernel: "6.18.0"} }
		return runDrops(ctx, a, o)
	})
	wrapArgs(d)
	root.AddCommand(d)
	root.SetArgs(append([]string{"drops"}, args...))
	err := root.Execute()
	reportError(a.Err, err)
	return exitStatus(err), out.String(), errb.String()
}

func TestDropsJSON(t *testing.T) {
	withSource(t, busyDrops())
	code, out, errs := runDropsCmd(t, "--duration", "1ms", "--json", "--fail-on", "none")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	golden(t, "TestDropsJSON", []byte(out))
	validReport(t, "netdx drops --json", []byte(out))
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	d := rep.Drops
	if d == nil || d.Source != "bpf-tp_btf" || d.Total != 5000+4998+1200+40 || len(d.Entries) != 4 || d.IntervalSeconds != 6 {
		t.Fatalf("drops section %+v", d)
	}
	e := d.Entries[0]
	if e.Reason != "NO_SOCKET" || e.Netns != (report.DropNetns{Name: "blue", Cookie: 9, Inode: 4026532999}) ||
		e.Interface != "veth1" || e.Protocol != "udp" || e.Count != 5000 || e.RatePerSec != 833.333 || e.Source != "bpf-tp_btf" {
		t.Errorf("first entry %+v", e)
	}
	var ids []string
	for _, f := range rep.Findings {
		ids = append(ids, f.ID+" "+f.Subject)
	}
	want := []string{"drops.socket_buffer blue", "drops.netfilter red", "drops.no_socket blue"}
	if !slices.Equal(ids, want) {
		t.Errorf("findings %q, want %q", ids, want)
	}
}

func TestDropsFilters(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string // reason@netns of the entries kept
	}{
		{[]string{"--netns", "blue"}, []string{"NO_SOCKET@blue", "SOCKET_RCVBUFF@blue"}},
		{[]string{"--netns", "11"}, []string{"NETFILTER_DROP@red"}},              // by cookie
		{[]string{"--netns", "4026531840"}, []string{"NOT_SPECIFIED@host"}},      // by inode
		{[]string{"--reason", "socket_buffer"}, []string{"SOCKET_RCVBUFF@blue"}}, // by family
		{[]string{"--reason", "no_socket", "--reason", "netfilter_drop"}, []string{"NO_SOCKET@blue", "NETFILTER_DROP@red"}},
		{[]string{"--iface", "veth3"}, []string{"NETFILTER_DROP@red"}},
		{[]string{"--netns", "blue", "--iface", "veth3"}, nil},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			withSource(t, busyDrops())
			code, out, errs := runDropsCmd(t, append([]string{"--duration", "1ms", "--json", "--fail-on", "none"}, tc.args...)...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var rep report.Report
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range rep.Drops.Entries {
				got = append(got, e.Reason+"@"+e.Netns.Name)
			}
			if !slices.Equal(got, tc.want) || rep.Drops.Filter == nil {
				t.Errorf("kept %q (filter %+v), want %q", got, rep.Drops.Filter, tc.want)
			}
		})
	}
}

func TestDropsFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--duration", "0s"}, "invalid --duration 0s"},
		{[]string{"--refresh", "-1s"}, "invalid --refresh"},
		{[]string{"--reason", "no socket!"}, `invalid --reason "no socket!"`},
		{[]string{"extra"}, "unknown command"},
	} {
		withSource(t, busyDrops())
		code, _, errs := runDropsCmd(t, tc.args...)
		if code != exitUsage || !strings.Contains(errs, tc.msg) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tc.args, code, errs, exitUsage, tc.msg)
		}
	}
	// Not a terminal: a report, not the live view.
	a, _, _ := testApp()
	var got *dropsOptions
	cmd := dropsCommand(a, func(_ context.Context, o *dropsOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--netns", "blue", "--netns", "red", "--iface", "eth0", "--reason", "QDISC_DROP"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.live || got.duration != defaultDropsDuration || !slices.Equal(got.filter.netns, []string{"blue", "red"}) ||
		!slices.Equal(got.filter.ifaces, []string{"eth0"}) || !slices.Equal(got.filter.reasons, []string{"QDISC_DROP"}) {
		t.Errorf("options %+v", got)
	}
	a.OutTTY, a.output = true, "text"
	cmd = dropsCommand(a, func(_ context.Context, o *dropsOptions) error { got = o; return nil })
	cmd.SetArgs([]string{})
	if err := cmd.Execute(); err != nil || !got.live {
		t.Errorf("on a terminal: live %v (%v)", got.live, err)
	}
}

// TestDropsWithoutSource: when no source of reasons can run, the report
// says what would enable one and the command exits 4.
func TestDropsWithoutSource(t *testing.T) {
	perm := fmt.Errorf("create the drops map: %w", fs.ErrPermission)
	withSource(t, &scriptedSource{kind: drops.KindNone, windows: []drops.Window{{}},
		failures: []drops.Failure{
			{Kind: drops.KindBTF, Err: perm, Need: "CAP_BPF and CAP_PERFMON (or root)"},
			{Kind: drops.KindTracepoint, Err: errors.New("tracefs is not mounted"), Need: "tracefs mounted: mount -t tracefs nodev /sys/kernel/tracing"},
			{Kind: drops.KindPerf, Err: fmt.Errorf("perf_event_open: %w", fs.ErrPermission), Need: "CAP_PERFMON, or kernel.perf_event_paranoid=-1 (now 2)"},
		}})
	code, out, errs := runDropsCmd(t, "--duration", "1ms", "--json")
	if code != exitPrivilege || !strings.Contains(errs, "CAP_BPF and CAP_PERFMON (or root)") {
		t.Fatalf("exit %d, stderr %q; want %d naming CAP_BPF and CAP_PERFMON", code, errs, exitPrivilege)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	validReport(t, "netdx drops without a source", []byte(out))
	if rep.Drops != nil || len(rep.Sources) != 1 || rep.Sources[0].Status != report.StatusFailed {
		t.Errorf("drops %+v, sources %+v", rep.Drops, rep.Sources)
	}
	var skips []string
	for _, s := range rep.Skipped {
		skips = append(skips, s.Source+" "+s.Reason+" "+s.Capability)
	}
	want := []string{"drop reasons: bpf-tp_btf permission CAP_BPF,CAP_PERFMON", "drop reasons: bpf-tracepoint unsupported ",
		"drop reasons: perf permission CAP_PERFMON"}
	if !slices.Equal(skips, want) {
		t.Errorf("skipped %q, want %q", skips, want)
	}
}

// TestPrivilegeDrops runs netdx drops as nobody: without capabilities no
// source of reasons runs, the report names the capabilities and the
// command exits 4; with CAP_BPF and CAP_PERFMON the tp_btf source runs.
func TestPrivilegeDrops(t *testing.T) {
	r := newPrivRunner(t)
	res := r.run(t, nil, nil, "drops", "--duration", "500ms", "--json")
	wantRun(t, res, exitPrivilege)
	if !strings.Contains(res.stderr, "CAP_BPF and CAP_PERFMON") {
		t.Errorf("stderr %q does not name CAP_BPF and CAP_PERFMON", res.stderr)
	}
	if got := permissionSkips(res.rep); !slices.Contains(got, "drop reasons: bpf-tp_btf (CAP_BPF,CAP_PERFMON)") {
		t.Errorf("permission skips %q", got)
	}
	res = r.run(t, nil, []string{"bpf", "perfmon"}, "drops", "--duration", "500ms", "--json", "--fail-on", "none")
	wantRun(t, res, exitOK, "CAP_BPF", "CAP_PERFMON")
	if res.rep.Drops == nil || res.rep.Drops.Source != string(drops.KindBTF) {
		t.Errorf("with CAP_BPF and CAP_PERFMON: drops %+v, skipped %+v", res.rep.Drops, res.rep.Skipped)
	}
}
