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
	Limits    DiagMPTCPLimits     `json:"limits"`
	Endpoints []DiagMPTCPEndpoint `json:"endpoints"`
}

// DiagMPTCPLimits are `ip mptcp limits`.
type DiagMPTCPLimits struct {
	Subflows        uint32 `json:"subflows"`
	AddAddrAccepted uint32 `json:"add_addr_accepted"`
}

// DiagMPTCPEndpoint is one `ip mptcp endpoint`.
type DiagMPTCPEndpoint struct {
	ID             uint8    `json:"id"`
	Address        string   `json:"address"`
	Port           uint16   `json:"port,omitempty"`
	Flags          []string `json:"flags"`
	Interface      string   `json:"interface,omitempty"`
	InterfaceUp    *bool    `json:"interface_up,omitempty"`
	AddressPresent *bool    `json:"address_present,omitempty"`
}

// DiagMPTCPSockets are the established MPTCP connections.
type DiagMPTCPSockets struct {
	// SubflowDetail is false when the kernel withheld per-subflow details
	// (older kernels show them only to CAP_NET_ADMIN): connections then
	// carry counts only.
	SubflowDetail bool                  `json:"subflow_detail"`
	Connections   []DiagMPTCPConnection `json:"connections"`
}

// DiagMPTCPConnection is one MPTCP connection.
type DiagMPTCPConnection struct {
	Local  string `json:"local"`
	Remote string `json:"remote"`
	// Token is the local connection token in hex, as `ss -M` prints it.
	Token    string `json:"token"`
	Side     string `json:"side"`
	Fallback bool   `json:"fallback"`
	UID      uint32 `json:"uid"`
	Inode    uint32 `json:"inode"`
	// Subflows counts live subflows, the initial one included.
	Subflows int `json:"subflows"`
	// ExpectedSubflows is what the endpoints and limits allow; absent when
	// the connection is not judged (NotJudged says why).
	ExpectedSubflows   *int   `json:"expected_subflows,omitempty"`
	NotJudged          string `json:"not_judged,omitempty"`
	MissingEndpointIDs []int  `json:"missing_endpoint_ids,omitempty"`
	// From struct mptcp_info.
	SubflowLimit         uint8              `json:"subflow_limit"`
	AddAddrSignal        uint8              `json:"add_addr_signal"`
	AddAddrAccepted      uint8              `json:"add_addr_accepted"`
	AddAddrAcceptedLimit uint8              `json:"add_addr_accepted_limit"`
	EndpointsUsed        *uint8             `json:"endpoints_used,omitempty"`
	EndpointsMax         *uint8             `json:"endpoints_max,omitempty"`
	ChecksumEnabled      *bool              `json:"checksum_enabled,omitempty"`
	Retransmits          *uint32            `json:"retransmits,omitempty"`
	BytesSent            *uint64            `json:"bytes_sent,omitempty"`
	BytesReceived        *uint64            `json:"bytes_received,omitempty"`
	BytesRetransmitted   *uint64            `json:"bytes_retransmitted,omitempty"`
	BytesAcked           *uint64            `json:"bytes_acked,omitempty"`
	LastDataSentMs       *uint32            `json:"last_data_sent_ms,omitempty"`
	LastDataReceivedMs   *uint32            `json:"last_data_received_ms,omitempty"`
	LastAckReceivedMs    *uint32            `json:"last_ack_received_ms,omitempty"`
	SubflowList          []DiagMPTCPSubflow `json:"subflow_list,omitempty"`
}

// DiagMPTCPSubflow is one TCP subflow of a connection.
type DiagMPTCPSubflow struct {
	Local  string `json:"local"`
	Remote string `json:"remote"`
	// EndpointID is the local endpoint id (0 for the initial subflow).
	EndpointID uint8 `json:"endpoint_id"`
	RemoteID   uint8 `json:"remote_id"`
	Initial    bool  `json:"initial"`
	Backup     bool  `json:"backup"`
}

// newDiagMPTCP converts the MPTCP part of the diag input; nil when absent.
func newDiagMPTCP(in *DiagInput) *DiagMPTCP {
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
		Local: c.Local.String(), Remote: c.Remote.String(), Token: mptcpToken(in.Token),
		Side: string(c.Side), Fallback: c.Fallback(), UID: c.UID, Inode: c.Inode,
		Subflows:     c.SubflowCount(),
		SubflowLimit: in.SubflowsMax, AddAddrSignal: in.AddAddrSignal,
		AddAddrAccepted: in.AddAddrAccepted, AddAddrAcceptedLimit: in.AddAddrAcceptedMax,
		EndpointsUsed: in.LocalAddrUsed, EndpointsMax: in.LocalAddrMax, ChecksumEnabled: in.CsumEnabled,
		Retransmits: in.Retransmits, BytesSent: in.BytesSent, BytesReceived: in.BytesReceived,
		BytesRetransmitted: in.BytesRetrans, BytesAcked: in.BytesAcked,
		LastDataSentMs: in.LastDataSentMs, LastDataReceivedMs: in.LastDataRecvMs, LastAckReceivedMs: in.LastAckMs,
	}
	e := expectMPTCP(m, c)
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
