package drops

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/netdx/netdx/internal/owners"
)

// Kind names a source of drop reasons.
type Kind string

// The sources, best first.
const (
	KindBTF        Kind = "bpf-tp_btf"
	KindTracepoint Kind = "bpf-tracepoint"
	KindPerf       Kind = "perf"
	KindNone       Kind = "none"
)

// Kinds lists the sources in the order a Source tries them.
var Kinds = []Kind{KindBTF, KindTracepoint, KindPerf, KindNone}

// Failure is why a better source was not used.
type Failure struct {
	Kind Kind
	// Err is the kernel's or the library's answer.
	Err error
	// Need is what would enable the source: a capability, a setting,
	// a mount, a kernel version ("CAP_BPF and CAP_PERFMON (or root)").
	Need string
}

// Netns is the network namespace a drop happened in.
type Netns struct {
	// Cookie is the kernel's net cookie: never reused while the system
	// runs. 0 when the source cannot see namespaces.
	Cookie uint64
	// Inode is the namespace's inode number (ip netns identify, the
	// /proc/PID/ns/net link). Inodes are reused after a namespace dies.
	Inode uint32
	// Name is the /run/netns name, "" when it has none.
	Name string
	// Current is true for the namespace netdx itself runs in.
	Current bool
	// Process names a process in the namespace, "comm[pid]", when it
	// has no /run/netns name and one was found.
	Process string
	// Host is true when the namespace is the one of process 1 (of the
	// ProcDir given): the host's, when netdx runs on the host.
	Host bool
}

// String names the namespace: its /run/netns name, "host" or "self"
// for netdx's own (the host's, or another), a process in it, or its
// inode.
func (n Netns) String() string {
	switch {
	case n.Name != "":
		return n.Name
	case n.Current && n.Host:
		return "host"
	case n.Current:
		return "self"
	case n.Process != "":
		return n.Process
	case n.Inode != 0:
		return "netns:[" + strconv.FormatUint(uint64(n.Inode), 10) + "]"
	}
	return ""
}

// Socket is the socket a drop happened at (the tracepoint's rx_sk).
type Socket struct {
	// Inode is the socket's inode, as in /proc/PID/fd ("socket:[N]")
	// and ss -e; 0 for a socket without a file (kernel sockets).
	Inode uint64
	// Process holds the socket; nil when no process readable to netdx
	// does (or it has closed it).
	Process *owners.Process
	// Local is the socket's local address and port ("198.18.0.2:5000"),
	// "" when its process's socket tables do not list it.
	Local string
}

// How a drop's namespace was found.
type Via uint8

// The ways a namespace is found, in the order tried (the
// research notes in docs/drops.md say why).
const (
	ViaNone   Via = iota // the source does not see namespaces, or the skb had none
	ViaRxSock            // the receiving socket (rx_sk), interface from skb_iif
	ViaDevice            // skb->dev
	ViaSkbSk             // skb->sk, the sending socket
)

// Drop is one row of a window: the packets dropped for one reason at one
// place.
type Drop struct {
	Reason string
	// RawReason is the kernel's number, meaningful only with the
	// running kernel's names.
	RawReason uint32
	Netns     Netns
	// Ifindex is the interface's index in Netns; Interface its name
	// when it could be read (the interface may be gone).
	Ifindex   int
	Interface string
	// EtherType is skb->protocol (0x0800 IPv4, 0x86dd IPv6, 0x0806
	// ARP); IPProto the IP header's protocol (17 UDP, 6 TCP), 0 when
	// the source cannot read it.
	EtherType uint16
	IPProto   uint8
	// Socket is set when the drop happened at a socket the source can
	// see.
	Socket *Socket
	Via    Via
	Count  uint64
}

// Protocol names the drop's protocol: "udp", "tcp", "icmp", "ipv6-icmp",
// "ipv4", "ipv6", "arp", or the EtherType in hex.
func (d Drop) Protocol() string {
	switch d.IPProto {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "ipv6-icmp"
	case 132:
		return "sctp"
	}
	switch d.EtherType {
	case 0x0800:
		return "ipv4"
	case 0x86dd:
		return "ipv6"
	case 0x0806:
		return "arp"
	case 0:
		return ""
	}
	const hex = "0123456789abcdef"
	e := d.EtherType
	return "0x" + string([]byte{hex[e>>12], hex[e>>8&15], hex[e>>4&15], hex[e&15]})
}

// Overflow counts drops that were seen but not placed in a row.
type Overflow struct {
	// MapFull is the number of drops whose row the kernel could not
	// add because the map already held MaxEntries rows.
	MapFull uint64
	// Lost is the number of perf samples the ring lost (KindPerf).
	Lost uint64
}

// Window is the drops counted between Start and End, by a source.
type Window struct {
	Kind Kind
	// Failures says why the better sources were not used.
	Failures []Failure
	// Names is where the reason names came from ("btf", "tracefs").
	Names      string
	Start, End time.Time
	Drops      []Drop
	Overflow   Overflow
	// SocketsErr says why some sockets have no process named (an
	// *owners.DeniedError when processes could not be read).
	SocketsErr error
	// Rules are the nftables rules and drop policies of the namespaces
	// where NETFILTER_DROP drops happened (KindBTF only), with their
	// counts since Start; RulesErr says why some could not be read.
	Rules    []Rule
	RulesErr error
}

// Total is the number of drops in the window's rows.
func (w Window) Total() uint64 {
	var n uint64
	for _, d := range w.Drops {
		n += d.Count
	}
	return n
}

// Sub is the window from before's End to w's End: w's counts minus
// before's, for two snapshots of the same source. Rows that did not grow
// are left out.
func (w Window) Sub(before Window) Window {
	prev := map[rowKey]uint64{}
	for _, d := range before.Drops {
		prev[keyOf(d)] = d.Count
	}
	out := w
	out.Start = before.End
	out.Drops = nil
	for _, d := range w.Drops {
		if d.Count > prev[keyOf(d)] {
			d.Count -= prev[keyOf(d)]
			out.Drops = append(out.Drops, d)
		}
	}
	out.Overflow = Overflow{MapFull: w.Overflow.MapFull - before.Overflow.MapFull, Lost: w.Overflow.Lost - before.Overflow.Lost}
	prevRules := map[ruleKey]Rule{}
	for _, r := range before.Rules {
		prevRules[r.key()] = r
	}
	out.Rules = nil
	for _, r := range w.Rules {
		if p, ok := prevRules[r.key()]; ok && p.Since.Equal(r.Since) && r.Packets >= p.Packets {
			r.Packets -= p.Packets
			r.Since = before.End
		}
		out.Rules = append(out.Rules, r)
	}
	return out
}

// rowKey identifies a row across snapshots.
type rowKey struct {
	reason  uint32
	cookie  uint64
	inode   uint32
	ifindex int
	ether   uint16
	proto   uint8
	sock    uint64
	via     Via
}

func keyOf(d Drop) rowKey {
	k := rowKey{reason: d.RawReason, cookie: d.Netns.Cookie, inode: d.Netns.Inode, ifindex: d.Ifindex,
		ether: d.EtherType, proto: d.IPProto, via: d.Via}
	if d.Socket != nil {
		k.sock = d.Socket.Inode
	}
	return k
}

// sortDrops orders rows by count, largest first, then by reason and
// place, so output is stable.
func sortDrops(ds []Drop) {
	slices.SortFunc(ds, func(a, b Drop) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		ka, kb := keyOf(a), keyOf(b)
		return cmp.Or(cmp.Compare(a.Reason, b.Reason), cmp.Compare(ka.cookie, kb.cookie),
			cmp.Compare(ka.ifindex, kb.ifindex), cmp.Compare(ka.ether, kb.ether),
			cmp.Compare(ka.proto, kb.proto), cmp.Compare(ka.sock, kb.sock))
	})
}
