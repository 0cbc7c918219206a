// Package capturetest generates packet captures whose truth is known
// exactly, for netdx's tests: TCP conversations with chosen
// retransmissions, reordering and drops, inside any link type and tunnel,
// serialized with gopacket and written with pcapgo.
package capturetest

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"net/netip"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/netdx/netdx/capture/decode"
)

// Spec is one encapsulation around a generated packet, listed outermost
// first in frame.encap.
type Spec struct {
	Kind     string // vlan, mpls, pppoe, vxlan, geneve, gre, erspan, ipip
	ID       uint32 // VLAN ID, MPLS label, PPPoE session, VNI, GRE key, ERSPAN session
	Port     uint16 // UDP port for vxlan/geneve (default 4789/6081)
	Src, Dst netip.Addr
	IPID     uint16 // outer IPv4 ID
	Seq      uint32 // GRE sequence number
	HasSeq   bool
	HasKey   bool
}

// Frame describes one generated packet.
type Frame struct {
	At           time.Duration
	Src, Dst     netip.Addr
	SPort, DPort uint16
	UDP          bool
	UDPPayload   []byte
	Payload      int
	// Data, when set, is the TCP payload's content (Payload bytes of it;
	// zeros beyond); without it the payload is zeros.
	Data      []byte
	Seq, Ack  uint32
	Flags     uint8
	Win       uint16
	IPID      uint16
	HasTS     bool
	TS, TSecr uint32
	MSS       uint16
	WS        int8 // -1: no option
	SACKPerm  bool
	SACK      [][2]uint32
	ZeroLen   bool // IP total length 0, as TSO/BIG TCP frames show
	Encap     []Spec
	Snap      int // captured length, 0 whole
	Iface     int
}

// Gen collects records and writes them as pcap or pcapng.
type Gen struct {
	t     testing.TB
	Link  layers.LinkType
	Start time.Time
	Recs  []Record
}

// Record is one packet record.
type Record struct {
	CI   gopacket.CaptureInfo
	Data []byte
}

// NewGen starts a capture of link type lt, timestamps from 2026-01-02 03:04:05 UTC.
func NewGen(t testing.TB, link layers.LinkType) *Gen {
	return &Gen{t: t, Link: link, Start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// Add serializes f and appends it as a record (cut to f.Snap bytes).
func (g *Gen) Add(f Frame) {
	g.t.Helper()
	data := g.Build(&f, g.Link)
	n := len(data)
	if f.Snap > 0 && f.Snap < n {
		data = data[:f.Snap]
	}
	g.Recs = append(g.Recs, Record{CI: gopacket.CaptureInfo{Timestamp: g.Start.Add(f.At), CaptureLength: len(data),
		Length: n, InterfaceIndex: f.Iface}, Data: data})
}

// AddRaw appends a record with exact bytes.
func (g *Gen) AddRaw(at time.Duration, data []byte, wire int) {
	g.Recs = append(g.Recs, Record{CI: gopacket.CaptureInfo{Timestamp: g.Start.Add(at), CaptureLength: len(data), Length: wire}, Data: data})
}

// Pcap writes the records as a Pcap file (microsecond, little-endian).
func (g *Gen) Pcap() []byte {
	g.t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if err := w.WriteFileHeader(262144, g.Link); err != nil {
		g.t.Fatal(err)
	}
	for _, r := range g.Recs {
		if err := w.WritePacket(r.CI, r.Data); err != nil {
			g.t.Fatal(err)
		}
	}
	return b.Bytes()
}

// PcapNano writes a nanosecond pcap file.
func (g *Gen) PcapNano() []byte {
	g.t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriterNanos(&b)
	if err := w.WriteFileHeader(262144, g.Link); err != nil {
		g.t.Fatal(err)
	}
	for _, r := range g.Recs {
		if err := w.WritePacket(r.CI, r.Data); err != nil {
			g.t.Fatal(err)
		}
	}
	return b.Bytes()
}

// PcapBigEndian writes a big-endian pcap file (pcapgo writes only
// little-endian), with microsecond or nanosecond timestamps.
func (g *Gen) PcapBigEndian(nano bool) []byte {
	var b bytes.Buffer
	be := binary.BigEndian
	hdr := make([]byte, 24)
	magic := uint32(0xa1b2c3d4)
	if nano {
		magic = 0xa1b23c4d
	}
	be.PutUint32(hdr, magic)
	be.PutUint16(hdr[4:], 2)
	be.PutUint16(hdr[6:], 4)
	be.PutUint32(hdr[16:], 262144)
	be.PutUint32(hdr[20:], uint32(g.Link))
	b.Write(hdr)
	for _, r := range g.Recs {
		rh := make([]byte, 16)
		ts := r.CI.Timestamp
		be.PutUint32(rh, uint32(ts.Unix()))
		frac := uint32(ts.Nanosecond() / 1000)
		if nano {
			frac = uint32(ts.Nanosecond())
		}
		be.PutUint32(rh[4:], frac)
		be.PutUint32(rh[8:], uint32(r.CI.CaptureLength))
		be.PutUint32(rh[12:], uint32(r.CI.Length))
		b.Write(rh)
		b.Write(r.Data)
	}
	return b.Bytes()
}

// PcapVersion writes a little-endian microsecond pcap file whose header
// says format version major.minor; swapped puts each record's original
// length before its captured length, as files of format 2.2 and older
// have them.
func (g *Gen) PcapVersion(major, minor uint16, swapped bool) []byte {
	return g.pcapClassic(0xa1b2c3d4, major, minor, swapped, 0)
}

// PcapKuznetzov writes Kuznetzov's modified pcap format (magic
// 0xa1b2cd34, version 2.4): each record header carries 8 more bytes
// (interface index, protocol, packet type).
func (g *Gen) PcapKuznetzov() []byte { return g.pcapClassic(0xa1b2cd34, 2, 4, false, 8) }

func (g *Gen) pcapClassic(magic uint32, major, minor uint16, swapped bool, extra int) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	hdr := make([]byte, 24)
	le.PutUint32(hdr, magic)
	le.PutUint16(hdr[4:], major)
	le.PutUint16(hdr[6:], minor)
	le.PutUint32(hdr[16:], 262144)
	le.PutUint32(hdr[20:], uint32(g.Link))
	b.Write(hdr)
	for _, r := range g.Recs {
		rh := make([]byte, 16)
		le.PutUint32(rh, uint32(r.CI.Timestamp.Unix()))
		le.PutUint32(rh[4:], uint32(r.CI.Timestamp.Nanosecond()/1000))
		caplen, wire := uint32(r.CI.CaptureLength), uint32(r.CI.Length)
		if swapped {
			caplen, wire = wire, caplen
		}
		le.PutUint32(rh[8:], caplen)
		le.PutUint32(rh[12:], wire)
		b.Write(rh)
		b.Write(make([]byte, extra))
		b.Write(r.Data)
	}
	return b.Bytes()
}

// Pcapng writes the records as Pcapng with one interface per link type
// given; each record goes to its frame's interface.
func (g *Gen) Pcapng(links ...layers.LinkType) []byte {
	g.t.Helper()
	if len(links) == 0 {
		links = []layers.LinkType{g.Link}
	}
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&b, pcapgo.NgInterface{Name: "if0", LinkType: links[0], SnapLength: 262144},
		pcapgo.NgWriterOptions{})
	if err != nil {
		g.t.Fatal(err)
	}
	for i, lt := range links[1:] {
		if _, err := w.AddInterface(pcapgo.NgInterface{Name: "if" + strconv.Itoa(i+1), LinkType: lt, SnapLength: 262144}); err != nil {
			g.t.Fatal(err)
		}
	}
	for _, r := range g.Recs {
		if err := w.WritePacket(r.CI, r.Data); err != nil {
			g.t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		g.t.Fatal(err)
	}
	return b.Bytes()
}

// Gzip compresses data.
func Gzip(t testing.TB, data []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var serializeOpts = gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}

// Serialize serializes layers, fixing lengths and checksums.
func Serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, serializeOpts, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// IPLayer builds an IPv4 or IPv6 header for src→dst.
func IPLayer(src, dst netip.Addr, proto layers.IPProtocol, id uint16) gopacket.SerializableLayer {
	if src.Is4() {
		return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: id, Flags: layers.IPv4DontFragment, Protocol: proto,
			SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	}
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

// EtherType is the ethertype of a.
func EtherType(a netip.Addr) layers.EthernetType {
	if a.Is4() {
		return layers.EthernetTypeIPv4
	}
	return layers.EthernetTypeIPv6
}

var (
	MacA = []byte{2, 0, 0, 0, 0, 1}
	MacB = []byte{2, 0, 0, 0, 0, 2}
)

// inner serializes the frame's innermost IP packet.
func (g *Gen) inner(f *Frame) []byte {
	ip := IPLayer(f.Src, f.Dst, layers.IPProtocolTCP, f.IPID)
	var l4 gopacket.SerializableLayer
	payload := gopacket.Payload(make([]byte, f.Payload))
	copy(payload, f.Data)
	if f.UDP {
		ip = IPLayer(f.Src, f.Dst, layers.IPProtocolUDP, f.IPID)
		u := &layers.UDP{SrcPort: layers.UDPPort(f.SPort), DstPort: layers.UDPPort(f.DPort)}
		_ = u.SetNetworkLayerForChecksum(ip.(gopacket.NetworkLayer))
		l4 = u
		if f.UDPPayload != nil {
			payload = f.UDPPayload
		}
	} else {
		tcp := &layers.TCP{SrcPort: layers.TCPPort(f.SPort), DstPort: layers.TCPPort(f.DPort), Seq: f.Seq, Ack: f.Ack,
			Window: f.Win, FIN: f.Flags&decode.FIN != 0, SYN: f.Flags&decode.SYN != 0, RST: f.Flags&decode.RST != 0,
			PSH: f.Flags&decode.PSH != 0, ACK: f.Flags&decode.ACK != 0}
		if f.MSS > 0 {
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4,
				OptionData: binary.BigEndian.AppendUint16(nil, f.MSS)})
		}
		if f.SACKPerm {
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2})
		}
		if f.HasTS {
			d := binary.BigEndian.AppendUint32(nil, f.TS)
			d = binary.BigEndian.AppendUint32(d, f.TSecr)
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindNop},
				layers.TCPOption{OptionType: layers.TCPOptionKindNop},
				layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: d})
		}
		if f.WS >= 0 && f.Flags&decode.SYN != 0 {
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindNop},
				layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{byte(f.WS)}})
		}
		if len(f.SACK) > 0 {
			var d []byte
			for _, s := range f.SACK {
				d = binary.BigEndian.AppendUint32(d, s[0])
				d = binary.BigEndian.AppendUint32(d, s[1])
			}
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindNop},
				layers.TCPOption{OptionType: layers.TCPOptionKindNop},
				layers.TCPOption{OptionType: layers.TCPOptionKindSACK, OptionLength: uint8(2 + len(d)), OptionData: d})
		}
		_ = tcp.SetNetworkLayerForChecksum(ip.(gopacket.NetworkLayer))
		l4 = tcp
	}
	b := Serialize(g.t, ip, l4, payload)
	if f.ZeroLen {
		if f.Src.Is4() {
			binary.BigEndian.PutUint16(b[2:], 0)
		} else {
			binary.BigEndian.PutUint16(b[4:], 0)
		}
	}
	return b
}

// Build serializes the frame with its encapsulations and link header.
func (g *Gen) Build(f *Frame, link layers.LinkType) []byte {
	cur := g.inner(f)
	isEther := false
	curType := EtherType(f.Src)
	var tags []uint32 // VLAN IDs for the next Ethernet header, outermost first
	var labels []uint32
	pppoe := -1 // the PPPoE session for the next Ethernet header, -1 none
	ether := func() {
		var ls []gopacket.SerializableLayer
		next := curType
		if len(labels) > 0 {
			next = layers.EthernetTypeMPLSUnicast
		}
		if pppoe >= 0 {
			proto := uint16(0x21)
			if next == layers.EthernetTypeIPv6 {
				proto = 0x57
			}
			h := []byte{0x11, 0, byte(pppoe >> 8), byte(pppoe), 0, 0, byte(proto >> 8), byte(proto)}
			binary.BigEndian.PutUint16(h[4:], uint16(2+len(cur)))
			cur = append(h, cur...)
			next, pppoe = layers.EthernetTypePPPoESession, -1
		}
		if len(tags) == 0 {
			ls = append(ls, &layers.Ethernet{SrcMAC: MacA, DstMAC: MacB, EthernetType: next})
		} else {
			ls = append(ls, &layers.Ethernet{SrcMAC: MacA, DstMAC: MacB, EthernetType: layers.EthernetTypeDot1Q})
			for i, id := range tags {
				t := next
				if i < len(tags)-1 {
					t = layers.EthernetTypeDot1Q
				}
				ls = append(ls, &layers.Dot1Q{VLANIdentifier: uint16(id), Type: t})
			}
		}
		for i, l := range labels {
			ls = append(ls, &layers.MPLS{Label: l, StackBottom: i == len(labels)-1, TTL: 64})
		}
		ls = append(ls, gopacket.Payload(cur))
		cur = Serialize(g.t, ls...)
		tags, labels = nil, nil
		isEther, curType = true, layers.EthernetTypeTransparentEthernetBridging
	}
	for i := len(f.Encap) - 1; i >= 0; i-- {
		s := f.Encap[i]
		switch s.Kind {
		case "vlan":
			tags = append([]uint32{s.ID}, tags...)
		case "mpls":
			labels = append([]uint32{s.ID}, labels...)
		case "pppoe":
			pppoe = int(s.ID)
		case "vxlan", "geneve":
			if !isEther {
				ether()
			}
			port := s.Port
			var tl gopacket.SerializableLayer
			if s.Kind == "vxlan" {
				if port == 0 {
					port = 4789
				}
				tl = &layers.VXLAN{ValidIDFlag: true, VNI: s.ID}
			} else {
				if port == 0 {
					port = 6081
				}
				tl = &layers.Geneve{Protocol: layers.EthernetTypeTransparentEthernetBridging, VNI: s.ID}
			}
			ip := IPLayer(s.Src, s.Dst, layers.IPProtocolUDP, s.IPID)
			u := &layers.UDP{SrcPort: 40000, DstPort: layers.UDPPort(port)}
			_ = u.SetNetworkLayerForChecksum(ip.(gopacket.NetworkLayer))
			cur = Serialize(g.t, ip, u, tl, gopacket.Payload(cur))
			isEther, curType = false, EtherType(s.Src)
		case "gre":
			gre := &layers.GRE{Protocol: curType, KeyPresent: s.HasKey, Key: s.ID, SeqPresent: s.HasSeq, Seq: s.Seq}
			if isEther {
				gre.Protocol = layers.EthernetTypeTransparentEthernetBridging
			}
			cur = Serialize(g.t, IPLayer(s.Src, s.Dst, layers.IPProtocolGRE, s.IPID), gre, gopacket.Payload(cur))
			isEther, curType = false, EtherType(s.Src)
		case "erspan": // type II: GRE with a sequence number, an 8-byte header, then Ethernet
			if !isEther {
				ether()
			}
			h := make([]byte, 8)
			binary.BigEndian.PutUint16(h, 1<<12) // version 1 (type II)
			binary.BigEndian.PutUint16(h[2:], uint16(s.ID&0x3ff))
			gre := &layers.GRE{Protocol: layers.EthernetTypeERSPAN, SeqPresent: true, Seq: s.Seq}
			cur = Serialize(g.t, IPLayer(s.Src, s.Dst, layers.IPProtocolGRE, s.IPID), gre, gopacket.Payload(append(h, cur...)))
			isEther, curType = false, EtherType(s.Src)
		case "ipip":
			proto := layers.IPProtocolIPv4
			if curType == layers.EthernetTypeIPv6 {
				proto = layers.IPProtocolIPv6
			}
			cur = Serialize(g.t, IPLayer(s.Src, s.Dst, proto, s.IPID), gopacket.Payload(cur))
			isEther, curType = false, EtherType(s.Src)
		default:
			g.t.Fatalf("unknown spec %q", s.Kind)
		}
	}
	if isEther {
		if len(tags) > 0 || len(labels) > 0 || pppoe >= 0 {
			g.t.Fatal("VLAN or MPLS outside an outer Ethernet header is not supported by the generator")
		}
		return cur
	}
	switch link {
	case layers.LinkTypeEthernet:
		ether()
		return cur
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		return cur
	case layers.LinkTypeLinuxSLL:
		h := make([]byte, 16)
		binary.BigEndian.PutUint16(h[0:], 0) // to us
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		copy(h[6:], MacA)
		binary.BigEndian.PutUint16(h[14:], uint16(curType))
		return append(h, cur...)
	case layers.LinkTypeLinuxSLL2:
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], uint16(curType))
		binary.BigEndian.PutUint32(h[4:], uint32(f.Iface+2))
		binary.BigEndian.PutUint16(h[8:], 1)
		h[11] = 6
		copy(h[12:], MacA)
		return append(h, cur...)
	case layers.LinkTypeNull:
		af := uint32(2)
		if curType == layers.EthernetTypeIPv6 {
			af = 30
		}
		return append(binary.LittleEndian.AppendUint32(nil, af), cur...)
	case layers.LinkTypeLoop:
		af := uint32(2)
		if curType == layers.EthernetTypeIPv6 {
			af = 24
		}
		return append(binary.BigEndian.AppendUint32(nil, af), cur...)
	case layers.LinkTypePPP:
		proto := uint16(0x21)
		if curType == layers.EthernetTypeIPv6 {
			proto = 0x57
		}
		return append([]byte{0xff, 0x03, byte(proto >> 8), byte(proto)}, cur...)
	}
	g.t.Fatalf("generator: link type %v", link)
	return nil
}

// Conv generates one TCP conversation: the client's and server's
// sequence numbers, IP IDs and timestamps advance as segments are made.
type Conv struct {
	G      *Gen
	Client netip.AddrPort
	Server netip.AddrPort
	ISN    [2]uint32
	Next   [2]uint32 // next sequence number to send
	IPID   [2]uint16
	MSS    int
	TS     bool
	NoID   bool // IPv4 ID 0 on every packet
	Encap  []Spec
	// EncapBack, when set, wraps the server's packets instead of Encap
	// (a tunnel's other direction).
	EncapBack []Spec
	Win       uint16
	// Offset shifts every frame's time, to run conversations side by side.
	Offset time.Duration
}

// NewConv starts a conversation between client and server ("addr:port")
// with fixed ISNs, IP IDs that count per side, TCP timestamps and an MSS
// of 1448 bytes.
func NewConv(g *Gen, client, server string) *Conv {
	return &Conv{G: g, Client: netip.MustParseAddrPort(client), Server: netip.MustParseAddrPort(server),
		ISN: [2]uint32{1000, 5000}, Next: [2]uint32{1001, 5001}, IPID: [2]uint16{100, 9000}, MSS: 1448, TS: true, Win: 65535}
}

// TSAt is the TCP timestamp clock: one tick per millisecond.
func TSAt(at time.Duration) uint32 { return 7000 + uint32(at/time.Millisecond) }

// Frame makes a segment from side (0 client, 1 server) at time at.
func (c *Conv) Frame(side int, at time.Duration, seq uint32, n int, flags uint8) Frame {
	src, dst := c.Client, c.Server
	if side == 1 {
		src, dst = dst, src
	}
	f := Frame{At: c.Offset + at, Src: src.Addr(), Dst: dst.Addr(), SPort: src.Port(), DPort: dst.Port(), Seq: seq,
		Ack: c.Next[1-side], Flags: flags | decode.ACK, Win: c.Win, Payload: n, WS: -1, Encap: c.Encap}
	if side == 1 && c.EncapBack != nil {
		f.Encap = c.EncapBack
	}
	if !c.NoID {
		f.IPID = c.IPID[side]
		c.IPID[side]++
	}
	if c.TS {
		f.HasTS, f.TS, f.TSecr = true, TSAt(at), TSAt(at)-1
	}
	return f
}

// Handshake emits SYN, SYN/ACK, ACK at t0, t0+rtt, t0+rtt+d.
func (c *Conv) Handshake(t0, rtt time.Duration) {
	syn := c.Frame(0, t0, c.ISN[0], 0, decode.SYN)
	syn.Flags, syn.Ack = decode.SYN, 0
	syn.MSS, syn.WS, syn.SACKPerm = uint16(c.MSS+12), 7, true
	c.G.Add(syn)
	sa := c.Frame(1, t0+rtt, c.ISN[1], 0, decode.SYN)
	sa.MSS, sa.WS, sa.SACKPerm = uint16(c.MSS+12), 7, true
	c.G.Add(sa)
	c.G.Add(c.Frame(0, t0+rtt+rtt/10, c.Next[0], 0, 0))
}

// Data makes the next new segment of n bytes from side.
func (c *Conv) Data(side int, at time.Duration, n int) Frame {
	f := c.Frame(side, at, c.Next[side], n, decode.PSH)
	c.Next[side] += uint32(n)
	return f
}

// AckFrame makes a pure ACK from side acknowledging up to ack, with SACK
// blocks.
func (c *Conv) AckFrame(side int, at time.Duration, ack uint32, sack ...[2]uint32) Frame {
	f := c.Frame(side, at, c.Next[side], 0, 0)
	f.Ack = ack
	f.SACK = sack
	return f
}

// Receiver models the receiving TCP: it acknowledges every segment with
// the cumulative ACK, SACK blocks for data above it (the block holding the
// newest segment first) and a D-SACK block for data it already had.
type Receiver struct {
	c    *Conv
	side int // the receiving side
	got  [][2]uint32
}

// Receiver models side's TCP receiving the other side's data.
func (c *Conv) Receiver(side int) *Receiver { return &Receiver{c: c, side: side} }

func (r *Receiver) covered(s, e uint32) bool {
	for _, g := range r.got {
		if g[0] <= s && e <= g[1] {
			return true
		}
	}
	return false
}

func (r *Receiver) add(s, e uint32) {
	r.got = append(r.got, [2]uint32{s, e})
	sort.Slice(r.got, func(i, j int) bool { return r.got[i][0] < r.got[j][0] })
	merged := r.got[:1]
	for _, g := range r.got[1:] {
		m := &merged[len(merged)-1]
		if g[0] <= m[1] {
			m[1] = max(m[1], g[1])
			continue
		}
		merged = append(merged, g)
	}
	r.got = merged
}

// Ack returns the ACK the receiver sends at time at for data frame f.
// Ranges are kept relative to the sender's ISN so sequence wrap-around
// does not disturb the model.
func (r *Receiver) Ack(at time.Duration, f Frame) Frame {
	base := r.c.ISN[1-r.side] + 1
	s := f.Seq - base
	e := s + uint32(f.Payload)
	dup := r.covered(s, e)
	var blocks [][2]uint32
	if dup {
		blocks = append(blocks, [2]uint32{s, e})
	}
	r.add(s, e)
	cum := uint32(0)
	for _, g := range r.got {
		if g[0] <= cum {
			cum = max(cum, g[1])
		}
	}
	var newest [2]uint32
	for _, g := range r.got {
		if g[0] > cum && g[0] <= s && e <= g[1] {
			newest = g
		}
	}
	if newest[1] != 0 {
		blocks = append(blocks, newest)
	}
	for _, g := range r.got {
		if g[0] > cum && g != newest && len(blocks) < 3 {
			blocks = append(blocks, g)
		}
	}
	for i := range blocks {
		blocks[i][0] += base
		blocks[i][1] += base
	}
	return r.c.AckFrame(r.side, at, cum+base, blocks...)
}

// Deliver emits data frames in the given order as they arrive at a
// receiver-side capture: frame i at t0+i*gap, each followed 5µs later by
// the receiver's ACK.
func (c *Conv) Deliver(rx *Receiver, t0, gap time.Duration, frames []Frame) time.Duration {
	at := t0
	for _, f := range frames {
		f.At = c.Offset + at
		c.G.Add(f)
		c.G.Add(rx.Ack(at+5*time.Microsecond, f))
		at += gap
	}
	return at
}

// Timed is a frame with its arrival time at the capture point.
type Timed struct {
	At time.Duration
	F  Frame
}

// DeliverAt emits frames by arrival time, each followed 5µs later by the
// receiver's ACK.
func (c *Conv) DeliverAt(rx *Receiver, fs []Timed) {
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].At < fs[j].At })
	var out []Frame
	for _, x := range fs {
		x.F.At = c.Offset + x.At
		out = append(out, x.F, rx.Ack(x.At+5*time.Microsecond, x.F))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	for _, f := range out {
		c.G.Add(f)
	}
}

// SendData makes n new segments of size bytes from side, sent gap apart
// from t0 (their timestamps and IDs follow the sending order).
func (c *Conv) SendData(side int, t0, gap time.Duration, n, size int) []Frame {
	out := make([]Frame, n)
	for i := range out {
		out[i] = c.Data(side, t0+time.Duration(i)*gap, size)
	}
	return out
}

// Resend makes a retransmission of frame f sent at time at.
func (c *Conv) Resend(f Frame, at time.Duration) Frame {
	side := 0
	if f.Src != c.Client.Addr() || f.SPort != c.Client.Port() {
		side = 1
	}
	return c.Frame(side, at, f.Seq, f.Payload, decode.PSH)
}

// RetransScenario builds a receiver-side scenario whose truth is exact: the
// client sends 200 segments of 1000 bytes; two pairs arrive swapped
// (extent 1); two segments are lost and fast-retransmitted; one is
// overtaken by four others (extent 4) and fast-retransmitted although it
// arrived. Truth for the client's data: 3 retransmissions, all fast, 1
// spurious (proven by the ACK), 3 reordered, 2 lost.
func RetransScenario(c *Conv) {
	rtt := 10 * time.Millisecond
	c.Handshake(0, rtt)
	t0 := 20 * time.Millisecond
	gap := 100 * time.Microsecond
	segs := c.SendData(0, t0, gap, 200, 1000)
	var fs []Timed
	arrive := func(i int) time.Duration { return t0 + time.Duration(i)*gap + rtt/2 }
	for i, s := range segs {
		switch i {
		case 20, 60:
		case 100:
			fs = append(fs, Timed{At: arrive(104) + gap/2, F: s})
		case 10, 150:
			fs = append(fs, Timed{At: arrive(i+1) + gap/2, F: s})
		default:
			fs = append(fs, Timed{At: arrive(i), F: s})
		}
	}
	for _, i := range []int{20, 60, 100} {
		fs = append(fs, Timed{At: arrive(i+1) + rtt + time.Microsecond, F: c.Resend(segs[i], arrive(i+1)+rtt/2)})
	}
	c.DeliverAt(c.Receiver(1), fs)
}

// KindsScenario is RetransScenario followed by a segment lost before the
// capture and retransmitted after a timeout, a data frame the capture saw
// twice, and a retransmission after a timeout of data the receiver had
// acknowledged: every kind of segment. Truth for the client's data: 5
// retransmissions, 3 fast (1 spurious) and 2 timeout (1 spurious); 3
// reordered; 3 segments (3000 bytes) lost; 1 capture duplicate.
func KindsScenario(c *Conv) {
	RetransScenario(c)
	rx := c.Receiver(1)
	// The receiver of RetransScenario's data has it all: a fresh model
	// would acknowledge from the ISN, so it is told the earlier data.
	rx.add(0, c.Next[0]-c.ISN[0]-1)
	t0 := 300 * time.Millisecond
	gap := 100 * time.Microsecond
	segs := c.SendData(0, t0, gap, 4, 1000)
	c.Deliver(rx, t0, gap, []Frame{segs[0], segs[1], segs[3]})
	dup := segs[1]
	dup.At = c.Offset + t0 + gap + 2*time.Microsecond
	c.G.Add(dup)
	c.Deliver(rx, t0+300*time.Millisecond, 0, []Frame{c.Resend(segs[2], t0+300*time.Millisecond)})
	c.Deliver(rx, t0+600*time.Millisecond, 0, []Frame{c.Resend(segs[3], t0+600*time.Millisecond)})
}

// RawIP builds an Ethernet frame carrying an IP packet with the given
// protocol and payload.
func (g *Gen) RawIP(f Frame, proto layers.IPProtocol, payload []byte) []byte {
	return Serialize(g.t, &layers.Ethernet{SrcMAC: MacA, DstMAC: MacB, EthernetType: EtherType(f.Src)},
		IPLayer(f.Src, f.Dst, proto, 1), gopacket.Payload(payload))
}
