package diagnose

import (
	"fmt"
	"sort"
	"strings"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/report"
)

// MPTCP connections with fewer subflows than the path manager allows.

func init() { onFirstUse(registerMptcpSubflows) }

// registerMptcpSubflows registers this file's rules, on the catalog's first use.
func registerMptcpSubflows() {
	register(Rule{Name: "MPTCP connection subflows", Source: SourceHost, Layer: LayerMPTCP, Check: checkMPTCPSubflows}, Entry{
		ID:       "mptcp.subflows_missing",
		Object:   report.ObjectEndpoint,
		Title:    "MPTCP connection has fewer subflows than its endpoints and limits allow",
		Source:   SourceHost,
		Layer:    LayerMPTCP,
		Severity: Warning,
		Explanation: "An MPTCP connection this host opened runs on fewer paths than the in-kernel path manager's " +
			"endpoints and limits allow, so it has lost bandwidth and its protection against a link failure. " +
			"The usual cause is a link that went down long enough for its subflow to die (retransmission or " +
			"keepalive timeout) and came back: the in-kernel path manager opens subflows only when a connection " +
			"is established, when an endpoint is added and when the peer announces an address, never to replace " +
			"a subflow that died, and it keeps counting the dead subflow's endpoint as used.",
		Thresholds: "A connection opened by this host (not accepted, not fallen back to TCP, in-kernel path " +
			"manager) whose additional subflows (mptcp_info subflows) are fewer than min(limits subflows, usable " +
			"endpoints), where usable endpoints are the subflow endpoints of its address family other than the " +
			"initial subflow's address (a fullmesh endpoint counts once per known peer address) plus the peer " +
			"addresses accepted. With two snapshots, only connections present in both are judged, so a subflow " +
			"still being joined is not reported.",
		Remediation: "Re-add the missing endpoint: `ip mptcp endpoint delete id N` then `ip mptcp endpoint add " +
			"ADDR dev DEV id N subflow`; the kernel then opens a subflow from it on every existing connection. " +
			"Make it automatic with a link-up hook that re-adds the endpoint once the link is stable " +
			"(NetworkManager dispatcher, networkd-dispatcher) or let mptcpd manage the endpoints. When " +
			"`limits subflows` is the cap too, raise it.",
		Evidence: []string{"connection (addresses, token, subflows, endpoints in use)", "endpoint (address, interface, flags, link state)",
			"limits subflows"},
		References: []string{
			"https://docs.kernel.org/networking/mptcp.html",
			"https://www.mptcp.dev/pm.html",
			"https://github.com/multipath-tcp/mptcpd",
			"ip-mptcp(8)",
		},
	}, Entry{
		ID:       "mptcp.join_refused",
		Title:    "The peer refuses this host's MPTCP subflow joins",
		Source:   SourceHost,
		Layer:    LayerMPTCP,
		Object:   report.ObjectConnection,
		Severity: Warning,
		Explanation: "An MPTCP connection this host opened runs on fewer paths than its endpoints and limits allow " +
			"because the peer refuses its additional subflows: the join is answered (SYN-ACK with MP_JOIN), then " +
			"rejected at its last ACK, and this host resets the subflow with MP_RST. The usual cause is the " +
			"peer's path manager limits (`limits subflows 0`, as an aggregation VPS is sometimes left). Re-adding " +
			"the endpoint here only repeats the refused join.",
		Thresholds: "A connection short of subflows (as mptcp.subflows_missing) while this host's joins were answered and " +
			"then reset by it (MPJoinSynAckRx, with at least as many MPRstTx) and no TCP connection died of a timeout " +
			"(TcpExt.TCPAbortOnTimeout flat, which a subflow lost with its link moves): over the interval, or, when the " +
			"interval saw no join attempt, since boot (a refused join on a long-lived connection happened when it " +
			"opened), labelled so.",
		Remediation: "On the peer: `ip mptcp limits set subflows N add_addr_accepted M` with N at least the " +
			"number of paths this host offers; the joins on existing connections then need the endpoints here " +
			"re-added (delete and add) once the peer allows them.",
		Evidence: []string{"connection (addresses, token, subflows)", "MPTcpExt.MPJoinSynTx", "MPTcpExt.MPJoinSynAckRx",
			"MPTcpExt.MPRstTx", "TcpExt.TCPAbortOnTimeout", "endpoints"},
		References: []string{"https://www.mptcp.dev/pm.html", "ip-mptcp(8)"},
	}, Entry{
		ID:       "mptcp.subflow_limit",
		Title:    "`limits subflows` keeps MPTCP connections from using all endpoints",
		Source:   SourceHost,
		Layer:    LayerMPTCP,
		Severity: Info,
		Explanation: "Connections this host opened have as many additional subflows as `limits subflows` allows, " +
			"while subflow endpoints remain unused: the limit, not the endpoints, decides how many paths they use.",
		Thresholds: "At least one judged connection whose usable endpoints exceed the limit and whose additional " +
			"subflows reached it.",
		Remediation: "`ip mptcp limits set subflows N add_addr_accepted M` with N the number of usable endpoints " +
			"(the kernel accepts at most 8). A raised limit applies when the path manager next opens subflows: " +
			"re-add the unused endpoints to give existing connections theirs.",
		Evidence:   []string{"limits subflows", "unused endpoints", "connections at the cap"},
		References: []string{"ip-mptcp(8)", "https://www.mptcp.dev/pm.html"},
	})
}

// mptcpState returns the second snapshot's MPTCP state, or why there is
// none.
func mptcpState(d *collectors.Window) (*collectors.MPTCP, string) {
	if d == nil || d.After == nil {
		return nil, "no host snapshot"
	}
	if d.After.MPTCP != nil {
		return d.After.MPTCP, ""
	}
	for _, s := range d.After.Skipped {
		if strings.Contains(strings.ToLower(s.Source), "mptcp") {
			return nil, "MPTCP not read: " + s.Message
		}
	}
	return nil, "MPTCP not read"
}

// mptcpShort is one connection short of subflows.
type mptcpShort struct {
	conn *collectors.MPTCPConn
	exp  collectors.MPTCPExpect
}

func checkMPTCPSubflows(in *Input) Outcome {
	m, why := mptcpState(in.Diag)
	if m == nil {
		return Outcome{NotChecked: why}
	}
	if m.Sockets == nil {
		return Outcome{NotChecked: "MPTCP sockets could not be read"}
	}
	conns := m.Sockets.Conns
	if len(conns) == 0 {
		d := "no MPTCP connections"
		if on, known := m.Enabled(); known && !on {
			d += " (MPTCP disabled: net.mptcp.enabled = 0)"
		}
		return Outcome{Detail: d}
	}
	seen := mptcpTokensBefore(in.Diag)
	groups := map[string][]mptcpShort{}
	var capped []mptcpShort
	judged, young := 0, 0
	notJudged := map[string]int{}
	for i := range conns {
		c := &conns[i]
		e := collectors.ExpectMPTCP(m, c)
		if !e.Judged {
			notJudged[e.NotJudged]++
			continue
		}
		if seen != nil && !seen[c.Info.Token] {
			young++
			continue
		}
		judged++
		switch {
		case e.Short():
			key := "?"
			if e.MissingKnown {
				key = mptcpEndpointIDs(e.Missing)
			}
			groups[key] = append(groups[key], mptcpShort{c, e})
		case e.Capped():
			capped = append(capped, mptcpShort{c, e})
		}
	}

	var out Outcome
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	joins := mptcpJoinsOf(in.Diag)
	for _, k := range keys {
		if joins.refused() {
			out.Findings = append(out.Findings, mptcpRefusedFinding(m, groups[k], joins))
			continue
		}
		out.Findings = append(out.Findings, mptcpMissingFinding(m, groups[k], joins))
	}
	if len(capped) > 0 {
		out.Findings = append(out.Findings, mptcpCappedFinding(m, capped))
	}
	out.Detail = mptcpSubflowsDetail(len(conns), judged, young, notJudged)
	return out
}

// mptcpTokensBefore lists the connections of the first snapshot; nil when
// there is none to compare with.
func mptcpTokensBefore(d *collectors.Window) map[uint32]bool {
	if d.Before == nil || d.Before.MPTCP == nil || d.Before.MPTCP.Sockets == nil {
		return nil
	}
	seen := map[uint32]bool{}
	for _, c := range d.Before.MPTCP.Sockets.Conns {
		seen[c.Info.Token] = true
	}
	return seen
}

func mptcpEndpointIDs(eps []collectors.MPTCPEndpoint) string {
	ids := make([]string, len(eps))
	for i, ep := range eps {
		ids[i] = fmt.Sprint(ep.ID)
	}
	return strings.Join(ids, ",")
}

func mptcpSubflowsDetail(total, judged, young int, notJudged map[string]int) string {
	d := fmt.Sprintf("%d MPTCP connection(s)", total)
	if judged > 0 {
		d += fmt.Sprintf(", %d opened here at their expected subflow count", judged)
	}
	if young > 0 {
		d += fmt.Sprintf(", %d too new to judge", young)
	}
	reasons := make([]string, 0, len(notJudged))
	for r, n := range notJudged {
		reasons = append(reasons, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(reasons)
	if len(reasons) > 0 {
		d += "; not judged: " + strings.Join(reasons, ", ")
	}
	return d
}

// mptcpMaxListed caps how many connections one finding lists.
const mptcpMaxListed = 10

// mptcpJoins is this host's join history: the counters that tell a join
// the peer refused (answered, then reset by this host: MPJoinSynAckRx and
// MPRstTx, no timeout) from a subflow lost with its link (its keepalive or
// retransmission timeout, TcpExt.TCPAbortOnTimeout, then MPRstTx, and no
// join tried when the link returns). MPTCP_INFO reads the same in both.
type mptcpJoins struct {
	synTx, synAckRx, rstTx, timeouts uint64
	// sinceBoot says the counts are totals since boot: the window saw no
	// join attempt, as on a long-lived connection whose join was refused
	// when it opened.
	sinceBoot bool
	// span is what the counts cover, for sentences.
	span string
	read bool
}

// mptcpJoinsOf reads the join history of the window, or since boot when
// the window saw no join.
func mptcpJoinsOf(d *collectors.Window) mptcpJoins {
	s := &sample{d}
	if !s.HasNetstat() {
		return mptcpJoins{}
	}
	of := func(total bool) mptcpJoins {
		v := func(section, name string) uint64 {
			c := s.Netstat(section, name)
			if total {
				return c.Total
			}
			return c.Delta
		}
		j := mptcpJoins{synTx: v("MPTcpExt", "MPJoinSynTx"), synAckRx: v("MPTcpExt", "MPJoinSynAckRx"),
			rstTx: v("MPTcpExt", "MPRstTx"), timeouts: v("TcpExt", "TCPAbortOnTimeout"), read: true, sinceBoot: total || s.SinceBoot}
		j.span = s.window()
		if total {
			j.span = "since boot"
		}
		return j
	}
	j := of(false)
	if j.synTx == 0 && j.synAckRx == 0 && j.rstTx == 0 && !j.sinceBoot {
		return of(true)
	}
	return j
}

// refused reports whether the joins were answered and reset by this host
// with no subflow dying of a timeout.
func (j mptcpJoins) refused() bool {
	return j.read && j.synAckRx > 0 && j.rstTx >= j.synAckRx && j.timeouts == 0
}

func (j mptcpJoins) evidence() []Evidence {
	label := func(name string) string {
		if j.sinceBoot {
			return name + " (since boot)"
		}
		return name + " (in the window)"
	}
	return []Evidence{Num(label("MPTcpExt.MPJoinSynTx"), float64(j.synTx), ""), Num(label("MPTcpExt.MPJoinSynAckRx"), float64(j.synAckRx), ""),
		Num(label("MPTcpExt.MPRstTx"), float64(j.rstTx), ""), Num(label("TcpExt.TCPAbortOnTimeout"), float64(j.timeouts), "")}
}

// mptcpRefusedFinding reports connections whose peer refuses their joins.
func mptcpRefusedFinding(m *collectors.MPTCP, group []mptcpShort, j mptcpJoins) Finding {
	first := group[0]
	f := Finding{ID: "mptcp.join_refused", Subject: mptcpConnName(first.conn)}
	conns := "connection " + mptcpConnName(first.conn)
	if len(group) > 1 {
		conns = fmt.Sprintf("%d connections, e.g. %s,", len(group), mptcpConnName(first.conn))
	}
	answered := plural(int(j.synAckRx), "join") + " were"
	if j.synAckRx == 1 {
		answered = "1 join was"
	}
	f.Summary = fmt.Sprintf("The peer %s refuses this host's subflow joins: MPTCP %s has %d of %d expected subflows; %s, %s answered and then reset by this host (MP_RST), and no subflow died of a timeout.",
		first.conn.Remote.Addr(), conns, first.conn.SubflowCount(), first.exp.ExpectedExtra+1, j.span, answered)
	for i, s := range group {
		if i == mptcpMaxListed {
			f.Evidence = append(f.Evidence, Text("connections not listed", fmt.Sprint(len(group)-mptcpMaxListed)))
			break
		}
		f.Evidence = append(f.Evidence, Text("connection "+s.conn.Local.String()+" → "+s.conn.Remote.String(), mptcpConnEvidence(s)))
	}
	f.Evidence = append(f.Evidence, j.evidence()...)
	if m.PM != nil {
		f.Evidence = append(f.Evidence, Num("limits subflows", float64(m.PM.Limits.Subflows), ""))
	}
	f.Fix = append(f.Fix,
		fmt.Sprintf("On the peer %s: ip mptcp limits set subflows %d add_addr_accepted %d   (its path manager accepts no more subflows per connection; check with `ip mptcp limits show` there)",
			first.conn.Remote.Addr(), max(first.exp.ExpectedExtra, 1), max(first.exp.ExpectedExtra, 1)),
		"Once the peer allows them, re-add this host's endpoints (ip mptcp endpoint delete id N, then add) so existing connections try their joins again.")
	f.Notes = append(f.Notes, "Re-adding the endpoint before the peer's limits change only repeats the refused join: MPJoinSynTx, MPJoinSynAckRx and MPRstTx each grow by one per connection.")
	if j.sinceBoot {
		f.Severity = Info
		f.Notes = append(f.Notes, "Counted since boot: the window saw no join attempt, as on a connection whose join was refused when it opened. Other MPTCP connections since boot count here too.")
	}
	return f
}

// mptcpMissingFinding reports the connections that lack subflows from the
// same endpoints.
func mptcpMissingFinding(m *collectors.MPTCP, group []mptcpShort, j mptcpJoins) Finding {
	first := group[0]
	missing := first.exp.Missing
	if !first.exp.MissingKnown {
		missing = first.exp.Candidates
	}
	epNames := make([]string, len(missing))
	for i, ep := range missing {
		epNames[i] = mptcpEndpointName(ep)
	}
	f := Finding{ID: "mptcp.subflows_missing", Subject: strings.Join(epNames, ", ")}
	if len(missing) == 0 {
		f.Subject = "subflows to the peer's announced addresses"
	}

	what := "none from " + strings.Join(epNames, " nor ")
	switch {
	case len(missing) == 0:
		what = "the subflows to the addresses the peer announced are gone"
	case !first.exp.MissingKnown:
		what = "one or more of " + strings.Join(epNames, ", ") + " carries none (run as root to see which)"
	}
	if len(group) == 1 {
		f.Summary = fmt.Sprintf("MPTCP connection %s has %d of %d expected subflows: %s.",
			mptcpConnName(first.conn), first.conn.SubflowCount(), first.exp.ExpectedExtra+1, what)
	} else {
		f.Summary = fmt.Sprintf("%d MPTCP connections have fewer subflows than their endpoints and limits allow: %s; e.g. %s has %d of %d.",
			len(group), what, mptcpConnName(first.conn), first.conn.SubflowCount(), first.exp.ExpectedExtra+1)
	}

	for i, s := range group {
		if i == mptcpMaxListed {
			f.Evidence = append(f.Evidence, Text("connections not listed", fmt.Sprint(len(group)-mptcpMaxListed)))
			break
		}
		f.Evidence = append(f.Evidence, Text("connection "+s.conn.Local.String()+" → "+s.conn.Remote.String(), mptcpConnEvidence(s)))
	}
	for _, ep := range missing {
		f.Evidence = append(f.Evidence, Text(fmt.Sprintf("endpoint %d", ep.ID), mptcpEndpointEvidence(ep)))
	}
	if m.PM != nil {
		f.Evidence = append(f.Evidence,
			Num("limits subflows", float64(m.PM.Limits.Subflows), ""),
			Num("limits add_addr_accepted", float64(m.PM.Limits.AddAddrAccepted), ""))
	}

	for _, ep := range missing {
		if down := mptcpEndpointDown(ep); down != "" {
			f.Fix = append(f.Fix, down+": its subflow cannot come back before that; once it is up and stable:")
		}
		f.Fix = append(f.Fix,
			fmt.Sprintf("ip mptcp endpoint delete id %d", ep.ID),
			mptcpEndpointAddCommand(ep))
	}
	if len(missing) > 0 {
		f.Fix = append(f.Fix, "Re-adding an endpoint makes the kernel open its subflow on every existing connection. "+
			"Automate it with a hook that re-adds the endpoint once its link is up and stable: a NetworkManager "+
			"dispatcher script (/etc/NetworkManager/dispatcher.d/, action \"up\"), a networkd-dispatcher script "+
			"(/etc/networkd-dispatcher/routable.d/), or run mptcpd, which tracks links and addresses and manages "+
			"the endpoints itself.")
	}
	if first.exp.Usable > first.exp.Limit && m.PM != nil {
		f.Fix = append(f.Fix, mptcpLimitsCommand(first.exp.Usable, m.PM.Limits.AddAddrAccepted))
		f.Notes = append(f.Notes, fmt.Sprintf("`limits subflows %d` is a cap too: the endpoints would give %d additional subflows.",
			first.exp.Limit, first.exp.Usable))
	}
	f.Notes = append(f.Notes, "The kernel still counts a dead subflow's endpoint as used (mptcp_info local_addr_used), "+
		"which is why it never retries it; the connection carries on over its remaining subflows.")
	switch {
	case !j.read:
	case j.timeouts > 0 && !j.sinceBoot:
		f.Evidence = append(f.Evidence, j.evidence()...)
		f.Notes = append(f.Notes, fmt.Sprintf("In the window %s died of a timeout (TcpExt.TCPAbortOnTimeout) and this host reset %s (MPRstTx): a subflow lost with its link.",
			plural(int(j.timeouts), "TCP connection"), plural(int(j.rstTx), "subflow")))
	case j.synAckRx > 0 && j.rstTx >= j.synAckRx:
		f.Evidence = append(f.Evidence, j.evidence()...)
		f.Notes = append(f.Notes, fmt.Sprintf("%s this host's joins were answered %s and it reset %s, and %s died of a timeout: the counters fit a subflow lost with its link, but also a peer that refuses joins. If re-adding the endpoint opens no subflow while MPJoinSynAckRx and MPRstTx each grow by one, the peer refuses them (see mptcp.join_refused).",
			capitalize(j.span), plural(int(j.synAckRx), "time"), plural(int(j.rstTx), "subflow"), plural(int(j.timeouts), "TCP connection")))
	}
	return f
}

// capitalize upper-cases the first letter of a sentence's first word.
func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// mptcpConnEvidence describes one short connection.
func mptcpConnEvidence(s mptcpShort) string {
	parts := []string{
		"token " + collectors.MPTCPToken(s.conn.Info.Token),
		fmt.Sprintf("%d of %d subflows", s.conn.SubflowCount(), s.exp.ExpectedExtra+1),
	}
	if u, mx := s.conn.Info.LocalAddrUsed, s.conn.Info.LocalAddrMax; u != nil && mx != nil {
		parts = append(parts, fmt.Sprintf("kernel counts %d of %d subflow endpoints in use", *u, *mx))
	}
	if s.conn.Inode != 0 {
		parts = append(parts, fmt.Sprintf("inode %d", s.conn.Inode))
	}
	return strings.Join(parts, ", ")
}

// mptcpEndpointEvidence describes an endpoint and the state of its link.
func mptcpEndpointEvidence(ep collectors.MPTCPEndpoint) string {
	s := ep.Addr.String()
	if ep.Iface != "" {
		s += " dev " + ep.Iface
	}
	s += " " + strings.Join(ep.Flags.Names(), " ")
	switch {
	case ep.IfaceUp == nil:
	case *ep.IfaceUp:
		s += ", interface up"
	default:
		s += ", interface down"
	}
	if ep.AddrPresent != nil && !*ep.AddrPresent {
		s += ", address not on any interface"
	}
	return s
}

// mptcpEndpointDown says why an endpoint cannot carry a subflow now; ""
// when nothing is known against it.
func mptcpEndpointDown(ep collectors.MPTCPEndpoint) string {
	switch {
	case ep.IfaceUp != nil && !*ep.IfaceUp:
		return ep.Iface + " is down"
	case ep.AddrPresent != nil && !*ep.AddrPresent:
		return ep.Addr.String() + " is not on any interface"
	}
	return ""
}

// mptcpEndpointAddCommand rebuilds the `ip mptcp endpoint add` command
// that makes ep.
func mptcpEndpointAddCommand(ep collectors.MPTCPEndpoint) string {
	cmd := "ip mptcp endpoint add " + ep.Addr.String()
	if ep.Port != 0 {
		cmd += fmt.Sprintf(" port %d", ep.Port)
	}
	if ep.Iface != "" && ep.IfIndex != 0 {
		cmd += " dev " + ep.Iface
	}
	cmd += fmt.Sprintf(" id %d", ep.ID)
	for _, n := range ep.Flags.Names() {
		if n != "implicit" {
			cmd += " " + n
		}
	}
	return cmd
}

func mptcpLimitsCommand(subflows int, addAddrAccepted uint32) string {
	return fmt.Sprintf("ip mptcp limits set subflows %d add_addr_accepted %d", min(subflows, 8), addAddrAccepted)
}

// mptcpCappedFinding reports connections held back by the subflow limit.
func mptcpCappedFinding(m *collectors.MPTCP, capped []mptcpShort) Finding {
	first := capped[0]
	f := Finding{
		ID:      "mptcp.subflow_limit",
		Subject: fmt.Sprintf("limits subflows %d", first.exp.Limit),
		Summary: fmt.Sprintf("`limits subflows %d` holds %d MPTCP connection(s) to %d additional subflow(s) although their endpoints would give %d, e.g. %s.",
			first.exp.Limit, len(capped), first.exp.Limit, first.exp.Usable, mptcpConnName(first.conn)),
	}
	if m.PM != nil {
		f.Evidence = append(f.Evidence, Num("limits subflows", float64(m.PM.Limits.Subflows), ""))
	}
	for _, ep := range first.exp.Missing {
		f.Evidence = append(f.Evidence, Text(fmt.Sprintf("unused endpoint %d", ep.ID), mptcpEndpointEvidence(ep)))
	}
	f.Evidence = append(f.Evidence, Num("connections at the cap", float64(len(capped)), ""))
	var addAddr uint32
	if m.PM != nil {
		addAddr = m.PM.Limits.AddAddrAccepted
	}
	f.Fix = append(f.Fix, mptcpLimitsCommand(first.exp.Usable, addAddr))
	for _, ep := range first.exp.Missing {
		f.Fix = append(f.Fix, fmt.Sprintf("ip mptcp endpoint delete id %d", ep.ID), mptcpEndpointAddCommand(ep))
	}
	f.Notes = append(f.Notes, "A raised limit applies when the path manager next opens subflows; re-adding the unused "+
		"endpoints gives the existing connections theirs. If the limit keeps traffic off a metered link, raise it "+
		"anyway and mark that endpoint `backup`: its subflow then carries traffic only when the others fail.")
	return f
}

// mptcpConnName is how findings and text name a connection.
func mptcpConnName(c *collectors.MPTCPConn) string {
	return fmt.Sprintf("%s → %s (token %s)", c.Local, c.Remote, collectors.MPTCPToken(c.Info.Token))
}

// mptcpEndpointName names an endpoint as `ip mptcp endpoint show` does.
func mptcpEndpointName(ep collectors.MPTCPEndpoint) string {
	s := fmt.Sprintf("endpoint %d %s", ep.ID, ep.Addr)
	if ep.Iface != "" {
		s += " dev " + ep.Iface
	}
	return s
}
