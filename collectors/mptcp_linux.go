package collectors

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/netdx/netdx/internal/caps"
)

// netlinkTimeout caps each netlink exchange of the MPTCP collector and the
// conntrack entry count when the caller's context has no earlier deadline.
const netlinkTimeout = 5 * time.Second

func init() { Register(mptcpCollector{}) }

// mptcpCollector reads the MPTCP sysctls, the in-kernel path manager and
// the MPTCP sockets. Netlink sockets are opened on the calling thread, so
// a caller that runs Take on a thread switched into another network
// namespace reads that namespace.
type mptcpCollector struct{}

func (mptcpCollector) Name() string { return "mptcp" }

// errNoMPTCP says the kernel was built without MPTCP.
var errNoMPTCP = fmt.Errorf("this kernel has no MPTCP: %w", syscall.EPROTONOSUPPORT)

func (mptcpCollector) Collect(ctx context.Context, src *Sources, snap *Snapshot) error {
	raw, err := readMPTCP(ctx, src, snap)
	if err != nil {
		return err
	}
	m, errs := decodeMPTCP(raw)
	for source, err := range errs {
		snap.AddSkip(source, err)
	}
	if m.Sockets != nil && len(m.Sockets.Conns) > 0 && !m.Sockets.SubflowDetail {
		snap.AddSkip(mptcpSourceSubflows, &SourceError{
			Source:     mptcpSourceSubflows,
			Err:        fmt.Errorf("this kernel shows which endpoint each subflow uses only to CAP_NET_ADMIN: %w", syscall.EPERM),
			Fix:        "run as root or grant CAP_NET_ADMIN to name the endpoint a connection is missing",
			Capability: caps.NetAdmin.String(),
		})
	}
	snap.MPTCP = m
	return nil
}

// readMPTCP reads everything the collector needs, message by message. A
// kernel without MPTCP is an error (the whole source is unsupported); a
// part that cannot be read is recorded in snap and left out.
func readMPTCP(ctx context.Context, src *Sources, snap *Snapshot) (*mptcpRaw, error) {
	root := src.ProcPath
	if root == "" {
		root = "/proc"
	}
	dir := filepath.Join(root, "sys/net/mptcp")
	sysctls, err := mptcpReadSysctls(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = errNoMPTCP
		}
		return nil, &SourceError{Source: mptcpSourceSysctls, Err: err,
			Fix: "MPTCP needs Linux 5.6 or later built with CONFIG_MPTCP=y"}
	}
	raw := &mptcpRaw{Sysctls: sysctls}

	if err := readMPTCPPM(ctx, raw); err != nil {
		snap.AddSkip(mptcpSourcePM, mptcpPMError(err))
	} else {
		raw.PMRead = true
	}
	if ctx.Err() != nil {
		return raw, nil
	}
	if err := readMPTCPSockets(ctx, raw); err != nil {
		snap.AddSkip(mptcpSourceSockDiag, &SourceError{Source: mptcpSourceSockDiag, Err: err,
			Fix: "sock_diag for MPTCP needs CONFIG_INET_MPTCP_DIAG (module mptcp_diag)"})
	} else {
		raw.SocksRead = true
	}
	if raw.PMRead && len(raw.Endpoints) > 0 && ctx.Err() == nil {
		if err := readMPTCPLinks(raw); err != nil {
			snap.AddSkip(mptcpSourceLinks, &SourceError{Source: mptcpSourceLinks, Err: err})
		} else {
			raw.LinksRead = true
		}
	}
	return raw, nil
}

// mptcpPMError explains a path manager read failure.
func mptcpPMError(err error) error {
	se := &SourceError{Source: mptcpSourcePM, Err: err}
	if errors.Is(err, syscall.ENOENT) {
		se.Err = fmt.Errorf("generic netlink family %s is not registered: %w", mptcpPMFamily, errors.ErrUnsupported)
		se.Fix = "the in-kernel path manager needs Linux 5.7 or later"
	}
	return se
}

// mptcpReadSysctls reads every file of dir into a map by file name.
func mptcpReadSysctls(dir string) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				continue // write-only or restricted knob: not a reason to fail
			}
			return nil, err
		}
		out[e.Name()] = strings.TrimSpace(string(b))
	}
	return out, nil
}

// netlinkSocket opens a netlink socket of proto on the calling thread with
// timeouts from ctx.
func netlinkSocket(ctx context.Context, proto int) (*nl.NetlinkSocket, error) {
	s, err := nl.Subscribe(proto)
	if err != nil {
		return nil, err
	}
	d := netlinkTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		d = max(time.Until(dl), time.Millisecond)
	}
	tv := unix.NsecToTimeval(d.Nanoseconds())
	_ = s.SetSendTimeout(&tv)
	_ = s.SetReceiveTimeout(&tv)
	return s, nil
}

// mptcpExchange sends req on s and returns the payload of every reply.
func mptcpExchange(s *nl.NetlinkSocket, proto int, req *nl.NetlinkRequest, resType uint16) ([][]byte, error) {
	req.Sockets = map[int]*nl.SocketHandle{proto: {Socket: s}}
	var out [][]byte
	err := req.ExecuteIter(proto, resType, func(msg []byte) bool {
		out = append(out, append([]byte(nil), msg...))
		return true
	})
	if errors.Is(err, nl.ErrDumpInterrupted) {
		err = nil // the set changed while dumped: still a fair picture
	}
	return out, err
}

// readMPTCPPM reads the path manager's limits and endpoints.
func readMPTCPPM(ctx context.Context, raw *mptcpRaw) error {
	s, err := netlinkSocket(ctx, unix.NETLINK_GENERIC)
	if err != nil {
		return err
	}
	defer s.Close()

	req := nl.NewNetlinkRequest(nl.GENL_ID_CTRL, 0)
	req.AddData(&nl.Genlmsg{Command: nl.GENL_CTRL_CMD_GETFAMILY, Version: nl.GENL_CTRL_VERSION})
	req.AddData(nl.NewRtAttr(nl.GENL_CTRL_ATTR_FAMILY_NAME, nl.ZeroTerminated(mptcpPMFamily)))
	msgs, err := mptcpExchange(s, unix.NETLINK_GENERIC, req, 0)
	if err != nil {
		return err
	}
	family, err := mptcpGenlFamilyID(msgs)
	if err != nil {
		return err
	}

	req = nl.NewNetlinkRequest(int(family), 0)
	req.AddData(&nl.Genlmsg{Command: mptcpPMCmdGetLimits, Version: mptcpPMVersion})
	msgs, err = mptcpExchange(s, unix.NETLINK_GENERIC, req, family)
	if err != nil {
		return fmt.Errorf("get limits: %w", err)
	}
	if len(msgs) != 1 {
		return fmt.Errorf("get limits: %d replies, want 1", len(msgs))
	}
	raw.Limits = msgs[0]

	req = nl.NewNetlinkRequest(int(family), unix.NLM_F_DUMP)
	req.AddData(&nl.Genlmsg{Command: mptcpPMCmdGetAddr, Version: mptcpPMVersion})
	if raw.Endpoints, err = mptcpExchange(s, unix.NETLINK_GENERIC, req, family); err != nil {
		return fmt.Errorf("dump endpoints: %w", err)
	}
	return nil
}

// mptcpGenlFamilyID finds the family id in a CTRL_CMD_GETFAMILY reply.
func mptcpGenlFamilyID(msgs [][]byte) (uint16, error) {
	for _, m := range msgs {
		attrs, err := mptcpGenlAttrs(m)
		if err != nil {
			return 0, err
		}
		for _, a := range attrs {
			if a.typ == nl.GENL_CTRL_ATTR_FAMILY_ID {
				if id, ok := mptcpU16(a); ok {
					return id, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("%w: no family id in the reply for %s", errMPTCPMalformed, mptcpPMFamily)
}

// mptcpRawData adds bytes to a netlink request in order.
type mptcpRawData []byte

func (r mptcpRawData) Serialize() []byte { return r }
func (r mptcpRawData) Len() int          { return len(r) }

// mptcpDiagRequest is an inet_diag_req_v2 dump of one family and protocol,
// asking for INET_DIAG_INFO (which also brings the TCP ULP info), with an
// optional bytecode filter.
func mptcpDiagRequest(family uint8, proto uint32, states uint32, filter []byte) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(nl.SOCK_DIAG_BY_FAMILY, unix.NLM_F_DUMP)
	b := make([]byte, mpInetDiagReqLen)
	b[0] = family
	b[1] = uint8(proto) // IPPROTO_MPTCP does not fit: the attribute below carries it
	b[2] = 1 << (mpInetDiagInfo - 1)
	binary.NativeEndian.PutUint32(b[4:], states)
	req.AddData(mptcpRawData(b))
	if len(filter) > 0 {
		req.AddData(nl.NewRtAttr(mpInetDiagReqBytecode, filter))
	}
	if proto > 0xff {
		req.AddData(nl.NewRtAttr(mpInetDiagReqProto, nl.Uint32Attr(proto)))
	}
	return req
}

// readMPTCPSockets dumps the established MPTCP connections, then, when there
// are some, the TCP sockets of their families that carry their subflows;
// a port filter keeps the kernel from sending every other TCP socket.
// Walking the TCP hash table costs about a millisecond per family on a
// large host, so families without MPTCP connections are not walked. The
// MPTCP listeners (another table walk) are read only when the subflows
// cannot tell which side opened a connection.
func readMPTCPSockets(ctx context.Context, raw *mptcpRaw) error {
	s, err := netlinkSocket(ctx, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return err
	}
	defer s.Close()
	dump := func(fam uint8, proto, states uint32, filter []byte) ([][]byte, error) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		msgs, err := mptcpExchange(s, unix.NETLINK_SOCK_DIAG, mptcpDiagRequest(fam, proto, states, filter), nl.SOCK_DIAG_BY_FAMILY)
		if err != nil {
			return nil, fmt.Errorf("dump %s sockets of family %d: %w", mptcpProtoName(proto), fam, err)
		}
		return msgs, nil
	}
	families := map[uint8]bool{}
	for _, fam := range []uint8{mpAFInet, mpAFInet6} {
		msgs, err := dump(fam, unix.IPPROTO_MPTCP, 1<<mpTCPEstablished, nil)
		if err != nil {
			return err
		}
		families[fam] = len(msgs) > 0
		raw.MPTCPSocks = append(raw.MPTCPSocks, msgs...)
	}
	if !families[mpAFInet] && !families[mpAFInet6] {
		return nil
	}
	filter := mptcpPortFilter(mptcpConnPorts(raw.MPTCPSocks))
	detail := false
	for _, fam := range []uint8{mpAFInet, mpAFInet6} {
		if !families[fam] {
			continue
		}
		msgs, err := dump(fam, unix.IPPROTO_TCP, 1<<mpTCPEstablished, filter)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			keep, hasDetail := mptcpSubflowMsg(m)
			if keep {
				raw.TCPSocks = append(raw.TCPSocks, m)
			}
			detail = detail || hasDetail
		}
	}
	if detail {
		return nil
	}
	for _, fam := range []uint8{mpAFInet, mpAFInet6} {
		msgs, err := dump(fam, unix.IPPROTO_MPTCP, 1<<mpTCPListen, nil)
		if err != nil {
			return err
		}
		raw.MPTCPSocks = append(raw.MPTCPSocks, msgs...)
	}
	return nil
}

func mptcpProtoName(p uint32) string {
	if p == unix.IPPROTO_MPTCP {
		return "MPTCP"
	}
	return "TCP"
}

// mptcpConnPorts lists the local and remote ports of MPTCP connection
// messages: their subflows share the remote port (this host connected) or
// the local one (it accepted).
func mptcpConnPorts(msgs [][]byte) []uint16 {
	seen := map[uint16]bool{}
	var ports []uint16
	for _, m := range msgs {
		if len(m) < 8 {
			continue
		}
		for _, p := range []uint16{binary.BigEndian.Uint16(m[4:]), binary.BigEndian.Uint16(m[6:])} {
			if p != 0 && !seen[p] {
				seen[p] = true
				ports = append(ports, p)
			}
		}
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
	return ports
}

// mptcpMaxFilterPorts caps the port filter; beyond it the dump is unfiltered.
const mptcpMaxFilterPorts = 512

// mptcpPortFilter is inet_diag bytecode accepting sockets whose local or remote
// port is one of ports (nil, no filter, when there are too many). Each
// port takes a source test, a destination test and jumps, chained the way
// the kernel's audit wants (every op's "yes" leads to the next op):
//
//	S_EQ p (yes→JMP, no→next test) [p] JMP (→accept) D_EQ p ... [p] JMP ...
//
// The last test's "no" points past the end: reject.
func mptcpPortFilter(ports []uint16) []byte {
	if len(ports) == 0 || len(ports) > mptcpMaxFilterPorts {
		return nil
	}
	type test struct {
		code uint8
		port uint16
	}
	var tests []test
	for _, p := range ports {
		tests = append(tests, test{mpInetDiagBCSrcEq, p}, test{mpInetDiagBCDstEq, p})
	}
	const testLen, jmpLen = 8, 4
	total := len(tests)*(testLen+jmpLen) - jmpLen
	op := func(b []byte, code, yes uint8, no uint16) []byte {
		b = append(b, code, yes)
		return binary.NativeEndian.AppendUint16(b, no)
	}
	b := make([]byte, 0, total)
	for i, t := range tests {
		if i == len(tests)-1 {
			b = op(b, t.code, testLen, testLen+jmpLen) // match: the end; else past it
			b = op(b, 0, 0, t.port)
			break
		}
		b = op(b, t.code, testLen, testLen+jmpLen) // match: the JMP; else the next test
		b = op(b, 0, 0, t.port)
		rest := total - len(b) // bytes from this JMP to the end
		b = op(b, mpInetDiagBCJmp, jmpLen, uint16(rest))
	}
	return b
}

// mptcpSubflowMsg says whether a TCP socket message is an MPTCP subflow
// (its ULP is "mptcp"), so a host with many plain TCP connections does not
// carry them around, and whether it holds the subflow's details.
func mptcpSubflowMsg(m []byte) (keep, detail bool) {
	if len(m) < mpInetDiagMsgLen {
		return true, false // let the decoder report it
	}
	attrs, err := mptcpParseAttrs(m[mpInetDiagMsgLen:])
	if err != nil {
		return true, false
	}
	for _, a := range attrs {
		if a.typ != mpInetDiagULPInfo {
			continue
		}
		ulp, err := mptcpParseAttrs(a.val)
		if err != nil {
			return true, false
		}
		for _, u := range ulp {
			switch {
			case u.typ == mpInetULPInfoName && strings.TrimRight(string(u.val), "\x00") == "mptcp":
				keep = true
			case u.typ == mpInetULPInfoMPTCP:
				detail = true
			}
		}
	}
	return keep, keep && detail
}

// readMPTCPLinks reads the interfaces and their addresses, for the endpoints.
func readMPTCPLinks(raw *mptcpRaw) error {
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	byIndex := map[int][]netip.Addr{}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			byIndex[a.LinkIndex] = append(byIndex[a.LinkIndex], ip.Unmap())
		}
	}
	for _, l := range links {
		at := l.Attrs()
		// Devices without operational state (loopback, some tunnels) report
		// "unknown": judge those by their flags.
		const upFlags = unix.IFF_UP | unix.IFF_LOWER_UP
		up := at.OperState == netlink.OperUp ||
			(at.OperState == netlink.OperUnknown && at.RawFlags&upFlags == upFlags)
		raw.Links = append(raw.Links, mptcpLink{Index: at.Index, Name: at.Name, Up: up, Addrs: byIndex[at.Index]})
	}
	return nil
}
