package diagnose

import (
	"fmt"
	"sort"

	"github.com/netdx/netdx/internal/promql"

	"github.com/netdx/netdx/collectors"
)

// The path manager's configuration: limits and the MPTCP switch.

func init() { onFirstUse(registerMptcpConfig) }

// registerMptcpConfig registers this file's rules, on the catalog's first use.
func registerMptcpConfig() {
	register(Rule{Name: "MPTCP path manager settings", Source: SourceHost, Layer: LayerMPTCP, Check: checkMPTCPConfig}, Entry{
		ID:       "mptcp.limit_zero",
		Title:    "MPTCP endpoints configured but `limits subflows` is 0",
		Source:   SourceHost,
		Layer:    LayerMPTCP,
		Severity: Warning,
		Explanation: "The in-kernel path manager has endpoints, but `limits subflows 0` allows no additional " +
			"subflow: connections this host opens never use its other links, and subflows peers try to join to " +
			"this host are refused. Every MPTCP connection runs on one path, as plain TCP would.",
		Thresholds: "`limits subflows` = 0 with at least one endpoint flagged subflow or signal, in-kernel path manager.",
		Remediation: "`ip mptcp limits set subflows N add_addr_accepted M`, N the number of additional paths " +
			"wanted (at most 8); then re-add the endpoints so existing connections get their subflows.",
		Evidence: []string{"limits subflows", "limits add_addr_accepted", "endpoints"},
		Alerts: []Alert{{Severity: Warning, For: forLevel, Expr: fmt.Sprintf(
			"max without (limit) (%s) == 0\nand count without (id, address, interface, flags) (%s)\nunless max without (path_manager, scheduler) (%s)",
			promql.Sel(promql.MetricMPTCPLimit, promql.Eq("limit", "subflows")), promql.Sel(promql.MetricMPTCPEndpoint, `flags=~"(.*,)?(signal|subflow)(,.*)?"`),
			promql.Sel(promql.MetricMPTCPInfo, promql.Eq("path_manager", "userspace")))}},
		References: []string{"ip-mptcp(8)", "https://www.mptcp.dev/pm.html"},
	}, Entry{
		ID:       "mptcp.disabled",
		Title:    "MPTCP endpoints configured but MPTCP is disabled",
		Source:   SourceHost,
		Layer:    LayerMPTCP,
		Severity: Info,
		Explanation: "net.mptcp.enabled = 0: applications cannot open MPTCP sockets in this namespace (most fall " +
			"back to plain TCP silently), so the configured endpoints are never used.",
		Thresholds:  "net.mptcp.enabled = 0 while the in-kernel path manager has endpoints.",
		Remediation: "`sysctl -w net.mptcp.enabled=1`, and persist it in /etc/sysctl.d/.",
		Evidence:    []string{"net.mptcp.enabled", "endpoints"},
		References:  []string{"https://docs.kernel.org/networking/mptcp-sysctl.html"},
	})
}

func checkMPTCPConfig(in *Input) Outcome {
	m, why := mptcpState(in.Diag)
	if m == nil {
		return Outcome{NotChecked: why}
	}
	on, known := m.Enabled()
	pmName := m.PathManager()
	if m.PM == nil {
		if known && !on {
			return Outcome{Detail: "MPTCP disabled (net.mptcp.enabled = 0)"}
		}
		return Outcome{NotChecked: "the MPTCP path manager could not be read"}
	}
	eps := m.PM.Endpoints
	used := 0
	for _, ep := range eps {
		if ep.Flags&(collectors.MPTCPEndpointSubflow|collectors.MPTCPEndpointSignal) != 0 {
			used++
		}
	}
	var out Outcome
	if known && !on && len(eps) > 0 {
		f := Finding{
			ID:      "mptcp.disabled",
			Subject: "net.mptcp.enabled",
			Summary: fmt.Sprintf("%d MPTCP endpoint(s) are configured but net.mptcp.enabled = 0: no application can open an MPTCP socket.", len(eps)),
			Evidence: append([]Evidence{Num("net.mptcp.enabled", 0, "")},
				mptcpEndpointsEvidence(eps)...),
		}
		newSample(in).prescribe(&f, setting("net.mptcp.enabled", "1", ""), step("echo net.mptcp.enabled=1 > /etc/sysctl.d/90-mptcp.conf"))
		out.Findings = append(out.Findings, f)
	}
	if pmName != "userspace" && used > 0 && m.PM.Limits.Subflows == 0 {
		f := Finding{
			ID:      "mptcp.limit_zero",
			Subject: "limits subflows",
			Summary: fmt.Sprintf("`limits subflows 0` leaves the %d MPTCP endpoint(s) unused: no connection can have a second subflow.", used),
			Evidence: append([]Evidence{
				Num("limits subflows", 0, ""),
				Num("limits add_addr_accepted", float64(m.PM.Limits.AddAddrAccepted), ""),
			}, mptcpEndpointsEvidence(eps)...),
			Fix: []string{mptcpLimitsCommand(max(used, 1), m.PM.Limits.AddAddrAccepted)},
		}
		if readd := mptcpReaddCommands(mptcpOpenedCandidates(m)); len(readd) > 0 {
			f.Fix = append(f.Fix, readd...)
			f.Notes = append(f.Notes, "A raised limit does not open subflows on existing connections by itself: "+
				"re-adding their idle endpoints, as above, does. Run the commands one by one.")
		} else {
			f.Notes = append(f.Notes, "New connections get their subflows as soon as the limit is raised.")
		}
		out.Findings = append(out.Findings, f)
	}
	state := "enabled"
	if known && !on {
		state = "disabled"
	}
	if pmName == "" {
		pmName = "unknown"
	}
	out.Detail = fmt.Sprintf("MPTCP %s, %s path manager, %d endpoint(s), limits subflows %d add_addr_accepted %d",
		state, pmName, len(eps), m.PM.Limits.Subflows, m.PM.Limits.AddAddrAccepted)
	return out
}

func mptcpEndpointsEvidence(eps []collectors.MPTCPEndpoint) []Evidence {
	out := make([]Evidence, 0, len(eps))
	for _, ep := range eps {
		out = append(out, Text(fmt.Sprintf("endpoint %d", ep.ID), mptcpEndpointEvidence(ep)))
	}
	return out
}

// mptcpOpenedCandidates lists, once each, the endpoints that should carry
// subflows of the connections this host opened: the ones to re-add for
// those connections to get them.
func mptcpOpenedCandidates(m *collectors.MPTCP) []collectors.MPTCPEndpoint {
	if m.Sockets == nil {
		return nil
	}
	seen := map[uint8]bool{}
	var out []collectors.MPTCPEndpoint
	for i := range m.Sockets.Conns {
		e := collectors.ExpectMPTCP(m, &m.Sockets.Conns[i])
		for _, ep := range e.Candidates {
			if !seen[ep.ID] {
				seen[ep.ID] = true
				out = append(out, ep)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// mptcpReaddCommands deletes and re-adds the subflow endpoints.
func mptcpReaddCommands(eps []collectors.MPTCPEndpoint) []string {
	var out []string
	for _, ep := range eps {
		if ep.Flags&collectors.MPTCPEndpointSubflow == 0 || ep.Flags&collectors.MPTCPEndpointImplicit != 0 {
			continue
		}
		out = append(out, fmt.Sprintf("ip mptcp endpoint delete id %d", ep.ID), mptcpEndpointAddCommand(ep))
	}
	return out
}
