package netlab

import (
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// SendUDP sends count datagrams of size bytes from inside n to dst, from
// an unconnected socket (so ICMP errors do not fail later sends) bound
// to src when src is valid. It returns how many the kernel accepted: a
// datagram refused at the sender (ENOBUFS from a full qdisc) is not
// counted, and not retried.
func (n *NS) SendUDP(src netip.Addr, dst netip.AddrPort, count, size int) (int, error) {
	var c *net.UDPConn
	err := n.Do(func() (err error) {
		var laddr *net.UDPAddr
		if src.IsValid() {
			laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
		}
		c, err = net.ListenUDP("udp", laddr)
		return err
	})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, size)
	sent := 0
	for i := 0; i < count; i++ {
		if _, err := c.WriteToUDPAddrPort(buf, dst); err == nil {
			sent++
		}
	}
	return sent, nil
}

// UDPSink is a UDP socket in a namespace that never reads: with a small
// receive buffer, datagrams beyond it are dropped (Udp RcvbufErrors).
type UDPSink struct {
	FD   int
	Port uint16
	// Inode is the socket's inode, as /proc/PID/fd shows it.
	Inode uint64
}

// NewUDPSink binds a UDP socket to addr (port 0 picks one) inside n with
// SO_RCVBUF set to rcvbuf bytes (the kernel doubles it, with a floor).
// It is closed when the test ends.
func (n *NS) NewUDPSink(addr netip.AddrPort, rcvbuf int) (*UDPSink, error) {
	s := &UDPSink{FD: -1}
	err := n.Do(func() error {
		family := unix.AF_INET
		if addr.Addr().Is6() {
			family = unix.AF_INET6
		}
		fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		s.FD = fd
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
			return err
		}
		return unix.Bind(fd, sockaddr(addr))
	})
	if err == nil {
		err = s.describe()
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *UDPSink) describe() error {
	sa, err := unix.Getsockname(s.FD)
	if err != nil {
		return err
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		s.Port = uint16(a.Port)
	case *unix.SockaddrInet6:
		s.Port = uint16(a.Port)
	}
	var st unix.Stat_t
	if err := unix.Fstat(s.FD, &st); err != nil {
		return err
	}
	s.Inode = st.Ino
	return nil
}

// Close closes the socket.
func (s *UDPSink) Close() error {
	if s.FD < 0 {
		return nil
	}
	err := unix.Close(s.FD)
	s.FD = -1
	return err
}

func sockaddr(a netip.AddrPort) unix.Sockaddr {
	if a.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(a.Port()), Addr: a.Addr().As16()}
}

// Settle waits until the namespace's counters stop moving (unchanged
// for 100 ms), at most timeout, and returns the last reading: packets
// in flight between sockets, queues and softirqs have been counted.
func (n *NS) Settle(timeout time.Duration) (Counters, error) {
	prev, err := n.Counters()
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		cur, err := n.Counters()
		if err != nil {
			return nil, err
		}
		if same(cur, prev) {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}

func same(a, b Counters) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
