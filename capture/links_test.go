package capture

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	ct "github.com/netdx/netdx/capture/capturetest"

	"github.com/gopacket/gopacket/layers"
)

var (
	outerA  = netip.MustParseAddr("198.18.10.1")
	outerB  = netip.MustParseAddr("198.18.10.2")
	outer6A = netip.MustParseAddr("2001:db8:10::1")
	outer6B = netip.MustParseAddr("2001:db8:10::2")
)

// Every link type and tunnel must give the scenario's exact truth, name
// the encapsulation and find the tunnel.
func TestLinkTypesAndTunnels(t *testing.T) {
	for _, tc := range []struct {
		name   string
		link   layers.LinkType
		v6     bool
		encap  []ct.Spec
		opts   Options
		stack  string // flow encapsulation kinds, outermost first
		tunnel string // innermost tunnel kind, "" none
	}{
		{name: "ethernet", link: layers.LinkTypeEthernet},
		{name: "ethernet ipv6", link: layers.LinkTypeEthernet, v6: true},
		{name: "linux sll", link: layers.LinkTypeLinuxSLL},
		{name: "linux sll2", link: layers.LinkTypeLinuxSLL2},
		{name: "raw ipv4", link: layers.LinkTypeRaw},
		{name: "raw ipv6", link: layers.LinkTypeRaw, v6: true},
		{name: "linktype ipv4", link: layers.LinkTypeIPv4},
		{name: "linktype ipv6", link: layers.LinkTypeIPv6, v6: true},
		{name: "bsd null", link: layers.LinkTypeNull},
		{name: "bsd null ipv6", link: layers.LinkTypeNull, v6: true},
		{name: "bsd loop", link: layers.LinkTypeLoop},
		{name: "ppp", link: layers.LinkTypePPP},
		{name: "802.1q", link: layers.LinkTypeEthernet, encap: []ct.Spec{{Kind: "vlan", ID: 10}}, stack: "vlan"},
		{name: "qinq", link: layers.LinkTypeEthernet, encap: []ct.Spec{{Kind: "vlan", ID: 100}, {Kind: "vlan", ID: 10}}, stack: "vlan vlan"},
		{name: "mpls", link: layers.LinkTypeEthernet, encap: []ct.Spec{{Kind: "mpls", ID: 16}, {Kind: "mpls", ID: 17}}, stack: "mpls"},
		{name: "pppoe", link: layers.LinkTypeEthernet, encap: []ct.Spec{{Kind: "pppoe", ID: 0x2a}}, stack: "pppoe"},
		{name: "pppoe over qinq ipv6", link: layers.LinkTypeEthernet, v6: true,
			encap: []ct.Spec{{Kind: "vlan", ID: 100}, {Kind: "vlan", ID: 10}, {Kind: "pppoe", ID: 7}}, stack: "vlan vlan pppoe"},
		{name: "erspan", link: layers.LinkTypeEthernet, encap: []ct.Spec{{Kind: "erspan", ID: 33, Seq: 1, Src: outerA, Dst: outerB}},
			stack: "gre erspan", tunnel: "erspan"},
		{name: "vxlan", link: layers.LinkTypeEthernet, encap: []ct.Spec{{Kind: "vxlan", ID: 42, Src: outerA, Dst: outerB}}, stack: "vxlan", tunnel: "vxlan"},
		{name: "vxlan port 8472", link: layers.LinkTypeEthernet, encap: []ct.Spec{{Kind: "vxlan", ID: 42, Port: 8472, Src: outerA, Dst: outerB}}, stack: "vxlan", tunnel: "vxlan"},
		{name: "vxlan --vxlan-port 9999", link: layers.LinkTypeEthernet, opts: Options{VXLANPorts: []uint16{9999}},
			encap: []ct.Spec{{Kind: "vxlan", ID: 42, Port: 9999, Src: outerA, Dst: outerB}}, stack: "vxlan", tunnel: "vxlan"},
		{name: "vxlan ipv6 outer and inner", link: layers.LinkTypeEthernet, v6: true, encap: []ct.Spec{{Kind: "vxlan", ID: 7, Src: outer6A, Dst: outer6B}}, stack: "vxlan", tunnel: "vxlan"},
		{name: "vxlan in vlan with inner vlan", link: layers.LinkTypeEthernet,
			encap: []ct.Spec{{Kind: "vlan", ID: 5}, {Kind: "vxlan", ID: 42, Src: outerA, Dst: outerB}, {Kind: "vlan", ID: 20}}, stack: "vlan vxlan vlan", tunnel: "vxlan"},
		{name: "geneve", link: layers.LinkTypeEthernet, encap: []ct.Spec{{Kind: "geneve", ID: 99, Src: outerA, Dst: outerB}}, stack: "geneve", tunnel: "geneve"},
		{name: "gre with key", link: layers.LinkTypeEthernet, encap: []ct.Spec{{Kind: "gre", ID: 1234, HasKey: true, Src: outerA, Dst: outerB}}, stack: "gre", tunnel: "gre"},
		{name: "gre over ipv6", link: layers.LinkTypeEthernet, v6: true, encap: []ct.Spec{{Kind: "gre", Src: outer6A, Dst: outer6B}}, stack: "gre", tunnel: "gre"},
		{name: "4in4", link: layers.LinkTypeEthernet, encap: []ct.Spec{{Kind: "ipip", Src: outerA, Dst: outerB}}, stack: "4in4", tunnel: "4in4"},
		{name: "6in4", link: layers.LinkTypeEthernet, v6: true, encap: []ct.Spec{{Kind: "ipip", Src: outerA, Dst: outerB}}, stack: "6in4", tunnel: "6in4"},
		{name: "4in6", link: layers.LinkTypeEthernet, encap: []ct.Spec{{Kind: "ipip", Src: outer6A, Dst: outer6B}}, stack: "4in6", tunnel: "4in6"},
		{name: "6in6", link: layers.LinkTypeRaw, v6: true, encap: []ct.Spec{{Kind: "ipip", Src: outer6A, Dst: outer6B}}, stack: "6in6", tunnel: "6in6"},
		{name: "vxlan inside gre", link: layers.LinkTypeEthernet,
			encap: []ct.Spec{{Kind: "gre", Src: outer6A, Dst: outer6B}, {Kind: "vxlan", ID: 3, Src: outerA, Dst: outerB}}, stack: "gre vxlan", tunnel: "vxlan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := ct.NewGen(t, tc.link)
			client, server := "198.18.0.1:40000", "198.18.1.1:5201"
			if tc.v6 {
				client, server = "[2001:db8::1]:40000", "[2001:db8::2]:5201"
			}
			c := ct.NewConv(g, client, server)
			c.Encap = tc.encap
			ct.RetransScenario(c)
			res := analyzeBytes(t, g.Pcap(), tc.opts)
			f := checkScenario(t, res)
			var kinds []string
			for _, e := range f.Encap {
				kinds = append(kinds, e.Kind)
			}
			if got := strings.Join(kinds, " "); got != tc.stack {
				t.Errorf("encapsulation %q, want %q", got, tc.stack)
			}
			if tc.tunnel == "" {
				if len(res.Tunnels) != 0 || f.Tunnel != -1 {
					t.Errorf("tunnels %d, flow tunnel %d, want none", len(res.Tunnels), f.Tunnel)
				}
				return
			}
			if f.Tunnel < 0 || res.Tunnels[f.Tunnel].Kind != tc.tunnel {
				t.Fatalf("flow tunnel %d of %d, want a %s", f.Tunnel, len(res.Tunnels), tc.tunnel)
			}
			tun := res.Tunnels[f.Tunnel]
			if !tun.A.IsValid() || !tun.B.IsValid() {
				t.Errorf("tunnel endpoints %v - %v", tun.A, tun.B)
			}
			if tun.Flows != 1 || tun.Inner.Retransmission.Packets != scenarioWant.retrans || tun.Inner.Reorder.Reordered != scenarioWant.reordered {
				t.Errorf("tunnel flows %d inner retrans %d reordered %d", tun.Flows, tun.Inner.Retransmission.Packets, tun.Inner.Reorder.Reordered)
			}
			if n := tun.Dir[0].Packets + tun.Dir[1].Packets; n != uint64(len(g.Recs)) {
				t.Errorf("tunnel packets %d, want %d", n, len(g.Recs))
			}
		})
	}
}

// The file formats: pcap in both byte orders and resolutions, pcapng with
// interfaces of different link types, gzip.
func TestFileFormats(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	ct.RetransScenario(ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201"))
	for _, tc := range []struct {
		name   string
		data   []byte
		format string
		nano   bool
	}{
		{"pcap usec little-endian", g.Pcap(), "pcap", false},
		{"pcap nsec little-endian", g.PcapNano(), "pcap", true},
		{"pcap usec big-endian", g.PcapBigEndian(false), "pcap", false},
		{"pcap nsec big-endian", g.PcapBigEndian(true), "pcap", true},
		{"pcapng", g.Pcapng(), "pcapng", false},
		{"gzip pcap", ct.Gzip(t, g.Pcap()), "pcap", false},
		{"gzip pcapng", ct.Gzip(t, g.Pcapng()), "pcapng", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := analyzeBytes(t, tc.data, Options{})
			checkScenario(t, res)
			if res.Format != tc.format || res.NanoTimestamps != tc.nano || res.Gzip != strings.HasPrefix(tc.name, "gzip") {
				t.Errorf("format %s nano %v gzip %v", res.Format, res.NanoTimestamps, res.Gzip)
			}
			if res.Packets != uint64(len(g.Recs)) || !res.Complete {
				t.Errorf("packets %d complete %v, want %d true", res.Packets, res.Complete, len(g.Recs))
			}
			if !res.First.Equal(g.Recs[0].CI.Timestamp) {
				t.Errorf("first %v, want %v", res.First, g.Recs[0].CI.Timestamp)
			}
		})
	}
}

// Classic pcap files of every 2.x format version are read: 2.1 and 2.2
// files hold each record's original length before its captured length,
// 2.3 files either way round, 2.4 as today; so is Kuznetzov's modified
// format (longer record headers). Every record here is cut to
// 100 bytes, so only a reader that puts the lengths back in order sees
// them all as snap-truncated (and finds the records at all). Version 1.0
// is refused with a message that names the versions netdx reads.
func TestPcapFormatVersions(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	ct.RetransScenario(ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201"))
	for i := range g.Recs {
		r := &g.Recs[i]
		r.Data, r.CI.CaptureLength = r.Data[:min(100, len(r.Data))], min(100, len(r.Data))
	}
	var cut uint64
	for _, r := range g.Recs {
		if r.CI.CaptureLength < r.CI.Length {
			cut++
		}
	}
	for _, tc := range []struct {
		name    string
		minor   uint16
		swapped bool
	}{
		{"2.1 swapped", 1, true},
		{"2.2 swapped", 2, true},
		{"2.3 swapped", 3, true},
		{"2.3 in order", 3, false},
		{"2.4", 4, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := analyzeBytes(t, g.PcapVersion(2, tc.minor, tc.swapped), Options{})
			checkScenario(t, res)
			if res.SnapTruncated != cut || res.Packets != uint64(len(g.Recs)) {
				t.Errorf("snap-truncated %d of %d packets, want %d of %d", res.SnapTruncated, res.Packets, cut, len(g.Recs))
			}
		})
	}
	t.Run("kuznetzov", func(t *testing.T) {
		res := analyzeBytes(t, g.PcapKuznetzov(), Options{})
		checkScenario(t, res)
		if res.SnapTruncated != cut || res.Packets != uint64(len(g.Recs)) {
			t.Errorf("snap-truncated %d of %d packets, want %d of %d", res.SnapTruncated, res.Packets, cut, len(g.Recs))
		}
	})
	_, err := Analyze(context.Background(), bytes.NewReader(g.PcapVersion(1, 0, false)), Options{Name: "old.pcap"})
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "pcap format version 1.0: netdx reads versions 2.x") {
		t.Errorf("version 1.0: %v", err)
	}
}

// A pcapng file whose two interfaces have different link types: the
// client's packets on an Ethernet interface, the server's on a raw one.
// Both halves make one flow.
func TestPcapngMixedLinkTypes(t *testing.T) {
	eth := ct.NewGen(t, layers.LinkTypeEthernet)
	ct.RetransScenario(ct.NewConv(eth, "198.18.0.1:40000", "198.18.1.1:5201"))
	raw := ct.NewGen(t, layers.LinkTypeRaw)
	ct.RetransScenario(ct.NewConv(raw, "198.18.0.1:40000", "198.18.1.1:5201"))
	mixed := ct.NewGen(t, layers.LinkTypeEthernet)
	for i := range eth.Recs {
		r := eth.Recs[i]
		if r.Data[26+3] != 1 { // the IPv4 source's last byte: 1 is the client
			r = raw.Recs[i]
			r.CI.InterfaceIndex = 1
		}
		mixed.Recs = append(mixed.Recs, r)
	}
	res := analyzeBytes(t, mixed.Pcapng(layers.LinkTypeEthernet, layers.LinkTypeRaw), Options{})
	checkScenario(t, res)
	if len(res.Interfaces) != 2 || res.Interfaces[1].LinkType != "Raw" || res.Interfaces[0].Packets+res.Interfaces[1].Packets != res.Packets {
		t.Errorf("interfaces %+v", res.Interfaces)
	}
}

// The same 5-tuple on two VLANs is two flows.
func TestVLANsSeparateFlows(t *testing.T) {
	g := ct.NewGen(t, layers.LinkTypeEthernet)
	for _, id := range []uint32{10, 20} {
		c := ct.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201")
		c.Encap = []ct.Spec{{Kind: "vlan", ID: id}}
		ct.RetransScenario(c)
	}
	res := analyzeBytes(t, g.Pcap(), Options{})
	if len(res.Flows) != 2 {
		t.Fatalf("%d flows, want 2", len(res.Flows))
	}
	for _, f := range res.Flows {
		checkDir(t, "vlan "+strconv.FormatUint(uint64(f.Encap[0].ID), 10), &f.Dir[0], scenarioWant)
	}
	if res.Totals.TCP.Retransmission.Packets != 2*scenarioWant.retrans || res.Totals.TCP.Reorder.Reordered != 2*scenarioWant.reordered {
		t.Errorf("totals %+v", res.Totals.TCP.Retransmission)
	}
}
