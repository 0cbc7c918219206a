package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netdx/netdx/internal/netlab"
	"github.com/netdx/netdx/probes"
	"github.com/netdx/netdx/report"
)

// labTrace runs `netdx ARGS` inside ns with the real probe network and
// returns the exit status and the JSON report.
func labTrace(t testing.TB, ns *netlab.NS, args ...string) (int, report.Report, string) {
	t.Helper()
	a, out, errb := traceApp(append([]string{"trace", "--json", "-n"}, args...)...)
	var code int
	if err := ns.Do(func() error {
		code = runWith(a, probes.Open)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("exit %d, output not JSON (%v): %s\nstderr: %s", code, err, out, errb)
	}
	return code, rep, errb.String()
}

func findingIDs(rep report.Report) string {
	var ids []string
	for _, f := range rep.Findings {
		ids = append(ids, f.ID+" ["+f.Subject+"]")
	}
	return strings.Join(ids, "; ")
}

func findOne(t testing.TB, rep report.Report, id string) report.Finding {
	t.Helper()
	var got []report.Finding
	for _, f := range rep.Findings {
		if f.ID == id {
			got = append(got, f)
		}
	}
	if len(got) != 1 {
		t.Fatalf("want one %s, got: %s", id, findingIDs(rep))
	}
	return got[0]
}

func TestTraceLabRateLimitedRouter(t *testing.T) {
	p := netlab.NewPath(t, netlab.PathSpec{Routers: []netlab.RouterSpec{{}, {RateLimit: time.Second}, {}}})
	code, rep, stderr := labTrace(t, p.Prober, "--report", p.TargetAddr.V4.String())
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	tr := rep.Traces[0]
	if len(tr.Hops) != 4 || tr.Hops[3].LossPct != 0 || tr.Hops[1].LossPct == 0 {
		t.Fatalf("want loss shown at hop 2 and none at the destination: %+v", tr.Hops)
	}
	f := findOne(t, rep, "path.icmp_rate_limited")
	if !strings.Contains(f.Subject, "hop 2 ("+p.Hops[1][0].In.V4.String()+")") {
		t.Errorf("rate limiting attributed to %q", f.Subject)
	}
	for _, f := range rep.Findings {
		if f.ID == "path.forwarding_loss" {
			t.Errorf("rate limiting misread as forwarding loss: %s", f.Summary)
		}
	}
}

func TestTraceLabForwardingLoss(t *testing.T) {
	p := netlab.NewPath(t, netlab.PathSpec{Routers: []netlab.RouterSpec{{}, {Impair: netlab.Impairment{Loss: 0.25, Seed: 3}}, {}}})
	_, rep, stderr := labTrace(t, p.Prober, "-c", "30", "-i", "50ms", p.TargetAddr.V4.String())
	f := findOne(t, rep, "path.forwarding_loss")
	// Router 2 drops what it forwards: probes for TTL 3 and beyond are
	// lost, so the loss begins on the link from router 2 to router 3.
	want := fmt.Sprintf("between hop 2 (%s) and hop 3 (%s)", p.Hops[1][0].In.V4, p.Hops[2][0].In.V4)
	if !strings.Contains(f.Summary, want) {
		t.Errorf("summary %q does not say %q (stderr %s)", f.Summary, want, stderr)
	}
	if st := p.Hops[1][0].Relay.Settled(time.Second); st.Dropped == 0 {
		t.Errorf("relay dropped nothing: %+v", st)
	}
}

func TestTraceLabIPv6SilentAndTCP(t *testing.T) {
	p := netlab.NewPath(t, netlab.PathSpec{Routers: []netlab.RouterSpec{{}, {Silent: true}, {}}})
	for _, method := range []string{"--icmp", "--udp", "--tcp"} {
		_, rep, _ := labTrace(t, p.Prober, method, "-c", "3", "-6", p.TargetAddr.V6.String())
		tr := rep.Traces[0]
		if tr.Target.Family != "ipv6" || tr.EndReason != "reached" || len(tr.Hops) != 4 {
			t.Errorf("%s: %+v", method, tr)
		}
		f := findOne(t, rep, "path.silent_hop")
		if !strings.Contains(f.Subject, "hop 2") {
			t.Errorf("%s: silent hop %q", method, f.Subject)
		}
	}
}

// TestTraceLabUnprivileged runs the netdx binary as nobody inside the
// prober's namespace: ICMP works through datagram sockets only when
// ping_group_range admits nobody's group; without it an explicit --icmp
// exits 4 naming the fixes, and the default falls back to UDP.
func TestTraceLabUnprivileged(t *testing.T) {
	p := netlab.NewPath(t, netlab.PathSpec{Routers: make([]netlab.RouterSpec, 2)})
	dir, err := os.MkdirTemp("", "netdx-unpriv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "netdx")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build netdx: %v\n%s", err, out)
	}
	asNobody := func(args ...string) (int, string, string) {
		cmd := exec.Command(bin, args...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		if err := p.Prober.Start(cmd); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), out.String(), errb.String()
	}
	target := p.TargetAddr.V4.String()

	if err := p.Prober.SetSysctl("net/ipv4/ping_group_range", "1 0"); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := asNobody("trace", "--json", "-n", "-c", "2", "--icmp", target)
	if code != exitPrivilege || !strings.Contains(stderr, "setcap cap_net_raw+ep") || !strings.Contains(stderr, "ping_group_range") {
		t.Errorf("explicit --icmp without privilege: exit %d, stderr %q; want %d naming the fixes", code, stderr, exitPrivilege)
	}
	code, out, stderr := asNobody("trace", "--json", "-n", "-c", "2", target)
	if code != exitOK || !strings.Contains(out, `"method": "udp"`) || !strings.Contains(out, `"sockets": "datagram"`) || !strings.Contains(out, "traced with UDP instead") {
		t.Errorf("default method without privilege: exit %d, stderr %q, output %s", code, stderr, out)
	}
	code, out, stderr = asNobody("trace", "--json", "-n", "-c", "2", "--tcp", "--port", "9", target)
	if code != exitOK || !strings.Contains(out, `"end_reason": "reached"`) || !strings.Contains(out, `"kind": "tcp_reset"`) {
		t.Errorf("unprivileged TCP: exit %d, stderr %q, output %s", code, stderr, out)
	}

	if err := p.Prober.SetSysctl("net/ipv4/ping_group_range", "65534 65534"); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = asNobody("trace", "--json", "-n", "-c", "2", "--icmp", target)
	if code != exitOK || !strings.Contains(out, `"method": "icmp"`) || !strings.Contains(out, `"sockets": "datagram"`) || !strings.Contains(out, `"end_reason": "reached"`) {
		t.Errorf("ICMP with ping_group_range: exit %d, stderr %q, output %s", code, stderr, out)
	}
}
