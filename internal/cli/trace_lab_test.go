package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/netdx/netdx/internal/netlab"
	"github.com/netdx/netdx/probes"
	"github.com/netdx/netdx/render"
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

// noLossShown checks that a report shows no loss anywhere: no finding of
// warning or worse, no warning, and 0% LOSS% (forwarding_loss_pct) at
// every hop.
func noLossShown(t testing.TB, rep report.Report) {
	t.Helper()
	for _, f := range rep.Findings {
		if f.Severity >= report.Warning || f.ID == "path.forwarding_loss" {
			t.Errorf("finding %s (%s): %s", f.ID, f.Severity, f.Summary)
		}
	}
	if len(rep.Warnings) > 0 {
		t.Errorf("warnings: %q", rep.Warnings)
	}
	for _, h := range rep.Traces[0].Hops {
		if h.ForwardingLossPct != 0 {
			t.Errorf("hop %d shows %.1f%% loss (%d of %d answered, %d rate-limited)", h.TTL, h.ForwardingLossPct, h.Received, h.Sent, h.RateLimited)
		}
	}
}

// TestTraceLabCleanDefaultPath: three routers at kernel-default ICMP
// settings and a clean path. The default report shows no loss and no
// warning, and neither does any live snapshot.
func TestTraceLabCleanDefaultPath(t *testing.T) {
	p := netlab.NewPath(t, netlab.PathSpec{Routers: make([]netlab.RouterSpec, 3)})
	for _, v6 := range []bool{false, true} {
		target := p.TargetAddr.V4
		if v6 {
			target = p.TargetAddr.V6
		}
		t.Run(map[bool]string{false: "ipv4", true: "ipv6"}[v6], func(t *testing.T) {
			code, rep, stderr := labTrace(t, p.Prober, "--report", target.String())
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			noLossShown(t, rep)
			if tr := rep.Traces[0]; tr.Rounds != defaultReportCount || len(tr.Hops) != 4 || tr.Probe.Pacing != "icmp_budget" {
				t.Errorf("rounds %d hops %d pacing %s", tr.Rounds, len(tr.Hops), tr.Probe.Pacing)
			}
			// Live: every snapshot the table is drawn from shows no loss.
			// It runs right after the report, from the same address:
			// the routers' budgets start spent, as when a user runs
			// netdx twice.
			snaps := liveSnapshots(t, p.Prober, probes.Config{Target: target, Count: defaultReportCount})
			for i, j := range snaps {
				var b bytes.Buffer
				if err := (render.Text{R: lipgloss.NewRenderer(&b)}).TraceSection(&b, &j); err != nil {
					t.Fatal(err)
				}
				for _, line := range strings.Split(b.String(), "\n") {
					if f := strings.Fields(line); len(f) > 2 && f[0] != "HOP" && f[0] != "TRACE" && f[2] != "0.0%" && f[2] != "--" {
						t.Errorf("live snapshot %d shows loss: %q\n%s", i, line, b.String())
					}
				}
			}
			if len(snaps) < defaultReportCount {
				t.Errorf("%d live snapshots, want at least %d", len(snaps), defaultReportCount)
			}
		})
	}
}

// liveSnapshots traces from ns the way the live view does and returns
// every snapshot it would draw.
func liveSnapshots(t testing.TB, ns *netlab.NS, cfg probes.Config) []report.Trace {
	t.Helper()
	var nw probes.Network
	if err := ns.Do(func() (err error) {
		nw, err = probes.Open(cfg, probes.OpenOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer nw.Close()
	var snaps []report.Trace
	if _, err := (&probes.Tracer{Net: nw}).Run(context.Background(), cfg, func(tr *probes.Trace) {
		snaps = append(snaps, report.NewTrace(tr))
	}); err != nil {
		t.Fatal(err)
	}
	return snaps
}

// TestTraceLabForwardingLossDefault: 25% of what the middle router
// forwards is dropped (nftables numgen random on its forward hook), every
// router at kernel-default ICMP settings. A default report names the link
// from router 2 to router 3, says how sure it is, and the routers' rate
// limiting is one info finding, not loss.
func TestTraceLabForwardingLossDefault(t *testing.T) {
	p := netlab.NewPath(t, netlab.PathSpec{Routers: []netlab.RouterSpec{{}, {DropForward: 0.25}, {}}})
	for _, v6 := range []bool{false, true} {
		target, r2, r3 := p.TargetAddr.V4, p.Hops[1][0].In.V4, p.Hops[2][0].In.V4
		if v6 {
			target, r2, r3 = p.TargetAddr.V6, p.Hops[1][0].In.V6, p.Hops[2][0].In.V6
		}
		t.Run(map[bool]string{false: "ipv4", true: "ipv6"}[v6], func(t *testing.T) {
			code, rep, stderr := labTrace(t, p.Prober, "--report", target.String())
			f := findOne(t, rep, "path.forwarding_loss")
			want := fmt.Sprintf("between hop 2 (%s) and hop 3 (%s)", r2, r3)
			if !strings.Contains(f.Summary, want) {
				t.Errorf("exit %d: summary %q does not say %q (stderr %s)\n%s", code, f.Summary, want, stderr, hopTable(rep))
			}
			o := rep.Traces[0].LossOnset
			if o == nil || !o.Placed || o.ConfidencePct < 95 {
				t.Errorf("loss onset %+v, want placed at 95%% confidence or more", o)
			}
			for _, h := range rep.Traces[0].Hops[:2] {
				if h.ForwardingLossPct != 0 {
					t.Errorf("hop %d before the lossy link shows %.1f%% loss\n%s", h.TTL, h.ForwardingLossPct, hopTable(rep))
				}
			}
			// Ground truth: the router's nftables rule dropped at least
			// as many packets as the probes lost beyond it.
			lost := 0
			for _, h := range rep.Traces[0].Hops[2:] {
				lost += h.Sent - h.Received - h.RateLimited
			}
			if n, err := p.Hops[1][0].DroppedForward(); err != nil || n < uint64(lost) || lost == 0 {
				t.Errorf("the drop rule counted %d (%v); the probes beyond it lost %d", n, err, lost)
			}
		})
	}
}

// hopTable renders a report's hops for failure messages.
func hopTable(rep report.Report) string {
	var b strings.Builder
	for _, h := range rep.Traces[0].Hops {
		ip := ""
		if len(h.Responders) > 0 {
			ip = h.Responders[0].IP
		}
		fmt.Fprintf(&b, "  %2d %-22s sent %3d recv %3d limited %3d loss %5.1f%%", h.TTL, ip, h.Sent, h.Received, h.RateLimited, h.ForwardingLossPct)
		if e := h.EchoWitness; e != nil {
			fmt.Fprintf(&b, "; echo sent %d recv %d limited %d", e.Sent, e.Received, e.RateLimited)
		}
		b.WriteByte('\n')
	}
	if o := rep.Traces[0].LossOnset; o != nil {
		ttl, clean := 0, 0
		if o.TTL != nil {
			ttl = *o.TTL
		}
		if o.CleanTTL != nil {
			clean = *o.CleanTTL
		}
		fmt.Fprintf(&b, "  onset: ttl %d, clean ttl %d, placed %v at %.1f%%, extended %v\n", ttl, clean, o.Placed, o.ConfidencePct, o.Extended)
	}
	return b.String()
}

// TestTraceLabRouterFiveSecondLimit: the middle router sends one
// time-exceeded per 5 s after its burst. Its silence is rate limiting,
// fitted as such, not loss.
func TestTraceLabRouterFiveSecondLimit(t *testing.T) {
	p := netlab.NewPath(t, netlab.PathSpec{Routers: []netlab.RouterSpec{{}, {RateLimit: 5 * time.Second}, {}}})
	code, rep, stderr := labTrace(t, p.Prober, "--report", p.TargetAddr.V4.String())
	if code != exitOK {
		t.Fatalf("exit %d: %s\n%s", code, stderr, hopTable(rep))
	}
	noLossShown(t, rep)
	f := findOne(t, rep, "path.icmp_rate_limited")
	if !strings.Contains(f.Summary, "hop 2 ("+p.Hops[1][0].In.V4.String()+")") {
		t.Errorf("rate limiting summary %q does not name hop 2", f.Summary)
	}
	h := rep.Traces[0].Hops[1]
	if b := h.Responders[0].ICMPBudget; b == nil || b.IntervalMs != 5000 || h.RateLimited == 0 {
		t.Errorf("hop 2: budget %+v, %d rate-limited, want one answer per 5000 ms\n%s", b, h.RateLimited, hopTable(rep))
	}
}

// TestTraceLabDestinationLimitsEcho: the destination rate-limits its echo
// replies (icmp_ratemask with echo reply). The probes it leaves
// unanswered are its budget, not forwarding loss.
func TestTraceLabDestinationLimitsEcho(t *testing.T) {
	p := netlab.NewPath(t, netlab.PathSpec{Routers: make([]netlab.RouterSpec, 3), TargetLimitsEcho: true})
	code, rep, stderr := labTrace(t, p.Prober, "--report", p.TargetAddr.V4.String())
	if code != exitOK {
		t.Fatalf("exit %d: %s\n%s", code, stderr, hopTable(rep))
	}
	noLossShown(t, rep)
	if d := rep.Traces[0].Hops[3]; d.RateLimited == 0 || d.Responders[0].ICMPBudget == nil {
		t.Errorf("destination: %d rate-limited, budget %+v; want its echo limit found\n%s", d.RateLimited, d.Responders[0].ICMPBudget, hopTable(rep))
	}
}

// TestTraceLabUnprivilegedUDP: the fallback an ordinary user gets, UDP on
// datagram sockets, over default routers to a destination whose
// port-unreachable answers are rate-limited: no forwarding loss.
func TestTraceLabUnprivilegedUDP(t *testing.T) {
	p := netlab.NewPath(t, netlab.PathSpec{Routers: make([]netlab.RouterSpec, 3)})
	code, rep, stderr := labTrace(t, p.Prober, "--report", "--udp", "--unprivileged", p.TargetAddr.V4.String())
	if code != exitOK {
		t.Fatalf("exit %d: %s\n%s", code, stderr, hopTable(rep))
	}
	if s := rep.Traces[0].Probe.Sockets; s != probes.KindDatagram {
		t.Errorf("sockets %s, want datagram", s)
	}
	noLossShown(t, rep)
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
