package diagnose

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/netdx/netdx/collectors"
)

// Hand-built MPTCP snapshots for rule tests: a client with WAN endpoints
// on wan1 (id 1, 198.18.1.1) and wan2 (id 2, 198.18.2.1), and more when a
// test asks, connected to 198.18.0.1:8080.

func mptcpEP(id uint8, iface string, flags collectors.MPTCPEndpointFlags) collectors.MPTCPEndpoint {
	up, present := true, true
	return collectors.MPTCPEndpoint{
		ID: id, Addr: netip.AddrFrom4([4]byte{198, 18, id, 1}), Flags: flags,
		IfIndex: int(id) + 1, Iface: iface, IfaceUp: &up, AddrPresent: &present,
	}
}

func mptcpBondedPM(limit uint32, n int) *collectors.MPTCPPathManager {
	pm := &collectors.MPTCPPathManager{Limits: collectors.MPTCPLimits{Subflows: limit}}
	for i := 1; i <= n; i++ {
		pm.Endpoints = append(pm.Endpoints, mptcpEP(uint8(i), "wan"+string(rune('0'+i)), collectors.MPTCPEndpointSubflow))
	}
	return pm
}

// mptcpClientConn is a connection opened from wan1 with subflows from the
// endpoint ids given (besides the initial one).
func mptcpClientConn(token uint32, limit uint8, ids ...uint8) collectors.MPTCPConn {
	local := netip.MustParseAddrPort("198.18.1.1:40000")
	remote := netip.MustParseAddrPort("198.18.0.1:8080")
	total := uint8(len(ids) + 1)
	used, endpoints := uint8(len(ids)), uint8(2)
	c := collectors.MPTCPConn{
		Local: local, Remote: remote, Side: collectors.MPTCPClient, Inode: 4242,
		Info: collectors.MPTCPInfo{
			Subflows: uint8(len(ids)), SubflowsMax: limit, Token: token,
			Flags: collectors.MPTCPInfoRemoteKeyReceived, SubflowsTotal: &total,
			LocalAddrUsed: &used, LocalAddrMax: &endpoints,
		},
		Subflows: []collectors.MPTCPSubflow{{Local: local, Remote: remote, State: 1,
			Flags: collectors.MPTCPSubflowMPCLocal | collectors.MPTCPSubflowMPCRemote}},
	}
	for _, id := range ids {
		c.Subflows = append(c.Subflows, collectors.MPTCPSubflow{
			Local:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, id, 1}), 40000+uint16(id)),
			Remote: remote, State: 1, LocalID: id, Flags: collectors.MPTCPSubflowJoinLocal,
		})
	}
	return c
}

func mptcpStateOf(pm *collectors.MPTCPPathManager, conns ...collectors.MPTCPConn) *collectors.MPTCP {
	return &collectors.MPTCP{
		Sysctls: map[string]string{"enabled": "1", "path_manager": "kernel", "stale_loss_cnt": "4",
			"add_addr_timeout": "120", "syn_retrans_before_tcp_fallback": "2", "blackhole_timeout": "3600",
			"checksum_enabled": "0"},
		PM:      pm,
		Sockets: &collectors.MPTCPSockets{Conns: conns, SubflowDetail: true},
	}
}

func mptcpSnap(m *collectors.MPTCP, counters map[string]uint64) *collectors.Snapshot {
	s := &collectors.Snapshot{MPTCP: m}
	if counters != nil {
		s.Netstat = collectors.NetCounters{"MPTcpExt": counters}
	}
	return s
}

func mptcpInput(before, after *collectors.Snapshot) *Input {
	d := collectors.NewWindow(before, after, time.Second)
	if before == nil {
		d.Interval = 0
	}
	return &Input{Diag: d}
}

// mptcpFindingIDs lists the IDs of an outcome's findings.
func mptcpFindingIDs(o Outcome) []string {
	ids := make([]string, len(o.Findings))
	for i, f := range o.Findings {
		ids[i] = f.ID
	}
	return ids
}

func mptcpWantFindings(t *testing.T, o Outcome, ids ...string) {
	t.Helper()
	got := mptcpFindingIDs(o)
	if strings.Join(got, " ") != strings.Join(ids, " ") {
		t.Fatalf("findings %v, want %v (detail %q, not checked %q)", got, ids, o.Detail, o.NotChecked)
	}
	for _, f := range o.Findings {
		if _, ok := Lookup(f.ID); !ok {
			t.Errorf("finding %s has no catalog entry", f.ID)
		}
		if f.Summary == "" || len(f.Evidence) == 0 || len(f.Fix) == 0 {
			t.Errorf("finding %s lacks summary, evidence or fix: %+v", f.ID, f)
		}
	}
}

func mptcpJoined(f Finding) string {
	var b strings.Builder
	b.WriteString(f.Subject + "\n" + f.Summary + "\n")
	for _, x := range f.Fix {
		b.WriteString(x + "\n")
	}
	for _, n := range f.Notes {
		b.WriteString(n + "\n")
	}
	for _, e := range f.Evidence {
		b.WriteString(e.Name + "=" + e.Text + "\n")
	}
	return b.String()
}

func mptcpMustContain(t *testing.T, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("missing %q in:\n%s", p, s)
		}
	}
}
