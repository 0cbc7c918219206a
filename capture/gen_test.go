package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/netdx/netdx/capture/decode"
)

// This file generates captures whose truth is known exactly: every frame
// is serialized with gopacket and written with pcapgo.

// spec is one encapsulation around a generated packet, listed outermost
// first in frame.encap.
type spec struct {
	kind     string // vlan, mpls, vxlan, geneve, gre, erspan, ipip
	id       uint32 // VLAN ID, MPLS label, VNI, GRE key
	port     uint16 // UDP port for vxlan/geneve (default 4789/6081)
	src, dst netip.Addr
	ipid     uint16 // outer IPv4 ID
	seq      uint32 // GRE sequence number
	hasSeq   bool
	hasKey   bool
}

// frame describes one generated packet.
type frame struct {
	at           time.Duration
	src, dst     netip.Addr
	sport, dport uint16
	udp          bool
	udpPayload   []byte
	payload      int
	seq, ack     uint32
	flags        uint8
	win          uint16
	ipid         uint16
	hasTS        bool
	ts, tsecr    uint32
	mss          uint16
	ws           int8 // -1: no option
	sackPerm     bool
	sack         [][2]uint32
	zeroLen      bool // IP total length 0, as TSO/BIG TCP frames show
	encap        []spec
	snap         int // captured length, 0 whole
	iface        int
}

type gen struct {
	t     testing.TB
	link  layers.LinkType
	start time.Time
	recs  []record
}

type record struct {
	ci   gopacket.CaptureInfo
	data []byte
}

func newGen(t testing.TB, link layers.LinkType) *gen {
	return &gen{t: t, link: link, start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (g *gen) add(f frame) {
	g.t.Helper()
	data := g.build(&f, g.link)
	n := len(data)
	if f.snap > 0 && f.snap < n {
		data = data[:f.snap]
	}
	g.recs = append(g.recs, record{ci: gopacket.CaptureInfo{Timestamp: g.start.Add(f.at), CaptureLength: len(data),
		Length: n, InterfaceIndex: f.iface}, data: data})
}

// addRaw appends a record with exact bytes.
func (g *gen) addRaw(at time.Duration, data []byte, wire int) {
	g.recs = append(g.recs, record{ci: gopacket.CaptureInfo{Timestamp: g.start.Add(at), CaptureLength: len(data), Length: wire}, data: data})
}

// pcap writes the records as a pcap file (microsecond, little-endian).
func (g *gen) pcap() []byte {
	g.t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if err := w.WriteFileHeader(262144, g.link); err != nil {
		g.t.Fatal(err)
	}
	for _, r := range g.recs {
		if err := w.WritePacket(r.ci, r.data); err != nil {
			g.t.Fatal(err)
		}
	}
	return b.Bytes()
}

// pcapNano writes a nanosecond pcap file.
func (g *gen) pcapNano() []byte {
	g.t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriterNanos(&b)
	if err := w.WriteFileHeader(262144, g.link); err != nil {
		g.t.Fatal(err)
	}
	for _, r := range g.recs {
		if err := w.WritePacket(r.ci, r.data); err != nil {
			g.t.Fatal(err)
		}
	}
	return b.Bytes()
}

// pcapBigEndian writes a big-endian pcap file (pcapgo writes only
// little-endian), with microsecond or nanosecond timestamps.
func (g *gen) pcapBigEndian(nano bool) []byte {
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
	be.PutUint32(hdr[20:], uint32(g.link))
	b.Write(hdr)
	for _, r := range g.recs {
		rh := make([]byte, 16)
		ts := r.ci.Timestamp
		be.PutUint32(rh, uint32(ts.Unix()))
		frac := uint32(ts.Nanosecond() / 1000)
		if nano {
			frac = uint32(ts.Nanosecond())
		}
		be.PutUint32(rh[4:], frac)
		be.PutUint32(rh[8:], uint32(r.ci.CaptureLength))
		be.PutUint32(rh[12:], uint32(r.ci.Length))
		b.Write(rh)
		b.Write(r.data)
	}
	return b.Bytes()
}

// pcapng writes the records as pcapng with one interface per link type
// given; each record goes to its frame's interface.
func (g *gen) pcapng(links ...layers.LinkType) []byte {
	g.t.Helper()
	if len(links) == 0 {
		links = []layers.LinkType{g.link}
	}
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&b, pcapgo.NgInterface{Name: "if0", LinkType: links[0], SnapLength: 262144},
		pcapgo.NgWriterOptions{})
	if err != nil {
		g.t.Fatal(err)
	}
	for i, lt := range links[1:] {
		if _, err := w.AddInterface(pcapgo.NgInterface{Name: "if" + itoa(uint64(i+1)), LinkType: lt, SnapLength: 262144}); err != nil {
			g.t.Fatal(err)
		}
	}
	for _, r := range g.recs {
		if err := w.WritePacket(r.ci, r.data); err != nil {
			g.t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		g.t.Fatal(err)
	}
	return b.Bytes()
}

func gz(t testing.TB, data []byte) []byte {
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

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, serializeOpts, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// ipLayer builds an IPv4 or IPv6 header for src→dst.
func ipLayer(src, dst netip.Addr, proto layers.IPProtocol, id uint16) gopacket.SerializableLayer {
	if src.Is4() {
		return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: id, Flags: layers.IPv4DontFragment, Protocol: proto,
			SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	}
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

func etherType(a netip.Addr) layers.EthernetType {
	if a.Is4() {
		return layers.EthernetTypeIPv4
	}
	return layers.EthernetTypeIPv6
}

var (
	macA = []byte{2, 0, 0, 0, 0, 1}
	macB = []byte{2, 0, 0, 0, 0, 2}
)

// inner serializes the frame's innermost IP packet.
func (g *gen) inner(f *frame) []byte {
	ip := ipLayer(f.src, f.dst, layers.IPProtocolTCP, f.ipid)
	var l4 gopacket.SerializableLayer
	payload := gopacket.Payload(make([]byte, f.payload))
	if f.udp {
		ip = ipLayer(f.src, f.dst, layers.IPProtocolUDP, f.ipid)
		u := &layers.UDP{SrcPort: layers.UDPPort(f.sport), DstPort: layers.UDPPort(f.dport)}
		_ = u.SetNetworkLayerForChecksum(ip.(gopacket.NetworkLayer))
		l4 = u
		if f.udpPayload != nil {
			payload = f.udpPayload
		}
	} else {
		tcp := &layers.TCP{SrcPort: layers.TCPPort(f.sport), DstPort: layers.TCPPort(f.dport), Seq: f.seq, Ack: f.ack,
			Window: f.win, FIN: f.flags&decode.FIN != 0, SYN: f.flags&decode.SYN != 0, RST: f.flags&decode.RST != 0,
			PSH: f.flags&decode.PSH != 0, ACK: f.flags&decode.ACK != 0}
		if f.mss > 0 {
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4,
				OptionData: binary.BigEndian.AppendUint16(nil, f.mss)})
		}
		if f.sackPerm {
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2})
		}
		if f.hasTS {
			d := binary.BigEndian.AppendUint32(nil, f.ts)
			d = binary.BigEndian.AppendUint32(d, f.tsecr)
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindNop},
				layers.TCPOption{OptionType: layers.TCPOptionKindNop},
				layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: d})
		}
		if f.ws >= 0 && f.flags&decode.SYN != 0 {
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindNop},
				layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{byte(f.ws)}})
		}
		if len(f.sack) > 0 {
			var d []byte
			for _, s := range f.sack {
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
	b := serialize(g.t, ip, l4, payload)
	if f.zeroLen {
		if f.src.Is4() {
			binary.BigEndian.PutUint16(b[2:], 0)
		} else {
			binary.BigEndian.PutUint16(b[4:], 0)
		}
	}
	return b
}

// build serializes the frame with its encapsulations and link header.
func (g *gen) build(f *frame, link layers.LinkType) []byte {
	cur := g.inner(f)
	isEther := false
	curType := etherType(f.src)
	var tags []uint32 // VLAN IDs for the next Ethernet header, outermost first
	var labels []uint32
	ether := func() {
		var ls []gopacket.SerializableLayer
		next := curType
		if len(labels) > 0 {
			next = layers.EthernetTypeMPLSUnicast
		}
		if len(tags) == 0 {
			ls = append(ls, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: next})
		} else {
			ls = append(ls, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeDot1Q})
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
		cur = serialize(g.t, ls...)
		tags, labels = nil, nil
		isEther, curType = true, layers.EthernetTypeTransparentEthernetBridging
	}
	for i := len(f.encap) - 1; i >= 0; i-- {
		s := f.encap[i]
		switch s.kind {
		case "vlan":
			tags = append([]uint32{s.id}, tags...)
		case "mpls":
			labels = append([]uint32{s.id}, labels...)
		case "vxlan", "geneve":
			if !isEther {
				ether()
			}
			port := s.port
			var tl gopacket.SerializableLayer
			if s.kind == "vxlan" {
				if port == 0 {
					port = 4789
				}
				tl = &layers.VXLAN{ValidIDFlag: true, VNI: s.id}
			} else {
				if port == 0 {
					port = 6081
				}
				tl = &layers.Geneve{Protocol: layers.EthernetTypeTransparentEthernetBridging, VNI: s.id}
			}
			ip := ipLayer(s.src, s.dst, layers.IPProtocolUDP, s.ipid)
			u := &layers.UDP{SrcPort: 40000, DstPort: layers.UDPPort(port)}
			_ = u.SetNetworkLayerForChecksum(ip.(gopacket.NetworkLayer))
			cur = serialize(g.t, ip, u, tl, gopacket.Payload(cur))
			isEther, curType = false, etherType(s.src)
		case "gre":
			gre := &layers.GRE{Protocol: curType, KeyPresent: s.hasKey, Key: s.id, SeqPresent: s.hasSeq, Seq: s.seq}
			if isEther {
				gre.Protocol = layers.EthernetTypeTransparentEthernetBridging
			}
			cur = serialize(g.t, ipLayer(s.src, s.dst, layers.IPProtocolGRE, s.ipid), gre, gopacket.Payload(cur))
			isEther, curType = false, etherType(s.src)
		case "ipip":
			proto := layers.IPProtocolIPv4
			if curType == layers.EthernetTypeIPv6 {
				proto = layers.IPProtocolIPv6
			}
			cur = serialize(g.t, ipLayer(s.src, s.dst, proto, s.ipid), gopacket.Payload(cur))
			isEther, curType = false, etherType(s.src)
		default:
			g.t.Fatalf("unknown spec %q", s.kind)
		}
	}
	if isEther {
		if len(tags) > 0 || len(labels) > 0 {
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
		copy(h[6:], macA)
		binary.BigEndian.PutUint16(h[14:], uint16(curType))
		return append(h, cur...)
	case layers.LinkTypeLinuxSLL2:
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], uint16(curType))
		binary.BigEndian.PutUint32(h[4:], uint32(f.iface+2))
		binary.BigEndian.PutUint16(h[8:], 1)
		h[11] = 6
		copy(h[12:], macA)
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

// conv generates one TCP conversation: the client's and server's
// sequence numbers, IP IDs and timestamps advance as segments are made.
type conv struct {
	g          *gen
	client     netip.AddrPort
	server     netip.AddrPort
	isn        [2]uint32
	next       [2]uint32 // next sequence number to send
	ipid       [2]uint16
	mss        int
	ts         bool
	noID       bool // IPv4 ID 0 on every packet
	encap      []spec
	win        uint16
	tsPerMilli bool
}

func newConv(g *gen, client, server string) *conv {
	return &conv{g: g, client: netip.MustParseAddrPort(client), server: netip.MustParseAddrPort(server),
		isn: [2]uint32{1000, 5000}, next: [2]uint32{1001, 5001}, ipid: [2]uint16{100, 9000}, mss: 1448, ts: true, win: 65535}
}

// tsAt is the TCP timestamp clock: one tick per millisecond.
func tsAt(at time.Duration) uint32 { return 7000 + uint32(at/time.Millisecond) }

// frame makes a segment from side (0 client, 1 server) at time at.
func (c *conv) frame(side int, at time.Duration, seq uint32, n int, flags uint8) frame {
	src, dst := c.client, c.server
	if side == 1 {
		src, dst = dst, src
	}
	f := frame{at: at, src: src.Addr(), dst: dst.Addr(), sport: src.Port(), dport: dst.Port(), seq: seq,
		ack: c.next[1-side], flags: flags | decode.ACK, win: c.win, payload: n, ws: -1, encap: c.encap}
	if !c.noID {
		f.ipid = c.ipid[side]
		c.ipid[side]++
	}
	if c.ts {
		f.hasTS, f.ts, f.tsecr = true, tsAt(at), tsAt(at)-1
	}
	return f
}

// handshake emits SYN, SYN/ACK, ACK at t0, t0+rtt, t0+rtt+d.
func (c *conv) handshake(t0, rtt time.Duration) {
	syn := c.frame(0, t0, c.isn[0], 0, decode.SYN)
	syn.flags, syn.ack = decode.SYN, 0
	syn.mss, syn.ws, syn.sackPerm = uint16(c.mss+12), 7, true
	c.g.add(syn)
	sa := c.frame(1, t0+rtt, c.isn[1], 0, decode.SYN)
	sa.mss, sa.ws, sa.sackPerm = uint16(c.mss+12), 7, true
	c.g.add(sa)
	c.g.add(c.frame(0, t0+rtt+rtt/10, c.next[0], 0, 0))
}

// data makes the next new segment of n bytes from side.
func (c *conv) data(side int, at time.Duration, n int) frame {
	f := c.frame(side, at, c.next[side], n, decode.PSH)
	c.next[side] += uint32(n)
	return f
}

// ackFrame makes a pure ACK from side acknowledging up to ack, with SACK
// blocks.
func (c *conv) ackFrame(side int, at time.Duration, ack uint32, sack ...[2]uint32) frame {
	f := c.frame(side, at, c.next[side], 0, 0)
	f.ack = ack
	f.sack = sack
	return f
}

func gopacketPayload(b []byte) gopacket.SerializableLayer { return gopacket.Payload(b) }
