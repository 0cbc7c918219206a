package decode

import (
	"encoding/binary"

	"github.com/gopacket/gopacket/layers"
)

// Default UDP ports of the tunnels the decoder recognises.
const (
	PortVXLAN      = 4789
	PortVXLANLinux = 8472 // the Linux kernel's VXLAN default before IANA's port, used by flannel
	PortVXLANGPE   = 4790
	PortGeneve     = 6081
	PortWireGuard  = 51820
	PortESPInUDP   = 4500
)

// Config says which UDP ports carry which tunnel. Nil slices take the
// defaults; an empty non-nil slice turns the tunnel off.
type Config struct {
	VXLANPorts     []uint16
	GenevePorts    []uint16
	WireGuardPorts []uint16
	ESPPorts       []uint16
}

type udpKind uint8

const (
	udpPlain udpKind = iota
	udpVXLAN
	udpGeneve
	udpWireGuard
	udpESP
)

// Decoder decodes frames into a reused Packet without allocating.
type Decoder struct {
	p   Packet
	udp [65536]udpKind
}

// New returns a decoder for the tunnel ports in c.
func New(c Config) *Decoder {
	d := &Decoder{}
	set := func(ports, def []uint16, k udpKind) {
		if ports == nil {
			ports = def
		}
		for _, p := range ports {
			d.udp[p] = k
		}
	}
	set(c.VXLANPorts, []uint16{PortVXLAN, PortVXLANLinux, PortVXLANGPE}, udpVXLAN)
	set(c.GenevePorts, []uint16{PortGeneve}, udpGeneve)
	set(c.WireGuardPorts, []uint16{PortWireGuard}, udpWireGuard)
	set(c.ESPPorts, []uint16{PortESPInUDP}, udpESP)
	return d
}

// Link types the decoder reads besides gopacket's named ones: DLT_RAW as
// BSD and OpenBSD number it in old files.
const (
	linkRawBSD     layers.LinkType = 12
	linkRawOpenBSD layers.LinkType = 14
)

// Supported reports whether frames of link type lt can be decoded.
func Supported(lt layers.LinkType) bool {
	switch lt {
	case layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2,
		layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, linkRawBSD, linkRawOpenBSD,
		layers.LinkTypeNull, layers.LinkTypeLoop, layers.LinkTypePPP, layers.LinkTypeIEEE802_11:
		return true
	}
	return false
}

// step is the decoder's next header.
type step uint8

const (
	stDone step = iota
	stEther
	stIP // IPv4 or IPv6 by the version nibble
	stIPv4
	stIPv6
	stMPLS
	stWLAN
)

// Fault reasons. They are constants so a Fault never allocates.
const (
	reasonTruncated   = "header not captured (snap length)"
	reasonShort       = "header longer than the packet"
	reasonBadLength   = "length field exceeds the frame"
	reasonEmpty       = "empty record (length 0)"
	reasonBadVersion  = "wrong IP version"
	reasonBadHeader   = "invalid header length"
	reasonNotIP       = "not IP"
	reasonLinkType    = "unsupported link type"
	reasonTooDeep     = "too many encapsulation layers"
	reasonGREVersion  = "unsupported GRE version"
	reasonGRERouting  = "obsolete GRE routing header"
	reasonGeneveVer   = "unsupported Geneve version"
	reasonProtected   = "encrypted 802.11 frame"
	reasonExtHeaders  = "too many IPv6 extension headers"
	reasonUnknownNext = "unknown inner protocol"
	reasonPPPoE       = "not a PPPoE session frame (version, type or code)"
)

// Decode decodes one frame of link type lt; wire is its original length.
// The Packet is valid until the next call.
func (d *Decoder) Decode(lt layers.LinkType, b []byte, wire int) *Packet {
	p := &d.p
	p.NLayers = 0
	p.IfIndex = -1
	p.Top = TopNone
	p.Version = 0
	p.Fragment = false
	p.Proto = 0
	p.Payload = 0
	p.Fault = Fault{}
	p.Truncated = wire > len(b)
	p.Overlong = false
	avail := max(wire, len(b))
	if avail == 0 {
		return p.fail("record", reasonEmpty)
	}

	st := stDone
	switch lt {
	case layers.LinkTypeEthernet:
		st = stEther
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, linkRawBSD, linkRawOpenBSD:
		st = stIP
	case layers.LinkTypeLinuxSLL:
		if len(b) < 16 {
			return p.fail("sll", reasonTruncated)
		}
		st = etherStep(be16(b[14:]))
		b, avail = b[16:], avail-16
	case layers.LinkTypeLinuxSLL2:
		if len(b) < 20 {
			return p.fail("sll2", reasonTruncated)
		}
		p.IfIndex = int32(be32(b[4:]))
		st = etherStep(be16(b[0:]))
		b, avail = b[20:], avail-20
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(b) < 4 {
			return p.fail("loopback", reasonTruncated)
		}
		// The address family is in the capturing host's byte order for
		// NULL and big-endian for LOOP; both orders are tried.
		af := binary.LittleEndian.Uint32(b)
		if af > 0xffff {
			af = be32(b)
		}
		switch af {
		case 2:
			st = stIPv4
		case 10, 24, 28, 30: // AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD, macOS
			st = stIPv6
		default:
			return p.fail("loopback", reasonNotIP)
		}
		b, avail = b[4:], avail-4
	case layers.LinkTypePPP:
		st, b, avail = p.ppp(b, avail)
	case layers.LinkTypeIEEE802_11:
		st = stWLAN
	default:
		return p.fail("link", reasonLinkType)
	}

	// Every pass through a tunnel pushes a layer, so MaxLayers bounds the
	// loop; the counter is a second guard.
	for range 4 * MaxLayers {
		switch st {
		case stDone:
			return p
		case stEther:
			st, b, avail = p.ether(b, avail)
		case stIP:
			if len(b) < 1 {
				return p.fail("ip", reasonTruncated)
			}
			switch b[0] >> 4 {
			case 4:
				st = stIPv4
			case 6:
				st = stIPv6
			default:
				return p.fail("ip", reasonBadVersion)
			}
		case stIPv4:
			st, b, avail = d.ipv4(b, avail)
		case stIPv6:
			st, b, avail = d.ipv6(b, avail)
		case stMPLS:
			st, b, avail = p.mpls(b, avail)
		case stWLAN:
			st, b, avail = p.wlan(b, avail)
		}
	}
	return p.fail("packet", reasonTooDeep)
}

func (p *Packet) fail(layer, reason string) *Packet {
	p.Fault = Fault{Layer: layer, Reason: reason}
	return p
}

// failStep records a fault and ends decoding.
func (p *Packet) failStep(layer, reason string) (step, []byte, int) {
	p.Fault = Fault{Layer: layer, Reason: reason}
	return stDone, nil, 0
}

// cut ends decoding at a header of need bytes that is not all there:
// longer than the packet when its true length (avail) is short too, else
// cut by the snap length.
func (p *Packet) cut(layer string, need, avail int) (step, []byte, int) {
	if avail < need {
		return p.failStep(layer, reasonShort)
	}
	return p.failStep(layer, reasonTruncated)
}

// push adds an encapsulation layer; false when the stack is full.
func (p *Packet) push(l Layer) bool {
	if p.NLayers == MaxLayers {
		p.Fault = Fault{Layer: l.Kind.String(), Reason: reasonTooDeep}
		return false
	}
	p.Layers[p.NLayers] = l
	p.NLayers++
	return true
}

// pushTunnel adds a tunnel layer whose outer header is the IP header
// decoded last.
func (p *Packet) pushTunnel(k Kind, id uint32, hasID bool) *Layer {
	if !p.push(Layer{Kind: k, ID: id, HasID: hasID, Version: p.Version, Src: p.Src, Dst: p.Dst,
		IPID: p.IPID, HasIPID: p.Version == 4}) {
		return nil
	}
	return &p.Layers[p.NLayers-1]
}

func etherStep(t uint16) step {
	switch t {
	case 0x0800:
		return stIPv4
	case 0x86dd:
		return stIPv6
	case 0x8847, 0x8848:
		return stMPLS
	}
	return stDone
}

func (p *Packet) ether(b []byte, avail int) (step, []byte, int) {
	if len(b) < 14 {
		return p.cut("ethernet", 14, avail)
	}
	t := be16(b[12:])
	b, avail = b[14:], avail-14
	for t == 0x8100 || t == 0x88a8 || t == 0x9100 {
		if len(b) < 4 {
			return p.cut("vlan", 4, avail)
		}
		if !p.push(Layer{Kind: VLAN, ID: uint32(be16(b) & 0x0fff), HasID: true}) {
			return stDone, nil, 0
		}
		t = be16(b[2:])
		b, avail = b[4:], avail-4
	}
	if t == 0x8864 {
		return p.pppoe(b, avail)
	}
	if t < 0x0600 { // an 802.3 length: LLC, possibly with SNAP
		if len(b) >= 8 && b[0] == 0xaa && b[1] == 0xaa && b[2] == 0x03 {
			t = be16(b[6:])
			b, avail = b[8:], avail-8
		}
	}
	st := etherStep(t)
	if st == stDone {
		return p.failStep("ethernet", reasonNotIP)
	}
	return st, b, avail
}

// pppoe reads a PPPoE session header (RFC 2516: version and type 0x11,
// code 0, session ID, length) and the PPP protocol after it. Discovery
// frames (ethertype 0x8863) are not IP and never get here.
func (p *Packet) pppoe(b []byte, avail int) (step, []byte, int) {
	if len(b) < 6 {
		return p.cut("pppoe", 6, avail)
	}
	if b[0] != 0x11 || b[1] != 0 {
		return p.failStep("pppoe", reasonPPPoE)
	}
	if !p.push(Layer{Kind: PPPoE, ID: uint32(be16(b[2:])), HasID: true}) {
		return stDone, nil, 0
	}
	st, b, avail := p.ppp(b[6:], avail-6)
	if p.Fault.Layer == "ppp" {
		p.Fault.Layer = "pppoe"
	}
	return st, b, avail
}

func (p *Packet) ppp(b []byte, avail int) (step, []byte, int) {
	if len(b) >= 2 && b[0] == 0xff && b[1] == 0x03 {
		b, avail = b[2:], avail-2
	}
	if len(b) < 1 {
		return p.failStep("ppp", reasonTruncated)
	}
	var proto uint16
	if b[0]&1 == 1 { // compressed one-byte protocol field
		proto = uint16(b[0])
		b, avail = b[1:], avail-1
	} else {
		if len(b) < 2 {
			return p.failStep("ppp", reasonTruncated)
		}
		proto = be16(b)
		b, avail = b[2:], avail-2
	}
	switch proto {
	case 0x21:
		return stIPv4, b, avail
	case 0x57:
		return stIPv6, b, avail
	case 0x281, 0x283:
		return stMPLS, b, avail
	}
	return p.failStep("ppp", reasonNotIP)
}

func (p *Packet) mpls(b []byte, avail int) (step, []byte, int) {
	first := true
	for {
		if len(b) < 4 {
			return p.failStep("mpls", reasonTruncated)
		}
		v := be32(b)
		if first {
			if !p.push(Layer{Kind: MPLS, ID: v >> 12, HasID: true}) {
				return stDone, nil, 0
			}
			first = false
		}
		b, avail = b[4:], avail-4
		if v&0x100 != 0 { // bottom of stack
			break
		}
	}
	if len(b) < 1 {
		return p.failStep("mpls", reasonTruncated)
	}
	switch b[0] >> 4 {
	case 4:
		return stIPv4, b, avail
	case 6:
		return stIPv6, b, avail
	case 0: // pseudowire control word, then Ethernet
		if len(b) < 4 {
			return p.failStep("mpls", reasonTruncated)
		}
		return stEther, b[4:], avail - 4
	}
	return p.failStep("mpls", reasonUnknownNext)
}

// wlan reads an 802.11 data frame (Aruba sends them in GRE) down to its
// LLC/SNAP ethertype.
func (p *Packet) wlan(b []byte, avail int) (step, []byte, int) {
	if len(b) < 24 {
		return p.failStep("802.11", reasonTruncated)
	}
	fc0, fc1 := b[0], b[1]
	typ, sub := (fc0>>2)&3, fc0>>4
	if typ != 2 || sub&4 != 0 { // not data, or a null-data frame
		return p.failStep("802.11", reasonNotIP)
	}
	if fc1&0x40 != 0 {
		return p.failStep("802.11", reasonProtected)
	}
	hl := 24
	if fc1&3 == 3 {
		hl += 6
	}
	if sub&8 != 0 {
		hl += 2
		if fc1&0x80 != 0 {
			hl += 4
		}
	}
	if len(b) < hl+8 {
		return p.failStep("802.11", reasonTruncated)
	}
	llc := b[hl:]
	if llc[0] != 0xaa || llc[1] != 0xaa || llc[2] != 0x03 {
		return p.failStep("802.11", reasonNotIP)
	}
	st := etherStep(be16(llc[6:]))
	if st == stDone {
		return p.failStep("802.11", reasonNotIP)
	}
	return st, b[hl+8:], avail - hl - 8
}

func (d *Decoder) ipv4(b []byte, avail int) (step, []byte, int) {
	p := &d.p
	if len(b) < 20 {
		if avail < 20 {
			return p.failStep("ipv4", reasonShort)
		}
		return p.failStep("ipv4", reasonTruncated)
	}
	if b[0]>>4 != 4 {
		return p.failStep("ipv4", reasonBadVersion)
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 {
		return p.failStep("ipv4", reasonBadHeader)
	}
	if len(b) < ihl {
		return p.cut("ipv4", ihl, avail)
	}
	total := int(be16(b[2:]))
	switch {
	case total == 0: // TSO or BIG TCP: the frame says how long it is
		total = avail
	case total > avail:
		// The record's original length is shorter than the packet says:
		// a capture tool that trimmed frames and lied about it. The IP
		// header is the better witness of what was on the wire.
		p.Overlong, p.Truncated = true, true
	}
	if total < ihl {
		return p.failStep("ipv4", reasonBadHeader)
	}
	p.Version = 4
	p.Src = [16]byte{b[12], b[13], b[14], b[15]}
	p.Dst = [16]byte{b[16], b[17], b[18], b[19]}
	p.IPID = be16(b[4:])
	ff := be16(b[6:])
	p.DF = ff&0x4000 != 0
	p.TTL = b[8]
	p.Proto = b[9]
	p.IPLen = total
	p.Top = TopIP
	b = b[ihl:min(len(b), total)]
	if ff&0x3fff != 0 { // a fragment: MF set or a non-zero offset
		p.Fragment = true
		if ff&0x1fff != 0 || !d.tunnelInside(p.Proto, b) {
			return stDone, nil, 0
		}
		return d.transport(p.Proto, b, maxDatagram-ihl)
	}
	return d.transport(p.Proto, b, total-ihl)
}

// maxDatagram is the largest IP packet without a jumbogram, the length a
// first fragment's inner packet can have at most.
const maxDatagram = 65535

// tunnelInside says a first fragment (offset 0, more to come) carries a
// tunnel whose inner headers give their own lengths: GRE and IP in IP (the
// inner IP header), VXLAN and Geneve (the UDP length, then the inner IP
// header). The fragment holds all the headers, so the inner packet is
// decoded although the rest of it is in other fragments; a tunnel
// endpoint fragments when encapsulation makes a full-size packet too
// large (ERSPAN and GRE mirror sessions do so routinely). Other fragments
// are counted as fragments.
func (d *Decoder) tunnelInside(proto uint8, b []byte) bool {
	switch proto {
	case 47, 4, 41:
		return true
	case 17:
		if len(b) < 4 {
			return false
		}
		k := d.udp[be16(b[2:])]
		if k == udpPlain {
			k = d.udp[be16(b)]
		}
		return k == udpVXLAN || k == udpGeneve
	}
	return false
}

func (d *Decoder) ipv6(b []byte, avail int) (step, []byte, int) {
	p := &d.p
	if len(b) < 40 {
		if avail < 40 {
			return p.failStep("ipv6", reasonShort)
		}
		return p.failStep("ipv6", reasonTruncated)
	}
	if b[0]>>4 != 6 {
		return p.failStep("ipv6", reasonBadVersion)
	}
	total := 40 + int(be16(b[4:]))
	next := b[6]
	if total == 40 && avail > 40 {
		// Payload length 0: a jumbogram (RFC 2675) with its length in a
		// hop-by-hop option, or a BIG TCP / GSO frame the kernel handed
		// to the capture without one.
		total = avail
		if next == 0 {
			if n, ok := jumboLength(b[40:]); ok {
				total = 40 + n
			}
		}
	}
	if total > avail {
		p.Overlong, p.Truncated = true, true
	}
	p.Version = 6
	p.Src = [16]byte(b[8:24])
	p.Dst = [16]byte(b[24:40])
	p.IPID = 0
	p.DF = true
	p.TTL = b[7]
	p.IPLen = total
	p.Top = TopIP
	b = b[40:min(len(b), total)]
	rest := total - 40
	for range 8 {
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(b) < 2 {
				return p.failStep("ipv6", reasonTruncated)
			}
			n := (int(b[1]) + 1) * 8
			if n > rest {
				return p.failStep("ipv6", reasonBadLength)
			}
			if n > len(b) {
				return p.failStep("ipv6", reasonTruncated)
			}
			next, b, rest = b[0], b[n:], rest-n
		case 44: // fragment
			if len(b) < 8 {
				return p.failStep("ipv6", reasonTruncated)
			}
			if fo := be16(b[2:]); fo&0xfff9 != 0 { // offset or M set
				p.Proto = b[0]
				p.Fragment = true
				if fo&0xfff8 != 0 || !d.tunnelInside(b[0], b[8:]) {
					return stDone, nil, 0
				}
				next, b, rest = b[0], b[8:], maxDatagram
				continue
			}
			next, b, rest = b[0], b[8:], rest-8
		case 51: // authentication header
			if len(b) < 2 {
				return p.failStep("ipv6", reasonTruncated)
			}
			n := (int(b[1]) + 2) * 4
			if n > rest {
				return p.failStep("ipv6", reasonBadLength)
			}
			if n > len(b) {
				return p.failStep("ipv6", reasonTruncated)
			}
			next, b, rest = b[0], b[n:], rest-n
		default:
			p.Proto = next
			return d.transport(next, b, rest)
		}
	}
	return p.failStep("ipv6", reasonExtHeaders)
}

// jumboLength finds the jumbo payload option in a hop-by-hop header.
func jumboLength(b []byte) (int, bool) {
	if len(b) < 2 {
		return 0, false
	}
	n := min((int(b[1])+1)*8, len(b))
	for i := 2; i < n; {
		t := b[i]
		if t == 0 { // Pad1
			i++
			continue
		}
		if i+1 >= n {
			break
		}
		l := int(b[i+1])
		if t == 0xc2 && l == 4 && i+6 <= n {
			return int(be32(b[i+2:])), true
		}
		i += 2 + l
	}
	return 0, false
}

// transport decodes what follows an IP header: b is what was captured of
// the payload, avail its true length.
func (d *Decoder) transport(proto uint8, b []byte, avail int) (step, []byte, int) {
	p := &d.p
	switch proto {
	case 6:
		p.tcp(b, avail)
		return stDone, nil, 0
	case 17:
		return d.udpLayer(b, avail)
	case 47:
		return p.gre(b, avail)
	case 4, 41:
		l := p.pushTunnel(IPIP, 0, false)
		if l == nil {
			return stDone, nil, 0
		}
		if proto == 4 {
			l.Inner = 4
			return stIPv4, b, avail
		}
		l.Inner = 6
		return stIPv6, b, avail
	case 50:
		if len(b) < 8 {
			return p.cut("esp", 8, avail)
		}
		p.Top = TopESP
		p.ESP = ESP{SPI: be32(b), Seq: be32(b[4:])}
		p.Payload = avail - 8
		return stDone, nil, 0
	}
	return stDone, nil, 0
}

func (p *Packet) tcp(b []byte, avail int) {
	if avail < 20 {
		p.failStep("tcp", reasonShort)
		return
	}
	if len(b) < 20 {
		p.failStep("tcp", reasonTruncated)
		return
	}
	hl := int(b[12]>>4) * 4
	if hl < 20 || hl > avail {
		p.failStep("tcp", reasonBadHeader)
		return
	}
	t := &p.TCP
	p.SrcPort, p.DstPort = be16(b), be16(b[2:])
	t.Seq, t.Ack = be32(b[4:]), be32(b[8:])
	t.Flags = b[13]
	t.Window = be16(b[14:])
	t.Checksum = be16(b[16:])
	t.HeaderLen = uint8(hl)
	switch n := len(b) - hl; {
	case n >= 8:
		t.Head = binary.BigEndian.Uint64(b[hl:])
	default:
		t.Head = 0
		for i := hl; i < len(b); i++ {
			t.Head = t.Head<<8 | uint64(b[i])
		}
	}
	t.MSS, t.WScale, t.SACKPermitted, t.NSACK = 0, -1, false, 0
	t.HasTS, t.TSval, t.TSecr = false, 0, 0
	t.OptionsCut, t.OptionsBad = len(b) < hl, false
	p.Payload = avail - hl
	p.Top = TopTCP
	if hl > 20 {
		t.options(b[20:min(hl, len(b))])
	}
}

func (t *TCP) options(o []byte) {
	// The common case first: NOP NOP timestamps.
	if len(o) == 12 && o[0] == 1 && o[1] == 1 && o[2] == 8 && o[3] == 10 {
		t.HasTS, t.TSval, t.TSecr = true, be32(o[4:]), be32(o[8:])
		return
	}
	for i := 0; i < len(o); {
		switch o[i] {
		case 0:
			return
		case 1:
			i++
			continue
		}
		if i+1 >= len(o) { // a kind without its length
			t.OptionsBad = !t.OptionsCut
			return
		}
		l := int(o[i+1])
		if l < 2 || i+l > len(o) {
			// Malformed, unless the snap length cut the options: the
			// rest cannot be trusted.
			t.OptionsBad = l < 2 || !t.OptionsCut
			return
		}
		v := o[i+2 : i+l]
		switch o[i] {
		case 2:
			if l == 4 {
				t.MSS = be16(v)
			}
		case 3:
			if l == 3 {
				t.WScale = int8(min(v[0], 14))
			}
		case 4:
			t.SACKPermitted = true
		case 5:
			for n := 0; n+8 <= len(v) && t.NSACK < 4; n += 8 {
				t.SACK[t.NSACK] = SACKBlock{Left: be32(v[n:]), Right: be32(v[n+4:])}
				t.NSACK++
			}
		case 8:
			if l == 10 {
				t.HasTS, t.TSval, t.TSecr = true, be32(v), be32(v[4:])
			}
		}
		i += l
	}
}

func (d *Decoder) udpLayer(b []byte, avail int) (step, []byte, int) {
	p := &d.p
	if avail < 8 {
		return p.failStep("udp", reasonShort)
	}
	if len(b) < 8 {
		return p.failStep("udp", reasonTruncated)
	}
	p.SrcPort, p.DstPort = be16(b), be16(b[2:])
	ulen := int(be16(b[4:]))
	switch {
	case ulen == 0: // UDP over IPv6 jumbograms and GSO frames
		ulen = avail
	case ulen < 8:
		return p.failStep("udp", reasonBadHeader)
	case ulen > avail:
		return p.failStep("udp", reasonBadLength)
	}
	p.Top = TopUDP
	p.Payload = ulen - 8
	b = b[8:min(len(b), ulen)]
	avail = ulen - 8
	k := d.udp[p.DstPort]
	if k == udpPlain {
		k = d.udp[p.SrcPort]
	}
	switch k {
	case udpVXLAN:
		return p.vxlan(b, avail)
	case udpGeneve:
		return p.geneve(b, avail)
	case udpWireGuard:
		p.wireguard(b, avail)
	case udpESP:
		// A one-byte 0xff is a NAT keepalive; a zero SPI marks IKE.
		if len(b) >= 8 && avail > 8 && be32(b) != 0 {
			p.Top = TopESP
			p.ESP = ESP{SPI: be32(b), Seq: be32(b[4:]), UDP: true}
			p.Payload = avail - 8
		}
	}
	return stDone, nil, 0
}

func (p *Packet) vxlan(b []byte, avail int) (step, []byte, int) {
	if len(b) < 8 {
		return p.cut("vxlan", 8, avail)
	}
	flags, next := b[0], b[3]
	vni := be32(b[4:]) >> 8
	if p.pushTunnel(VXLAN, vni, flags&0x08 != 0) == nil {
		return stDone, nil, 0
	}
	b, avail = b[8:], avail-8
	if flags&0x04 == 0 {
		return stEther, b, avail
	}
	switch next { // VXLAN-GPE names the next protocol
	case 1:
		return stIPv4, b, avail
	case 2:
		return stIPv6, b, avail
	case 3:
		return stEther, b, avail
	case 5:
		return stMPLS, b, avail
	}
	return p.failStep("vxlan", reasonUnknownNext)
}

func (p *Packet) geneve(b []byte, avail int) (step, []byte, int) {
	if len(b) < 8 {
		return p.cut("geneve", 8, avail)
	}
	if b[0]>>6 != 0 {
		return p.failStep("geneve", reasonGeneveVer)
	}
	hl := 8 + int(b[0]&0x3f)*4
	proto := be16(b[2:])
	vni := be32(b[4:]) >> 8
	if hl > avail {
		return p.failStep("geneve", reasonShort)
	}
	if hl > len(b) {
		return p.failStep("geneve", reasonTruncated)
	}
	if p.pushTunnel(Geneve, vni, true) == nil {
		return stDone, nil, 0
	}
	b, avail = b[hl:], avail-hl
	if proto == 0x6558 {
		return stEther, b, avail
	}
	st := etherStep(proto)
	if st == stDone {
		return p.failStep("geneve", reasonUnknownNext)
	}
	return st, b, avail
}

func (p *Packet) wireguard(b []byte, avail int) {
	if len(b) < 4 || b[1] != 0 || b[2] != 0 || b[3] != 0 {
		return
	}
	switch t := b[0]; {
	case t == WGData && len(b) >= 16 && avail >= 32: // header and an empty AEAD tag at least
		p.Top = TopWireGuard
		p.WireGuard = WireGuard{Type: t, Receiver: binary.LittleEndian.Uint32(b[4:]), Counter: binary.LittleEndian.Uint64(b[8:])}
		p.Payload = avail - 16
	case t == WGInitiation && avail == 148, t == WGResponse && avail == 92, t == WGCookie && avail == 64:
		p.Top = TopWireGuard
		p.WireGuard = WireGuard{Type: t}
	}
}

func (p *Packet) gre(b []byte, avail int) (step, []byte, int) {
	if len(b) < 4 {
		return p.cut("gre", 4, avail)
	}
	flags, proto := be16(b), be16(b[2:])
	if flags&7 != 0 {
		return p.failStep("gre", reasonGREVersion)
	}
	if flags&0x4000 != 0 {
		return p.failStep("gre", reasonGRERouting)
	}
	hl := 4
	if flags&0x8000 != 0 { // checksum
		hl += 4
	}
	var key, seq uint32
	hasKey, hasSeq := flags&0x2000 != 0, flags&0x1000 != 0
	need := hl
	if hasKey {
		need += 4
	}
	if hasSeq {
		need += 4
	}
	if need > avail {
		return p.failStep("gre", reasonShort)
	}
	if need > len(b) {
		return p.failStep("gre", reasonTruncated)
	}
	if hasKey {
		key = be32(b[hl:])
		hl += 4
	}
	if hasSeq {
		seq = be32(b[hl:])
		hl += 4
	}
	l := p.pushTunnel(GRE, key, hasKey)
	if l == nil {
		return stDone, nil, 0
	}
	l.Seq, l.HasSeq = seq, hasSeq
	b, avail = b[hl:], avail-hl
	switch proto {
	case 0x6558: // transparent Ethernet bridging
		return stEther, b, avail
	case 0x88be: // ERSPAN type II, or type I without a sequence number
		if !hasSeq {
			if !p.pushERSPAN(0, false) {
				return stDone, nil, 0
			}
			return stEther, b, avail
		}
		if len(b) < 8 {
			return p.cut("erspan", 8, avail)
		}
		if !p.pushERSPAN(uint32(be16(b[2:])&0x3ff), true) {
			return stDone, nil, 0
		}
		return stEther, b[8:], avail - 8
	case 0x22eb: // ERSPAN type III, with an optional platform sub-header
		if len(b) < 12 {
			return p.cut("erspan", 12, avail)
		}
		n := 12
		if b[11]&1 != 0 {
			n += 8
		}
		if len(b) < n {
			return p.cut("erspan", n, avail)
		}
		if !p.pushERSPAN(uint32(be16(b[2:])&0x3ff), true) {
			return stDone, nil, 0
		}
		return stEther, b[n:], avail - n
	case 0x8200: // Aruba: 802.11 frames from access points
		return stWLAN, b, avail
	}
	st := etherStep(proto)
	if st == stDone {
		return p.failStep("gre", reasonUnknownNext)
	}
	return st, b, avail
}

// pushERSPAN adds an ERSPAN session inside the GRE layer just pushed: its
// endpoints are the GRE packet's outer addresses. The outer IPv4 ID and
// GRE sequence stay with the GRE layer, so they are measured once.
func (p *Packet) pushERSPAN(session uint32, hasID bool) bool {
	l := p.pushTunnel(ERSPAN, session, hasID)
	if l == nil {
		return false
	}
	l.IPID, l.HasIPID = 0, false
	return true
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
