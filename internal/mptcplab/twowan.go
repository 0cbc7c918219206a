package mptcplab

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/netdx/netdx/internal/netlab"
)

// TwoWAN is a multi-WAN client (a bonding router, a phone) and the server
// it aggregates to, joined by two veth "WAN links":
//
//	link 1: client wan1 198.18.1.1/24  <->  server up1 198.18.1.2/24
//	link 2: client wan2 198.18.2.1/24  <->  server up2 198.18.2.2/24
//
// The server's service address, 198.18.0.1/32, sits on its loopback and is
// reachable over both links. The client routes like a multi-WAN router: the
// main table reaches the service over wan1 (metric 10) or wan2 (metric 20),
// and a rule per WAN address ("from 198.18.N.1 lookup 100+N") sends each
// subflow out of its own link.
type TwoWAN struct {
	Client, Server *netlab.NS
	// Service is the server's address, 198.18.0.1.
	Service netip.Addr
	Links   [2]WAN
}

// WAN is one link of a TwoWAN lab.
type WAN struct {
	ClientDev, ServerDev   string
	ClientAddr, ServerAddr netip.Addr
}

// NewTwoWAN builds the lab; the namespaces are removed when t ends.
func NewTwoWAN(t testing.TB) *TwoWAN {
	t.Helper()
	netlab.RequireRoot(t)
	if _, err := os.Stat("/proc/sys/net/mptcp/enabled"); err != nil {
		t.Skipf("skipped: this kernel has no MPTCP (%v); the MPTCP lab needs CONFIG_MPTCP=y", err)
	}
	w := &TwoWAN{
		Client:  netlab.NewNS(t, "mpc"),
		Server:  netlab.NewNS(t, "mps"),
		Service: netip.MustParseAddr("198.18.0.1"),
	}
	for i := range w.Links {
		n := i + 1
		w.Links[i] = WAN{
			ClientDev:  fmt.Sprintf("wan%d", n),
			ServerDev:  fmt.Sprintf("up%d", n),
			ClientAddr: netip.AddrFrom4([4]byte{198, 18, byte(n), 1}),
			ServerAddr: netip.AddrFrom4([4]byte{198, 18, byte(n), 2}),
		}
		if err := w.link(w.Links[i], 100+n, 10*n); err != nil {
			t.Fatalf("mptcplab: WAN link %d: %v", n, err)
		}
	}
	lo, err := w.Server.Netlink().LinkByName("lo")
	if err == nil {
		err = w.Server.Netlink().AddrAdd(lo, &netlink.Addr{IPNet: prefix(w.Service, 32)})
	}
	if err != nil {
		t.Fatalf("mptcplab: service address: %v", err)
	}
	return w
}

// link makes one veth pair between the namespaces, addresses it and adds
// the client's routes and source rule for it.
func (w *TwoWAN) link(l WAN, table, metric int) error {
	cnl, snl := w.Client.Netlink(), w.Server.Netlink()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: l.ClientDev},
		PeerName:      l.ServerDev,
		PeerNamespace: netlink.NsFd(int(w.Server.Handle)),
	}
	if err := cnl.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s/%s: %w", l.ClientDev, l.ServerDev, err)
	}
	for _, side := range []struct {
		h    *netlink.Handle
		dev  string
		addr netip.Addr
	}{{cnl, l.ClientDev, l.ClientAddr}, {snl, l.ServerDev, l.ServerAddr}} {
		link, err := side.h.LinkByName(side.dev)
		if err != nil {
			return err
		}
		if err := side.h.AddrAdd(link, &netlink.Addr{IPNet: prefix(side.addr, 24)}); err != nil {
			return fmt.Errorf("address %s on %s: %w", side.addr, side.dev, err)
		}
		if err := side.h.LinkSetUp(link); err != nil {
			return fmt.Errorf("up %s: %w", side.dev, err)
		}
	}
	link, err := cnl.LinkByName(l.ClientDev)
	if err != nil {
		return err
	}
	gw := net.IP(l.ServerAddr.AsSlice())
	routes := []*netlink.Route{
		{LinkIndex: link.Attrs().Index, Dst: prefix(w.Service, 32), Gw: gw, Priority: metric},
		{LinkIndex: link.Attrs().Index, Dst: prefix(netip.IPv4Unspecified(), 0), Gw: gw, Table: table},
	}
	for _, r := range routes {
		if err := cnl.RouteAdd(r); err != nil {
			return fmt.Errorf("route %v via %s table %d: %w", r.Dst, gw, r.Table, err)
		}
	}
	rule := netlink.NewRule()
	rule.Src = prefix(l.ClientAddr, 32)
	rule.Table = table
	rule.Priority = table
	rule.Family = unix.AF_INET
	if err := cnl.RuleAdd(rule); err != nil {
		return fmt.Errorf("rule from %s lookup %d: %w", l.ClientAddr, table, err)
	}
	return nil
}

// Listen opens an MPTCP listener on the service address inside the server.
func (w *TwoWAN) Listen(port uint16) (net.Listener, error) {
	var ln net.Listener
	err := w.Server.Do(func() error {
		var lc net.ListenConfig
		lc.SetMultipathTCP(true)
		var err error
		ln, err = lc.Listen(context.Background(), "tcp", netip.AddrPortFrom(w.Service, port).String())
		return err
	})
	return ln, err
}

// Dial opens an MPTCP connection from the client to the service. The
// connection fails rather than falls back when the kernel refuses MPTCP.
func (w *TwoWAN) Dial(ctx context.Context, port uint16) (*net.TCPConn, error) {
	var c net.Conn
	err := w.Client.Do(func() error {
		d := net.Dialer{Timeout: 5 * time.Second, KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: time.Second, Interval: time.Second, Count: 2}}
		d.SetMultipathTCP(true)
		var err error
		c, err = d.DialContext(ctx, "tcp", netip.AddrPortFrom(w.Service, port).String())
		return err
	})
	if err != nil {
		return nil, err
	}
	tc := c.(*net.TCPConn)
	if mp, err := tc.MultipathTCP(); err != nil || !mp {
		tc.Close()
		return nil, fmt.Errorf("connection to %s is not MPTCP (fell back: %v)", w.Service, err)
	}
	return tc, nil
}

func prefix(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(bits, a.BitLen())}
}

// ConfigureBonding sets the path managers up the way a multi-WAN bonding
// client is usually set up: both WAN addresses are subflow endpoints bound
// to their interfaces (ids 1 and 2), and both sides allow two additional
// subflows.
func (w *TwoWAN) ConfigureBonding() error {
	for _, ns := range []*netlab.NS{w.Client, w.Server} {
		if err := SetLimits(ns, 2, 0); err != nil {
			return err
		}
	}
	for i, l := range w.Links {
		ep := Endpoint{ID: uint8(i + 1), Addr: l.ClientAddr, Dev: l.ClientDev, Flags: FlagSubflow}
		if err := AddEndpoint(w.Client, ep); err != nil {
			return err
		}
	}
	return nil
}

// Conn is an MPTCP connection through the lab: the server drains it and
// the client writes a trickle until Close.
type Conn struct {
	Client *net.TCPConn
	ln     net.Listener
	done   chan struct{}
}

// Connect opens an MPTCP connection from the client to the service on
// port. The client's subflows send keepalives every second and give up
// after two unanswered ones, so a subflow over a link that went down dies
// within seconds, as it would after minutes with default settings.
func (w *TwoWAN) Connect(ctx context.Context, port uint16) (*Conn, error) {
	ln, err := w.Listen(port)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	c := &Conn{ln: ln, done: make(chan struct{})}
	go func() {
		s, err := ln.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		go func() { <-c.done; s.Close() }()
		_, _ = io.Copy(io.Discard, s)
	}()
	if c.Client, err = w.Dial(ctx, port); err != nil {
		ln.Close()
		return nil, err
	}
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		msg := make([]byte, 64)
		for {
			select {
			case <-c.done:
				return
			case <-tick.C:
				if _, err := c.Client.Write(msg); err != nil {
					return
				}
			}
		}
	}()
	return c, nil
}

// Close ends the connection and its listener.
func (c *Conn) Close() {
	close(c.done)
	c.Client.Close()
	c.ln.Close()
}

// Token is the connection's local MPTCP token, read from the socket itself
// (getsockopt MPTCP_INFO): the ground truth sock_diag must match.
func (c *Conn) Token() (uint32, error) {
	rc, err := c.Client.SyscallConn()
	if err != nil {
		return 0, err
	}
	info := make([]byte, 96)
	size := uint32(len(info))
	var errno unix.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_MPTCP, mptcpInfoOpt,
			uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&size)), 0)
	}); err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, fmt.Errorf("getsockopt MPTCP_INFO: %w", errno)
	}
	if size < 16 {
		return 0, fmt.Errorf("getsockopt MPTCP_INFO: %d bytes", size)
	}
	return binary.NativeEndian.Uint32(info[12:16]), nil
}

const mptcpInfoOpt = 1 // MPTCP_INFO in include/uapi/linux/mptcp.h

// SetCarrier takes WAN link i (0 or 1) down or up at the server's end, so
// the client's interface loses or regains carrier, as when a modem or a
// line fails.
func (w *TwoWAN) SetCarrier(i int, up bool) error {
	h := w.Server.Netlink()
	l, err := h.LinkByName(w.Links[i].ServerDev)
	if err != nil {
		return err
	}
	if up {
		return h.LinkSetUp(l)
	}
	return h.LinkSetDown(l)
}

// PathWorks reports whether a plain TCP connection from the client's
// address on WAN link i reaches the service port: the link carries
// traffic again.
func (w *TwoWAN) PathWorks(ctx context.Context, i int, port uint16) bool {
	ok := false
	_ = w.Client.Do(func() error {
		d := net.Dialer{
			Timeout:   500 * time.Millisecond,
			LocalAddr: &net.TCPAddr{IP: net.IP(w.Links[i].ClientAddr.AsSlice())},
		}
		d.SetMultipathTCP(false) // a probe, not a second MPTCP connection
		c, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(w.Service, port).String())
		if err == nil {
			ok = true
			c.Close()
		}
		return nil
	})
	return ok
}

// Wait polls cond every 50ms until it holds, ctx ends or limit passes.
func Wait(ctx context.Context, limit time.Duration, what string, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: gave up after %s", what, limit)
		case <-tick.C:
		}
	}
}

// PlainConns opens n plain TCP connections from the client to the service
// on port, for tests that need TCP sockets that are not MPTCP subflows.
// They are closed when t ends.
func (w *TwoWAN) PlainConns(t testing.TB, port uint16, n int) {
	t.Helper()
	var ln net.Listener
	err := w.Server.Do(func() error {
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		var err error
		ln, err = lc.Listen(context.Background(), "tcp", netip.AddrPortFrom(w.Service, port).String())
		return err
	})
	if err != nil {
		t.Fatalf("mptcplab: plain listener: %v", err)
	}
	accepted := make(chan net.Conn, n)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		for _, c := range conns {
			c.Close()
		}
		for len(accepted) > 0 {
			(<-accepted).Close()
		}
	})
	err = w.Client.Do(func() error {
		d := net.Dialer{Timeout: 5 * time.Second}
		d.SetMultipathTCP(false)
		for i := 0; i < n; i++ {
			c, err := d.Dial("tcp", netip.AddrPortFrom(w.Service, port).String())
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("mptcplab: plain connections: %v", err)
	}
}

// RefuseJoins sets the server's limits to no additional subflow, as a
// VPS aggregating for multi-WAN clients (OpenMPTCProuter) is sometimes
// left: the client's joins are answered, then rejected at their last ACK.
func (w *TwoWAN) RefuseJoins() error {
	return SetLimits(w.Server, 0, 0)
}
