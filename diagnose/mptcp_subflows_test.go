package diagnose

import (
	"strings"
	"testing"

	"github.com/netdx/netdx/collectors"
)

func TestMPTCPSubflowsMissingFires(t *testing.T) {
	// Both snapshots: the connection lost its wan2 subflow.
	conn := mptcpClientConn(0x6fea9d9e, 2)
	in := mptcpInput(mptcpSnap(mptcpStateOf(mptcpBondedPM(2, 2), conn), nil), mptcpSnap(mptcpStateOf(mptcpBondedPM(2, 2), conn), nil))
	o := checkMPTCPSubflows(in)
	mptcpWantFindings(t, o, "mptcp.subflows_missing")
	f := o.Findings[0]
	if f.Subject != "endpoint 2 198.18.2.1 dev wan2" {
		t.Errorf("subject %q", f.Subject)
	}
	mptcpMustContain(t, mptcpJoined(f),
		"198.18.1.1:40000 → 198.18.0.1:8080 (token 6fea9d9e) has 1 of 2 expected subflows: none from endpoint 2 198.18.2.1 dev wan2",
		"ip mptcp endpoint delete id 2\n",
		"ip mptcp endpoint add 198.18.2.1 dev wan2 id 2 subflow\n",
		"NetworkManager dispatcher", "mptcpd",
		"kernel counts 0 of 2 subflow endpoints in use", "inode 4242")
	if strings.Contains(mptcpJoined(f), "limits set") {
		t.Errorf("limit advice although the limit is not the cap:\n%s", mptcpJoined(f))
	}
}

func TestMPTCPSubflowsMissingQuiet(t *testing.T) {
	full := mptcpClientConn(1, 2, 2)
	short := mptcpClientConn(2, 2)
	server := mptcpClientConn(3, 2)
	server.Side = collectors.MPTCPServer
	fallback := mptcpClientConn(4, 2)
	fallback.Info.Flags |= collectors.MPTCPInfoFallback
	unlimited := mptcpClientConn(5, 0)
	for _, tc := range []struct {
		name          string
		before, after *collectors.MPTCP
		detail        string
	}{
		{"all subflows", mptcpStateOf(mptcpBondedPM(2, 2), full), mptcpStateOf(mptcpBondedPM(2, 2), full), "1 opened here at their expected subflow count"},
		{"new connection", mptcpStateOf(mptcpBondedPM(2, 2)), mptcpStateOf(mptcpBondedPM(2, 2), short), "1 too new to judge"},
		{"accepted", mptcpStateOf(mptcpBondedPM(2, 2), server), mptcpStateOf(mptcpBondedPM(2, 2), server), "accepted here"},
		{"fell back", mptcpStateOf(mptcpBondedPM(2, 2), fallback), mptcpStateOf(mptcpBondedPM(2, 2), fallback), "fell back to plain TCP"},
		{"one endpoint only", mptcpStateOf(mptcpBondedPM(2, 1), short), mptcpStateOf(mptcpBondedPM(2, 1), short), "expected subflow count"},
		{"limit zero", mptcpStateOf(mptcpBondedPM(0, 2), unlimited), mptcpStateOf(mptcpBondedPM(0, 2), unlimited), "expected subflow count"},
		{"no connections", mptcpStateOf(mptcpBondedPM(2, 2)), mptcpStateOf(mptcpBondedPM(2, 2)), "no MPTCP connections"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := checkMPTCPSubflows(mptcpInput(mptcpSnap(tc.before, nil), mptcpSnap(tc.after, nil)))
			mptcpWantFindings(t, o)
			if !strings.Contains(o.Detail, tc.detail) {
				t.Errorf("detail %q, want it to contain %q", o.Detail, tc.detail)
			}
		})
	}
	userspace := mptcpStateOf(mptcpBondedPM(2, 2), short)
	userspace.Sysctls["path_manager"] = "userspace"
	o := checkMPTCPSubflows(mptcpInput(mptcpSnap(userspace, nil), mptcpSnap(userspace, nil)))
	mptcpWantFindings(t, o)
	if !strings.Contains(o.Detail, "userspace path manager") {
		t.Errorf("detail %q", o.Detail)
	}
}

func TestMPTCPSubflowsMissingSinceBootAndLinkDown(t *testing.T) {
	m := mptcpStateOf(mptcpBondedPM(2, 2), mptcpClientConn(7, 2))
	down := false
	m.PM.Endpoints[1].IfaceUp = &down
	o := checkMPTCPSubflows(mptcpInput(nil, mptcpSnap(m, nil)))
	mptcpWantFindings(t, o, "mptcp.subflows_missing")
	mptcpMustContain(t, mptcpJoined(o.Findings[0]), "wan2 is down: its subflow cannot come back before that", "interface down")
}

func TestMPTCPSubflowsMissingWithoutDetails(t *testing.T) {
	// Unprivileged: no subflow list. With no extra subflow at all the
	// endpoint is still named; with some, only candidates can be.
	none := mptcpClientConn(8, 2)
	none.Subflows = nil
	m := mptcpStateOf(mptcpBondedPM(2, 2), none)
	m.Sockets.SubflowDetail = false
	o := checkMPTCPSubflows(mptcpInput(nil, mptcpSnap(m, nil)))
	mptcpWantFindings(t, o, "mptcp.subflows_missing")
	mptcpMustContain(t, mptcpJoined(o.Findings[0]), "none from endpoint 2 198.18.2.1 dev wan2")

	some := mptcpClientConn(9, 3, 2)
	some.Subflows = nil
	m = mptcpStateOf(mptcpBondedPM(3, 4), some)
	m.Sockets.SubflowDetail = false
	o = checkMPTCPSubflows(mptcpInput(nil, mptcpSnap(m, nil)))
	mptcpWantFindings(t, o, "mptcp.subflows_missing")
	mptcpMustContain(t, mptcpJoined(o.Findings[0]), "2 of 4 expected subflows", "one or more of endpoint 2", "run as root")
}

func TestMPTCPSubflowsGroupedByEndpoint(t *testing.T) {
	var conns []collectors.MPTCPConn
	for tok := uint32(1); tok <= 12; tok++ {
		conns = append(conns, mptcpClientConn(tok, 2))
	}
	m := mptcpStateOf(mptcpBondedPM(2, 2), conns...)
	o := checkMPTCPSubflows(mptcpInput(mptcpSnap(m, nil), mptcpSnap(m, nil)))
	mptcpWantFindings(t, o, "mptcp.subflows_missing")
	mptcpMustContain(t, mptcpJoined(o.Findings[0]), "12 MPTCP connections have fewer subflows", "connections not listed")
}

func TestMPTCPSubflowLimit(t *testing.T) {
	// Four WAN endpoints, limit 1: one join from wan2, wan3 and wan4 idle.
	capped := mptcpClientConn(10, 1, 2)
	m := mptcpStateOf(mptcpBondedPM(1, 4), capped)
	o := checkMPTCPSubflows(mptcpInput(mptcpSnap(m, nil), mptcpSnap(m, nil)))
	mptcpWantFindings(t, o, "mptcp.subflow_limit")
	mptcpMustContain(t, mptcpJoined(o.Findings[0]), "ip mptcp limits set subflows 3 add_addr_accepted 0", "unused endpoint 3", "ip mptcp endpoint add 198.18.4.1 dev wan4 id 4 subflow")

	// Limit 3, all three joined: nothing to say.
	full := mptcpClientConn(11, 3, 2, 3, 4)
	m = mptcpStateOf(mptcpBondedPM(3, 4), full)
	mptcpWantFindings(t, checkMPTCPSubflows(mptcpInput(mptcpSnap(m, nil), mptcpSnap(m, nil))))

	// Limit 2 with three candidates and one join: short, and the limit
	// caps it too.
	short := mptcpClientConn(12, 2, 2)
	m = mptcpStateOf(mptcpBondedPM(2, 4), short)
	o = checkMPTCPSubflows(mptcpInput(mptcpSnap(m, nil), mptcpSnap(m, nil)))
	mptcpWantFindings(t, o, "mptcp.subflows_missing")
	mptcpMustContain(t, mptcpJoined(o.Findings[0]), "none from endpoint 3 198.18.3.1 dev wan3 nor endpoint 4", "`limits subflows 2` is a cap too", "ip mptcp limits set subflows 3")
}

func TestMPTCPNotRead(t *testing.T) {
	after := &collectors.Snapshot{Skipped: []collectors.Skip{{Source: "/proc/sys/net/mptcp", Kind: collectors.SkipUnsupported, Message: "this kernel has no MPTCP"}}}
	in := mptcpInput(nil, after)
	for name, check := range map[string]func(*Input) Outcome{
		"subflows": checkMPTCPSubflows, "config": checkMPTCPConfig, "fallback": checkMPTCPFallback,
		"joins": checkMPTCPJoins, "announcements": checkMPTCPAnnouncements,
	} {
		o := check(in)
		if !strings.Contains(o.NotChecked, "this kernel has no MPTCP") || len(o.Findings) != 0 {
			t.Errorf("%s: %+v, want not checked naming the skip", name, o)
		}
	}
}
