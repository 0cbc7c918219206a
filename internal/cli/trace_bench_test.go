package cli

import (
	"testing"
	"time"

	"github.com/netdx/netdx/internal/netlab"
)

// BenchmarkTraceReport10Rounds times `netdx trace --report` (10 rounds,
// default interval and probe timeout) over the 4-hop lab path whose middle
// router rate-limits ICMP like a default Linux router (one per second per
// destination after a burst of six). mtr -r -c 10 takes about 10 s. Every
// run must still classify hop 2 as rate limiting, not loss.
func BenchmarkTraceReport10Rounds(b *testing.B) {
	p := netlab.NewPath(b, netlab.PathSpec{Routers: []netlab.RouterSpec{{}, {RateLimit: time.Second}, {}}})
	target := p.TargetAddr.V4.String()
	for b.Loop() {
		code, rep, stderr := labTrace(b, p.Prober, "--report", target)
		if code != exitOK || len(rep.Traces) != 1 || rep.Traces[0].Rounds != 10 {
			b.Fatalf("exit %d, %s", code, stderr)
		}
		findOne(b, rep, "path.icmp_rate_limited")
		for _, f := range rep.Findings {
			if f.ID == "path.forwarding_loss" {
				b.Fatalf("rate limiting misread as forwarding loss: %s", f.Summary)
			}
		}
	}
}
