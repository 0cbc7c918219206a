package diagnose

import (
	"fmt"
	"sort"
	"strings"

	"github.com/netdx/netdx/internal/promql"
)

// Subflow joins, stale subflows and address announcements, judged on
// MPTcpExt counter deltas.

// mptcpJoinCauses groups the MPTcpExt counters of failed joins by cause,
// each with what to do about it.
var mptcpJoinCauses = []struct {
	what     string
	counters []string
	fix      string
}{
	{"joins for connections this host does not know", []string{"MPJoinNoTokenFound"},
		"MP_JOIN SYNs reach a host without the connection: a load balancer or ECMP spreads subflows across servers " +
			"(make it MPTCP-aware, or announce each server's own address with a `signal` endpoint so joins go " +
			"straight to it), or joins arrive for connections already closed."},
	{"joins rejected by the path manager", []string{"MPJoinRejected"},
		"Connections reached `limits subflows` or the path manager refused the address: raise the limit with " +
			"`ip mptcp limits set subflows N`."},
	{"joins with a wrong HMAC", []string{"MPJoinSynAckHMacFailure", "MPJoinAckHMacFailure"},
		"The join handshake was altered on the path or forged: look for a middlebox rewriting TCP options."},
	{"joins with a mismatched port", []string{"MismatchPortSynRx", "MismatchPortAckRx"},
		"Joins to a port-based `signal` endpoint came to the wrong port: check NAT port mappings of the announced address."},
	{"subflows this host failed to open", []string{"MPJoinSynTxCreatSkErr", "MPJoinSynTxBindErr", "MPJoinSynTxConnectErr"},
		"Bind errors mean an endpoint's address is no longer on the host (remove or fix the endpoint); connect " +
			"errors mean no route from the endpoint's address to the peer (add a source-based routing rule for it)."},
}

var mptcpJoinAttempts = []string{"MPJoinSynRx", "MPJoinSynTx"}

// mptcpJoinFailures names every counter of mptcpJoinCauses.
func mptcpJoinFailures() []string {
	var out []string
	for _, jc := range mptcpJoinCauses {
		out = append(out, jc.counters...)
	}
	return out
}

func init() { onFirstUse(registerMptcpJoins) }

// registerMptcpJoins registers this file's rules, on the catalog's first use.
func registerMptcpJoins() {
	register(Rule{Name: "MPTCP subflow joins", Source: SourceHost, Layer: LayerMPTCP, Check: checkMPTCPJoins}, Entry{
		ID:       "mptcp.join_failures",
		Title:    "MPTCP subflow joins fail",
		Source:   SourceHost,
		Layer:    LayerMPTCP,
		Severity: Warning,
		Explanation: "Additional subflows (MP_JOIN handshakes) fail, so connections run on fewer paths than " +
			"configured. The counters say why: joins for unknown connections (a load balancer splitting " +
			"subflows across servers), joins rejected by the path manager's limits, HMAC failures (an altered " +
			"handshake), or local errors opening a subflow from an endpoint (its address gone, no route).",
		Thresholds: fmt.Sprintf("At least %d failed joins in the interval and ≥ %.0f%% of join attempts "+
			"(MPJoinSynRx + MPJoinSynTx).", mptcpMinJoinFailures, mptcpJoinFailureShare*100),
		Remediation: "Follow the dominant cause: make load balancers MPTCP-aware or announce per-server " +
			"addresses, raise `limits subflows`, fix endpoints whose address or route is gone.",
		Evidence: []string{"MPJoinSynRx", "MPJoinSynTx", "MPJoinNoTokenFound", "MPJoinRejected", "MPJoinSynAckHMacFailure", "MPJoinAckHMacFailure", "MPJoinSynTxBindErr", "MPJoinSynTxConnectErr"},
		// failed >= share × max(attempts, failed) is failed >= share × attempts.
		Alerts: []Alert{{Severity: Warning, For: forCounter, Expr: fmt.Sprintf("%s >= %d\nand %s\n  >= %s * %s",
			mptcpIncrease(mptcpJoinFailures()...), mptcpMinJoinFailures, mptcpIncrease(mptcpJoinFailures()...),
			promql.Num(mptcpJoinFailureShare), mptcpIncrease(mptcpJoinAttempts...))}},
		References: []string{"RFC 8684 section 3.2", "https://www.mptcp.dev/pm.html"},
	}, Entry{
		ID:       "mptcp.subflow_stale",
		Title:    "MPTCP subflows go stale",
		Source:   SourceHost,
		Layer:    LayerMPTCP,
		Severity: Info,
		Explanation: "A subflow is marked stale after net.mptcp.stale_loss_cnt retransmission timeouts without " +
			"progress: its path is losing everything. The scheduler stops sending on it and reinjects its data on " +
			"the other subflows, so data that was in flight on it arrives late. SubflowRecover counts those that " +
			"came back.",
		Thresholds: fmt.Sprintf("SubflowStale grows by at least %d in the interval.", mptcpMinStale),
		Remediation: "Find which link loses packets (`netdx trace` over each WAN, interface error counters). " +
			"Lowering net.mptcp.stale_loss_cnt moves traffic off a failing path sooner.",
		Evidence:   []string{"SubflowStale", "SubflowRecover", "net.mptcp.stale_loss_cnt"},
		References: []string{"https://docs.kernel.org/networking/mptcp-sysctl.html"},
	})
	register(Rule{Name: "MPTCP address announcements", Source: SourceHost, Layer: LayerMPTCP, Check: checkMPTCPAnnouncements}, Entry{
		ID:       "mptcp.add_addr_drops",
		Title:    "MPTCP address announcements are dropped",
		Source:   SourceHost,
		Layer:    LayerMPTCP,
		Severity: Warning,
		Explanation: "ADD_ADDR or RM_ADDR options were dropped: incoming ones with a wrong HMAC or while the " +
			"path manager was busy (AddAddrDrop, RmAddrDrop), outgoing ones for lack of option space or memory " +
			"(AddAddrTxDrop, EchoAddTxDrop, RmAddrTxDrop). A lost ADD_ADDR means the peer never opens the subflow " +
			"to that address; a lost RM_ADDR leaves subflows to an address that is gone.",
		Thresholds: fmt.Sprintf("The sum of the drop counters grows by at least %d in the interval.", mptcpMinAddAddrDrops),
		Remediation: "Incoming drops with ADD_ADDR echoes missing point at a middlebox altering options. The " +
			"kernel re-sends an unacknowledged ADD_ADDR after net.mptcp.add_addr_timeout; lowering it recovers " +
			"lost announcements sooner. Announcements beyond `limits add_addr_accepted` are ignored, not counted " +
			"here: raise that limit if peers' extra addresses should be used.",
		Evidence: []string{"AddAddrDrop", "AddAddrTxDrop", "EchoAddTxDrop", "RmAddrDrop", "RmAddrTxDrop", "net.mptcp.add_addr_timeout"},
		Alerts: []Alert{{Severity: Warning, For: forCounter,
			Expr: fmt.Sprintf("%s >= %d", mptcpIncrease(mptcpAnnounceDrops...), mptcpMinAddAddrDrops)}},
		References: []string{"RFC 8684 section 3.4"},
	})
}

func checkMPTCPJoins(in *Input) Outcome {
	c, why := mptcpCountersFor(in.Diag)
	if why != "" {
		return Outcome{NotChecked: why}
	}
	var out Outcome
	attempts := c.sum(mptcpJoinAttempts...)
	type cause struct {
		n        uint64
		what     string
		fix      string
		counters []string
	}
	var causes []cause
	var failed uint64
	var names []string
	for _, jc := range mptcpJoinCauses {
		n := c.sum(jc.counters...)
		failed += n
		names = append(names, jc.counters...)
		if n > 0 {
			causes = append(causes, cause{n, jc.what, jc.fix, jc.counters})
		}
	}
	sort.SliceStable(causes, func(i, j int) bool { return causes[i].n > causes[j].n })
	if failed >= mptcpMinJoinFailures && float64(failed) >= mptcpJoinFailureShare*float64(max(attempts, failed)) {
		parts := make([]string, len(causes))
		f := Finding{
			ID:      "mptcp.join_failures",
			Subject: "MP_JOIN handshakes",
		}
		for i, x := range causes {
			parts[i] = fmt.Sprintf("%d %s", x.n, x.what)
			f.Fix = append(f.Fix, x.fix)
		}
		f.Summary = fmt.Sprintf("%d MPTCP subflow joins failed %s against %d attempted: %s.",
			failed, c.span(), attempts, strings.Join(parts, ", "))
		out.Findings = append(out.Findings, c.counterFinding(f, append(append([]string{}, mptcpJoinAttempts...), names...)...))
	}
	if stale, _ := c.delta("SubflowStale"); stale >= mptcpMinStale {
		recovered, _ := c.delta("SubflowRecover")
		f := Finding{
			ID:       "mptcp.subflow_stale",
			Subject:  "MPTCP subflows",
			Summary:  fmt.Sprintf("%d MPTCP subflows went stale %s (%d recovered): a path is losing everything sent on it.", stale, c.span(), recovered),
			Evidence: mptcpSysctlEvidence(in.Diag, "stale_loss_cnt"),
		}
		newSample(in).prescribe(&f, step("netdx trace PEER   (from each WAN address, to find the link that loses packets)"),
			setting("net.mptcp.stale_loss_cnt", "2", "move traffic off a failing path sooner; default 4"))
		out.Findings = append(out.Findings, c.counterFinding(f, "SubflowStale", "SubflowRecover"))
	}
	if len(out.Findings) == 0 {
		out.Detail = fmt.Sprintf("%d subflow joins %s, %d failed", attempts, c.span(), failed)
	}
	return out
}

var mptcpAnnounceDrops = []string{"AddAddrDrop", "AddAddrTxDrop", "EchoAddTxDrop", "RmAddrDrop", "RmAddrTxDrop"}

func checkMPTCPAnnouncements(in *Input) Outcome {
	c, why := mptcpCountersFor(in.Diag)
	if why != "" {
		return Outcome{NotChecked: why}
	}
	drops := c.sum(mptcpAnnounceDrops...)
	sent, received := c.sum("AddAddrTx"), c.sum("AddAddr")
	if drops < mptcpMinAddAddrDrops {
		return Outcome{Detail: fmt.Sprintf("%d ADD_ADDR sent, %d received %s, %d dropped", sent, received, c.span(), drops)}
	}
	f := Finding{
		ID:       "mptcp.add_addr_drops",
		Subject:  "ADD_ADDR / RM_ADDR",
		Summary:  fmt.Sprintf("%d MPTCP address announcements dropped %s (%d ADD_ADDR sent, %d received).", drops, c.span(), sent, received),
		Evidence: mptcpSysctlEvidence(in.Diag, "add_addr_timeout"),
	}
	newSample(in).prescribe(&f, setting("net.mptcp.add_addr_timeout", "30", "re-send unacknowledged ADD_ADDR sooner; default 120 s"),
		step("If incoming ADD_ADDR are dropped (AddAddrDrop), look for a middlebox rewriting TCP options between the peers."))
	return Outcome{Findings: []Finding{c.counterFinding(f, append(mptcpAnnounceDrops, "AddAddrTx", "AddAddr")...)}}
}
