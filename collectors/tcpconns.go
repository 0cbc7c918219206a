package collectors

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"

	"golang.org/x/sys/unix"
)

// TCPConns is one sock_diag dump of the namespace's TCP sockets other
// than listeners and TIME-WAIT: every connection with its tcp_info and
// socket memory, and the half-open connections waiting in SYN queues.
// Dumping them needs no privilege: an ordinary user sees every socket of
// the namespace, as `ss -ti` does.
type TCPConns struct {
	// Conns are the sockets, in dump order.
	Conns []TCPConn
	// SynRecv counts the half-open connections (request sockets in
	// SYN-RECV: a SYN answered, the handshake not completed) by the local
	// address and port the SYN was sent to. A listener's SYN queue holds
	// those of its address and port.
	SynRecv map[netip.AddrPort]int
	// dropsOnly marks a recording made before netdx read tcp_info: Conns
	// holds only the sockets with drops, without tcp_info.
	dropsOnly bool
}

// tcpConnsFrom decodes a dump's messages. Conns is sized to them at once:
// a TCPConn is large and a dump may have tens of thousands, which a
// growing slice would copy over and over.
func tcpConnsFrom(msgs [][]byte) (*TCPConns, error) {
	t := &TCPConns{Conns: make([]TCPConn, 0, len(msgs)), SynRecv: map[netip.AddrPort]int{}}
	for i, msg := range msgs {
		m, err := parseInetDiagMsg(msg)
		if err != nil {
			return nil, fmt.Errorf("message %d of %d: %w", i+1, len(msgs), err)
		}
		t.add(m)
	}
	return t, nil
}

// TCPConn is one TCP socket from sock_diag.
type TCPConn struct {
	Local, Remote netip.AddrPort
	// State is the TCP state number (1 established); TCPStateName names it.
	State uint8
	// Cookie is the kernel's socket cookie, unique for as long as the
	// system runs: with the addresses it tells a connection from a later
	// one that reused them.
	Cookie uint64
	// Inode is the socket's inode, 0 once no process holds it (closed by
	// the application, still in FIN-WAIT or LAST-ACK).
	Inode uint64
	UID   uint32
	// RecvQ is data received and not read by the application; SendQ data
	// written and not yet acknowledged by the peer (bytes).
	RecvQ, SendQ uint32
	// HaveMem says the socket memory attribute was sent: Drops (segments
	// the socket dropped since it opened), RcvBuf and SndBuf (bytes).
	HaveMem        bool
	Drops          uint64
	RcvBuf, SndBuf uint32
	Info           TCPInfo
}

// TCPStateName names a TCP state as ss prints it ("established",
// "close-wait"); "" for an unknown number.
func TCPStateName(state uint8) string { return tcpStateNames[state] }

// tcpStateNumbers maps tcpStateNames back.
var tcpStateNumbers = func() map[string]uint8 {
	m := map[string]uint8{}
	for n, s := range tcpStateNames {
		m[s] = n
	}
	return m
}()

// decodeTCPDump decodes a recorded sock_diag dump, netlink messages back
// to back as the kernel sent them.
func decodeTCPDump(b []byte) (*TCPConns, error) {
	var msgs [][]byte
	for off := 0; len(b) > 0; {
		if len(b) < unix.SizeofNlMsghdr {
			return nil, fmt.Errorf("offset %d: %d bytes left, too few for a netlink header", off, len(b))
		}
		l := int(binary.NativeEndian.Uint32(b))
		typ := binary.NativeEndian.Uint16(b[4:])
		if l < unix.SizeofNlMsghdr || l > len(b) {
			return nil, fmt.Errorf("offset %d: netlink message claims %d bytes, %d left", off, l, len(b))
		}
		switch typ {
		case unix.NLMSG_DONE, unix.NLMSG_ERROR, unix.NLMSG_NOOP:
		default:
			msgs = append(msgs, b[unix.SizeofNlMsghdr:l])
		}
		next := min((l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1), len(b))
		b, off = b[next:], off+next
	}
	return tcpConnsFrom(msgs)
}

// add records one dumped socket: a request socket is counted, anything
// else kept.
func (t *TCPConns) add(m inetDiagMsg) {
	if m.state == tcpSynRecv && m.info == nil && !m.haveMem {
		// A request socket (TCP_NEW_SYN_RECV): no struct sock behind it,
		// so no attributes. A fast-open child in SYN-RECV has them.
		t.SynRecv[m.local]++
		return
	}
	t.Conns = append(t.Conns, TCPConn{})
	c := &t.Conns[len(t.Conns)-1] // filled in place, not copied
	c.Local, c.Remote, c.State, c.Cookie, c.Inode, c.UID = m.local, m.remote, m.state, m.cookie, m.inode, m.uid
	c.RecvQ, c.SendQ, c.HaveMem, c.Drops, c.RcvBuf, c.SndBuf = m.rqueue, m.wqueue, m.haveMem, m.drops, m.rcvbuf, m.sndbuf
	decodeTCPInfo(&c.Info, m.info)
}

// dropping lists the sockets whose own drop counter is not zero: the
// connections that lost received data.
func (t *TCPConns) dropping() []TCPSocket {
	out := []TCPSocket{}
	for i := range t.Conns {
		c := &t.Conns[i]
		if c.Drops == 0 {
			continue
		}
		out = append(out, TCPSocket{Local: c.Local.String(), Remote: c.Remote.String(), State: TCPStateName(c.State),
			RecvQ: uint64(c.RecvQ), Drops: c.Drops, RcvBuf: c.RcvBuf, UID: c.UID, Inode: c.Inode})
	}
	return out
}

// countSynRecv sets each listener's SynRecv from the half-open
// connections: each is counted on the listener the kernel would have
// handed its SYN to, the one bound to its very address before one bound
// to the wildcard address of the port. Listeners sharing an address and
// port (SO_REUSEPORT) each get the group's count: sock_diag does not say
// which one a request belongs to.
func (t *TCPConns) countSynRecv(ls []Listener) {
	if t.SynRecv == nil {
		return
	}
	addrs := make([]netip.AddrPort, len(ls))
	for i := range ls {
		addrs[i], _ = netip.ParseAddrPort(ls[i].Local)
		n := uint64(0)
		ls[i].SynRecv = &n
	}
	// Sorted so the counts do not depend on map order.
	reqs := make([]netip.AddrPort, 0, len(t.SynRecv))
	for a := range t.SynRecv {
		reqs = append(reqs, a)
	}
	sort.Slice(reqs, func(i, j int) bool { return reqs[i].Compare(reqs[j]) < 0 })
	for _, r := range reqs {
		best := 0
		for _, a := range addrs {
			if m := listenMatch(a, r); m > best {
				best = m
			}
		}
		if best == 0 {
			continue
		}
		for i, a := range addrs {
			if listenMatch(a, r) == best {
				*ls[i].SynRecv += uint64(t.SynRecv[r])
			}
		}
	}
}

// listenMatch scores how a listener bound to l takes a connection to r,
// as the kernel's lookup prefers: 3 bound to r's own address, 2 to the
// wildcard address of r's family, 1 to [::] for an IPv4 connection (a
// dual-stack socket), 0 not at all.
func listenMatch(l, r netip.AddrPort) int {
	switch {
	case !l.IsValid() || l.Port() != r.Port():
		return 0
	case l.Addr() == r.Addr():
		return 3
	case !l.Addr().IsUnspecified():
		return 0
	case l.Addr().Is4() == r.Addr().Is4():
		return 2
	case l.Addr().Is6():
		return 1
	}
	return 0
}
