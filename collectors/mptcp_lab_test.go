package collectors

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/netdx/netdx/internal/mptcplab"
	"github.com/netdx/netdx/internal/netlab"
)

var recordMPTCP = flag.Bool("mptcp.record", false, "rewrite testdata/mptcp/*.txt from the lab (root)")

// collectMPTCPIn runs the MPTCP collector inside ns.
func collectMPTCPIn(t testing.TB, ns *netlab.NS) *Snapshot {
	t.Helper()
	snap := &Snapshot{}
	src := &Sources{ProcPath: "/proc"}
	err := ns.Do(func() error { return mptcpCollector{}.Collect(context.Background(), src, snap) })
	if err != nil {
		t.Fatalf("collect MPTCP in %s: %v", ns.Name, err)
	}
	return snap
}

// mptcpOnlyConn returns the snapshot's single connection.
func mptcpOnlyConn(snap *Snapshot) (*MPTCPConn, error) {
	if snap.MPTCP == nil || snap.MPTCP.Sockets == nil {
		return nil, fmt.Errorf("no MPTCP sockets read (skips: %+v)", snap.Skipped)
	}
	if n := len(snap.MPTCP.Sockets.Conns); n != 1 {
		return nil, fmt.Errorf("%d MPTCP connections, want 1", n)
	}
	return &snap.MPTCP.Sockets.Conns[0], nil
}

// mptcpWaitSubflows waits until the namespace's only connection has n subflows
// and returns that snapshot.
func mptcpWaitSubflows(t *testing.T, ns *netlab.NS, n int, limit time.Duration) *Snapshot {
	t.Helper()
	var snap *Snapshot
	err := mptcplab.Wait(context.Background(), limit, fmt.Sprintf("%d subflows in %s", n, ns.Name), func() (bool, error) {
		snap = collectMPTCPIn(t, ns)
		c, err := mptcpOnlyConn(snap)
		if err != nil {
			return false, nil
		}
		return c.SubflowCount() == n && len(c.Subflows) == n, nil
	})
	if err != nil {
		t.Fatalf("%v; last snapshot: %+v", err, snap.MPTCP.Sockets)
	}
	return snap
}

// TestMPTCPCollectorLab checks what the collector reads against what the
// lab configured and what the socket itself reports.
func TestMPTCPCollectorLab(t *testing.T) {
	ctx := context.Background()
	w := mptcplab.NewTwoWAN(t)
	if err := w.ConfigureBonding(); err != nil {
		t.Fatal(err)
	}
	conn, err := w.Connect(ctx, 8080)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	token, err := conn.Token()
	if err != nil {
		t.Fatal(err)
	}

	snap := mptcpWaitSubflows(t, w.Client, 2, 10*time.Second)
	if len(snap.Skipped) != 0 {
		t.Errorf("skips as root: %+v", snap.Skipped)
	}
	m := snap.MPTCP
	if on, known := m.Enabled(); !on || !known {
		t.Errorf("Enabled() = %v, %v; want true, true (sysctls %v)", on, known, m.Sysctls)
	}
	if pm := m.PathManager(); pm != "kernel" {
		t.Errorf("PathManager() = %q, want kernel", pm)
	}
	if m.PM == nil {
		t.Fatal("path manager not read")
	}
	if m.PM.Limits != (MPTCPLimits{Subflows: 2, AddAddrAccepted: 0}) {
		t.Errorf("limits = %+v, want subflows 2 add_addr_accepted 0", m.PM.Limits)
	}
	if len(m.PM.Endpoints) != 2 {
		t.Fatalf("endpoints = %+v, want 2", m.PM.Endpoints)
	}
	for i, ep := range m.PM.Endpoints {
		l := w.Links[i]
		if ep.ID != uint8(i+1) || ep.Addr != l.ClientAddr || ep.Flags != MPTCPEndpointSubflow || ep.Iface != l.ClientDev || ep.IfIndex == 0 {
			t.Errorf("endpoint %d = %+v, want id %d %s dev %s subflow", i, ep, i+1, l.ClientAddr, l.ClientDev)
		}
		if ep.IfaceUp == nil || !*ep.IfaceUp || ep.AddrPresent == nil || !*ep.AddrPresent {
			t.Errorf("endpoint %d: interface up %v, address present %v; want both true", ep.ID, ep.IfaceUp, ep.AddrPresent)
		}
	}

	c, _ := mptcpOnlyConn(snap)
	local := netip.MustParseAddrPort(conn.Client.LocalAddr().String())
	remote := netip.MustParseAddrPort(conn.Client.RemoteAddr().String())
	if c.Local != local || c.Remote != remote {
		t.Errorf("connection %s → %s, socket says %s → %s", c.Local, c.Remote, local, remote)
	}
	if c.Info.Token != token {
		t.Errorf("token %08x, getsockopt(MPTCP_INFO) says %08x", c.Info.Token, token)
	}
	if c.Side != MPTCPClient || c.Fallback() {
		t.Errorf("side %q fallback %v, want client without fallback", c.Side, c.Fallback())
	}
	if c.Info.SubflowsMax != 2 || c.Info.LocalAddrMax == nil || *c.Info.LocalAddrMax != 2 {
		t.Errorf("mptcp_info subflows_max %d local_addr_max %v, want 2 and 2", c.Info.SubflowsMax, c.Info.LocalAddrMax)
	}
	wantIDs := []struct {
		id    uint8
		local netip.Addr
	}{{0, w.Links[0].ClientAddr}, {2, w.Links[1].ClientAddr}}
	for i, want := range wantIDs {
		s := c.Subflows[i]
		if s.LocalID != want.id || s.Local.Addr() != want.local || s.Remote.Addr() != w.Service {
			t.Errorf("subflow %d = id %d %s → %s, want id %d from %s to %s", i, s.LocalID, s.Local, s.Remote, want.id, want.local, w.Service)
		}
	}
	if !c.Subflows[0].Initial() || c.Subflows[1].Initial() {
		t.Errorf("initial flags: %v %v, want the id 0 subflow initial", c.Subflows[0].Initial(), c.Subflows[1].Initial())
	}

	srv := collectMPTCPIn(t, w.Server)
	sc, err := mptcpOnlyConn(srv)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Side != MPTCPServer || sc.Local != remote {
		t.Errorf("server sees side %q local %s, want server %s", sc.Side, sc.Local, remote)
	}
	if ls := srv.MPTCP.Sockets.Listeners; len(ls) != 0 {
		t.Errorf("listeners %v read although the subflows tell the side", ls)
	}
}

// TestMPTCPCollectorNoMPTCP checks that a kernel without MPTCP is "not
// supported" with a fix, not a failure.
func TestMPTCPCollectorNoMPTCP(t *testing.T) {
	snap := &Snapshot{}
	err := mptcpCollector{}.Collect(context.Background(), &Sources{ProcPath: t.TempDir()}, snap)
	if err == nil {
		t.Fatal("no error for a proc tree without sys/net/mptcp")
	}
	s := skipFor("mptcp", err)
	if s.Kind != SkipUnsupported || s.Fix == "" {
		t.Errorf("skip = %+v, want unsupported with a fix", s)
	}
}

// TestMPTCPRecord rewrites the recordings the decoder tests replay. Run it
// as root with -mptcp.record after a kernel change.
func TestMPTCPRecord(t *testing.T) {
	if !*recordMPTCP {
		t.Skip("recording only with -mptcp.record")
	}
	ctx := context.Background()
	w := mptcplab.NewTwoWAN(t)
	if err := w.ConfigureBonding(); err != nil {
		t.Fatal(err)
	}
	conn, err := w.Connect(ctx, 8080)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var u unix.Utsname
	_ = unix.Uname(&u)
	kernel := unix.ByteSliceToString(u.Release[:])
	record := func(name, what string) {
		var raw *mptcpRaw
		err := w.Client.Do(func() (err error) {
			raw, err = readMPTCP(ctx, &Sources{ProcPath: "/proc"}, &Snapshot{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		comment := fmt.Sprintf("%s\nRecorded from Linux %s in the mptcplab TwoWAN client by\n`go test ./collectors -run TestMPTCPRecord -args -mptcp.record` (as root).", what, kernel)
		if err := writeMPTCPRecording(filepath.Join("testdata", "mptcp", name+".txt"), comment, raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join("testdata", "mptcp"), 0o755); err != nil {
		t.Fatal(err)
	}
	mptcpWaitSubflows(t, w.Client, 2, 10*time.Second)
	record("bonded", "Two WAN subflow endpoints (ids 1, 2), limits subflows 2, one connection with both subflows.")

	if err := w.SetCarrier(1, false); err != nil {
		t.Fatal(err)
	}
	mptcpWaitSubflows(t, w.Client, 1, 30*time.Second)
	if err := w.SetCarrier(1, true); err != nil {
		t.Fatal(err)
	}
	if err := mptcplab.Wait(ctx, 10*time.Second, "WAN 2 to carry traffic", func() (bool, error) {
		return w.PathWorks(ctx, 1, 8080), nil
	}); err != nil {
		t.Fatal(err)
	}
	record("flapped", "The same after WAN 2 lost carrier and came back: the subflow from endpoint 2 was not rebuilt.")
}

// mptcpWithoutNetAdmin runs fn inside ns on a thread whose effective
// capabilities lack CAP_NET_ADMIN, as an unprivileged diag would run.
// Netlink checks the capabilities of the socket's opener, so sockets fn
// opens are unprivileged. If the capability cannot be restored the thread
// is never reused.
func mptcpWithoutNetAdmin(t *testing.T, ns *netlab.NS, fn func() error) error {
	t.Helper()
	runtime.LockOSThread()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var saved [2]unix.CapUserData
	if err := unix.Capget(&hdr, &saved[0]); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	dropped := saved
	dropped[0].Effective &^= 1 << unix.CAP_NET_ADMIN
	if err := unix.Capset(&hdr, &dropped[0]); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := ns.Do(fn)
	if err := unix.Capset(&hdr, &saved[0]); err != nil {
		t.Errorf("restore CAP_NET_ADMIN: %v (thread retired)", err)
		return ferr
	}
	runtime.UnlockOSThread()
	return ferr
}

// TestMPTCPCollectorLabUnprivileged checks what a reader without
// CAP_NET_ADMIN gets from the real kernel: endpoints, limits and
// connections all the same. Subflow details depend on the kernel: recent
// ones show endpoint ids and tokens to anyone (hiding only sequence
// numbers), older ones only to CAP_NET_ADMIN; then the collector records a
// permission skip with its fix and still tells the sides apart.
func TestMPTCPCollectorLabUnprivileged(t *testing.T) {
	ctx := context.Background()
	w := mptcplab.NewTwoWAN(t)
	if err := w.ConfigureBonding(); err != nil {
		t.Fatal(err)
	}
	conn, err := w.Connect(ctx, 8080)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mptcpWaitSubflows(t, w.Client, 2, 10*time.Second)

	for _, side := range []struct {
		ns   *netlab.NS
		want MPTCPSide
	}{{w.Client, MPTCPClient}, {w.Server, MPTCPServer}} {
		snap := &Snapshot{}
		err := mptcpWithoutNetAdmin(t, side.ns, func() error {
			return mptcpCollector{}.Collect(ctx, &Sources{ProcPath: "/proc"}, snap)
		})
		if err != nil {
			t.Fatal(err)
		}
		m := snap.MPTCP
		if m == nil || m.PM == nil || m.Sockets == nil {
			t.Fatalf("%s: parts missing without CAP_NET_ADMIN: %+v (skips %+v)", side.want, m, snap.Skipped)
		}
		if side.want == MPTCPClient && len(m.PM.Endpoints) != 2 {
			t.Errorf("endpoints without CAP_NET_ADMIN: %+v", m.PM.Endpoints)
		}
		c, err := mptcpOnlyConn(snap)
		if err != nil {
			t.Fatal(err)
		}
		if c.SubflowCount() != 2 || c.Side != side.want {
			t.Errorf("%s: count %d side %s", side.want, c.SubflowCount(), c.Side)
		}
		if m.Sockets.SubflowDetail {
			t.Logf("%s: this kernel shows subflow details without CAP_NET_ADMIN", side.want)
			if len(c.Subflows) != 2 || len(snap.Skipped) != 0 {
				t.Errorf("%s: subflows %+v skips %+v", side.want, c.Subflows, snap.Skipped)
			}
			continue
		}
		if len(snap.Skipped) != 1 || snap.Skipped[0].Kind != SkipPermission || snap.Skipped[0].Source != mptcpSourceSubflows || snap.Skipped[0].Fix == "" {
			t.Errorf("%s: skips %+v, want one permission skip for %s with a fix", side.want, snap.Skipped, mptcpSourceSubflows)
		}
	}
}

// TestMPTCPPortFilterKernel checks the bytecode filter against the kernel:
// accepted by its audit, it lets through the sockets on the MPTCP
// connection's ports and keeps plain TCP connections on other ports out.
func TestMPTCPPortFilterKernel(t *testing.T) {
	ctx := context.Background()
	w := mptcplab.NewTwoWAN(t)
	if err := w.ConfigureBonding(); err != nil {
		t.Fatal(err)
	}
	conn, err := w.Connect(ctx, 8080)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w.PlainConns(t, 9090, 5)
	mptcpWaitSubflows(t, w.Client, 2, 10*time.Second)

	count := func(filter []byte) (on8080, on9090 int) {
		err := w.Client.Do(func() error {
			s, err := netlinkSocket(ctx, unix.NETLINK_SOCK_DIAG)
			if err != nil {
				return err
			}
			defer s.Close()
			msgs, err := mptcpExchange(s, unix.NETLINK_SOCK_DIAG, mptcpDiagRequest(mpAFInet, unix.IPPROTO_TCP, 1<<mpTCPEstablished, filter), nl.SOCK_DIAG_BY_FAMILY)
			for _, m := range msgs {
				d, derr := decodeMPTCPDiagMsg(m)
				if derr != nil {
					return derr
				}
				switch d.remote.Port() {
				case 8080:
					on8080++
				case 9090:
					on9090++
				}
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	if a, b := count(nil); a != 2 || b != 5 {
		t.Fatalf("unfiltered: %d subflows, %d plain; want 2 and 5", a, b)
	}
	ports := []uint16{1, 8080, 40000}
	if a, b := count(mptcpPortFilter(ports)); a != 2 || b != 0 {
		t.Errorf("filtered on %v: %d subflows, %d plain; want 2 and 0", ports, a, b)
	}
	if a, b := count(mptcpPortFilter([]uint16{8080})); a != 2 || b != 0 {
		t.Errorf("filtered on 8080 alone: %d subflows, %d plain; want 2 and 0", a, b)
	}
}
