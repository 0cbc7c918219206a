package netlab

import (
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// StalledTUN is a TUN device nobody reads: the kernel queues the first
// Queue packets sent through it and drops every further one, counting them
// in the device's tx_dropped. It gives a test drops of a known number on a
// link only its namespace has.
type StalledTUN struct {
	Name string
	// Queue is the device's transmit queue length, in packets.
	Queue int
	// Local is the device's address; Peer an address routed through it.
	Local, Peer netip.Addr
	ns          *NS
	fd          *os.File
}

// NewStalledTUN creates TUN device name in n with a transmit queue of
// queue packets and IPv6 off (so the kernel sends nothing of its own
// through it), addressed local/30, up. Close removes it.
func (n *NS) NewStalledTUN(name string, local netip.Addr, queue int) (*StalledTUN, error) {
	var fd int
	err := n.Do(func() (err error) {
		if fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0); err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("create TUN device %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s := &StalledTUN{Name: name, Queue: queue, Local: local, Peer: local.Next(), ns: n, fd: os.NewFile(uintptr(fd), name)}
	if err := s.setup(); err != nil {
		s.fd.Close()
		return nil, err
	}
	return s, nil
}

func (s *StalledTUN) setup() error {
	h := s.ns.Netlink()
	link, err := h.LinkByName(s.Name)
	if err != nil {
		return err
	}
	if err := h.LinkSetTxQLen(link, s.Queue); err != nil {
		return fmt.Errorf("set %s txqueuelen: %w", s.Name, err)
	}
	if err := s.ns.SetSysctl("net/ipv6/conf/"+s.Name+"/disable_ipv6", "1"); err != nil {
		return err
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: s.Local.AsSlice(), Mask: net.CIDRMask(30, 32)}}
	if err := h.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("address %s: %w", s.Name, err)
	}
	return h.LinkSetUp(link)
}

// Send sends count UDP datagrams to Peer through the device, from a socket
// in its namespace.
func (s *StalledTUN) Send(count int) error {
	return s.ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		to := &unix.SockaddrInet4{Addr: s.Peer.As4(), Port: 9}
		for i := 0; i < count; i++ {
			if err := unix.Sendto(fd, []byte("netdx lab"), 0, to); err != nil {
				return fmt.Errorf("send %d through %s: %w", i, s.Name, err)
			}
		}
		return nil
	})
}

// Close removes the device: it goes when its last descriptor closes.
func (s *StalledTUN) Close() error { return s.fd.Close() }
