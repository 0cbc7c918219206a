package report

import (
	"sort"

	"github.com/netdx/netdx/collectors"
)

// DiagMPTCP is the JSON form of the host's MPTCP state in the second
// snapshot: its sysctls, the in-kernel path manager and the connections
// with the subflows they have and should have. MPTcpExt counters are with
// the other netstat counters. docs/mptcp.md documents every field.
type DiagMPTCP struct {
	// Enabled is net.mptcp.enabled; absent when not read.
	Enabled *bool `json:"enabled,omitempty"`
	// PathManager is "kernel" or "userspace".
	PathManager string `json:"path_manager,omitempty"`
	// Sysctls holds every net.mptcp sysctl by its full name.
	Sysctls map[string]string `json:"sysctls"`
	// PM is absent when the path manager could not be read.
	PM *DiagMPTCPPM `json:"pm,omitempty"`
	// Sockets is absent when the MPTCP sockets could not be read.
	Sockets *DiagMPTCPSockets `json:"sockets,omitempty"`
}

// DiagMPTCPPM is the in-kernel path manager's configuration.
type DiagMPTCPPM struct {
	// Limits are the path manager's limits (ip mptcp limits).
	Limits DiagMPTCPLimits `json:"limits"`
	// Endpoints are the configured endpoints, by id.
	Endpoints []DiagMPTCPEndpoint `json:"endpoints"`
}

// DiagMPTCPLimits are `ip mptcp limits`.
type DiagMPTCPLimits struct {
	// Subflows is limits subflows: the additional subflows a connection may have.
	Subflows uint32 `json:"subflows"`
	// AddAddrAccepted is limits add_addr_accepted: how many peer-announced
	// addresses a connection uses.
	AddAddrAccepted uint32 `json:"add_addr_accepted"`
}

// DiagMPTCPEndpoint is one `ip mptcp endpoint`.
type DiagMPTCPEndpoint struct {
	// ID is the endpoint id.
	ID uint8 `json:"id"`
	// Address is the endpoint's IPv4 or IPv6 address.
	Address string `json:"address"`
	// Port is the port of a port-based signal endpoint.
	Port uint16 `json:"port,omitempty"`
	// Flags are signal, subflow, backup, fullmesh, implicit, laminar; unknown
	// bits in hex.
	Flags []string `json:"flags"`
	// Interface is the endpoint's dev, or else the interface holding its address.
	Interface string `json:"interface,omitempty"`
	// InterfaceUp is true when that interface is operationally up.
	InterfaceUp *bool `json:"interface_up,omitempty"`
	// AddressPresent is true when the address is assigned to an interface of the
	// namespace.
	AddressPresent *bool `json:"address_present,omitempty"`
}

// DiagMPTCPSockets are the established MPTCP connections.
type DiagMPTCPSockets struct {
	// SubflowDetail is false when the kernel withheld per-subflow details
	// (older kernels show them only to CAP_NET_ADMIN): connections then
	// carry counts only.
	SubflowDetail bool `json:"subflow_detail"`
	// Connections has one entry per established connection, sorted by local then
	// remote address.
	Connections []DiagMPTCPConnection `json:"connections"`
}

// DiagMPTCPConnection is one MPTCP connection.
type DiagMPTCPConnection struct {
	// Local is the connection's (initial subflow's) local address:port.
	Local string `json:"local"`
	// Remote is the peer's address:port.
	Remote string `json:"remote"`
	// Token is the local connection token in hex, as `ss -M` prints it.
	Token string `json:"token"`
	// Side is client (opened here) or server (accepted here).
	Side string `json:"side"`
	// Fallback is true when the connection fell back to plain TCP.
	Fallback bool `json:"fallback"`
	// UID is the socket owner's user id.
	UID uint32 `json:"uid"`
	// Inode is the socket's inode (match with ss -Mp or /proc/PID/fd).
	Inode uint32 `json:"inode"`
	// Subflows counts live subflows, the initial one included.
	Subflows int `json:"subflows"`
	// ExpectedSubflows is what the endpoints and limits allow; absent when
	// the connection is not judged (NotJudged says why).
	ExpectedSubflows *int `json:"expected_subflows,omitempty"`
	// NotJudged says why the connection's subflows are not judged.
	NotJudged string `json:"not_judged,omitempty"`
	// MissingEndpointIDs are the endpoints that should carry a subflow of this
	// connection and carry none.
	MissingEndpointIDs []int `json:"missing_endpoint_ids,omitempty"`
	// SubflowLimit is mptcp_info.subflows_max: the subflow limit the
	// kernel applies to this connection. The fields below come from
	// struct mptcp_info too.
	SubflowLimit uint8 `json:"subflow_limit"`
	// AddAddrSignal counts addresses announced to the peer.
	AddAddrSignal uint8 `json:"add_addr_signal"`
	// AddAddrAccepted counts peer addresses accepted.
	AddAddrAccepted uint8 `json:"add_addr_accepted"`
	// AddAddrAcceptedLimit is mptcp_info.add_addr_accepted_max.
	AddAddrAcceptedLimit uint8 `json:"add_addr_accepted_limit"`
	// EndpointsUsed is mptcp_info.local_addr_used: subflow endpoints the kernel
	// counts as used (5.12+).
	EndpointsUsed *uint8 `json:"endpoints_used,omitempty"`
	// EndpointsMax is mptcp_info.local_addr_max: subflow endpoints configured
	// (5.12+).
	EndpointsMax *uint8 `json:"endpoints_max,omitempty"`
	// ChecksumEnabled is true when DSS checksums are on (5.14+).
	ChecksumEnabled *bool `json:"checksum_enabled,omitempty"`
	// Retransmits counts MPTCP-level retransmissions (6.5+).
	Retransmits *uint32 `json:"retransmits,omitempty"`
	// BytesSent counts MPTCP-level bytes sent (6.5+).
	BytesSent *uint64 `json:"bytes_sent,omitempty"`
	// BytesReceived counts MPTCP-level bytes received (6.5+).
	BytesReceived *uint64 `json:"bytes_received,omitempty"`
	// BytesRetransmitted counts MPTCP-level bytes retransmitted (6.5+).
	BytesRetransmitted *uint64 `json:"bytes_retransmitted,omitempty"`
	// BytesAcked counts MPTCP-level bytes acknowledged (6.5+).
	BytesAcked *uint64 `json:"bytes_acked,omitempty"`
	// LastDataSentMs is the time since data was last sent, in milliseconds
	// (6.10+).
	LastDataSentMs *uint32 `json:"last_data_sent_ms,omitempty"`
	// LastDataReceivedMs is the time since data was last received, in
	// milliseconds (6.10+).
	LastDataReceivedMs *uint32 `json:"last_data_received_ms,omitempty"`
	// LastAckReceivedMs is the time since an ACK was last received, in
	// milliseconds (6.10+).
	LastAckReceivedMs *uint32 `json:"last_ack_received_ms,omitempty"`
	// SubflowList has the live subflows, when SubflowDetail.
	SubflowList []DiagMPTCPSubflow `json:"subflow_list,omitempty"`
}

// DiagMPTCPSubflow is one TCP subflow of a connection.
type DiagMPTCPSubflow struct {
	// Local is the subflow's local address:port.
	Local string `json:"local"`
	// Remote is the subflow's peer address:port.
	Remote string `json:"remote"`
	// EndpointID is the local endpoint id (0 for the initial subflow).
	EndpointID uint8 `json:"endpoint_id"`
	// RemoteID is the peer's address id.
	RemoteID uint8 `json:"remote_id"`
	// Initial is true for the MP_CAPABLE subflow the connection began with.
	Initial bool `json:"initial"`
	// Backup is true when either side asked for the subflow to be a backup.
	Backup bool `json:"backup"`
}

// newDiagMPTCP converts the MPTCP part of the diag input; nil when absent.
func newDiagMPTCP(in *collectors.Window) *DiagMPTCP {
	if in == nil || in.After == nil || in.After.MPTCP == nil {
		return nil
	}
	m := in.After.MPTCP
	d := &DiagMPTCP{PathManager: m.PathManager(), Sysctls: map[string]string{}}
	if on, known := m.Enabled(); known {
		d.Enabled = &on
	}
	for k, v := range m.Sysctls {
		d.Sysctls["net.mptcp."+k] = v
	}
	if m.PM != nil {
		d.PM = &DiagMPTCPPM{
			Limits:    DiagMPTCPLimits{Subflows: m.PM.Limits.Subflows, AddAddrAccepted: m.PM.Limits.AddAddrAccepted},
			Endpoints: make([]DiagMPTCPEndpoint, 0, len(m.PM.Endpoints)),
		}
		for _, ep := range m.PM.Endpoints {
			d.PM.Endpoints = append(d.PM.Endpoints, DiagMPTCPEndpoint{
				ID: ep.ID, Address: ep.Addr.String(), Port: ep.Port, Flags: ep.Flags.Names(),
				Interface: ep.Iface, InterfaceUp: ep.IfaceUp, AddressPresent: ep.AddrPresent,
			})
		}
	}
	if m.Sockets != nil {
		d.Sockets = &DiagMPTCPSockets{SubflowDetail: m.Sockets.SubflowDetail,
			Connections: make([]DiagMPTCPConnection, 0, len(m.Sockets.Conns))}
		for i := range m.Sockets.Conns {
			d.Sockets.Connections = append(d.Sockets.Connections, newDiagMPTCPConn(m, &m.Sockets.Conns[i]))
		}
	}
	return d
}

func newDiagMPTCPConn(m *collectors.MPTCP, c *collectors.MPTCPConn) DiagMPTCPConnection {
	in := c.Info
	dc := DiagMPTCPConnection{
		Local: c.Local.String(), Remote: c.Remote.String(), Token: collectors.MPTCPToken(in.Token),
		Side: string(c.Side), Fallback: c.Fallback(), UID: c.UID, Inode: c.Inode,
		Subflows:     c.SubflowCount(),
		SubflowLimit: in.SubflowsMax, AddAddrSignal: in.AddAddrSignal,
		AddAddrAccepted: in.AddAddrAccepted, AddAddrAcceptedLimit: in.AddAddrAcceptedMax,
		EndpointsUsed: in.LocalAddrUsed, EndpointsMax: in.LocalAddrMax, ChecksumEnabled: in.CsumEnabled,
		Retransmits: in.Retransmits, BytesSent: in.BytesSent, BytesReceived: in.BytesReceived,
		BytesRetransmitted: in.BytesRetrans, BytesAcked: in.BytesAcked,
		LastDataSentMs: in.LastDataSentMs, LastDataReceivedMs: in.LastDataRecvMs, LastAckReceivedMs: in.LastAckMs,
	}
	e := collectors.ExpectMPTCP(m, c)
	if e.Judged {
		want := e.ExpectedExtra + 1
		dc.ExpectedSubflows = &want
		if e.Short() && e.MissingKnown {
			for _, ep := range e.Missing {
				dc.MissingEndpointIDs = append(dc.MissingEndpointIDs, int(ep.ID))
			}
			sort.Ints(dc.MissingEndpointIDs)
		}
	} else {
		dc.NotJudged = e.NotJudged
	}
	for _, s := range c.Subflows {
		dc.SubflowList = append(dc.SubflowList, DiagMPTCPSubflow{
			Local: s.Local.String(), Remote: s.Remote.String(), EndpointID: s.LocalID, RemoteID: s.RemoteID,
			Initial: s.Initial(), Backup: s.Flags&(collectors.MPTCPSubflowBackupLocal|collectors.MPTCPSubflowBackupRem) != 0,
		})
	}
	return dc
}
