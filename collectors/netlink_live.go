package collectors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

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
	// TCPConns returns the other TCP sockets (IPv4 and IPv6) with their
	// tcp_info and socket memory, and the half-open connections counted
	// by the address they were sent to.
	TCPConns() (*TCPConns, error)
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

// tcpDiagReq is struct inet_diag_req, the request of the original
// TCPDIAG_GETSOCK dump, for the TCP sockets in states (a bit mask of TCP
// states) with the extensions in ext (a bit mask of 1<<(INET_DIAG_x-1)).
// Unlike SOCK_DIAG_BY_FAMILY's, it names no address family: the kernel
// dumps both (inet_diag_dump_compat asks for AF_UNSPEC).
type tcpDiagReq struct {
	ext    uint8
	states uint32
}

const (
	tcpDiagGetSock      = 18 // TCPDIAG_GETSOCK
	sizeofTCPDiagReq    = 60
	tcpDiagReqCookie    = 44 // offset of id.idiag_cookie
	tcpDiagReqStates    = 52 // offset of idiag_states
	tcpDiagReqExtension = 3
)

func (r tcpDiagReq) Len() int { return sizeofTCPDiagReq }

func (r tcpDiagReq) Serialize() []byte {
	b := make([]byte, sizeofTCPDiagReq)
	b[tcpDiagReqExtension] = r.ext
	// The socket id (ports, addresses, interface) stays zero: a dump.
	binary.NativeEndian.PutUint64(b[tcpDiagReqCookie:], ^uint64(0)) // INET_DIAG_NOCOOKIE
	binary.NativeEndian.PutUint32(b[tcpDiagReqStates:], r.states)
	return b
}

// Extensions asked of sock_diag: the socket memory (for the drop counter
// and buffer sizes), and struct tcp_info.
const (
	diagExtMem  = 1 << (netlink.INET_DIAG_SKMEMINFO - 1)
	diagExtInfo = 1 << (netlink.INET_DIAG_INFO - 1)
)

// inet_diag_msg layout and SK_MEMINFO_DROPS's index.
const (
	sizeofInetDiagMsg = 72
	skMeminfoDrops    = 8
	tcpListen         = 10
)

// tcpStates are the TCP states other than LISTEN (1<<10) and TIME-WAIT
// (1<<6), which have no drop counter. SYN-RECV (1<<3) also brings the
// request sockets of half-open connections (TCP_NEW_SYN_RECV, which the
// kernel reports as SYN-RECV without attributes).
const tcpStates = 0xfff &^ (1<<tcpListen | 1<<6 | 1<<12)

// tcpSynRecv is the SYN-RECV state.
const tcpSynRecv = 3

func (liveNetlink) Listeners() ([]Listener, error) {
	msgs, err := dumpTCP(1<<tcpListen, diagExtMem)
	out := make([]Listener, 0, len(msgs))
	for _, msg := range msgs {
		if err != nil {
			break
		}
		var m inetDiagMsg
		if m, err = parseInetDiagMsg(msg); err != nil {
			break
		}
		l := Listener{Local: m.local.String(), Port: int(m.local.Port()), AcceptQueue: uint64(m.rqueue), Backlog: uint64(m.wqueue),
			UID: m.uid, Inode: m.inode}
		if m.haveMem {
			d := m.drops
			l.Drops = &d
		}
		out = append(out, l)
	}
	if err != nil {
		return nil, &SourceError{Source: "sock_diag TCP listeners", Err: err}
	}
	return out, nil
}

func (liveNetlink) TCPConns() (*TCPConns, error) {
	msgs, err := dumpTCP(tcpStates, diagExtMem|diagExtInfo)
	var out *TCPConns
	if err == nil {
		out, err = tcpConnsFrom(msgs)
	}
	if err != nil {
		return nil, &SourceError{Source: "sock_diag TCP sockets", Err: err}
	}
	return out, nil
}

var tcpStateNames = map[uint8]string{1: "established", 2: "syn-sent", 3: "syn-recv", 4: "fin-wait-1", 5: "fin-wait-2",
	7: "close", 8: "close-wait", 9: "last-ack", 11: "closing"}

// dumpTCP dumps the IPv4 and IPv6 TCP sockets in states (a bit mask of
// TCP states) with the extensions ext and returns the kernel's messages.
// One dump reads both families: for any state but LISTEN the kernel walks
// every bucket of its table of connections (262144 on a 2 GiB host), so
// a dump per family, as SOCK_DIAG_BY_FAMILY requests, walked it twice.
// The messages are not copied: the netlink library reads each batch into
// a buffer of its own, so a caller may decode them once the dump is
// complete and size what it builds to their number.
func dumpTCP(states uint32, ext uint8) ([][]byte, error) {
	var msgs [][]byte
	req := nl.NewNetlinkRequest(tcpDiagGetSock, unix.NLM_F_DUMP)
	req.AddData(tcpDiagReq{ext: ext, states: states})
	err := req.ExecuteIter(unix.NETLINK_INET_DIAG, tcpDiagGetSock, func(msg []byte) bool {
		msgs = append(msgs, msg)
		return true
	})
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return nil, err
	}
	return msgs, nil
}

// inetDiagMsg is the part of struct inet_diag_msg and its attributes that
// netdx uses.
type inetDiagMsg struct {
	state               uint8
	local, remote       netip.AddrPort
	cookie              uint64
	rqueue, wqueue, uid uint32
	inode               uint64
	// From INET_DIAG_SKMEMINFO, when haveMem.
	drops          uint64
	haveMem        bool
	rcvbuf, sndbuf uint32
	// info is the INET_DIAG_INFO attribute (struct tcp_info), nil when
	// absent; it points into the message.
	info []byte
}

// SK_MEMINFO_* indexes in the socket memory attribute.
const (
	skMeminfoRcvbuf = 1
	skMeminfoSndbuf = 3
)

// parseInetDiagMsg decodes one inet_diag_msg and its attributes without
// allocating: a dump of ten thousand connections is decoded as it arrives.
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
		state:  msg[1],
		local:  netip.AddrPortFrom(src, sport),
		remote: netip.AddrPortFrom(dst, dport),
		cookie: binary.NativeEndian.Uint64(msg[44:52]),
		rqueue: binary.NativeEndian.Uint32(msg[56:60]),
		wqueue: binary.NativeEndian.Uint32(msg[60:64]),
		uid:    binary.NativeEndian.Uint32(msg[64:68]),
		inode:  uint64(binary.NativeEndian.Uint32(msg[68:72])),
	}
	// nl.ParseRouteAttr panics on an attribute whose padding runs past
	// the message; walkAttrs never reads past it.
	err := walkAttrs(msg[sizeofInetDiagMsg:], func(typ uint16, val []byte) {
		switch {
		case typ == netlink.INET_DIAG_SKMEMINFO && len(val) >= 4*(skMeminfoDrops+1):
			m.drops, m.haveMem = uint64(binary.NativeEndian.Uint32(val[4*skMeminfoDrops:])), true
			m.rcvbuf = binary.NativeEndian.Uint32(val[4*skMeminfoRcvbuf:])
			m.sndbuf = binary.NativeEndian.Uint32(val[4*skMeminfoSndbuf:])
		case typ == netlink.INET_DIAG_INFO:
			m.info = val
		}
	})
	if err != nil {
		return inetDiagMsg{}, err
	}
	return m, nil
}

// walkAttrs hands each netlink attribute of b to fn, its type with the
// nested and byte-order flags masked off. It never reads past b: a length
// that does not fit is an error (errMPTCPMalformed).
func walkAttrs(b []byte, fn func(typ uint16, val []byte)) error {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		t := binary.NativeEndian.Uint16(b[2:]) & 0x3fff
		if l < 4 || l > len(b) {
			return fmt.Errorf("%w: attribute %d claims %d bytes, %d left", errMPTCPMalformed, t, l, len(b))
		}
		fn(t, b[4:l])
		next := (l + 3) &^ 3
		if next > len(b) {
			next = len(b)
		}
		b = b[next:]
	}
	return nil
}
