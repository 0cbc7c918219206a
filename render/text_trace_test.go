package render

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/netdx/netdx/report"
)

var update = flag.Bool("update", false, "rewrite golden files")

func ptr[T any](v T) *T { return &v }

// sampleTrace is an ECMP hop, a silent hop, an MPLS hop with an asymmetric
// return path and a destination.
func sampleTrace() report.Trace {
	rtt := func(avg float64) *report.RTTStats {
		return &report.RTTStats{Samples: 10, LastMs: avg, AvgMs: avg, BestMs: avg - 0.5, WorstMs: avg + 1, StDevMs: 0.3,
			P50Ms: avg, P95Ms: avg + 0.9, JitterMs: 0.2, JitterMaxMs: 0.8}
	}
	te := report.ReplyInfo{Kind: "time_exceeded", ICMPType: ptr(11), ICMPCode: ptr(0)}
	return report.Trace{
		Target:    report.TraceTarget{Name: "example.test", IP: "198.18.9.2", Family: "ipv4"},
		Probe:     report.TraceProbe{Method: "udp", Paris: true, Port: ptr(33434), Sockets: "raw", Count: 10, Pacing: "icmp_budget", TimeoutMs: 1000, FirstTTL: 1, MaxTTL: 30},
		StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		EndedAt:   time.Date(2026, 1, 2, 3, 4, 7, 0, time.UTC),
		Rounds:    10, EndReason: "reached", DestinationTTL: ptr(4),
		Hops: []report.TraceHop{
			{TTL: 1, Sent: 10, Received: 8, LossPct: 20, RateLimited: 2, RTT: rtt(1), Responders: []report.TraceResponder{{IP: "198.18.1.2", Name: "gw.example.test", Received: 8, RTT: rtt(1), Reply: te,
				ICMPBudget: &report.ICMPBudget{Burst: 6, IntervalMs: 1000, AnswersPerS: 1}}}},
			{TTL: 2, Sent: 10, Received: 10, RTT: rtt(2), Responders: []report.TraceResponder{
				{IP: "198.18.2.2", Received: 6, RTT: rtt(2), Reply: te},
				{IP: "198.18.3.2", Received: 4, RTT: rtt(2.2), Reply: te}}},
			{TTL: 3, Sent: 10, Received: 0, LossPct: 100, ForwardingLossPct: 100, ForwardLost: 0, Responders: []report.TraceResponder{}},
			{TTL: 4, Sent: 10, Received: 9, LossPct: 10, ForwardingLossPct: 10, ForwardLost: 1, Destination: true, RTT: rtt(9), Responders: []report.TraceResponder{
				{IP: "198.18.9.2", Received: 9, RTT: rtt(9), Reply: report.ReplyInfo{Kind: "port_unreachable", ICMPType: ptr(3), ICMPCode: ptr(3)},
					ReplyTTL: ptr(58), ReturnHops: ptr(7), Asymmetric: true,
					MPLS: [][]report.MPLSLabel{{{Label: 16005, TC: 0, BottomOfStack: true, TTL: 1}}}}}},
		},
	}
}

func TestTraceGolden(t *testing.T) {
	for _, c := range []struct {
		name   string
		styled bool
	}{{"plain", false}, {"styled", true}} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			r := lipgloss.NewRenderer(&b)
			r.SetColorProfile(termenv.ANSI)
			tr := sampleTrace()
			if err := (Text{R: r, Styled: c.styled, Width: 100}).TraceSection(&b, &tr); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "TestTraceGolden_"+c.name+".golden")
			if *update {
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("output differs from %s (run with -update):\n%s", golden, b.String())
			}
		})
	}
}
