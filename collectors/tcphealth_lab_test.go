package collectors

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netdx/netdx/internal/netlab"
)

// takeIn takes a snapshot of ns the way `netdx diag --netns` does.
func takeIn(t *testing.T, ns *netlab.NS) (*Snapshot, *Sources) {
	t.Helper()
	src, err := Open(Options{NetNS: ns.Path()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return Take(context.Background(), src, time.Now), src
}

// flowInfo reads a flow's own tcp_info, failing the test on error.
func flowInfo(t *testing.T, f *netlab.Flow) *unix.TCPInfo {
	t.Helper()
	i, err := f.Info()
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// findConn returns the listed connection of f, nil when not listed.
func findConn(g *TCPLimitGroup, f *netlab.Flow) *TCPConnHealth {
	if g == nil {
		return nil
	}
	for _, c := range g.Conns {
		if c.Local == f.Local && c.Remote == f.Remote {
			return c
		}
	}
	return nil
}

// TestTCPHealthLossyAndHealthy is the scenario: from one
// namespace, one connection loses 3 % of its segments at the receiver
// (nftables numgen random), another does not. The retransmitting group
// names the lossy one first, with its process, and not the healthy one;
// its retransmissions are the socket's own total_retrans over the window.
func TestTCPHealthLossyAndHealthy(t *testing.T) {
	netlab.RequireNft(t)
	lab := netlab.NewConnLab(t)
	if err := lab.DropToPort(5001, 3); err != nil {
		t.Fatal(err)
	}
	lossy := lab.StartFlow(t, netlab.FlowSpec{Port: 5001, Rate: 8 << 20})
	healthy := lab.StartFlow(t, netlab.FlowSpec{Port: 5002, Rate: 8 << 20})
	time.Sleep(300 * time.Millisecond)

	truth0 := flowInfo(t, lossy).Total_retrans
	nsBefore, err := lab.Client.Counters()
	if err != nil {
		t.Fatal(err)
	}
	before, src := takeIn(t, lab.Client)
	truth1 := flowInfo(t, lossy).Total_retrans
	time.Sleep(2 * time.Second)
	truth2 := flowInfo(t, lossy).Total_retrans
	after, _ := takeIn(t, lab.Client)
	truth3 := flowInfo(t, lossy).Total_retrans
	nsAfter, err := lab.Client.Counters()
	if err != nil {
		t.Fatal(err)
	}

	h := TCPHealthBetween(before, after, TCPHealthOptions{})
	if err := h.NameOwners(src); err != nil {
		t.Fatal(err)
	}
	if h.Conns != 2 || h.New != 0 || h.Closed != 0 || h.NoInfo != 0 {
		t.Errorf("conns %d new %d closed %d no_info %d, want the 2 flows, both older than the window", h.Conns, h.New, h.Closed, h.NoInfo)
	}
	g := h.Group(TCPRetransmitting)
	if g == nil || len(g.Conns) == 0 {
		t.Fatalf("no retransmitting group: %+v", h.Limits)
	}
	c := g.Conns[0]
	if c.Local != lossy.Local || c.Remote != lossy.Remote {
		t.Fatalf("worst retransmitting %s → %s, want the lossy %s → %s", c.Local, c.Remote, lossy.Local, lossy.Remote)
	}
	if findConn(g, healthy) != nil {
		t.Errorf("the healthy connection %s is listed as retransmitting", healthy.Local)
	}
	if c.Process == nil || c.Process.PID != os.Getpid() {
		t.Errorf("process %v, want this test's pid %d", c.Process, os.Getpid())
	}
	// The window's retransmissions lie between the socket's own counts
	// read just inside and just outside the two dumps.
	if lo, hi := uint64(truth2-truth1), uint64(truth3-truth0); c.RetransSegs < lo || c.RetransSegs > hi || c.RetransSegs == 0 {
		t.Errorf("retransmitted %d, the socket's total_retrans grew %d..%d", c.RetransSegs, lo, hi)
	}
	if ns := nsAfter.Sub(nsBefore)["Tcp.RetransSegs"]; int64(c.RetransSegs) > ns {
		t.Errorf("connection retransmitted %d, the namespace's RetransSegs grew only %d", c.RetransSegs, ns)
	}
	// A 3 % drop of data and retransmissions alike: the share is of that
	// order, far above the healthy connection's nothing.
	if c.RetransShare == nil || *c.RetransShare < 0.01 || *c.RetransShare > 0.10 {
		t.Errorf("retransmitted share %v of %v data segments, want about 3 %%", c.RetransShare, c.DataSegsOut)
	}
	if c.RTOs == nil || c.DSACKDups == nil || c.BusyUs == nil || c.BusyShare == nil {
		t.Errorf("6.7+ fields missing: rtos %v dsack %v busy %v busy share %v", c.RTOs, c.DSACKDups, c.BusyUs, c.BusyShare)
	}
	t.Logf("lossy: %d of %d data segments resent (%.2f %%), %d RTOs, %d D-SACKs, %d reorderings; busy %.0f %% of the window; limits %v",
		c.RetransSegs, *c.DataSegsOut, 100**c.RetransShare, *c.RTOs, *c.DSACKDups, *c.ReordSeen, 100**c.BusyShare, c.Limits)
	if app := h.Group(TCPAppLimited); findConn(app, healthy) == nil {
		t.Errorf("the paced healthy connection is not application limited: %+v", app)
	}
}

// TestTCPHealthStalledReceiver: a server that never reads closes its
// receive window; the client's connection is listed as limited by the
// peer's receive window, and not as retransmitting.
func TestTCPHealthStalledReceiver(t *testing.T) {
	lab := netlab.NewConnLab(t)
	stalled := lab.StartFlow(t, netlab.FlowSpec{Port: 5003, V6: true, ServerStalls: true})
	time.Sleep(100 * time.Millisecond)
	before, _ := takeIn(t, lab.Client)
	time.Sleep(time.Second)
	after, _ := takeIn(t, lab.Client)
	h := TCPHealthBetween(before, after, TCPHealthOptions{})
	c := findConn(h.Group(TCPRwndLimited), stalled)
	if c == nil {
		t.Fatalf("the stalled connection is not receive-window limited: %+v", h.Limits)
	}
	if c.RwndShare == nil || *c.RwndShare < 0.9 || !slices.Equal(c.Limits, []TCPLimit{TCPRwndLimited}) {
		t.Errorf("rwnd share %v, limits %v; want nearly all its busy time, rwnd only", c.RwndShare, c.Limits)
	}
	if c.NotsentBytes == nil || *c.NotsentBytes == 0 {
		t.Errorf("not-sent bytes %v, want the data the window holds back", c.NotsentBytes)
	}
}

// TestTCPHealthReordering: a router that swaps adjacent data segments of
// one connection makes the sender see reordering; that connection is
// listed under reordering, with the kernel's count.
func TestTCPHealthReordering(t *testing.T) {
	lab := netlab.NewConnLab(t, netlab.RouterSpec{Impair: netlab.Impairment{ReorderEvery: 10, Match: netlab.TCPDataTo(5004)}})
	reordered := lab.StartFlow(t, netlab.FlowSpec{Port: 5004, Rate: 2 << 20})
	time.Sleep(200 * time.Millisecond)
	truth0 := flowInfo(t, reordered).Reord_seen
	before, _ := takeIn(t, lab.Client)
	time.Sleep(time.Second)
	after, _ := takeIn(t, lab.Client)
	truth1 := flowInfo(t, reordered).Reord_seen
	h := TCPHealthBetween(before, after, TCPHealthOptions{})
	c := findConn(h.Group(TCPReordering), reordered)
	if c == nil {
		t.Fatalf("the reordered connection is not listed under reordering: %+v (socket's reord_seen %d → %d)", h.Limits, truth0, truth1)
	}
	if *c.ReordSeen == 0 || *c.ReordSeen > uint64(truth1-truth0) {
		t.Errorf("reordering events %d, the socket counted %d over a longer span", *c.ReordSeen, truth1-truth0)
	}
	t.Logf("reordered: %d reorderings, %d retransmitted, %v D-SACKs, limits %v", *c.ReordSeen, c.RetransSegs, *c.DSACKDups, c.Limits)
}
