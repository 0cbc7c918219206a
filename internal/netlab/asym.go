package netlab

import (
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Asymmetric is the topology reverse-path filtering judges: packets from
// Source reach the receiver over one link while its route back to Source
// takes the other.
//
//	sender e1 198.18.1.1/24 <-> receiver e1 198.18.1.2/24 (In: the way in)
//	sender e2 198.18.2.1/24 <-> receiver e2 198.18.2.2/24 (Back: the way back)
//
// Source, 198.18.3.1, sits on the sender's loopback; the receiver routes
// 198.18.3.0/24 through e2. Both namespaces start with rp_filter 0.
type Asymmetric struct {
	Sender, Receiver *NS
	// In and Back name the receiver's interfaces: where the packets
	// arrive, and where its route to Source leaves.
	In, Back string
	// Source is the packets' source; Target the receiver's address on In.
	Source, Target netip.Addr
}

// NewAsymmetric builds the topology; it is removed when t ends.
func NewAsymmetric(t testing.TB) *Asymmetric {
	t.Helper()
	a := &Asymmetric{Sender: NewNS(t, "rps"), Receiver: NewNS(t, "rpr"), In: "e1", Back: "e2",
		Source: netip.AddrFrom4([4]byte{198, 18, 3, 1}), Target: netip.AddrFrom4([4]byte{198, 18, 1, 2})}
	s, r := &node{ns: a.Sender}, &node{ns: a.Receiver}
	for _, n := range []*node{s, r} {
		for _, k := range []string{"net/ipv6/conf/all/accept_dad", "net/ipv6/conf/default/accept_dad",
			"net/ipv4/conf/all/rp_filter", "net/ipv4/conf/default/rp_filter"} {
			if err := n.ns.SetSysctl(k, "0"); err != nil {
				t.Fatalf("netlab: %v", err)
			}
		}
	}
	for idx := 1; idx <= 2; idx++ {
		if err := connect(s, r, idx); err != nil {
			t.Fatalf("netlab: link %d: %v", idx, err)
		}
	}
	if err := a.routes(); err != nil {
		t.Fatalf("netlab: asymmetric routes: %v", err)
	}
	return a
}

func (a *Asymmetric) routes() error {
	sh, rh := a.Sender.Netlink(), a.Receiver.Netlink()
	lo, err := sh.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := sh.AddrAdd(lo, &netlink.Addr{IPNet: ipnet(netip.PrefixFrom(a.Source, 32))}); err != nil {
		return fmt.Errorf("source address: %w", err)
	}
	back, err := rh.LinkByName(a.Back)
	if err != nil {
		return err
	}
	return rh.RouteAdd(&netlink.Route{LinkIndex: back.Attrs().Index, Dst: ipnet(netip.PrefixFrom(a.Source, 24).Masked()),
		Gw: net.IP(netip.AddrFrom4([4]byte{198, 18, 2, 1}).AsSlice())})
}

// SendUDP sends count datagrams from Source to Target:port; they reach the
// receiver on In.
func (a *Asymmetric) SendUDP(port uint16, count int) error {
	return a.Sender.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: a.Source.As4()}); err != nil {
			return err
		}
		to := &unix.SockaddrInet4{Addr: a.Target.As4(), Port: int(port)}
		for i := range count {
			if err := unix.Sendto(fd, []byte("netdx rp_filter"), 0, to); err != nil {
				return fmt.Errorf("datagram %d: %w", i, err)
			}
		}
		return nil
	})
}
