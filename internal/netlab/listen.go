package netlab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// Listen-queue scenarios: a listener that never accepts, clients that
// complete their handshakes (the accept queue fills) and raw SYNs that
// never do (the SYN queue fills: a SYN flood).

// ListenNoAccept opens an IPv4 TCP listener on addr (port 0 picks one)
// inside n with the given listen() backlog, and never accepts. It is
// closed when t ends.
func (n *NS) ListenNoAccept(t testing.TB, addr netip.AddrPort, backlog int) netip.AddrPort {
	t.Helper()
	fd := -1
	err := n.Do(func() error {
		var err error
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: addr.Addr().As4(), Port: int(addr.Port())}); err != nil {
			return err
		}
		return unix.Listen(fd, backlog)
	})
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		t.Fatalf("netlab: listen on %s in %s: %v", addr, n.Name, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return netip.AddrPortFrom(addr.Addr(), uint16(sa.(*unix.SockaddrInet4).Port))
}

// Connects are client sockets opened by Connect.
type Connects struct {
	FDs []int
}

// Connect starts count non-blocking IPv4 connections from n to addr and
// returns without waiting for them: each sends its SYN at once and
// completes its handshake if the server answers. Close them with Close.
func (n *NS) Connect(addr netip.AddrPort, count int) (*Connects, error) {
	c := &Connects{}
	to := &unix.SockaddrInet4{Addr: addr.Addr().As4(), Port: int(addr.Port())}
	err := n.Do(func() error {
		for range count {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			c.FDs = append(c.FDs, fd)
			if err := unix.Connect(fd, to); err != nil && !errors.Is(err, unix.EINPROGRESS) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("connect %d to %s from %s: %w", len(c.FDs), addr, n.Name, err)
	}
	return c, nil
}

// Send writes one byte on every connection that is established; the
// others are skipped. It returns how many were written.
func (c *Connects) Send() int {
	sent := 0
	for _, fd := range c.FDs {
		if n, err := unix.Write(fd, []byte{1}); err == nil && n == 1 {
			sent++
		}
	}
	return sent
}

// Close closes every connection.
func (c *Connects) Close() {
	for _, fd := range c.FDs {
		unix.Close(fd)
	}
	c.FDs = nil
}

// DropSYNACKs makes n drop the SYN-ACKs it receives, so the SYNs it sends
// raw stay half-open at the server: without it, n's kernel would answer
// each SYN-ACK with a reset, since no socket of its sent the SYN.
func (n *NS) DropSYNACKs() error {
	return n.NFT(`table inet netdx_synack {
	chain input {
		type filter hook input priority 0;
		tcp flags & (syn | ack) == syn | ack drop
	}
}
`)
}

// HoldACKs makes n drop every TCP segment it sends to port except SYNs,
// so handshakes with that port stay half-open (the server's SYN-ACK is
// never acknowledged) until ReleaseACKs.
func (n *NS) HoldACKs(port uint16) error {
	return n.NFT(fmt.Sprintf(`table inet netdx_holdack {
	chain output {
		type filter hook output priority 0;
		tcp dport %d tcp flags & (syn | ack | fin | rst) == ack drop
	}
}
`, port))
}

// ReleaseACKs removes the rule HoldACKs added.
func (n *NS) ReleaseACKs() error {
	return n.NFT("delete table inet netdx_holdack\n")
}

// SendSYNs sends count TCP SYNs from src (an address of n) to dst over a
// raw socket, each from its own random source port, as a SYN flood does:
// nothing in n waits for the answers.
func (n *NS) SendSYNs(src netip.Addr, dst netip.AddrPort, count int) error {
	return n.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
		if err != nil {
			return fmt.Errorf("raw socket: %w", err)
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: src.As4()}); err != nil {
			return fmt.Errorf("bind raw socket to %s: %w", src, err)
		}
		to := &unix.SockaddrInet4{Addr: dst.Addr().As4()}
		ports := rand.Perm(28000)
		for i := range count {
			seg := synSegment(src, dst, uint16(20000+ports[i%len(ports)]), rand.Uint32())
			if err := unix.Sendto(fd, seg, 0, to); err != nil {
				return fmt.Errorf("send SYN %d: %w", i, err)
			}
		}
		return nil
	})
}

// synSegment builds a TCP SYN with an MSS option, checksummed for src and
// dst.
func synSegment(src netip.Addr, dst netip.AddrPort, sport uint16, seq uint32) []byte {
	b := make([]byte, 24)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dst.Port())
	binary.BigEndian.PutUint32(b[4:], seq)
	b[12] = 6 << 4 // 24 bytes of header
	b[13] = 0x02   // SYN
	binary.BigEndian.PutUint16(b[14:], 64240)
	copy(b[20:], []byte{2, 4, 0x05, 0xb4}) // MSS 1460
	var sum uint32
	add := func(p []byte) {
		for i := 0; i+1 < len(p); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(p[i:]))
		}
	}
	s4, d4 := src.As4(), dst.Addr().As4()
	add(s4[:])
	add(d4[:])
	sum += unix.IPPROTO_TCP + uint32(len(b))
	add(b)
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(b[16:], ^uint16(sum))
	return b
}
