// Package decode turns one captured frame into the fields netdx's capture
// analysis needs: the stack of VLAN tags, MPLS labels and tunnels around
// the innermost IP packet, its addresses, and its TCP or UDP header. It
// reads every length from the headers and the frame's original length, not
// from the captured bytes, so snap-length-truncated frames and TSO/GSO
// super-segments (IP total length 0) keep their true sizes.
//
// A Decoder reuses one Packet and never allocates, in the style of
// gopacket's DecodingLayerParser, so it can run at millions of frames a
// second. Hostile input (lengths that point past the frame, nesting without
// end) stops decoding with a Fault instead of a panic.
package decode

import "net/netip"

// MaxLayers bounds the encapsulation stack: VLAN tags, MPLS label stacks
// and tunnels together. A frame that nests deeper stops with a Fault.
const MaxLayers = 8

// Kind is one encapsulation around the innermost packet.
type Kind uint8

// Encapsulations.
const (
	VLAN   Kind = iota + 1 // 802.1Q or 802.1ad (QinQ) tag; ID is the VLAN ID
	MPLS                   // an MPLS label stack; ID is the top label
	PPPoE                  // a PPPoE session (RFC 2516); ID is the session ID
	GRE                    // GRE; ID is the key when HasID
	ERSPAN                 // ERSPAN type I, II or III inside GRE; ID is the session
	VXLAN                  // VXLAN or VXLAN-GPE; ID is the VNI
	Geneve                 // Geneve; ID is the VNI
	IPIP                   // IP in IP: 4in4, 6in4, 4in6, 6in6
)

var kindNames = [...]string{VLAN: "vlan", MPLS: "mpls", PPPoE: "pppoe", GRE: "gre", ERSPAN: "erspan", VXLAN: "vxlan",
	Geneve: "geneve", IPIP: "ipip"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "unknown"
}

// IsTunnel reports whether the layer carries outer IP addresses: every
// kind from GRE on (VLAN, MPLS and PPPoE come before it).
func (k Kind) IsTunnel() bool { return k >= GRE }

// Layer is one encapsulation, outermost first in Packet.Layers.
type Layer struct {
	Kind  Kind
	HasID bool
	ID    uint32
	// Version, Src and Dst are the outer IP header of a tunnel.
	Version  uint8
	Inner    uint8 // IPIP: the inner IP version
	Src, Dst [16]byte
	// IPID is the outer IPv4 identification (HasIPID), a sequence the
	// encapsulating host often increments per packet.
	IPID    uint16
	HasIPID bool
	// Seq is the GRE sequence number (HasSeq).
	Seq    uint32
	HasSeq bool
}

// SrcAddr is the tunnel's outer source address.
func (l *Layer) SrcAddr() netip.Addr { return addr(l.Version, &l.Src) }

// DstAddr is the tunnel's outer destination address.
func (l *Layer) DstAddr() netip.Addr { return addr(l.Version, &l.Dst) }

// Name is the layer's kind, with the IP versions for IP in IP ("6in4").
func (l *Layer) Name() string {
	if l.Kind == IPIP {
		return string([]byte{'0' + l.Inner, 'i', 'n', '0' + l.Version})
	}
	return l.Kind.String()
}

// Top says how far decoding went: what the innermost unit is.
type Top uint8

// Innermost units.
const (
	TopNone      Top = iota // not IP, or decoding stopped before an IP header
	TopIP                   // an IP packet netdx does not analyse further (ICMP, fragments, ...)
	TopTCP                  // a TCP segment; TCP is filled
	TopUDP                  // a UDP datagram that is not a known tunnel
	TopWireGuard            // a WireGuard message; WireGuard is filled
	TopESP                  // an ESP packet, plain or in UDP; ESP is filled
)

// TCP flags.
const (
	FIN uint8 = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
)

// SACKBlock is one SACK option block, [Left, Right) in sequence space.
type SACKBlock struct{ Left, Right uint32 }

// TCP is the TCP header with the options the analysis uses.
type TCP struct {
	Seq, Ack  uint32
	Flags     uint8
	Window    uint16
	HeaderLen uint8
	// MSS is the MSS option (0 when absent); WScale the window scale
	// option (-1 when absent).
	MSS           uint16
	WScale        int8
	SACKPermitted bool
	HasTS         bool
	TSval, TSecr  uint32
	// Checksum is the TCP checksum as captured; Head holds the first
	// captured payload bytes (up to 8, big-endian, 0 when none), so two
	// segments with equal headers but different data can be told apart.
	Checksum uint16
	Head     uint64
	NSACK    uint8
	SACK     [4]SACKBlock
	// OptionsCut says the options were not all captured (snap length).
	OptionsCut bool
	// OptionsBad says an option was malformed (length 0 or 1, or running
	// past the header); the options from it on were ignored.
	OptionsBad bool
}

// WireGuard is a WireGuard message header. Type 4 (data) carries the
// receiver's index and the sender's 64-bit counter.
type WireGuard struct {
	Type     uint8
	Receiver uint32
	Counter  uint64
}

// WireGuard message types.
const (
	WGInitiation = 1
	WGResponse   = 2
	WGCookie     = 3
	WGData       = 4
)

// ESP is the ESP header: security parameter index and sequence number.
type ESP struct {
	SPI, Seq uint32
	UDP      bool // in UDP (NAT traversal)
}

// Fault says why decoding stopped short. Layer and Reason are constant
// strings, so a Fault never allocates; the zero Fault means none.
type Fault struct {
	Layer  string
	Reason string
}

// String is "layer: reason".
func (f Fault) String() string {
	if f.Layer == "" {
		return f.Reason
	}
	return f.Layer + ": " + f.Reason
}

// Packet is one decoded frame. A Decoder reuses it: copy what you keep.
type Packet struct {
	Layers  [MaxLayers]Layer
	NLayers int
	// IfIndex is the capturing interface from a Linux SLL2 header, -1
	// when the link type does not say.
	IfIndex int32
	Top     Top
	// The innermost IP header.
	Version  uint8
	Src, Dst [16]byte
	IPID     uint16
	TTL      uint8
	DF       bool
	Fragment bool
	Proto    uint8
	// IPLen is the innermost IP packet's true length: from its header, or
	// from the frame's original length when the header says 0 (TSO, BIG TCP).
	IPLen            int
	SrcPort, DstPort uint16
	// Payload is the TCP or UDP payload's true length, whatever was captured.
	Payload   int
	TCP       TCP
	WireGuard WireGuard
	ESP       ESP
	// Truncated says the frame was captured shorter than it was on the
	// wire (snap length); the lengths above are still the true ones.
	Truncated bool
	// Overlong says an IP header claims more bytes than the frame had on
	// the wire; the IP length was used.
	Overlong bool
	Fault    Fault
}

// SrcAddr is the innermost source address.
func (p *Packet) SrcAddr() netip.Addr { return addr(p.Version, &p.Src) }

// DstAddr is the innermost destination address.
func (p *Packet) DstAddr() netip.Addr { return addr(p.Version, &p.Dst) }

func addr(version uint8, a *[16]byte) netip.Addr {
	switch version {
	case 4:
		return netip.AddrFrom4([4]byte{a[0], a[1], a[2], a[3]})
	case 6:
		return netip.AddrFrom16(*a)
	}
	return netip.Addr{}
}
