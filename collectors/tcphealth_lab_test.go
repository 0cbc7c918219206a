package collectors

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
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
	netlab.RequireNFT(t)
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

// TestTCPConnsUnprivileged runs the dump as nobody, without capabilities,
// in the lab's client namespace (this test binary again, through
// setpriv): an ordinary user reads every connection with its tcp_info,
// root's included, and cannot name root's processes, which the error says.
func TestTCPConnsUnprivileged(t *testing.T) {
	if os.Getenv("NETDX_TCPCONNS_CHILD") == "1" {
		tcpConnsChild()
		return
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("skipped: setpriv (util-linux) is not installed")
	}
	netlab.RequireNFT(t)
	lab := netlab.NewConnLab(t)
	if err := lab.DropToPort(5001, 3); err != nil {
		t.Fatal(err)
	}
	lossy := lab.StartFlow(t, netlab.FlowSpec{Port: 5001, Rate: 8 << 20})
	time.Sleep(500 * time.Millisecond)

	dir := t.TempDir()
	for d := dir; strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "collectors.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
		bin, "-test.run=^TestTCPConnsUnprivileged$")
	cmd.Env = []string{"NETDX_TCPCONNS_CHILD=1"}
	cmd.Dir = dir
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := lab.Client.Start(cmd); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s\n%s", err, out.String(), errb.String())
	}
	var got tcpConnsChildResult
	line := out.String()
	if i := strings.Index(line, "{"); i >= 0 {
		line = line[i:strings.Index(line, "\n")]
	}
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("child said %q: %v", out.String(), err)
	}
	if got.UID != 65534 || got.Err != "" || got.Conns != 1 || got.Local != lossy.Local.String() || got.Retrans == 0 || got.InfoLen == 0 {
		t.Errorf("as nobody: %+v; want the lossy connection %s with its tcp_info", got, lossy.Local)
	}
	if !strings.Contains(got.OwnerErr, "permission denied") || got.Process != "" {
		t.Errorf("as nobody, root's socket named %q, error %q; want it unnamed and the error saying why", got.Process, got.OwnerErr)
	}
}

// tcpConnsChildResult is what the unprivileged child reports.
type tcpConnsChildResult struct {
	UID      int
	Err      string
	Conns    int
	Local    string
	Retrans  uint64
	InfoLen  int
	Process  string
	OwnerErr string
}

// tcpConnsChild dumps the namespace's connections, lists them, tries to
// name their owners and prints what it got as one JSON line.
func tcpConnsChild() {
	r := tcpConnsChildResult{UID: os.Getuid()}
	defer func() {
		b, _ := json.Marshal(r)
		fmt.Printf("%s\n", b)
	}()
	conns, err := liveNetlink{}.TCPConns()
	if err != nil {
		r.Err = err.Error()
		return
	}
	h := TCPHealthOf(nil, conns, 0, TCPHealthOptions{})
	r.Conns = h.Conns
	if len(conns.Conns) > 0 {
		r.InfoLen = conns.Conns[0].Info.Len
	}
	g := h.Group(TCPRetransmitting)
	if g == nil {
		return
	}
	c := g.Conns[0]
	r.Local, r.Retrans = c.Local.String(), c.RetransSegs
	src, err := NewSources("/proc", "/sys", nil)
	if err != nil {
		r.Err = err.Error()
		return
	}
	if err := h.NameOwners(src); err != nil {
		r.OwnerErr = err.Error()
	}
	if c.Process != nil {
		r.Process = c.Process.String()
	}
}
