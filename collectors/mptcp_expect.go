package collectors

import (
	"fmt"
)

// MPTCPExpect is what one MPTCP connection should have, given the
// in-kernel path manager's endpoints and limits, and what it lacks.
//
// The in-kernel path manager of the side that opened a connection opens
// one subflow from each subflow endpoint (other than the one the initial
// subflow already uses) to the peer's address, one from a fullmesh
// endpoint to every peer address it knows, and one to each address the
// peer announced and this side accepted; never more than `limits
// subflows` additional subflows in all. It does this when the connection is
// established, when an endpoint is added and when the peer announces an
// address, and at no other time: a subflow that dies is not replaced.
type MPTCPExpect struct {
	// Judged is false when the path manager does not decide this
	// connection's subflows; NotJudged says why.
	Judged    bool
	NotJudged string
	// Extra and ExpectedExtra count additional subflows (not the initial
	// one): those alive and those the endpoints and limits allow.
	Extra, ExpectedExtra int
	// Limit is `limits subflows` as the connection sees it; Usable the
	// additional subflows the endpoints alone would give.
	Limit, Usable int
	// Candidates are the endpoints that should each carry a subflow.
	Candidates []MPTCPEndpoint
	// Missing are the candidates without a live subflow, when the
	// subflows could be read (MissingKnown).
	Missing      []MPTCPEndpoint
	MissingKnown bool
}

// Short reports whether the connection has fewer subflows than allowed.
func (e *MPTCPExpect) Short() bool { return e.Judged && e.Extra < e.ExpectedExtra }

// Capped reports whether `limits subflows` keeps the connection from
// using endpoints it could otherwise use. A limit of 0 is left to the
// configuration rule (mptcp.limit_zero).
func (e *MPTCPExpect) Capped() bool {
	return e.Judged && e.Limit > 0 && e.Usable > e.Limit && e.Extra >= e.Limit
}

// ExpectMPTCP is what the in-kernel path manager should have given c.
func ExpectMPTCP(m *MPTCP, c *MPTCPConn) MPTCPExpect {
	var e MPTCPExpect
	switch {
	case c.Fallback():
		e.NotJudged = "fell back to plain TCP"
		return e
	case c.Side == MPTCPServer:
		e.NotJudged = "accepted here: the peer opens its subflows"
		return e
	case m.PathManager() == "userspace":
		e.NotJudged = "the userspace path manager (mptcpd) decides its subflows"
		return e
	case m.PM == nil:
		e.NotJudged = "the path manager could not be read"
		return e
	}
	e.Judged = true
	e.Extra = int(c.Info.Subflows)
	e.Limit = int(c.Info.SubflowsMax)
	if c.Info.SubflowsMax == 0 && m.PM.Limits.Subflows != 0 {
		e.Limit = int(m.PM.Limits.Subflows)
	}
	accepted := int(c.Info.AddAddrAccepted)
	fullmesh := false
	local := c.Local.Addr().Unmap()
	for _, ep := range m.PM.Endpoints {
		if ep.Flags&MPTCPEndpointSubflow == 0 || ep.Addr.Unmap().Is4() != local.Is4() {
			continue
		}
		if ep.Addr.Unmap() == local {
			continue // the initial subflow already uses it
		}
		e.Candidates = append(e.Candidates, ep)
		if ep.Flags&MPTCPEndpointFullmesh != 0 {
			fullmesh = true
			e.Usable += 1 + accepted
		} else {
			e.Usable++
		}
	}
	if !fullmesh {
		e.Usable += accepted
	}
	e.ExpectedExtra = min(e.Usable, e.Limit)

	used := map[uint8]int{}
	for _, s := range c.Subflows {
		used[s.LocalID]++
	}
	switch {
	case len(c.Subflows) > 0:
		e.MissingKnown = true
		for _, ep := range e.Candidates {
			if used[ep.ID] == 0 {
				e.Missing = append(e.Missing, ep)
			}
		}
	case e.Extra == 0:
		// Without subflow details, no additional subflow at all still
		// names every candidate.
		e.MissingKnown = true
		e.Missing = append(e.Missing, e.Candidates...)
	}
	return e
}

// MPTCPToken formats a token as `ss -M` and `ip mptcp monitor` print it.
func MPTCPToken(t uint32) string { return fmt.Sprintf("%08x", t) }
