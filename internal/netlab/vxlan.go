package netlab

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// VXLANPort is the IANA VXLAN port the lab's tunnels use.
const VXLANPort = 4789

// VXLAN is a VXLAN tunnel between two namespaces of a topology: a device
// named Name in each, carrying IPv4 and IPv6 between the inner addresses
// A (in the first namespace) and B over the underlay path.
type VXLAN struct {
	Name string
	VNI  uint32
	// A and B are the inner addresses: 198.19.V.1 and .2 /24, and
	// 2001:db8:ffff:V::1 and ::2 /64, V being the VNI modulo 250.
	A, B Addrs
}

// NewVXLAN joins a and b by a VXLAN tunnel with id vni whose outer packets
// go between the underlay addresses aUnder (of a) and bUnder (of b), on
// UDP port VXLANPort. The devices take the underlay link's MTU less the
// encapsulation, so inner packets are never fragmented. They are removed
// with their namespaces.
func NewVXLAN(t testing.TB, a, b *NS, aUnder, bUnder netip.Addr, vni uint32) *VXLAN {
	t.Helper()
	v := &VXLAN{Name: fmt.Sprintf("vx%d", vni), VNI: vni}
	sub := byte(vni % 250)
	v.A = Addrs{V4: netip.AddrFrom4([4]byte{198, 19, sub, 1}), V6: vxlanV6(sub, 1)}
	v.B = Addrs{V4: netip.AddrFrom4([4]byte{198, 19, sub, 2}), V6: vxlanV6(sub, 2)}
	macs := make([]net.HardwareAddr, 2)
	ends := []struct {
		ns           *NS
		local, peer  netip.Addr
		inner        Addrs
		innerOfOther Addrs
	}{{a, aUnder, bUnder, v.A, v.B}, {b, bUnder, aUnder, v.B, v.A}}
	for i, e := range ends {
		mac, err := addVXLAN(e.ns, v.Name, vni, e.local, e.peer, e.inner)
		if err != nil {
			t.Fatalf("netlab: vxlan in %s: %v", e.ns.Name, err)
		}
		macs[i] = mac
	}
	for i, e := range ends {
		h := e.ns.Netlink()
		l, err := h.LinkByName(v.Name)
		if err != nil {
			t.Fatalf("netlab: %v", err)
		}
		for _, ip := range []netip.Addr{e.innerOfOther.V4, e.innerOfOther.V6} {
			fam := unix.AF_INET
			if ip.Is6() {
				fam = unix.AF_INET6
			}
			n := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: fam, State: netlink.NUD_PERMANENT,
				IP: ip.AsSlice(), HardwareAddr: macs[1-i]}
			if err := h.NeighSet(n); err != nil {
				t.Fatalf("netlab: vxlan neighbour %s in %s: %v", ip, e.ns.Name, err)
			}
		}
	}
	for _, e := range ends {
		if err := e.ns.WaitLocal(e.inner.V4, e.inner.V6); err != nil {
			t.Fatalf("netlab: vxlan: %v", err)
		}
	}
	return v
}

func vxlanV6(sub byte, host byte) netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, sub, 15: host})
}

// addVXLAN creates the device in ns over the link that holds local.
func addVXLAN(ns *NS, name string, vni uint32, local, remote netip.Addr, inner Addrs) (net.HardwareAddr, error) {
	h := ns.Netlink()
	under, err := linkWithAddr(h, local)
	if err != nil {
		return nil, err
	}
	overhead := 50 // outer IPv4, UDP, VXLAN, inner Ethernet
	if local.Is6() {
		overhead = 70
	}
	dev := &netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: under.Attrs().MTU - overhead},
		VxlanId: int(vni), VtepDevIndex: under.Attrs().Index, SrcAddr: local.AsSlice(), Group: remote.AsSlice(),
		Port: VXLANPort, TTL: 64}
	if err := h.LinkAdd(dev); err != nil {
		return nil, fmt.Errorf("add vxlan %s: %w", name, err)
	}
	l, err := h.LinkByName(name)
	if err != nil {
		return nil, err
	}
	for _, pfx := range []netip.Prefix{netip.PrefixFrom(inner.V4, 24), netip.PrefixFrom(inner.V6, 64)} {
		if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipnet(pfx), Flags: unix.IFA_F_NODAD}); err != nil {
			return nil, fmt.Errorf("add %s to %s: %w", pfx, name, err)
		}
	}
	if err := h.LinkSetUp(l); err != nil {
		return nil, err
	}
	return l.Attrs().HardwareAddr, nil
}

// linkWithAddr finds the link holding addr.
func linkWithAddr(h *netlink.Handle, addr netip.Addr) (netlink.Link, error) {
	links, err := h.LinkList()
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		fam := unix.AF_INET
		if addr.Is6() {
			fam = unix.AF_INET6
		}
		addrs, err := h.AddrList(l, fam)
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == addr {
				return l, nil
			}
		}
	}
	return nil, fmt.Errorf("no link has %s", addr)
}

// VXLANInner matches VXLAN packets (UDP to VXLANPort, over IPv4 or IPv6)
// whose inner packet inner matches: use it as Impairment.Match to impair
// a tunnel's outer packets by what they carry, such as
// VXLANInner(TCPDataTo(5001)) for one direction of a transfer's data.
func VXLANInner(inner func([]byte) bool) func([]byte) bool {
	return func(pkt []byte) bool {
		in := vxlanPayload(pkt)
		return in != nil && inner(in)
	}
}

// vxlanPayload is the inner IP packet of a VXLAN packet, nil for any other.
func vxlanPayload(pkt []byte) []byte {
	var udp []byte
	switch {
	case len(pkt) >= 20 && pkt[0]>>4 == 4 && pkt[9] == unix.IPPROTO_UDP:
		udp = pkt[int(pkt[0]&0x0f)*4:]
	case len(pkt) >= 40 && pkt[0]>>4 == 6 && pkt[6] == unix.IPPROTO_UDP:
		udp = pkt[40:]
	default:
		return nil
	}
	// UDP 8, VXLAN 8, inner Ethernet 14.
	if len(udp) < 30 || binary.BigEndian.Uint16(udp[2:4]) != VXLANPort {
		return nil
	}
	return udp[30:]
}
