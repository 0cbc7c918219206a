package render

import (
	"fmt"
	"strings"

	"github.com/netdx/netdx/report"
)

// mptcpMaxConnRows caps the connection table; the JSON lists them all.
const mptcpMaxConnRows = 20

// mptcp prints the MPTCP part of the diag section: the switch, the path
// manager and its limits on one line, the endpoints, then the connections
// with the subflows they have and should have.
func (p *printer) mptcp(m *report.DiagMPTCP) {
	if m == nil {
		return
	}
	var head []string
	switch {
	case m.Enabled == nil:
	case *m.Enabled:
		head = append(head, "enabled")
	default:
		head = append(head, "disabled (net.mptcp.enabled = 0)")
	}
	if m.PathManager != "" {
		head = append(head, m.PathManager+" path manager")
	}
	if m.PM != nil {
		head = append(head, fmt.Sprintf("limits subflows %d add_addr_accepted %d", m.PM.Limits.Subflows, m.PM.Limits.AddAddrAccepted))
	}
	if m.Sockets != nil {
		head = append(head, fmt.Sprintf("%d connection(s)", len(m.Sockets.Connections)))
	}
	p.heading("MPTCP", strings.Join(head, " · "))

	if m.PM != nil && len(m.PM.Endpoints) > 0 {
		rows := make([][]string, 0, len(m.PM.Endpoints))
		for _, ep := range m.PM.Endpoints {
			addr := ep.Address
			if ep.Port != 0 {
				addr = fmt.Sprintf("%s port %d", addr, ep.Port)
			}
			rows = append(rows, []string{fmt.Sprint(ep.ID), addr, mptcpDash(ep.Interface), strings.Join(ep.Flags, ","), mptcpLinkState(ep)})
		}
		p.table([]string{"ENDPOINT", "ADDRESS", "INTERFACE", "FLAGS", "LINK"}, rows)
	}

	if m.Sockets == nil || len(m.Sockets.Connections) == 0 {
		return
	}
	conns := m.Sockets.Connections
	rows := make([][]string, 0, min(len(conns), mptcpMaxConnRows))
	for i, c := range conns {
		if i == mptcpMaxConnRows {
			break
		}
		subflows := fmt.Sprint(c.Subflows)
		if c.ExpectedSubflows != nil {
			subflows = fmt.Sprintf("%d/%d", c.Subflows, *c.ExpectedSubflows)
		}
		rows = append(rows, []string{c.Local + " → " + c.Remote, c.Token, c.Side, subflows, mptcpConnNote(c)})
	}
	p.table([]string{"CONNECTION", "TOKEN", "SIDE", "SUBFLOWS", "NOTE"}, rows)
	if n := len(conns) - mptcpMaxConnRows; n > 0 {
		p.printf("… %d more connection(s); --json lists them all\n", n)
	}
	if !m.Sockets.SubflowDetail {
		p.wrap("", "subflow details not readable (this kernel shows them only to CAP_NET_ADMIN): missing endpoints are named only when a connection has no extra subflow")
	}
}

func mptcpDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func mptcpLinkState(ep report.DiagMPTCPEndpoint) string {
	var s []string
	switch {
	case ep.InterfaceUp == nil:
		s = append(s, "-")
	case *ep.InterfaceUp:
		s = append(s, "up")
	default:
		s = append(s, "down")
	}
	if ep.AddressPresent != nil && !*ep.AddressPresent {
		s = append(s, "address absent")
	}
	return strings.Join(s, ", ")
}

func mptcpConnNote(c report.DiagMPTCPConnection) string {
	switch {
	case len(c.MissingEndpointIDs) > 0:
		ids := make([]string, len(c.MissingEndpointIDs))
		for i, id := range c.MissingEndpointIDs {
			ids[i] = fmt.Sprint(id)
		}
		return "missing endpoint " + strings.Join(ids, ", ")
	case c.ExpectedSubflows != nil && c.Subflows < *c.ExpectedSubflows:
		return "missing subflows"
	case c.NotJudged != "":
		return c.NotJudged
	}
	return "ok"
}
