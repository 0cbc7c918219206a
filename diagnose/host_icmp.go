package diagnose

import (
	"fmt"
	"strings"

	"github.com/netdx/netdx/collectors"
)

// Thresholds of the ICMP rate-limit rule.
const (
	icmpLimitedInfoRate = 1   // suppressed ICMP messages per second
	icmpLimitedWarnRate = 100 // the same, past which traces and PMTU discovery suffer
)

// icmpLimitCounters are the messages the kernel did not send because of
// its ICMP rate limits (Linux 6.0+; IPv6 per destination only).
var icmpLimitCounters = []struct{ section, name string }{
	{"Icmp", "OutRateLimitGlobal"}, {"Icmp", "OutRateLimitHost"}, {"Icmp6", "OutRateLimitHost"},
}

func init() { onFirstUse(registerHostIcmp) }

// registerHostIcmp registers this file's rules, on the catalog's first use.
func registerHostIcmp() {
	register(Rule{Name: "ICMP rate limits", Source: SourceHost, Layer: LayerIP, Check: checkICMPRateLimit}, Entry{
		ID: "ip.icmp_rate_limited", Title: "This host suppresses ICMP messages it should send",
		Source: SourceHost, Layer: LayerIP, Severity: Info,
		Explanation: "The kernel did not send ICMP messages (time exceeded, destination unreachable, " +
			"fragmentation needed, echo replies) because of its ICMP rate limits: net.ipv4.icmp_msgs_per_sec " +
			"for the whole host, net.ipv4.icmp_ratelimit and net.ipv6.icmp.ratelimit per destination. Traces " +
			"through or to this host then show loss at it that is not packet loss, and peers learn of a smaller " +
			"path MTU later.",
		Thresholds: fmt.Sprintf("Per-namespace, Linux 6.0 or later. Over the interval: %d or more suppressed "+
			"messages (Icmp.OutRateLimitGlobal + Icmp.OutRateLimitHost + Icmp6.OutRateLimitHost) at above %d/s is "+
			"information, above %d/s a warning. Since boot: more than %d is information.",
			minEvents, icmpLimitedInfoRate, icmpLimitedWarnRate, sinceBootMin),
		Remediation: "Nothing to change when the host only answers traceroutes: say so to whoever reads the " +
			"traces. When it forwards traffic whose peers need its ICMP (fragmentation needed, unreachable), " +
			"raise net.ipv4.icmp_msgs_per_sec (default 1000) or lower net.ipv4.icmp_ratelimit (ms between " +
			"messages to one destination, default 1000).",
		Evidence: []string{"Icmp.OutRateLimitGlobal", "Icmp.OutRateLimitHost", "Icmp6.OutRateLimitHost",
			"net.ipv4.icmp_msgs_per_sec", "net.ipv4.icmp_ratelimit"},
		References: []string{"https://docs.kernel.org/networking/ip-sysctl.html"},
	})
}

// checkICMPRateLimit judges the suppressed messages (numbers → severity)
// and then says what they mean (words).
func checkICMPRateLimit(in *Input) Outcome {
	s := newSample(in)
	if !s.HasNetstat() {
		return Outcome{NotChecked: "netstat counters not read"}
	}
	counters := make([]collectors.Change, len(icmpLimitCounters))
	for i, c := range icmpLimitCounters {
		counters[i] = s.Netstat(c.section, c.name)
	}
	total := collectors.Sum("suppressed ICMP", counters...)
	if !total.OK {
		return Outcome{NotChecked: "Icmp.OutRateLimitGlobal and OutRateLimitHost absent (Linux before 6.0)"}
	}
	sev := grade(
		info(s.SinceBoot && total.Total > sinceBootMin),
		warning(!s.SinceBoot && total.Delta >= minEvents && total.Rate > icmpLimitedWarnRate),
		info(!s.SinceBoot && total.Delta >= minEvents && total.Rate > icmpLimitedInfoRate),
	)
	if sev == 0 {
		return Outcome{Detail: fmt.Sprintf("%d ICMP messages suppressed %s", total.Delta, s.window())}
	}
	f := Finding{ID: "ip.icmp_rate_limited", Severity: sev}
	var parts []string
	for _, c := range counters {
		f.Evidence = append(f.Evidence, s.ev(c))
		if c.OK && c.Delta > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", c.Name, c.Delta))
		}
	}
	f.Evidence = append(f.Evidence, s.ev(total))
	for _, name := range []string{"net.ipv4.icmp_msgs_per_sec", "net.ipv4.icmp_ratelimit"} {
		ev, _, _ := s.sysctl(name)
		f.Evidence = append(f.Evidence, ev)
	}
	f.Summary = fmt.Sprintf("The kernel suppressed %s by its ICMP rate limits (%s).", s.amount(total, "ICMP messages"),
		strings.Join(parts, ", "))
	s.prescribe(&f, setting("net.ipv4.icmp_msgs_per_sec", "10000", "only if peers need this host's ICMP: it forwards traffic"))
	f.Notes = []string{"A trace through or to this host shows loss at it that is not packet loss: netdx trace reports such hops as path.icmp_rate_limited."}
	return Outcome{Findings: []Finding{f}}
}
