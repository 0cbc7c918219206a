package drops

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/netdx/netdx/internal/netlab"
)

// TestLabQdiscDrop: a tbf qdisc on the prober's link with a tiny queue
// drops most of a burst; QDISC_DROP in the prober's namespace, on that
// interface, equals the qdisc's own drop count.
func TestLabQdiscDrop(t *testing.T) {
	s := startSource(t, KindBTF, Options{})
	p := netlab.NewPath(t, netlab.PathSpec{})
	h := p.Prober.Netlink()
	l, err := h.LinkByName(p.ProberIface)
	if err != nil {
		t.Fatal(err)
	}
	tbf := &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT},
		Rate:       125000, // 1 Mbit/s
		Limit:      3000,
		Buffer:     1600,
	}
	if err := h.QdiscAdd(tbf); err != nil {
		t.Fatalf("add tbf: %v", err)
	}
	sink, err := p.Target.NewUDPSink(netip.AddrPortFrom(p.TargetAddr.V4, 0), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	qdiscDrops := func() uint64 {
		qs, err := h.QdiscList(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			if q.Type() == "tbf" && q.Attrs().Statistics != nil && q.Attrs().Statistics.Queue != nil {
				return uint64(q.Attrs().Statistics.Queue.Drops)
			}
		}
		t.Fatal("no tbf statistics")
		return 0
	}
	prober := nsCookie(t, p.Prober)
	q0, w0 := qdiscDrops(), snapshot(t, s)
	if _, err := p.Prober.SendUDP(netip.Addr{}, netip.AddrPortFrom(p.TargetAddr.V4, sink.Port), 3000, 200); err != nil {
		t.Fatal(err)
	}
	settle(t, p.Prober)
	q, w := qdiscDrops()-q0, snapshot(t, s).Sub(w0)
	got := sumDrops(w, prober, "QDISC_DROP", nil)
	t.Logf("QDISC_DROP in %s: %d, tbf drops %d", p.Prober.Name, got, q)
	if q < 1000 {
		t.Fatalf("tbf dropped %d of 3000: the scenario did not provoke QDISC_DROP", q)
	}
	if got != q {
		t.Errorf("QDISC_DROP %d, the qdisc says %d", got, q)
	}
	for _, d := range w.Drops {
		if d.Netns.Cookie == prober && d.Reason == "QDISC_DROP" && (d.Interface != p.ProberIface || d.Via != ViaDevice) {
			t.Errorf("QDISC_DROP row on %q via %d, want %s via the device", d.Interface, d.Via, p.ProberIface)
		}
	}
	if udp := sumDrops(w, prober, "QDISC_DROP", udpOnly); udp+10 < got {
		t.Errorf("%d of %d QDISC_DROP drops are UDP: the IP protocol is not read", udp, got)
	}
}

// TestLabListenOverflow: a listener with a backlog of 1 that never
// accepts. The prober's own nft rule holds back the handshakes' final
// ACKs until twenty connections wait in the SYN queue; then each client
// sends a byte, whose ACK completes the handshake: beyond the two the
// accept queue holds, the listener overflows and drops that ACK. (A SYN
// refused at a full accept queue also moves ListenOverflows but is freed
// without a reason, which the scenario avoids.) The drops in the
// target's namespace equal TcpExt ListenOverflows there.
func TestLabListenOverflow(t *testing.T) {
	s := startSource(t, KindBTF, Options{})
	netlab.RequireNFT(t)
	p := netlab.NewPath(t, netlab.PathSpec{})
	const port = 8080
	var lfd int
	if err := p.Target.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		lfd = fd
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port, Addr: p.TargetAddr.V4.As4()}); err != nil {
			return err
		}
		return unix.Listen(fd, 1)
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(lfd) })
	if err := p.Prober.NFT(fmt.Sprintf(`table inet ndx_hold_ack {
	chain out {
		type filter hook output priority 0; policy accept;
		tcp dport %d tcp flags & (syn | ack) == ack drop
	}
}`, port)); err != nil {
		t.Fatal(err)
	}
	target := nsCookie(t, p.Target)
	before, w0 := consistent(t, p.Target, s)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var conns []net.Conn
	for i := 0; i < 20; i++ {
		c, err := p.Prober.Dial(ctx, "tcp4", netip.AddrPortFrom(p.TargetAddr.V4, port).String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	if err := p.Prober.NFT("delete table inet ndx_hold_ack"); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		if _, err := c.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, p.Target)
	after, w1 := consistent(t, p.Target, s)
	w := w1.Sub(w0)
	kernel := after.Sub(before)
	overflows := uint64(kernel["TcpExt.ListenOverflows"])
	got := sumDrops(w, target, "TCP_LISTEN_OVERFLOW", nil)
	noSocket := sumDrops(w, target, "NO_SOCKET", func(d Drop) bool { return d.IPProto == 6 })
	t.Logf("in %s: TCP_LISTEN_OVERFLOW %d, NO_SOCKET/tcp %d; ListenOverflows %d", p.Target.Name, got, noSocket, overflows)
	if overflows < 18 {
		t.Fatalf("ListenOverflows moved by %d for 20 connections: the scenario did not overflow the listener", overflows)
	}
	// Linux 6.15 to 6.18 at least: tcp_check_req's TCP_LISTEN_OVERFLOW
	// does not replace the NO_SOCKET tcp_v4_rcv set before, so the
	// overflow shows as NO_SOCKET (docs/drops.md). Either way, each
	// overflowing ACK is one drop in the listener's namespace.
	if got+noSocket != overflows {
		t.Errorf("TCP_LISTEN_OVERFLOW %d + NO_SOCKET/tcp %d, ListenOverflows %d", got, noSocket, overflows)
	}
}

// TestLabRPFilter: with strict reverse-path filtering in the target, a
// datagram from a source the target has no route back to is dropped;
// IP_RPFILTER equals TcpExt IPReversePathFilter.
func TestLabRPFilter(t *testing.T) {
	s := startSource(t, KindBTF, Options{})
	p := netlab.NewPath(t, netlab.PathSpec{})
	for _, k := range []string{"net/ipv4/conf/all/rp_filter", "net/ipv4/conf/" + p.TargetIface + "/rp_filter"} {
		if err := p.Target.SetSysctl(k, "1"); err != nil {
			t.Fatal(err)
		}
	}
	// A source address the target has no route to.
	spoof := netip.MustParseAddr("198.19.250.1")
	h := p.Prober.Netlink()
	l, err := h.LinkByName(p.ProberIface)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: spoof.AsSlice(), Mask: net.CIDRMask(32, 32)}}); err != nil {
		t.Fatal(err)
	}
	target := nsCookie(t, p.Target)
	settle(t, p.Target)
	before, w0 := consistent(t, p.Target, s)
	if _, err := p.Prober.SendUDP(spoof, netip.AddrPortFrom(p.TargetAddr.V4, 9), 1000, 64); err != nil {
		t.Fatal(err)
	}
	settle(t, p.Target)
	after, w1 := consistent(t, p.Target, s)
	w := w1.Sub(w0)
	want := uint64(after.Sub(before)["TcpExt.IPReversePathFilter"])
	got := sumDrops(w, target, "IP_RPFILTER", udpOnly)
	t.Logf("IP_RPFILTER in %s: %d, IPReversePathFilter %d", p.Target.Name, got, want)
	if want < 900 {
		t.Fatalf("IPReversePathFilter moved by %d for 1000 datagrams: the scenario did not provoke IP_RPFILTER", want)
	}
	if got != want {
		t.Errorf("IP_RPFILTER %d, IPReversePathFilter %d", got, want)
	}
}

// TestLabMapFull: with room for one row, drops that need other rows are
// counted as MapFull, not lost: rows plus MapFull cover the closed-port
// datagrams of two namespaces (the only row may even be another test's).
func TestLabMapFull(t *testing.T) {
	s := startSource(t, KindBTF, Options{MaxEntries: 1})
	p := netlab.NewPath(t, netlab.PathSpec{})
	settle(t, p.Target)
	t0, w0 := consistent(t, p.Target, s)
	p0, _ := consistent(t, p.Prober, s)
	for _, tc := range []struct {
		from *netlab.NS
		to   netip.Addr
	}{{p.Prober, p.TargetAddr.V4}, {p.Prober, p.ProberAddr.V4}} {
		if _, err := tc.from.SendUDP(netip.Addr{}, netip.AddrPortFrom(tc.to, 9), 1000, 64); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, p.Target)
	p1, _ := consistent(t, p.Prober, s)
	t1, w1 := consistent(t, p.Target, s)
	w := w1.Sub(w0)
	noPorts := uint64(t1.Sub(t0)["Udp.NoPorts"] + p1.Sub(p0)["Udp.NoPorts"])
	seen := sumDrops(w, nsCookie(t, p.Target), "NO_SOCKET", udpOnly) + sumDrops(w, nsCookie(t, p.Prober), "NO_SOCKET", udpOnly)
	t.Logf("rows %d, NO_SOCKET in rows %d, MapFull %d, NoPorts %d", len(w1.Drops), seen, w.Overflow.MapFull, noPorts)
	if noPorts < 2000 {
		t.Fatalf("NoPorts moved by %d for 2000 datagrams", noPorts)
	}
	if len(w1.Drops) > 1 || seen+w.Overflow.MapFull < noPorts || w.Overflow.MapFull < 1000 {
		t.Errorf("%d rows, %d drops in them and %d map-full for %d datagrams to closed ports", len(w1.Drops), seen, w.Overflow.MapFull, noPorts)
	}
}
