package collectors

import (
	"net/netip"
	"strconv"
)

// MPTCP is the host's multipath TCP state: the net.mptcp sysctls, the
// in-kernel path manager's endpoints and limits (generic netlink family
// mptcp_pm) and the established MPTCP connections with their subflows
// (sock_diag). The MPTcpExt counters are in Snapshot.Netstat.
//
// Parts that could not be read are nil and named in Snapshot.Skipped.
type MPTCP struct {
	// Sysctls holds every file of /proc/sys/net/mptcp by its name
	// ("enabled", "path_manager", "pm_type", "scheduler",
	// "add_addr_timeout", "stale_loss_cnt", ...), value trimmed.
	Sysctls map[string]string
	// PM is the in-kernel path manager's configuration.
	PM *MPTCPPathManager
	// Sockets are the MPTCP sockets of the namespace.
	Sockets *MPTCPSockets
}

// Enabled reports net.mptcp.enabled, and whether it was read.
func (m *MPTCP) Enabled() (enabled, known bool) {
	v, ok := m.Sysctls["enabled"]
	return v == "1", ok
}

// PathManager names the path manager new connections get: "kernel" or
// "userspace" (net.mptcp.path_manager, or pm_type 0/1 on kernels without
// it); "" when unknown.
func (m *MPTCP) PathManager() string {
	if v := m.Sysctls["path_manager"]; v != "" {
		return v
	}
	switch m.Sysctls["pm_type"] {
	case "0":
		return "kernel"
	case "1":
		return "userspace"
	}
	return ""
}

// MPTCPPathManager is the in-kernel path manager's configuration, as
// `ip mptcp endpoint show` and `ip mptcp limits show` print it.
type MPTCPPathManager struct {
	Limits    MPTCPLimits
	Endpoints []MPTCPEndpoint
}

// MPTCPLimits caps what each connection may do.
type MPTCPLimits struct {
	// Subflows is the number of additional subflows a connection may
	// have, besides the initial one (`limits subflows`).
	Subflows uint32
	// AddAddrAccepted is the number of addresses announced by the peer
	// (ADD_ADDR) a connection accepts and opens subflows to.
	AddAddrAccepted uint32
}

// MPTCPEndpoint is one local address the path manager may use.
type MPTCPEndpoint struct {
	ID   uint8
	Addr netip.Addr
	// Port is set only for signal endpoints with an explicit port.
	Port  uint16
	Flags MPTCPEndpointFlags
	// IfIndex is the interface the endpoint is bound to (`dev`), 0 if none.
	IfIndex int
	// Iface names the endpoint's interface: its `dev`, or else the
	// interface holding Addr; "" when neither is known.
	Iface string
	// IfaceUp says whether Iface is operationally up; nil when unknown.
	IfaceUp *bool
	// AddrPresent says whether Addr is assigned to an interface of this
	// namespace; nil when the addresses could not be read.
	AddrPresent *bool
}

// MPTCPEndpointFlags are the endpoint flags of include/uapi/linux/mptcp.h.
type MPTCPEndpointFlags uint32

// Endpoint flags.
const (
	MPTCPEndpointSignal   MPTCPEndpointFlags = 1 << 0 // announce the address to peers (ADD_ADDR)
	MPTCPEndpointSubflow  MPTCPEndpointFlags = 1 << 1 // open subflows from the address
	MPTCPEndpointBackup   MPTCPEndpointFlags = 1 << 2 // subflows from it are backups
	MPTCPEndpointFullmesh MPTCPEndpointFlags = 1 << 3 // one subflow to every known peer address
	MPTCPEndpointImplicit MPTCPEndpointFlags = 1 << 4 // made by the kernel for a peer-initiated subflow
	MPTCPEndpointLaminar  MPTCPEndpointFlags = 1 << 5 // subflows from it to announced addresses (newer kernels)
)

var endpointFlagNames = []struct {
	f    MPTCPEndpointFlags
	name string
}{
	{MPTCPEndpointSignal, "signal"}, {MPTCPEndpointSubflow, "subflow"}, {MPTCPEndpointBackup, "backup"},
	{MPTCPEndpointFullmesh, "fullmesh"}, {MPTCPEndpointImplicit, "implicit"}, {MPTCPEndpointLaminar, "laminar"},
}

// Names lists the flags as `ip mptcp endpoint` spells them; unknown bits
// show as hex.
func (f MPTCPEndpointFlags) Names() []string {
	names := []string{}
	for _, n := range endpointFlagNames {
		if f&n.f != 0 {
			names = append(names, n.name)
			f &^= n.f
		}
	}
	if f != 0 {
		names = append(names, "0x"+strconv.FormatUint(uint64(f), 16))
	}
	return names
}

// MPTCPSockets are the namespace's MPTCP connections and listeners.
type MPTCPSockets struct {
	// Conns are the established MPTCP connections.
	Conns []MPTCPConn
	// Listeners are the MPTCP listeners, read only when SubflowDetail is
	// false: then they tell an accepted connection (its local port is
	// listened on) from an opened one.
	Listeners []netip.AddrPort
	// SubflowDetail says whether each connection's subflows (with the
	// endpoint id each uses) were read: older kernels show them only to
	// CAP_NET_ADMIN (recent ones hide only sequence numbers from others).
	// Without them, Conns carry counts only.
	SubflowDetail bool
}

// MPTCPConn is one established MPTCP connection.
type MPTCPConn struct {
	// Local and Remote are the connection's addresses: those of its
	// initial subflow.
	Local, Remote netip.AddrPort
	UID, Inode    uint32
	// Side is MPTCPClient when this host opened the connection,
	// MPTCPServer when it accepted it.
	Side MPTCPSide
	Info MPTCPInfo
	// Subflows are the connection's live TCP subflows; empty unless
	// MPTCPSockets.SubflowDetail.
	Subflows []MPTCPSubflow
}

// MPTCPSide says which end of a connection this host is.
type MPTCPSide string

// Connection sides.
const (
	MPTCPClient MPTCPSide = "client"
	MPTCPServer MPTCPSide = "server"
)

// Fallback reports whether the connection fell back to plain TCP.
func (c *MPTCPConn) Fallback() bool { return c.Info.Flags&MPTCPInfoFallback != 0 }

// SubflowCount is the number of live subflows, the initial one included.
func (c *MPTCPConn) SubflowCount() int {
	if c.Info.SubflowsTotal != nil {
		return int(*c.Info.SubflowsTotal)
	}
	if c.Fallback() {
		return 1
	}
	// Before 6.8 the kernel counts only additional subflows; the
	// initial one is assumed alive.
	return int(c.Info.Subflows) + 1
}

// MPTCPInfo is struct mptcp_info (include/uapi/linux/mptcp.h), which the
// kernel has grown over releases: fields newer than the running kernel are
// nil.
type MPTCPInfo struct {
	// Subflows is the number of additional subflows (not the initial one).
	Subflows           uint8
	AddAddrSignal      uint8 // addresses announced to the peer
	AddAddrAccepted    uint8 // peer's announced addresses accepted
	SubflowsMax        uint8 // limit on additional subflows
	AddAddrSignalMax   uint8 // signal endpoints
	AddAddrAcceptedMax uint8 // limit on accepted announced addresses
	Flags              uint32
	Token              uint32
	WriteSeq, SndUna   uint64
	RcvNxt             uint64
	// Since 5.12.
	LocalAddrUsed *uint8 // subflow endpoints in use
	LocalAddrMax  *uint8 // subflow endpoints
	// Since 5.14.
	CsumEnabled *bool
	// Since 6.5.
	Retransmits                               *uint32
	BytesRetrans, BytesSent, BytesReceived    *uint64
	BytesAcked                                *uint64
	SubflowsTotal                             *uint8  // since 6.8: live subflows, initial included
	LastDataSentMs, LastDataRecvMs, LastAckMs *uint32 // since 6.10
}

// MPTCPInfo flags.
const (
	MPTCPInfoFallback          uint32 = 1 << 0
	MPTCPInfoRemoteKeyReceived uint32 = 1 << 1
)

// MPTCPSubflow is one TCP subflow of a connection.
type MPTCPSubflow struct {
	Local, Remote netip.AddrPort
	// State is the TCP state (1 established).
	State uint8
	// LocalID is the endpoint id the subflow was opened from (0 for the
	// initial subflow); RemoteID the peer's address id.
	LocalID, RemoteID uint8
	// Flags are MPTCP_SUBFLOW_FLAG_* (MPTCPSubflowMPCLocal, ...).
	Flags uint32
	// IfIndex is the interface the subflow is bound to, 0 if none.
	IfIndex uint32
}

// Subflow flags (MPTCP_SUBFLOW_FLAG_* in include/uapi/linux/mptcp.h).
const (
	MPTCPSubflowMPCRemote   uint32 = 1 << 0 // peer sent MP_CAPABLE
	MPTCPSubflowMPCLocal    uint32 = 1 << 1 // this host sent MP_CAPABLE (it connected)
	MPTCPSubflowJoinRemote  uint32 = 1 << 2 // peer sent MP_JOIN
	MPTCPSubflowJoinLocal   uint32 = 1 << 3 // this host sent MP_JOIN (it opened the subflow)
	MPTCPSubflowBackupRem   uint32 = 1 << 4
	MPTCPSubflowBackupLocal uint32 = 1 << 5
	MPTCPSubflowFullyEstab  uint32 = 1 << 6
	MPTCPSubflowConnected   uint32 = 1 << 7
)

// Initial reports whether s is the connection's initial (MP_CAPABLE)
// subflow.
func (s *MPTCPSubflow) Initial() bool {
	return s.Flags&(MPTCPSubflowMPCLocal|MPTCPSubflowMPCRemote) != 0
}
