package collectors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sort"
)

// Decoding of the kernel's MPTCP messages. The collector reads raw
// payloads into mptcpRaw; decoding is separate so tests replay messages
// recorded from a real kernel (testdata/mptcp).

// errMPTCPMalformed marks a kernel message that could not be decoded.
var errMPTCPMalformed = errors.New("malformed netlink message")

// mptcpRaw is what the kernel answered, message by message, before
// decoding. Each payload is a netlink message without its nlmsghdr.
type mptcpRaw struct {
	Sysctls map[string]string
	// PMRead says whether the path manager was read; Limits is the
	// MPTCP_PM_CMD_GET_LIMITS reply and Endpoints the MPTCP_PM_CMD_GET_ADDR
	// dump (genlmsghdr then attributes).
	PMRead    bool
	Limits    []byte
	Endpoints [][]byte
	// SocksRead says whether the sockets were read; MPTCPSocks are the
	// sock_diag dump of IPPROTO_MPTCP sockets and TCPSocks that of TCP
	// sockets (read only when MPTCP connections exist), each an
	// inet_diag_msg then attributes.
	SocksRead  bool
	MPTCPSocks [][]byte
	TCPSocks   [][]byte
	// Links are the namespace's interfaces, read when endpoints exist.
	LinksRead bool
	Links     []mptcpLink
}

// mptcpLink is one interface as the endpoints need it.
type mptcpLink struct {
	Index int
	Name  string
	Up    bool
	Addrs []netip.Addr
}

// Generic netlink family mptcp_pm (include/uapi/linux/mptcp_pm.h).
const (
	mptcpPMFamily  = "mptcp_pm"
	mptcpPMVersion = 1

	mptcpPMCmdGetAddr   = 3
	mptcpPMCmdGetLimits = 6

	mptcpPMAttrAddr        = 1
	mptcpPMAttrRcvAddAddrs = 2
	mptcpPMAttrSubflows    = 3

	mptcpAddrAttrFamily = 1
	mptcpAddrAttrID     = 2
	mptcpAddrAttrAddr4  = 3
	mptcpAddrAttrAddr6  = 4
	mptcpAddrAttrPort   = 5
	mptcpAddrAttrFlags  = 6
	mptcpAddrAttrIfIdx  = 7

	mptcpGenlHdrLen = 4
)

// sock_diag (include/uapi/linux/inet_diag.h, tcp.h, mptcp.h).
const (
	mpInetDiagMsgLen   = 72
	mpInetDiagReqLen   = 56
	mpInetDiagInfo     = 2
	mpInetDiagULPInfo  = 19
	mpInetDiagReqProto = 3

	mpInetDiagReqBytecode = 1
	mpInetDiagBCJmp       = 1
	mpInetDiagBCSrcEq     = 11
	mpInetDiagBCDstEq     = 12

	mpInetULPInfoName  = 1
	mpInetULPInfoMPTCP = 3

	mptcpSubflowAttrTokenLoc = 2
	mptcpSubflowAttrFlags    = 8
	mptcpSubflowAttrIDRem    = 9
	mptcpSubflowAttrIDLoc    = 10

	mpTCPEstablished = 1
	mpTCPListen      = 10

	mpAFInet  = 2
	mpAFInet6 = 10
)

// mptcpAttr is one netlink attribute; typ has the nested and byte-order
// flags masked off.
type mptcpAttr struct {
	typ uint16
	val []byte
}

// mptcpParseAttrs splits b into attributes. It never reads past b: a length
// that does not fit is an error.
func mptcpParseAttrs(b []byte) ([]mptcpAttr, error) {
	var out []mptcpAttr
	err := walkAttrs(b, func(t uint16, v []byte) { out = append(out, mptcpAttr{typ: t, val: v}) })
	return out, err
}

func mptcpU8(a mptcpAttr) (uint8, bool) {
	if len(a.val) < 1 {
		return 0, false
	}
	return a.val[0], true
}

func mptcpU16(a mptcpAttr) (uint16, bool) {
	if len(a.val) < 2 {
		return 0, false
	}
	return binary.NativeEndian.Uint16(a.val), true
}

func mptcpU32(a mptcpAttr) (uint32, bool) {
	if len(a.val) < 4 {
		return 0, false
	}
	return binary.NativeEndian.Uint32(a.val), true
}

// mptcpGenlAttrs skips the generic netlink header of a payload.
func mptcpGenlAttrs(msg []byte) ([]mptcpAttr, error) {
	if len(msg) < mptcpGenlHdrLen {
		return nil, fmt.Errorf("%w: generic netlink message of %d bytes", errMPTCPMalformed, len(msg))
	}
	return mptcpParseAttrs(msg[mptcpGenlHdrLen:])
}

// decodeMPTCPLimits decodes a MPTCP_PM_CMD_GET_LIMITS reply.
func decodeMPTCPLimits(msg []byte) (MPTCPLimits, error) {
	var l MPTCPLimits
	attrs, err := mptcpGenlAttrs(msg)
	if err != nil {
		return l, fmt.Errorf("mptcp_pm limits: %w", err)
	}
	for _, a := range attrs {
		switch a.typ {
		case mptcpPMAttrRcvAddAddrs:
			l.AddAddrAccepted, _ = mptcpU32(a)
		case mptcpPMAttrSubflows:
			l.Subflows, _ = mptcpU32(a)
		}
	}
	return l, nil
}

// decodeMPTCPEndpoint decodes one message of the MPTCP_PM_CMD_GET_ADDR dump.
func decodeMPTCPEndpoint(msg []byte) (MPTCPEndpoint, error) {
	var ep MPTCPEndpoint
	attrs, err := mptcpGenlAttrs(msg)
	if err != nil {
		return ep, fmt.Errorf("mptcp_pm endpoint: %w", err)
	}
	var nested []mptcpAttr
	for _, a := range attrs {
		if a.typ == mptcpPMAttrAddr {
			if nested, err = mptcpParseAttrs(a.val); err != nil {
				return ep, fmt.Errorf("mptcp_pm endpoint address: %w", err)
			}
		}
	}
	if nested == nil {
		return ep, fmt.Errorf("%w: mptcp_pm endpoint without an address", errMPTCPMalformed)
	}
	for _, a := range nested {
		switch a.typ {
		case mptcpAddrAttrID:
			ep.ID, _ = mptcpU8(a)
		case mptcpAddrAttrAddr4:
			if len(a.val) == 4 {
				ep.Addr = netip.AddrFrom4([4]byte(a.val))
			}
		case mptcpAddrAttrAddr6:
			if len(a.val) == 16 {
				ep.Addr = netip.AddrFrom16([16]byte(a.val))
			}
		case mptcpAddrAttrPort:
			ep.Port, _ = mptcpU16(a)
		case mptcpAddrAttrFlags:
			f, _ := mptcpU32(a)
			ep.Flags = MPTCPEndpointFlags(f)
		case mptcpAddrAttrIfIdx:
			i, _ := mptcpU32(a)
			ep.IfIndex = int(int32(i))
		}
	}
	if !ep.Addr.IsValid() {
		return ep, fmt.Errorf("%w: mptcp_pm endpoint %d has no address", errMPTCPMalformed, ep.ID)
	}
	return ep, nil
}

// decodeMPTCPPM decodes the path manager's limits and endpoints, then places
// each endpoint on its interface.
func decodeMPTCPPM(raw *mptcpRaw) (*MPTCPPathManager, error) {
	lim, err := decodeMPTCPLimits(raw.Limits)
	if err != nil {
		return nil, err
	}
	pm := &MPTCPPathManager{Limits: lim, Endpoints: make([]MPTCPEndpoint, 0, len(raw.Endpoints))}
	for _, msg := range raw.Endpoints {
		ep, err := decodeMPTCPEndpoint(msg)
		if err != nil {
			return nil, err
		}
		if raw.LinksRead {
			placeMPTCPEndpoint(&ep, raw.Links)
		}
		pm.Endpoints = append(pm.Endpoints, ep)
	}
	sort.Slice(pm.Endpoints, func(i, j int) bool { return pm.Endpoints[i].ID < pm.Endpoints[j].ID })
	return pm, nil
}

// placeMPTCPEndpoint finds the endpoint's interface (its dev, else the one
// holding its address), whether that is up and whether the address exists.
func placeMPTCPEndpoint(ep *MPTCPEndpoint, links []mptcpLink) {
	present := false
	var holder *mptcpLink
	for i := range links {
		for _, a := range links[i].Addrs {
			if a == ep.Addr.Unmap() || a == ep.Addr {
				present = true
				if holder == nil {
					holder = &links[i]
				}
			}
		}
	}
	ep.AddrPresent = &present
	l := holder
	if ep.IfIndex != 0 {
		l = nil
		for i := range links {
			if links[i].Index == ep.IfIndex {
				l = &links[i]
			}
		}
	}
	if l != nil {
		up := l.Up
		ep.Iface, ep.IfaceUp = l.Name, &up
	}
}

// mptcpDiagMsg is the fixed part of an inet_diag_msg.
type mptcpDiagMsg struct {
	family, state byte
	local, remote netip.AddrPort
	ifindex       uint32
	uid, inode    uint32
	attrs         []mptcpAttr
}

// decodeMPTCPDiagMsg decodes an inet_diag_msg and its attributes.
func decodeMPTCPDiagMsg(msg []byte) (mptcpDiagMsg, error) {
	var d mptcpDiagMsg
	if len(msg) < mpInetDiagMsgLen {
		return d, fmt.Errorf("%w: inet_diag_msg of %d bytes", errMPTCPMalformed, len(msg))
	}
	d.family, d.state = msg[0], msg[1]
	addr := func(b []byte) netip.Addr {
		if d.family == mpAFInet {
			return netip.AddrFrom4([4]byte(b[:4]))
		}
		return netip.AddrFrom16([16]byte(b[:16]))
	}
	if d.family != mpAFInet && d.family != mpAFInet6 {
		return d, fmt.Errorf("%w: inet_diag_msg of address family %d", errMPTCPMalformed, d.family)
	}
	d.local = netip.AddrPortFrom(addr(msg[8:24]), binary.BigEndian.Uint16(msg[4:]))
	d.remote = netip.AddrPortFrom(addr(msg[24:40]), binary.BigEndian.Uint16(msg[6:]))
	d.ifindex = binary.NativeEndian.Uint32(msg[40:])
	d.uid = binary.NativeEndian.Uint32(msg[64:])
	d.inode = binary.NativeEndian.Uint32(msg[68:])
	var err error
	if d.attrs, err = mptcpParseAttrs(msg[mpInetDiagMsgLen:]); err != nil {
		return d, fmt.Errorf("inet_diag_msg %s → %s: %w", d.local, d.remote, err)
	}
	return d, nil
}

// decodeMPTCPInfo decodes struct mptcp_info as long as the kernel made
// it; fields past its end stay nil.
func decodeMPTCPInfo(b []byte) (MPTCPInfo, error) {
	var in MPTCPInfo
	if len(b) < 40 {
		return in, fmt.Errorf("%w: mptcp_info of %d bytes, want at least 40", errMPTCPMalformed, len(b))
	}
	ne := binary.NativeEndian
	in.Subflows, in.AddAddrSignal, in.AddAddrAccepted = b[0], b[1], b[2]
	in.SubflowsMax, in.AddAddrSignalMax, in.AddAddrAcceptedMax = b[3], b[4], b[5]
	in.Flags, in.Token = ne.Uint32(b[8:]), ne.Uint32(b[12:])
	in.WriteSeq, in.SndUna, in.RcvNxt = ne.Uint64(b[16:]), ne.Uint64(b[24:]), ne.Uint64(b[32:])
	u8 := func(off int) *uint8 {
		if len(b) <= off {
			return nil
		}
		v := b[off]
		return &v
	}
	u32 := func(off int) *uint32 {
		if len(b) < off+4 {
			return nil
		}
		v := ne.Uint32(b[off:])
		return &v
	}
	u64 := func(off int) *uint64 {
		if len(b) < off+8 {
			return nil
		}
		v := ne.Uint64(b[off:])
		return &v
	}
	in.LocalAddrUsed, in.LocalAddrMax = u8(40), u8(41)
	if c := u8(42); c != nil {
		on := *c != 0
		in.CsumEnabled = &on
	}
	in.Retransmits = u32(44)
	in.BytesRetrans, in.BytesSent, in.BytesReceived, in.BytesAcked = u64(48), u64(56), u64(64), u64(72)
	in.SubflowsTotal = u8(80)
	in.LastDataSentMs, in.LastDataRecvMs, in.LastAckMs = u32(84), u32(88), u32(92)
	return in, nil
}

// mptcpSubflowInfo is what the ULP info of a TCP subflow says.
type mptcpSubflowInfo struct {
	token uint32
	sf    MPTCPSubflow
}

// decodeMPTCPSubflow returns the MPTCP ULP info of a TCP socket message; ok is
// false for a socket that is not an MPTCP subflow or whose details the
// kernel withheld.
func decodeMPTCPSubflow(d mptcpDiagMsg) (mptcpSubflowInfo, bool, error) {
	var s mptcpSubflowInfo
	for _, a := range d.attrs {
		if a.typ != mpInetDiagULPInfo {
			continue
		}
		ulp, err := mptcpParseAttrs(a.val)
		if err != nil {
			return s, false, fmt.Errorf("subflow %s → %s ULP info: %w", d.local, d.remote, err)
		}
		for _, u := range ulp {
			if u.typ != mpInetULPInfoMPTCP {
				continue
			}
			attrs, err := mptcpParseAttrs(u.val)
			if err != nil {
				return s, false, fmt.Errorf("subflow %s → %s MPTCP info: %w", d.local, d.remote, err)
			}
			s.sf = MPTCPSubflow{Local: d.local, Remote: d.remote, State: d.state, IfIndex: d.ifindex}
			for _, x := range attrs {
				switch x.typ {
				case mptcpSubflowAttrTokenLoc:
					s.token, _ = mptcpU32(x)
				case mptcpSubflowAttrFlags:
					s.sf.Flags, _ = mptcpU32(x)
				case mptcpSubflowAttrIDLoc:
					s.sf.LocalID, _ = mptcpU8(x)
				case mptcpSubflowAttrIDRem:
					s.sf.RemoteID, _ = mptcpU8(x)
				}
			}
			return s, true, nil
		}
	}
	return s, false, nil
}

// decodeMPTCPSockets decodes the MPTCP socket dump and attaches the subflows
// found in the TCP dump to their connections by token.
func decodeMPTCPSockets(raw *mptcpRaw) (*MPTCPSockets, error) {
	socks := &MPTCPSockets{Conns: []MPTCPConn{}, Listeners: []netip.AddrPort{}}
	for _, msg := range raw.MPTCPSocks {
		d, err := decodeMPTCPDiagMsg(msg)
		if err != nil {
			return nil, fmt.Errorf("MPTCP socket: %w", err)
		}
		switch d.state {
		case mpTCPListen:
			socks.Listeners = append(socks.Listeners, d.local)
			continue
		case mpTCPEstablished:
		default:
			continue
		}
		c := MPTCPConn{Local: d.local, Remote: d.remote, UID: d.uid, Inode: d.inode}
		for _, a := range d.attrs {
			if a.typ == mpInetDiagInfo {
				if c.Info, err = decodeMPTCPInfo(a.val); err != nil {
					return nil, fmt.Errorf("MPTCP connection %s → %s: %w", d.local, d.remote, err)
				}
			}
		}
		socks.Conns = append(socks.Conns, c)
	}
	byToken := map[uint32]int{}
	for i := range socks.Conns {
		byToken[socks.Conns[i].Info.Token] = i
	}
	for _, msg := range raw.TCPSocks {
		d, err := decodeMPTCPDiagMsg(msg)
		if err != nil {
			return nil, fmt.Errorf("TCP socket: %w", err)
		}
		s, ok, err := decodeMPTCPSubflow(d)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		socks.SubflowDetail = true
		if i, found := byToken[s.token]; found {
			socks.Conns[i].Subflows = append(socks.Conns[i].Subflows, s.sf)
		}
	}
	for i := range socks.Conns {
		c := &socks.Conns[i]
		sort.Slice(c.Subflows, func(a, b int) bool {
			x, y := c.Subflows[a], c.Subflows[b]
			if x.LocalID != y.LocalID {
				return x.LocalID < y.LocalID
			}
			return x.Local.Compare(y.Local) < 0
		})
		c.Side = mptcpConnSide(c, socks.Listeners)
	}
	sort.Slice(socks.Conns, func(i, j int) bool {
		a, b := socks.Conns[i], socks.Conns[j]
		if c := a.Local.Compare(b.Local); c != 0 {
			return c < 0
		}
		return a.Remote.Compare(b.Remote) < 0
	})
	sort.Slice(socks.Listeners, func(i, j int) bool { return socks.Listeners[i].Compare(socks.Listeners[j]) < 0 })
	return socks, nil
}

// mptcpConnSide says which end opened the connection: the subflow flags tell
// (this host sent MP_CAPABLE or MP_JOIN), else a listener on the local port
// means it was accepted.
func mptcpConnSide(c *MPTCPConn, listeners []netip.AddrPort) MPTCPSide {
	for _, s := range c.Subflows {
		switch {
		case s.Flags&(MPTCPSubflowMPCLocal|MPTCPSubflowJoinLocal) != 0:
			return MPTCPClient
		case s.Flags&(MPTCPSubflowMPCRemote|MPTCPSubflowJoinRemote) != 0:
			return MPTCPServer
		}
	}
	for _, l := range listeners {
		if l.Port() == c.Local.Port() && (l.Addr().IsUnspecified() || l.Addr() == c.Local.Addr()) {
			return MPTCPServer
		}
	}
	return MPTCPClient
}

// decodeMPTCP turns the raw messages into the snapshot's MPTCP section.
// A part that does not decode is left nil and its error returned with the
// source it came from, so the caller records it and keeps the rest.
func decodeMPTCP(raw *mptcpRaw) (*MPTCP, map[string]error) {
	m := &MPTCP{Sysctls: raw.Sysctls}
	errs := map[string]error{}
	if raw.PMRead {
		pm, err := decodeMPTCPPM(raw)
		if err != nil {
			errs[mptcpSourcePM] = err
		}
		m.PM = pm
	}
	if raw.SocksRead {
		s, err := decodeMPTCPSockets(raw)
		if err != nil {
			errs[mptcpSourceSockDiag] = err
		}
		m.Sockets = s
	}
	return m, errs
}

// Source names used in skips.
const (
	mptcpSourceSysctls  = "MPTCP settings (/proc/sys/net/mptcp)"
	mptcpSourcePM       = "MPTCP path manager (generic netlink mptcp_pm)"
	mptcpSourceSockDiag = "MPTCP sockets (sock_diag)"
	mptcpSourceSubflows = "MPTCP subflow details (sock_diag TCP ULP info)"
	mptcpSourceLinks    = "interfaces of MPTCP endpoints (rtnetlink)"
)
