package collectors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Netlink is what netdx reads over netlink. The live implementation opens
// its sockets on the calling thread, so called from Take it reads the
// namespace Take switched into; tests replay recorded answers.
type Netlink interface {
	// Links returns every interface with its attributes and counters.
	Links() ([]Link, error)
	// Qdiscs returns every qdisc with its statistics.
	Qdiscs() ([]Qdisc, error)
	// Listeners returns the listening TCP sockets (IPv4 and IPv6).
	Listeners() ([]Listener, error)
	// TCPDrops returns the other TCP sockets whose drop counter is not
	// zero: the connections that lost received data.
	TCPDrops() ([]TCPSocket, error)
}

type liveNetlink struct{}

func (liveNetlink) Links() ([]Link, error) {
	ls, err := netlink.LinkList()
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return nil, &SourceError{Source: "netlink links", Err: err}
	}
	names := map[int]string{}
	for _, l := range ls {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	out := make([]Link, 0, len(ls))
	for _, l := range ls {
		a := l.Attrs()
		txq := a.TxQLen
		x := Link{
			Name: a.Name, Index: a.Index, Kind: l.Type(), MTU: a.MTU, TxQueueLen: &txq,
			OperState: a.OperState.String(), Master: names[a.MasterIndex],
			NumTxQueues: a.NumTxQueues, NumRxQueues: a.NumRxQueues,
		}
		if s := a.Statistics; s != nil {
			x.StatsSource = "netlink"
			x.Stats = map[string]uint64{
				"rx_packets": s.RxPackets, "tx_packets": s.TxPackets, "rx_bytes": s.RxBytes, "tx_bytes": s.TxBytes,
				"rx_errors": s.RxErrors, "tx_errors": s.TxErrors, "rx_dropped": s.RxDropped, "tx_dropped": s.TxDropped,
				"multicast": s.Multicast, "collisions": s.Collisions,
				"rx_length_errors": s.RxLengthErrors, "rx_over_errors": s.RxOverErrors, "rx_crc_errors": s.RxCrcErrors,
				"rx_frame_errors": s.RxFrameErrors, "rx_fifo_errors": s.RxFifoErrors, "rx_missed_errors": s.RxMissedErrors,
				"tx_aborted_errors": s.TxAbortedErrors, "tx_carrier_errors": s.TxCarrierErrors, "tx_fifo_errors": s.TxFifoErrors,
				"tx_heartbeat_errors": s.TxHeartbeatErrors, "tx_window_errors": s.TxWindowErrors,
				"rx_compressed": s.RxCompressed, "tx_compressed": s.TxCompressed,
			}
		}
		out = append(out, x)
	}
	return out, nil
}

func (liveNetlink) Qdiscs() ([]Qdisc, error) {
	ls, err := netlink.LinkList()
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return nil, &SourceError{Source: "netlink qdiscs", Err: err}
	}
	names := map[int]string{}
	for _, l := range ls {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	qs, err := netlink.QdiscList(nil)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return nil, &SourceError{Source: "netlink qdiscs", Err: err}
	}
	out := make([]Qdisc, 0, len(qs))
	for _, q := range qs {
		a := q.Attrs()
		x := Qdisc{
			Iface: names[a.LinkIndex], Kind: q.Type(), Handle: tcHandle(a.Handle), Parent: tcHandle(a.Parent),
			Root: a.Parent == netlink.HANDLE_ROOT,
		}
		if s := a.Statistics; s != nil {
			if b := s.Basic; b != nil {
				x.Bytes, x.Packets = b.Bytes, uint64(b.Packets)
			}
			if st := s.Queue; st != nil {
				x.Drops, x.Overlimits, x.Requeues = uint64(st.Drops), uint64(st.Overlimits), uint64(st.Requeues)
				x.Backlog, x.Qlen = uint64(st.Backlog), uint64(st.Qlen)
			}
		}
		out = append(out, x)
	}
	return out, nil
}

// tcHandle formats a qdisc handle or parent as tc prints it.
func tcHandle(h uint32) string {
	switch h {
	case netlink.HANDLE_ROOT:
		return "root"
	case netlink.HANDLE_INGRESS:
		return "ingress"
	}
	major, minor := h>>16, h&0xffff
	if minor == 0 {
		return fmt.Sprintf("%x:", major)
	}
	return fmt.Sprintf("%x:%x", major, minor)
}

// inetDiagReq is struct inet_diag_req_v2 for a dump of one family and
// protocol, filtered by state, asking for the socket memory extension.
type inetDiagReq struct {
	family, protocol uint8
	states           uint32
}

const sizeofInetDiagReq = 56

func (r inetDiagReq) Len() int { return sizeofInetDiagReq }

func (r inetDiagReq) Serialize() []byte {
	b := make([]byte, sizeofInetDiagReq)
	b[0], b[1] = r.family, r.protocol
	b[2] = 1 << (netlink.INET_DIAG_SKMEMINFO - 1)
	binary.NativeEndian.PutUint32(b[4:], r.states)
	// The socket id (ports, addresses, interface, cookie) stays zero: a dump.
	binary.NativeEndian.PutUint64(b[48:], ^uint64(0)) // INET_DIAG_NOCOOKIE
	return b
}

// inet_diag_msg layout and SK_MEMINFO_DROPS's index.
const (
	sizeofInetDiagMsg = 72
	skMeminfoDrops    = 8
	tcpListen         = 10
)

// tcpStates are the TCP states other than LISTEN (1<<10) and the
// time-wait and new-syn-recv minisockets, which have no drop counter.
const tcpStates = 0xfff &^ (1<<tcpListen | 1<<6 | 1<<12)

func (liveNetlink) Listeners() ([]Listener, error) {
	out := []Listener{}
	err := dumpTCP(1<<tcpListen, func(m inetDiagMsg) {
		l := Listener{Local: m.local, Port: m.localPort, AcceptQueue: uint64(m.rqueue), Backlog: uint64(m.wqueue),
			UID: m.uid, Inode: m.inode}
		if m.haveDrops {
			d := m.drops
			l.Drops = &d
		}
		out = append(out, l)
	})
	if err != nil {
		return nil, &SourceError{Source: "sock_diag TCP listeners", Err: err}
	}
	return out, nil
}

func (liveNetlink) TCPDrops() ([]TCPSocket, error) {
	out := []TCPSocket{}
	err := dumpTCP(tcpStates, func(m inetDiagMsg) {
		if m.drops == 0 {
			return
		}
		out = append(out, TCPSocket{Local: m.local, Remote: m.remote, State: tcpStateNames[m.state],
			RecvQ: uint64(m.rqueue), Drops: m.drops, RcvBuf: m.rcvbuf, UID: m.uid, Inode: m.inode})
	})
	if err != nil {
		return nil, &SourceError{Source: "sock_diag TCP sockets", Err: err}
	}
	return out, nil
}

var tcpStateNames = map[uint8]string{1: "established", 2: "syn-sent", 3: "syn-recv", 4: "fin-wait-1", 5: "fin-wait-2",
	7: "close", 8: "close-wait", 9: "last-ack", 11: "closing"}

// dumpTCP dumps the IPv4 and IPv6 TCP sockets in states (a bit mask of
// TCP states) and hands each to fn. Messages are decoded as they arrive,
// so a host with many connections does not hold them all.
func dumpTCP(states uint32, fn func(inetDiagMsg)) error {
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		req := nl.NewNetlinkRequest(nl.SOCK_DIAG_BY_FAMILY, unix.NLM_F_DUMP)
		req.AddData(inetDiagReq{family: family, protocol: unix.IPPROTO_TCP, states: states})
		var perr error
		err := req.ExecuteIter(unix.NETLINK_INET_DIAG, nl.SOCK_DIAG_BY_FAMILY, func(msg []byte) bool {
			m, err := parseInetDiagMsg(msg)
			if err != nil {
				perr = err
				return false
			}
			fn(m)
			return true
		})
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			if family == unix.AF_INET6 && errors.Is(err, syscall.EAFNOSUPPORT) {
				continue // IPv6 disabled
			}
			return err
		}
		if perr != nil {
			return perr
		}
	}
	return nil
}

// inetDiagMsg is the part of struct inet_diag_msg and its socket memory
// attribute that netdx uses.
type inetDiagMsg struct {
	state               uint8
	local, remote       string
	localPort           int
	rqueue, wqueue, uid uint32
	inode               uint64
	drops               uint64
	haveDrops           bool
	rcvbuf              uint32
}

// skMeminfoRcvbuf is SK_MEMINFO_RCVBUF's index.
const skMeminfoRcvbuf = 1

// parseInetDiagMsg decodes one inet_diag_msg and its attributes.
func parseInetDiagMsg(msg []byte) (inetDiagMsg, error) {
	if len(msg) < sizeofInetDiagMsg {
		return inetDiagMsg{}, fmt.Errorf("inet_diag_msg of %d bytes, want %d", len(msg), sizeofInetDiagMsg)
	}
	family := msg[0]
	sport, dport := binary.BigEndian.Uint16(msg[4:6]), binary.BigEndian.Uint16(msg[6:8])
	var src, dst netip.Addr
	if family == unix.AF_INET6 {
		src, dst = netip.AddrFrom16([16]byte(msg[8:24])).Unmap(), netip.AddrFrom16([16]byte(msg[24:40])).Unmap()
	} else {
		src, dst = netip.AddrFrom4([4]byte(msg[8:12])), netip.AddrFrom4([4]byte(msg[24:28]))
	}
	m := inetDiagMsg{
		state:     msg[1],
		local:     netip.AddrPortFrom(src, sport).String(),
		remote:    netip.AddrPortFrom(dst, dport).String(),
		localPort: int(sport),
		rqueue:    binary.NativeEndian.Uint32(msg[56:60]),
		wqueue:    binary.NativeEndian.Uint32(msg[60:64]),
		uid:       binary.NativeEndian.Uint32(msg[64:68]),
		inode:     uint64(binary.NativeEndian.Uint32(msg[68:72])),
	}
	// nl.ParseRouteAttr panics on an attribute whose padding runs past
	// the message; mptcpParseAttrs never reads past it.
	attrs, err := mptcpParseAttrs(msg[sizeofInetDiagMsg:])
	if err != nil {
		return inetDiagMsg{}, err
	}
	for _, a := range attrs {
		if a.typ == netlink.INET_DIAG_SKMEMINFO && len(a.val) >= 4*(skMeminfoDrops+1) {
			m.drops, m.haveDrops = uint64(binary.NativeEndian.Uint32(a.val[4*skMeminfoDrops:])), true
			m.rcvbuf = binary.NativeEndian.Uint32(a.val[4*skMeminfoRcvbuf:])
		}
	}
	return m, nil
}
