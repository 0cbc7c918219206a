package diagnose

import (
	"strings"
	"testing"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/report"
)

// mptcpCounterPair is a first and second snapshot whose MPTcpExt counters
// differ by deltas, on top of large since-boot totals, so a rule that
// judged totals instead of deltas would fire on the quiet cases.
func mptcpCounterPair(deltas map[string]uint64) *Input {
	base := map[string]uint64{}
	for _, names := range [][]string{mptcpHandshakeAttempts, mptcpHandshakeFallbacks, mptcpBlackholeCounters,
		mptcpDataFallbacks, mptcpJoinAttempts, mptcpAnnounceDrops,
		{"SubflowStale", "SubflowRecover", "AddAddrTx", "AddAddr"}} {
		for _, n := range names {
			base[n] = 1000
		}
	}
	for _, jc := range mptcpJoinCauses {
		for _, n := range jc.counters {
			base[n] = 1000
		}
	}
	after := map[string]uint64{}
	for k, v := range base {
		after[k] = v + deltas[k]
	}
	m := mptcpStateOf(mptcpBondedPM(2, 2))
	return mptcpInput(mptcpSnap(m, base), mptcpSnap(m, after))
}

func TestMPTCPCounterRules(t *testing.T) {
	for _, tc := range []struct {
		name     string
		check    func(*Input) Outcome
		deltas   map[string]uint64
		want     []string
		severity Severity
		text     []string
	}{
		{"handshake fallback", checkMPTCPFallback,
			map[string]uint64{"MPCapableSYNTX": 30, "MPCapableFallbackSYNACK": 10},
			[]string{"mptcp.handshake_fallback"}, 0, []string{"10 of 30 MPTCP handshakes (33%) fell back to plain TCP in 1s", "tcpdump"}},
		{"handshake fallback, most", checkMPTCPFallback,
			map[string]uint64{"MPCapableSYNRX": 40, "MPCapableFallbackACK": 30},
			[]string{"mptcp.handshake_fallback"}, Warning, []string{"third ACK arrived without it"}},
		{"handshake fallback below volume", checkMPTCPFallback,
			map[string]uint64{"MPCapableSYNTX": 10, "MPCapableFallbackSYNACK": 5}, nil, 0, nil},
		{"handshake fallback below share", checkMPTCPFallback,
			map[string]uint64{"MPCapableSYNTX": 100, "MPCapableFallbackSYNACK": 5}, nil, 0, nil},
		{"blackhole", checkMPTCPFallback,
			map[string]uint64{"Blackhole": 1, "MPCapableSYNTXDrop": 1},
			[]string{"mptcp.syn_blackhole"}, 0, []string{"1 MPTCP blackhole(s) detected in 1s: something on the path drops SYNs", "net.mptcp.syn_retrans_before_tcp_fallback=2"}},
		{"SYN drops", checkMPTCPFallback,
			map[string]uint64{"MPCapableSYNTXDrop": 3},
			[]string{"mptcp.syn_blackhole"}, 0, []string{"3 MPTCP SYNs went unanswered"}},
		{"SYN drops below volume", checkMPTCPFallback, map[string]uint64{"MPCapableSYNTXDrop": 2}, nil, 0, nil},
		{"data fallback", checkMPTCPFallback,
			map[string]uint64{"DSSCorruptionReset": 2, "DataCsumErr": 1},
			[]string{"mptcp.data_fallback"}, 0, []string{"3 mid-stream MPTCP mapping failures in 1s (2 subflow resets)", "checksum_enabled=1"}},
		{"data fallback below volume", checkMPTCPFallback, map[string]uint64{"InfiniteMapRx": 2}, nil, 0, nil},
		{"join failures", checkMPTCPJoins,
			map[string]uint64{"MPJoinSynRx": 20, "MPJoinNoTokenFound": 5, "MPJoinRejected": 1},
			[]string{"mptcp.join_failures"}, 0, []string{"6 MPTCP subflow joins failed in 1s against 20 attempted: 5 joins for connections this host does not know, 1 joins rejected", "load balancer"}},
		{"join failures below volume", checkMPTCPJoins, map[string]uint64{"MPJoinSynRx": 20, "MPJoinSynTxBindErr": 2}, nil, 0, nil},
		{"join failures below share", checkMPTCPJoins, map[string]uint64{"MPJoinSynRx": 100, "MPJoinAckHMacFailure": 5}, nil, 0, nil},
		{"stale subflows", checkMPTCPJoins,
			map[string]uint64{"SubflowStale": 4, "SubflowRecover": 1},
			[]string{"mptcp.subflow_stale"}, 0, []string{"4 MPTCP subflows went stale in 1s (1 recovered)", "net.mptcp.stale_loss_cnt=4"}},
		{"stale below volume", checkMPTCPJoins, map[string]uint64{"SubflowStale": 2}, nil, 0, nil},
		{"ADD_ADDR drops", checkMPTCPAnnouncements,
			map[string]uint64{"AddAddrDrop": 3, "AddAddr": 10},
			[]string{"mptcp.add_addr_drops"}, 0, []string{"3 MPTCP address announcements dropped in 1s", "add_addr_timeout"}},
		{"ADD_ADDR drops below volume", checkMPTCPAnnouncements, map[string]uint64{"RmAddrTxDrop": 2}, nil, 0, nil},
		{"idle host", checkMPTCPFallback, nil, nil, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.check(mptcpCounterPair(tc.deltas))
			mptcpWantFindings(t, o, tc.want...)
			if len(tc.want) == 0 {
				if o.Detail == "" {
					t.Error("no detail for the health table")
				}
				return
			}
			f := o.Findings[0]
			if f.Severity != tc.severity {
				t.Errorf("severity %v, want %v (0 = catalog default)", f.Severity, tc.severity)
			}
			mptcpMustContain(t, mptcpJoined(f), tc.text...)
			for _, e := range f.Evidence {
				if strings.HasPrefix(e.Name, "MPTcpExt.") && (e.Delta == nil || e.RatePerSec == nil || *e.Delta == 0) {
					t.Errorf("evidence %s without a delta and rate: %+v", e.Name, e)
				}
			}
		})
	}
}

// TestMPTCPCountersSinceBoot checks that totals since boot are judged,
// but only as information.
func TestMPTCPCountersSinceBoot(t *testing.T) {
	m := mptcpStateOf(mptcpBondedPM(2, 2))
	in := mptcpInput(nil, mptcpSnap(m, map[string]uint64{"Blackhole": 2, "MPCapableSYNTXDrop": 7}))
	o := checkMPTCPFallback(in)
	mptcpWantFindings(t, o, "mptcp.syn_blackhole")
	f := o.Findings[0]
	if f.Severity != Info {
		t.Errorf("severity %v, want info since boot", f.Severity)
	}
	mptcpMustContain(t, mptcpJoined(f), "since boot", "--interval")
}

// TestMPTCPCounterReset checks that a counter lower in the second snapshot
// (namespace recreated) counts from zero instead of wrapping to a huge
// delta.
func TestMPTCPCounterReset(t *testing.T) {
	m := mptcpStateOf(mptcpBondedPM(2, 2))
	in := mptcpInput(mptcpSnap(m, map[string]uint64{"SubflowStale": 900}), mptcpSnap(m, map[string]uint64{"SubflowStale": 1}))
	o := checkMPTCPJoins(in)
	mptcpWantFindings(t, o)
	in = mptcpInput(mptcpSnap(m, map[string]uint64{"SubflowStale": 900}), mptcpSnap(m, map[string]uint64{"SubflowStale": 5}))
	o = checkMPTCPJoins(in)
	mptcpWantFindings(t, o, "mptcp.subflow_stale")
	mptcpMustContain(t, o.Findings[0].Summary, "5 MPTCP subflows went stale")
}

func TestMPTCPNoCounters(t *testing.T) {
	m := mptcpStateOf(mptcpBondedPM(2, 2))
	o := checkMPTCPFallback(mptcpInput(nil, mptcpSnap(m, nil)))
	if o.NotChecked == "" {
		t.Errorf("no MPTcpExt section: %+v, want not checked", o)
	}
}

func TestMPTCPConfigRules(t *testing.T) {
	limitZero := mptcpStateOf(mptcpBondedPM(0, 2), mptcpClientConn(1, 0))
	o := checkMPTCPConfig(mptcpInput(nil, mptcpSnap(limitZero, nil)))
	mptcpWantFindings(t, o, "mptcp.limit_zero")
	mptcpMustContain(t, mptcpJoined(o.Findings[0]), "ip mptcp limits set subflows 2 add_addr_accepted 0",
		"ip mptcp endpoint add 198.18.2.1 dev wan2 id 2 subflow", "leaves the 2 MPTCP endpoint(s) unused")
	if strings.Contains(mptcpJoined(o.Findings[0]), "delete id 1") {
		t.Errorf("re-adds the endpoint the initial subflow uses:\n%s", mptcpJoined(o.Findings[0]))
	}
	o = checkMPTCPConfig(mptcpInput(nil, mptcpSnap(mptcpStateOf(mptcpBondedPM(0, 2)), nil)))
	mptcpWantFindings(t, o, "mptcp.limit_zero")
	mptcpMustContain(t, mptcpJoined(o.Findings[0]), "New connections get their subflows")

	disabled := mptcpStateOf(mptcpBondedPM(2, 2))
	disabled.Sysctls["enabled"] = "0"
	o = checkMPTCPConfig(mptcpInput(nil, mptcpSnap(disabled, nil)))
	mptcpWantFindings(t, o, "mptcp.disabled")
	mptcpMustContain(t, mptcpJoined(o.Findings[0]), "sysctl -w net.mptcp.enabled=1")

	for name, m := range map[string]*collectors.MPTCP{
		"limit set":    mptcpStateOf(mptcpBondedPM(2, 2)),
		"no endpoints": mptcpStateOf(mptcpBondedPM(0, 0)),
	} {
		o := checkMPTCPConfig(mptcpInput(nil, mptcpSnap(m, nil)))
		mptcpWantFindings(t, o)
		if !strings.Contains(o.Detail, "kernel path manager") {
			t.Errorf("%s: detail %q", name, o.Detail)
		}
	}
	userspace := mptcpStateOf(mptcpBondedPM(0, 2))
	userspace.Sysctls["path_manager"] = "userspace"
	mptcpWantFindings(t, checkMPTCPConfig(mptcpInput(nil, mptcpSnap(userspace, nil))))
}

// TestMPTCPEvaluate runs the rules through Evaluate, which panics on a
// finding without a catalog entry and fills the health table.
func TestMPTCPEvaluate(t *testing.T) {
	m := mptcpStateOf(mptcpBondedPM(2, 2), mptcpClientConn(1, 2, 2), mptcpClientConn(2, 2, 2), mptcpClientConn(3, 2, 2))
	counters := map[string]uint64{"MPCapableSYNTX": 3}
	_, checks := Evaluate(mptcpInput(mptcpSnap(m, counters), mptcpSnap(m, counters)))
	found := false
	for _, c := range checks {
		if c.Name == "MPTCP connection subflows" {
			found = true
			if c.Status != report.StatusOK || c.Detail != "3 MPTCP connection(s), 3 opened here at their expected subflow count" {
				t.Errorf("health row %+v", c)
			}
		}
	}
	if !found {
		t.Errorf("no MPTCP subflows row in %+v", checks)
	}
}
