package diagnose

import (
	"fmt"
	"strings"

	"github.com/netdx/netdx/internal/promql"

	"github.com/netdx/netdx/collectors"
)

// MPTCP connections that fall back to plain TCP, at the handshake or
// mid-stream, judged on MPTcpExt counter deltas.

// MPTcpExt counters these rules read (net/mptcp/mib.c).
var (
	mptcpHandshakeAttempts  = []string{"MPCapableSYNTX", "MPCapableSYNRX"}
	mptcpHandshakeFallbacks = []string{"MPCapableFallbackSYNACK", "MPCapableFallbackACK"}
	mptcpBlackholeCounters  = []string{"MPCapableSYNTXDrop", "MPCapableSYNTXDisabled", "Blackhole"}
	mptcpDataFallbacks      = []string{"DSSCorruptionFallback", "DSSCorruptionReset", "DataCsumErr",
		"InfiniteMapTx", "InfiniteMapRx", "MPFailTx", "MPFailRx", "DSSNotMatching", "DSSNoMatchTCP",
		"DssFallback", "FallbackFailed"}
)

// Gates: below these volumes an interval says nothing.
const (
	mptcpMinHandshakes     = 20  // MP_CAPABLE SYNs sent + received
	mptcpMinFallbacks      = 5   // handshakes that fell back
	mptcpFallbackShare     = 0.1 // of handshakes, to report
	mptcpFallbackShareWarn = 0.5 // of handshakes, to warn
	mptcpMinSYNDrops       = 3   // MPCapableSYNTXDrop or MPCapableSYNTXDisabled
	mptcpMinDataFallbacks  = 3   // sum of mptcpDataFallbacks
	mptcpMinJoinFailures   = 3
	mptcpJoinFailureShare  = 0.1
	mptcpMinStale          = 3
	mptcpMinAddAddrDrops   = 3
)

func init() { onFirstUse(registerMptcpFallback) }

// registerMptcpFallback registers this file's rules, on the catalog's first use.
func registerMptcpFallback() {
	register(Rule{Name: "MPTCP fallback to TCP", Source: SourceHost, Layer: LayerMPTCP, Check: checkMPTCPFallback}, Entry{
		ID:       "mptcp.handshake_fallback",
		Title:    "MPTCP handshakes fall back to plain TCP",
		Source:   SourceHost,
		Layer:    LayerMPTCP,
		Severity: Info,
		Explanation: "A share of the connections that offered MPTCP ended up as plain TCP at the handshake: the " +
			"SYN/ACK came back without MP_CAPABLE (MPCapableFallbackSYNACK, this host connecting: the peer does not " +
			"speak MPTCP, or a middlebox stripped the option) or the third ACK arrived without it " +
			"(MPCapableFallbackACK, this host accepting: something on the path removed it). Those connections run " +
			"on one path and lose the failover and aggregation MPTCP was set up for.",
		Thresholds: fmt.Sprintf("At least %d MP_CAPABLE handshakes (MPCapableSYNTX + MPCapableSYNRX) and %d "+
			"fallbacks in the interval, and fallbacks ≥ %.0f%% of handshakes; warning from %.0f%%.",
			mptcpMinHandshakes, mptcpMinFallbacks, mptcpFallbackShare*100, mptcpFallbackShareWarn*100),
		Remediation: "If the peers are meant to speak MPTCP (a bonding aggregator, your own servers), find what " +
			"strips TCP option 30 on the path: capture the handshake at both ends (`tcpdump -ni any 'tcp[tcpflags] & " +
			"tcp-syn != 0'`) and look for MP_CAPABLE on one side only; firewalls and TCP normalizers that drop " +
			"unknown options are the usual culprits. If the peers are arbitrary Internet servers, fallback is expected.",
		Evidence: append(append([]string{}, mptcpHandshakeAttempts...), mptcpHandshakeFallbacks...),
		Alerts: []Alert{{Severity: Warning, For: forCounter, Expr: fmt.Sprintf("%s >= %d\nand %s >= %d\nand %s\n  >= %s * %s",
			mptcpIncrease(mptcpHandshakeAttempts...), mptcpMinHandshakes, mptcpIncrease(mptcpHandshakeFallbacks...), mptcpMinFallbacks,
			mptcpIncrease(mptcpHandshakeFallbacks...), promql.Num(mptcpFallbackShareWarn), mptcpIncrease(mptcpHandshakeAttempts...))}},
		References: []string{"RFC 8684 section 3.7", "https://docs.kernel.org/networking/mptcp.html"},
	}, Entry{
		ID:       "mptcp.syn_blackhole",
		Title:    "The path drops SYNs that carry MPTCP options",
		Source:   SourceHost,
		Layer:    LayerMPTCP,
		Severity: Warning,
		Explanation: "SYNs with MP_CAPABLE went unanswered until the kernel retried them without it " +
			"(MPCapableSYNTXDrop), or the kernel decided the path is an MPTCP blackhole (Blackhole) and now opens " +
			"connections as plain TCP for net.mptcp.blackhole_timeout seconds (MPCapableSYNTXDisabled). Each dropped " +
			"SYN costs a retransmission timeout (1 s, then 2 s more) before the connection is set up without MPTCP: " +
			"added connect latency, and no multipath afterwards.",
		Thresholds: fmt.Sprintf("In the interval: MPCapableSYNTXDrop or MPCapableSYNTXDisabled ≥ %d, or "+
			"Blackhole ≥ 1.", mptcpMinSYNDrops),
		Remediation: "Find the firewall or middlebox that drops SYNs carrying TCP option 30 and let MPTCP through. " +
			"Until then, net.mptcp.syn_retrans_before_tcp_fallback (default 2) sets how many SYN retransmissions " +
			"a connection waits before falling back, and net.mptcp.blackhole_timeout how long MPTCP stays off " +
			"after a blackhole.",
		Evidence: append([]string{"net.mptcp.syn_retrans_before_tcp_fallback", "net.mptcp.blackhole_timeout"}, mptcpBlackholeCounters...),
		Alerts: []Alert{{Severity: Warning, For: forCounter, Expr: fmt.Sprintf("%s >= %d\nor %s >= %d\nor %s >= 1",
			mptcpIncrease("MPCapableSYNTXDrop"), mptcpMinSYNDrops, mptcpIncrease("MPCapableSYNTXDisabled"), mptcpMinSYNDrops,
			mptcpIncrease("Blackhole"))}},
		References: []string{"https://docs.kernel.org/networking/mptcp-sysctl.html"},
	}, Entry{
		ID:       "mptcp.data_fallback",
		Title:    "MPTCP connections fall back or reset mid-stream",
		Source:   SourceHost,
		Layer:    LayerMPTCP,
		Severity: Warning,
		Explanation: "Established MPTCP connections met data they could not map: DSS mappings that do not match " +
			"the TCP sequence space or the payload (DSSNotMatching, DSSNoMatchTCP, DataCsumErr), so the kernel " +
			"fell back to plain TCP with an infinite mapping (InfiniteMapTx/Rx, DSSCorruptionFallback, MP_FAIL) or " +
			"reset the subflow (DSSCorruptionReset, FallbackFailed). A middlebox that rewrites payload or " +
			"re-segments TCP (NAT helpers, transparent proxies, TCP optimizers) is the usual cause; resets drop " +
			"in-flight data and fallbacks lose the other paths.",
		Thresholds: fmt.Sprintf("The sum of %v grows by at least %d in the interval.", mptcpDataFallbacks, mptcpMinDataFallbacks),
		Remediation: "Find the payload-modifying middlebox (compare captures on both sides of it) and exempt MPTCP " +
			"traffic from it. `sysctl -w net.mptcp.checksum_enabled=1` (both ends) makes the kernel detect such " +
			"rewriting with DSS checksums and fall back cleanly instead of resetting.",
		Evidence: append([]string{"net.mptcp.checksum_enabled"}, mptcpDataFallbacks...),
		Alerts: []Alert{{Severity: Warning, For: forCounter,
			Expr: fmt.Sprintf("%s >= %d", mptcpIncrease(mptcpDataFallbacks...), mptcpMinDataFallbacks)}},
		References: []string{"RFC 8684 section 3.7", "https://docs.kernel.org/networking/mptcp-sysctl.html"},
	})
}

// mptcpCountersFor returns the MPTcpExt counters, or why there are none.
func mptcpCountersFor(d *collectors.Window) (mptcpCounters, string) {
	c, ok := newMPTCPCounters(d)
	if ok {
		return c, ""
	}
	if _, why := mptcpState(d); why != "" {
		return c, "no MPTcpExt counters; " + why
	}
	return c, "no MPTcpExt counters in /proc/net/netstat"
}

// counterFinding completes a counter-based finding: since-boot totals
// are information, not a diagnosis of now.
func (c mptcpCounters) counterFinding(f Finding, names ...string) Finding {
	f.Evidence = append(c.evidenceOf(names...), f.Evidence...)
	if c.sinceBoot {
		f.Severity = Info
		f.Notes = append(f.Notes, "Counted since boot: run with --interval to see whether it is still happening.")
	}
	return f
}

// mptcpSysctlEvidence is a net.mptcp sysctl as evidence, when read.
func mptcpSysctlEvidence(d *collectors.Window, name string) []Evidence {
	if d.After.MPTCP == nil {
		return nil
	}
	v, ok := d.After.MPTCP.Sysctls[name]
	if !ok {
		return nil
	}
	return []Evidence{Text("net.mptcp."+name, v)}
}

func checkMPTCPFallback(in *Input) Outcome {
	c, why := mptcpCountersFor(in.Diag)
	if why != "" {
		return Outcome{NotChecked: why}
	}
	var out Outcome
	attempts := c.sum(mptcpHandshakeAttempts...)
	fallbacks := c.sum(mptcpHandshakeFallbacks...)
	if attempts >= mptcpMinHandshakes && fallbacks >= mptcpMinFallbacks &&
		float64(fallbacks) >= mptcpFallbackShare*float64(attempts) {
		share := float64(fallbacks) / float64(attempts)
		f := Finding{
			ID:      "mptcp.handshake_fallback",
			Subject: "MP_CAPABLE handshakes",
			Summary: fmt.Sprintf("%d of %d MPTCP handshakes (%.0f%%) fell back to plain TCP %s.",
				fallbacks, attempts, share*100, c.span()),
			Fix: []string{"tcpdump -ni any -c 50 'tcp[tcpflags] & tcp-syn != 0' -w mptcp-syn.pcap   (on both ends; compare which side loses option 30, mptcp)"},
		}
		if share >= mptcpFallbackShareWarn {
			f.Severity = Warning
		}
		if d, _ := c.delta("MPCapableFallbackACK"); d > 0 {
			f.Notes = append(f.Notes, "MPCapableFallbackACK counts clients whose SYN offered MPTCP but whose third ACK "+
				"arrived without it: an on-path device removed the option after the SYN.")
		}
		out.Findings = append(out.Findings, c.counterFinding(f, append(mptcpHandshakeAttempts, mptcpHandshakeFallbacks...)...))
	}

	drops, _ := c.delta("MPCapableSYNTXDrop")
	disabled, _ := c.delta("MPCapableSYNTXDisabled")
	holes, _ := c.delta("Blackhole")
	if drops >= mptcpMinSYNDrops || disabled >= mptcpMinSYNDrops || holes >= 1 {
		var parts []string
		if drops > 0 {
			parts = append(parts, fmt.Sprintf("%d MPTCP SYNs went unanswered until retried without MPTCP", drops))
		}
		if disabled > 0 {
			parts = append(parts, fmt.Sprintf("%d connections were opened as plain TCP because of a past blackhole", disabled))
		}
		if holes > 0 {
			parts = append(parts, fmt.Sprintf("%d MPTCP blackhole(s) detected", holes))
		}
		f := Finding{
			ID:      "mptcp.syn_blackhole",
			Subject: "MP_CAPABLE SYNs",
			Summary: strings.Join(parts, ", ") + " " + c.span() + ": something on the path drops SYNs carrying MPTCP options.",
			Evidence: append(mptcpSysctlEvidence(in.Diag, "syn_retrans_before_tcp_fallback"),
				mptcpSysctlEvidence(in.Diag, "blackhole_timeout")...),
			Fix: []string{
				"Find the firewall dropping SYNs with TCP option 30 (MPTCP) and let it through: iptables/nftables rules matching tcp option or 'unknown option' policies, cloud security appliances, CGNAT.",
				"sysctl net.mptcp.syn_retrans_before_tcp_fallback   (SYN retransmissions a connection waits before falling back)",
			},
		}
		out.Findings = append(out.Findings, c.counterFinding(f, mptcpBlackholeCounters...))
	}

	if n := c.sum(mptcpDataFallbacks...); n >= mptcpMinDataFallbacks {
		resets := c.sum("DSSCorruptionReset", "FallbackFailed")
		f := Finding{
			ID:       "mptcp.data_fallback",
			Subject:  "MPTCP data mappings",
			Summary:  fmt.Sprintf("%d mid-stream MPTCP mapping failures %s (%d subflow resets): something on the path rewrites or re-segments TCP payload.", n, c.span(), resets),
			Evidence: mptcpSysctlEvidence(in.Diag, "checksum_enabled"),
		}
		newSample(in).prescribe(&f, step("Compare captures on both sides of each middlebox (NAT helpers, transparent proxies, WAN optimizers) and exempt MPTCP flows from payload rewriting."),
			setting("net.mptcp.checksum_enabled", "1", "on both ends: detect rewriting with DSS checksums and fall back cleanly"))
		out.Findings = append(out.Findings, c.counterFinding(f, mptcpDataFallbacks...))
	}

	if len(out.Findings) == 0 {
		if attempts == 0 {
			out.Detail = "no MPTCP handshakes " + c.span()
		} else {
			out.Detail = fmt.Sprintf("%d MPTCP handshakes %s, %d fell back", attempts, c.span(), fallbacks)
		}
	}
	return out
}
