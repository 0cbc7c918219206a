package diagnose

import (
	"testing"

	"github.com/netdx/netdx/collectors"
)

// The ICMP rate-limit rule's cases join the host rules' table
// (TestHostRules runs them over the healthy pair, 10 s apart).
func init() {
	ruleCases = append(ruleCases,
		ruleCase{name: "ICMP suppressed by the per-destination limit", id: "ip.icmp_rate_limited", want: Info,
			mutate: func(b, a *collectors.Snapshot) { bump(a, "Icmp", "OutRateLimitHost", 300) },
			check: func(t *testing.T, f Finding) {
				contains(t, "summary", []string{f.Summary}, "300 ICMP messages in 10s (30.0/s)")
				contains(t, "summary", []string{f.Summary}, "Icmp.OutRateLimitHost 300")
			}},
		ruleCase{name: "ICMP suppressed past the warning rate, v4 and v6", id: "ip.icmp_rate_limited", want: Warning,
			mutate: func(b, a *collectors.Snapshot) {
				bump(a, "Icmp", "OutRateLimitGlobal", 900)
				bump(a, "Icmp6", "OutRateLimitHost", 200)
			}},
		ruleCase{name: "a few ICMP messages suppressed", id: "ip.icmp_rate_limited",
			mutate: func(b, a *collectors.Snapshot) { bump(a, "Icmp", "OutRateLimitHost", 9) }},
		ruleCase{name: "ICMP suppressed since boot", id: "ip.icmp_rate_limited", want: Info,
			mutate: func(b, a *collectors.Snapshot) { bump(a, "Icmp", "OutRateLimitGlobal", 600) }},
	)
}

// TestICMPRateLimitNeedsLinux6: before Linux 6.0 the counters do not exist
// and the rule says so instead of judging zero.
func TestICMPRateLimitNeedsLinux6(t *testing.T) {
	b, a := healthyPair()
	delete(b.Netstat, "Icmp")
	delete(a.Netstat, "Icmp")
	_, checks := evaluate(b, a)
	for _, c := range checks {
		if c.Name == "ICMP rate limits" && c.Status != "not_checked" {
			t.Errorf("without the counters: %s (%s)", c.Status, c.Detail)
		}
	}
}
