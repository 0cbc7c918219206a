package decode_test

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/netdx/netdx/capture/capturetest"
	"github.com/netdx/netdx/capture/decode"
)

// frames builds one TCP segment inside each supported link type and
// tunnel, as the fuzz seeds and the cross-check use.
func frames(t testing.TB) map[string]struct {
	link layers.LinkType
	data []byte
} {
	out := map[string]struct {
		link layers.LinkType
		data []byte
	}{}
	a, b := netip.MustParseAddr("198.18.10.1"), netip.MustParseAddr("198.18.10.2")
	a6, b6 := netip.MustParseAddr("2001:db8:10::1"), netip.MustParseAddr("2001:db8:10::2")
	for _, tc := range []struct {
		name  string
		link  layers.LinkType
		v6    bool
		encap []capturetest.Spec
	}{
		{"ethernet", layers.LinkTypeEthernet, false, nil},
		{"ethernet-v6", layers.LinkTypeEthernet, true, nil},
		{"sll", layers.LinkTypeLinuxSLL, false, nil},
		{"sll2", layers.LinkTypeLinuxSLL2, true, nil},
		{"raw", layers.LinkTypeRaw, false, nil},
		{"null", layers.LinkTypeNull, true, nil},
		{"loop", layers.LinkTypeLoop, false, nil},
		{"ppp", layers.LinkTypePPP, false, nil},
		{"qinq", layers.LinkTypeEthernet, false, []capturetest.Spec{{Kind: "vlan", ID: 100}, {Kind: "vlan", ID: 10}}},
		{"mpls", layers.LinkTypeEthernet, false, []capturetest.Spec{{Kind: "mpls", ID: 16}}},
		{"vxlan", layers.LinkTypeEthernet, false, []capturetest.Spec{{Kind: "vxlan", ID: 42, Src: a, Dst: b}}},
		{"geneve", layers.LinkTypeEthernet, true, []capturetest.Spec{{Kind: "geneve", ID: 7, Src: a6, Dst: b6}}},
		{"gre-key-seq", layers.LinkTypeEthernet, false, []capturetest.Spec{{Kind: "gre", ID: 9, HasKey: true, HasSeq: true, Seq: 77, Src: a, Dst: b}}},
		{"6in4", layers.LinkTypeEthernet, true, []capturetest.Spec{{Kind: "ipip", Src: a, Dst: b}}},
		{"4in6", layers.LinkTypeRaw, false, []capturetest.Spec{{Kind: "ipip", Src: a6, Dst: b6}}},
		{"vxlan-in-gre", layers.LinkTypeEthernet, false, []capturetest.Spec{{Kind: "gre", Src: a6, Dst: b6}, {Kind: "vxlan", ID: 3, Src: a, Dst: b}}},
		{"pppoe", layers.LinkTypeEthernet, false, []capturetest.Spec{{Kind: "pppoe", ID: 0x1234}}},
		{"pppoe-qinq-v6", layers.LinkTypeEthernet, true, []capturetest.Spec{{Kind: "vlan", ID: 100}, {Kind: "vlan", ID: 10}, {Kind: "pppoe", ID: 7}}},
		{"erspan", layers.LinkTypeEthernet, false, []capturetest.Spec{{Kind: "erspan", ID: 33, Seq: 5, Src: a, Dst: b}}},
	} {
		g := capturetest.NewGen(t, tc.link)
		client, server := "198.18.0.1:40000", "198.18.1.1:443"
		if tc.v6 {
			client, server = "[2001:db8::1]:40000", "[2001:db8::2]:443"
		}
		c := capturetest.NewConv(g, client, server)
		c.Encap = tc.encap
		f := c.Data(0, 0, 100)
		f.SACK = [][2]uint32{{5000, 6000}}
		out[tc.name] = struct {
			link layers.LinkType
			data []byte
		}{tc.link, g.Build(&f, tc.link)}
	}
	return out
}

// The decoder agrees with gopacket's own decoding on every supported stack:
// addresses, ports, sequence numbers and payload length.
func TestDecodeAgreesWithGopacket(t *testing.T) {
	d := decode.New(decode.Config{})
	for name, fr := range frames(t) {
		p := d.Decode(fr.link, fr.data, len(fr.data))
		if p.Top != decode.TopTCP || p.Fault.Reason != "" {
			t.Errorf("%s: top %d fault %v", name, p.Top, p.Fault)
			continue
		}
		gp := gopacket.NewPacket(fr.data, fr.link, gopacket.Default)
		var tcp *layers.TCP
		var src, dst []byte
		for _, l := range gp.Layers() {
			switch x := l.(type) {
			case *layers.IPv4:
				src, dst = x.SrcIP, x.DstIP
			case *layers.IPv6:
				src, dst = x.SrcIP, x.DstIP
			case *layers.TCP:
				tcp = x
			}
		}
		if tcp == nil {
			t.Logf("%s: gopacket did not reach TCP; checked against the generator only", name)
			if p.TCP.Seq != 1001 || p.Payload != 100 {
				t.Errorf("%s: seq %d payload %d", name, p.TCP.Seq, p.Payload)
			}
			continue
		}
		if p.SrcAddr().String() != ipString(src) || p.DstAddr().String() != ipString(dst) || p.SrcPort != uint16(tcp.SrcPort) || p.DstPort != uint16(tcp.DstPort) ||
			p.TCP.Seq != tcp.Seq || p.TCP.Ack != tcp.Ack || p.Payload != len(tcp.Payload) || p.TCP.NSACK != 1 || !p.TCP.HasTS {
			t.Errorf("%s: decoded %v:%d > %v:%d seq %d ack %d payload %d sack %d; gopacket %s:%d > %s:%d seq %d ack %d payload %d",
				name, p.SrcAddr(), p.SrcPort, p.DstAddr(), p.DstPort, p.TCP.Seq, p.TCP.Ack, p.Payload, p.TCP.NSACK,
				ipString(src), tcp.SrcPort, ipString(dst), tcp.DstPort, tcp.Seq, tcp.Ack, len(tcp.Payload))
		}
	}
}

// PPPoE sessions are layers of their own, keyed by session ID; ERSPAN
// sessions carry the GRE packet's outer addresses.
func TestDecodePPPoEAndERSPAN(t *testing.T) {
	d := decode.New(decode.Config{})
	fr := frames(t)
	p := d.Decode(fr["pppoe-qinq-v6"].link, fr["pppoe-qinq-v6"].data, len(fr["pppoe-qinq-v6"].data))
	if p.Top != decode.TopTCP || p.NLayers != 3 || p.Layers[2].Kind != decode.PPPoE || p.Layers[2].ID != 7 || p.Layers[2].Kind.IsTunnel() {
		t.Errorf("pppoe over qinq: top %d layers %+v", p.Top, p.Layers[:p.NLayers])
	}
	p = d.Decode(fr["erspan"].link, fr["erspan"].data, len(fr["erspan"].data))
	if p.Top != decode.TopTCP || p.NLayers != 2 || p.Layers[1].Kind != decode.ERSPAN || p.Layers[1].ID != 33 ||
		p.Layers[1].SrcAddr().String() != "198.18.10.1" || p.Layers[1].DstAddr().String() != "198.18.10.2" || p.Layers[1].HasIPID {
		t.Errorf("erspan: top %d layers %+v", p.Top, p.Layers[:p.NLayers])
	}
	// A discovery frame (0x8863) is not IP; a session frame with a wrong
	// version says why it stopped.
	disc := append([]byte(nil), fr["pppoe"].data...)
	binary.BigEndian.PutUint16(disc[12:], 0x8863)
	if p = d.Decode(layers.LinkTypeEthernet, disc, len(disc)); p.Top != decode.TopNone || p.Fault.String() != "ethernet: not IP" {
		t.Errorf("pppoe discovery: top %d fault %v", p.Top, p.Fault)
	}
	bad := append([]byte(nil), fr["pppoe"].data...)
	bad[14] = 0x21
	if p = d.Decode(layers.LinkTypeEthernet, bad, len(bad)); p.Top != decode.TopNone || p.Fault.Layer != "pppoe" {
		t.Errorf("pppoe version 2: top %d fault %v", p.Top, p.Fault)
	}
}

// The TCP checksum and the first payload bytes are read, so equal headers
// over different data can be told apart.
func TestDecodeChecksumAndHead(t *testing.T) {
	g := capturetest.NewGen(t, layers.LinkTypeEthernet)
	c := capturetest.NewConv(g, "198.18.0.1:40000", "198.18.1.1:443")
	f := c.Data(0, 0, 100)
	f.Data = []byte("0123456789")
	b := g.Build(&f, layers.LinkTypeEthernet)
	d := decode.New(decode.Config{})
	p := d.Decode(layers.LinkTypeEthernet, b, len(b))
	if p.TCP.Head != binary.BigEndian.Uint64([]byte("01234567")) || p.TCP.Checksum != binary.BigEndian.Uint16(b[14+20+16:]) {
		t.Errorf("head %x checksum %x", p.TCP.Head, p.TCP.Checksum)
	}
	p = d.Decode(layers.LinkTypeEthernet, b[:14+20+32+3], len(b))
	if p.TCP.Head != uint64(0x303132) {
		t.Errorf("snap-cut head %x, want the 3 captured bytes", p.TCP.Head)
	}
}

// A tunnel packet fragmented outside (its outer IPv4 header): the first
// fragment holds every header, so the inner segment is decoded with its
// true length from the inner IP header; the rest are fragments. A plain
// TCP first fragment stays a fragment: its length is not known.
func TestDecodeFirstFragmentOfTunnel(t *testing.T) {
	g := capturetest.NewGen(t, layers.LinkTypeEthernet)
	c := capturetest.NewConv(g, "198.18.0.1:40000", "198.18.1.1:443")
	c.Encap = []capturetest.Spec{{Kind: "gre", ID: 5, HasKey: true, Src: netip.MustParseAddr("198.18.10.1"), Dst: netip.MustParseAddr("198.18.10.2")}}
	f := c.Data(0, 0, 1400)
	b := g.Build(&f, layers.LinkTypeEthernet)
	frag := func(b []byte, offset uint16, more bool, n int) []byte {
		x := append([]byte(nil), b[:14+n]...)
		ff := offset / 8
		if more {
			ff |= 0x2000
		}
		binary.BigEndian.PutUint16(x[14+6:], ff)
		binary.BigEndian.PutUint16(x[14+2:], uint16(n))
		return x
	}
	d := decode.New(decode.Config{})
	first := frag(b, 0, true, 1000)
	p := d.Decode(layers.LinkTypeEthernet, first, len(first))
	if p.Top != decode.TopTCP || !p.Fragment || p.Payload != 1400 || p.Overlong || p.NLayers != 1 || p.Layers[0].ID != 5 {
		t.Errorf("first fragment: top %d fragment %v payload %d overlong %v layers %+v", p.Top, p.Fragment, p.Payload, p.Overlong, p.Layers[:p.NLayers])
	}
	second := frag(b, 976, false, 200)
	if p = d.Decode(layers.LinkTypeEthernet, second, len(second)); p.Top != decode.TopIP || !p.Fragment {
		t.Errorf("second fragment: top %d fragment %v", p.Top, p.Fragment)
	}
	plain := frames(t)["ethernet"].data
	if p = d.Decode(layers.LinkTypeEthernet, frag(plain, 0, true, 60), 14+60); p.Top != decode.TopIP || !p.Fragment {
		t.Errorf("plain TCP first fragment: top %d fragment %v", p.Top, p.Fragment)
	}
}

func ipString(b []byte) string {
	a, _ := netip.AddrFromSlice(b)
	return a.Unmap().String()
}

// A frame cut by the snap length keeps its true lengths; IPv4 total length
// 0 (TSO) takes the frame's original length.
func TestDecodeTrueLengths(t *testing.T) {
	d := decode.New(decode.Config{})
	fr := frames(t)["vxlan"]
	p := d.Decode(fr.link, fr.data[:110], len(fr.data))
	if p.Top != decode.TopTCP || p.Payload != 100 || !p.Truncated || p.Layers[0].Kind != decode.VXLAN || p.Layers[0].ID != 42 {
		t.Errorf("snap-cut vxlan frame: top %d payload %d truncated %v layers %+v", p.Top, p.Payload, p.Truncated, p.Layers[:p.NLayers])
	}
	eth := append([]byte(nil), frames(t)["ethernet"].data...)
	binary.BigEndian.PutUint16(eth[14+2:], 0)
	big := 64000
	p = d.Decode(layers.LinkTypeEthernet, eth[:80], big)
	want := big - 14 - 20 - 44 // TCP header: timestamps and one SACK block
	if p.Top != decode.TopTCP || p.Payload != want {
		t.Errorf("TSO frame: payload %d, want %d", p.Payload, want)
	}
}

// A segment without the timestamps option decodes with TSval and TSecr 0,
// whatever the decoder decoded before: the analysis fingerprints segments
// with them, so a stale pair from another flow's packet would make its
// duplicate detection depend on the packet before.
func TestDecodeNoTimestampsAfterTimestamps(t *testing.T) {
	g := capturetest.NewGen(t, layers.LinkTypeEthernet)
	c := capturetest.NewConv(g, "198.18.0.1:40000", "198.18.1.1:443")
	withTS := c.Data(0, 0, 100)
	withTS.HasTS, withTS.TS, withTS.TSecr = true, 7000, 6999
	plain := c.Data(0, 100, 100)
	plain.HasTS = false
	d := decode.New(decode.Config{})
	b := g.Build(&withTS, layers.LinkTypeEthernet)
	if p := d.Decode(layers.LinkTypeEthernet, b, len(b)); !p.TCP.HasTS || p.TCP.TSval != 7000 || p.TCP.TSecr != 6999 {
		t.Fatalf("with timestamps: %+v", p.TCP)
	}
	b = g.Build(&plain, layers.LinkTypeEthernet)
	if p := d.Decode(layers.LinkTypeEthernet, b, len(b)); p.TCP.HasTS || p.TCP.TSval != 0 || p.TCP.TSecr != 0 {
		t.Errorf("without timestamps, after a segment with them: has %v, TSval %d, TSecr %d", p.TCP.HasTS, p.TCP.TSval, p.TCP.TSecr)
	}
}
