package cli

import (
	"encoding/json"
	"fmt"
	"strings"
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
