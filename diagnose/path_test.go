package diagnose

import (
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/netdx/netdx/report"

	"github.com/netdx/netdx/probes"
	"github.com/netdx/netdx/probes/probestest"
)

func traceScenario(t *testing.T, name string, count int) *probes.Trace {
	t.Helper()
	s, err := probestest.Load(filepath.Join("..", "probes", "testdata", "scenarios", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return runScripted(t, s, count)
}

// runScripted traces s in a synctest bubble: the scripted network's round
// trips and the tracer's timeouts run on the bubble's clock, so the trace
// is the same however busy the machine is.
func runScripted(t *testing.T, s *probestest.Scenario, count int) *probes.Trace {
	t.Helper()
	var tr *probes.Trace
	synctest.Test(t, func(t *testing.T) {
		var err error
		if tr, err = probestest.Run(s, count, probes.ICMP); err != nil {
			t.Fatal(err)
		}
	})
	return tr
}

func findingsOf(t *testing.T, tr *probes.Trace) []Finding {
	t.Helper()
	fs, checks := Evaluate(&Input{Traces: []*probes.Trace{tr}})
	for _, c := range checks {
		if c.Source != SourcePath {
			t.Errorf("path-only input ran rule %q of source %s", c.Name, c.Source)
		}
	}
	return fs
}

func ids(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ID+" "+f.Subject)
	}
	return out
}

func only(t *testing.T, fs []Finding, id string) Finding {
	t.Helper()
	var got []Finding
	for _, f := range fs {
		if f.ID == id {
			got = append(got, f)
		}
	}
	if len(got) != 1 {
		t.Fatalf("want one %s finding, got %d among %q", id, len(got), ids(fs))
	}
	return got[0]
}

func TestPathRulesClean(t *testing.T) {
	if fs := findingsOf(t, traceScenario(t, "clean", 10)); len(fs) != 0 {
		t.Errorf("clean path produced findings %q", ids(fs))
	}
}

func TestPathRulesRateLimit(t *testing.T) {
	fs := findingsOf(t, traceScenario(t, "rate_limited", 30))
	f := only(t, fs, "path.icmp_rate_limited")
	if !strings.Contains(f.Summary, "hop 2 (198.18.2.2)") || !strings.Contains(f.Summary, "not packet loss") {
		t.Errorf("finding %+v", f)
	}
	if f.Severity != Info {
		t.Errorf("severity %s, want info", f.Severity)
	}
	for _, x := range fs {
		if x.ID == "path.forwarding_loss" {
			t.Errorf("rate limiting reported as forwarding loss: %s", x.Summary)
		}
	}
}

func TestPathRulesForwardingLoss(t *testing.T) {
	tr := traceScenario(t, "forwarding_loss", 100)
	fs := findingsOf(t, tr)
	f := only(t, fs, "path.forwarding_loss")
	// Hop 3 drops packets it forwards: probes to TTL 4 and beyond are
	// lost, so loss begins between hop 3 and hop 4.
	if !strings.Contains(f.Summary, "between hop 3 (198.18.3.2) and hop 4 (198.18.4.2)") {
		t.Errorf("summary %q does not localise the loss between hops 3 and 4", f.Summary)
	}
	if f.Severity != Critical {
		t.Errorf("severity %s", f.Severity)
	}
	// Hop 2 also rate-limits: that is reported separately, as such.
	only(t, fs, "path.icmp_rate_limited")
}

func TestPathRulesSilentLatencyFilter(t *testing.T) {
	f := only(t, findingsOf(t, traceScenario(t, "silent", 5)), "path.silent_hop")
	if !strings.Contains(f.Subject, "hop 2") {
		t.Errorf("silent finding %+v", f)
	}
	f = only(t, findingsOf(t, traceScenario(t, "latency_step", 10)), "path.latency_step")
	if !strings.Contains(f.Summary, "at hop 2 (198.18.2.2) to") || !strings.Contains(f.Summary, "at hop 3 (198.18.3.2), and stays up to hop 4") {
		t.Errorf("latency step %q", f.Summary)
	}
	fs := findingsOf(t, traceScenario(t, "slow_icmp", 10))
	only(t, fs, "path.slow_icmp_generation")
	for _, x := range fs {
		if x.ID == "path.latency_step" {
			t.Errorf("slow ICMP generation reported as a latency step")
		}
	}
	f = only(t, findingsOf(t, traceScenario(t, "prohibited", 3)), "path.filtered")
	if !strings.Contains(f.Summary, "admin prohibited") || !strings.Contains(f.Summary, "type 3 code 13") {
		t.Errorf("filtered %q", f.Summary)
	}
	f = only(t, findingsOf(t, traceScenario(t, "unanswered", 2)), "path.destination_unanswered")
	if !strings.Contains(f.Summary, "reaches the destination's network") || !strings.Contains(f.Fix[0], "--tcp") {
		t.Errorf("unanswered %q fix %q", f.Summary, f.Fix)
	}
}

func TestWilson(t *testing.T) {
	lo, hi := wilson(0, 10)
	if lo != 0 || hi < 27 || hi > 29 {
		t.Errorf("0 of 10: %.1f-%.1f, want 0-27.8", lo, hi)
	}
	lo, hi = wilson(5, 10)
	if lo < 23 || lo > 24 || hi < 76 || hi > 77 {
		t.Errorf("5 of 10: %.1f-%.1f, want 23.7-76.3", lo, hi)
	}
}

func TestNewTraceJSON(t *testing.T) {
	tr := traceScenario(t, "mpls", 3)
	j := report.NewTrace(tr)
	if j.EndReason != "reached" || j.DestinationTTL == nil || *j.DestinationTTL != 3 || len(j.Hops) != 3 {
		t.Fatalf("%+v", j)
	}
	r := j.Hops[1].Responders[0]
	if r.IP != "198.18.2.2" || len(r.MPLS) != 1 || r.MPLS[0][0].Label != 16005 || r.ReturnHops == nil || *r.ReturnHops != 6 || !r.Asymmetric {
		t.Errorf("responder %+v", r)
	}
	if r.Reply.Kind != "time_exceeded" || *r.Reply.ICMPType != 11 || r.RTT == nil || r.RTT.Samples != 3 {
		t.Errorf("reply %+v rtt %+v", r.Reply, r.RTT)
	}
	if j.Target.Family != "ipv4" || j.Probe.Method != "icmp" || j.Probe.Port != nil {
		t.Errorf("target %+v probe %+v", j.Target, j.Probe)
	}
}
