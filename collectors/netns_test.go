package collectors

import (
	"context"
	"encoding/json"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/netdx/netdx/internal/netlab"
)

// listenIn opens a TCP listener with the given backlog on a thread inside
// ns, bound to 198.18.0.1 on the namespace's loopback, and returns its fd
// and port. It never accepts.
func listenIn(t *testing.T, ns *netlab.NS, backlog int) (int, int) {
	t.Helper()
	lo, err := ns.Netlink().LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(198, 18, 0, 1), Mask: net.CIDRMask(32, 32)}}
	if err := ns.Netlink().AddrAdd(lo, addr); err != nil {
		t.Fatal(err)
	}
	fd := -1
	err = ns.Do(func() error {
		var err error
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{198, 18, 0, 1}}); err != nil {
			return err
		}
		return unix.Listen(fd, backlog)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fd, sa.(*unix.SockaddrInet4).Port
}

// TestTakeInNetNS reads another namespace: its own interfaces, sysctls and
// sockets, and the host's global sysctls that a child namespace hides.
func TestTakeInNetNS(t *testing.T) {
	ns := netlab.NewNS(t, "col")
	if err := ns.SetSysctl("net/core/somaxconn", "777"); err != nil {
		t.Fatal(err)
	}
	_, port := listenIn(t, ns, 3)

	src, err := Open(Options{NetNS: ns.Path()})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	s := Take(context.Background(), src, time.Now)
	for _, sk := range s.Skipped {
		if sk.Kind == SkipError || sk.Kind == SkipPermission {
			t.Errorf("skipped %+v", sk)
		}
	}
	if len(s.Links) != 1 || s.Links[0].Name != "lo" || s.Links[0].StatsSource != "netlink" {
		t.Errorf("links = %+v, want the namespace's lo only", s.Links)
	}
	if v := s.Sysctls["net.core.somaxconn"]; v.Value != "777" || v.Scope != ScopeNetNS {
		t.Errorf("somaxconn = %+v, want the namespace's 777", v)
	}
	if v, ok := s.Sysctls["net.core.netdev_max_backlog"]; !ok || v.Scope != ScopeHost {
		t.Errorf("netdev_max_backlog = %+v, %v: the host's value should be read outside the namespace", v, ok)
	}
	// What `sysctl -w` could change from inside: the namespace's own
	// settings, not a host-global one it does not show or shows
	// read-only.
	for name, want := range map[string]bool{"net.core.somaxconn": true, "net.ipv4.tcp_syncookies": true,
		"net.ipv4.conf.all.rp_filter": true, "net.core.netdev_max_backlog": false, "net.core.rmem_max": false} {
		if w := s.Sysctls[name].Writable; w == nil || *w != want {
			t.Errorf("%s writable %v, want %v", name, w, want)
		}
	}
	if s.Netstat == nil || s.Softnet == nil || s.Sockstat == nil {
		t.Fatal("per-namespace files not read")
	}
	if s.Sockets == nil || len(s.Sockets.Listeners) != 1 || s.Sockets.TCP == nil {
		t.Fatalf("sockets = %+v, want the namespace's one listener and an empty list of connections with drops", s.Sockets)
	}
	l := s.Sockets.Listeners[0]
	if l.Port != port || l.Local != "198.18.0.1:"+strconv.Itoa(port) || l.Backlog != 3 || l.Drops == nil {
		t.Errorf("listener = %+v", l)
	}
	if l.Process == nil || l.Process.PID != os.Getpid() {
		t.Errorf("listener owner = %v, want this process (%d)", l.Process, os.Getpid())
	}
	if q := s.Qdiscs; len(q) != 1 || q[0].Iface != "lo" || q[0].Kind != "noqueue" {
		t.Errorf("qdiscs = %+v", q)
	}
}

// TestHostProcFromContainer: with --proc pointing at another procfs whose
// PID 1 lives in a different namespace (a container's view of the host's
// /proc), netdx reads that PID 1's namespace, not its own.
func TestHostProcFromContainer(t *testing.T) {
	ns := netlab.NewNS(t, "ctr")
	_, port := listenIn(t, ns, 5)
	// A process in the namespace stands for the host's PID 1.
	var cmd *exec.Cmd
	err := ns.Do(func() error {
		cmd = exec.Command("sleep", "60")
		return cmd.Start() // forked from the thread inside the namespace
	})
	if err != nil {
		t.Skipf("skipped: cannot start a process in the namespace: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	// A procfs root like /host/proc: its "1" is that process.
	root := t.TempDir()
	for name, target := range map[string]string{
		"1": "/proc/" + strconv.Itoa(cmd.Process.Pid), "thread-self": "/proc/thread-self", "self": "/proc/self",
		"sys": "/proc/sys", "uptime": "/proc/uptime", "net": "/proc/self/net",
	} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	src, err := Open(Options{Proc: root})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if len(src.Warnings) > 0 {
		t.Fatalf("could not enter the namespace: %v", src.Warnings)
	}
	s := Take(context.Background(), src, time.Now)
	if len(s.Links) != 1 || s.Links[0].Name != "lo" {
		t.Errorf("links = %+v, want the namespace's lo", s.Links)
	}
	if s.Sockets == nil || len(s.Sockets.Listeners) != 1 || s.Sockets.Listeners[0].Port != port {
		t.Errorf("listeners = %+v, want the namespace's listener on port %d", s.Sockets, port)
	}
	if v, ok := s.Netstat.Get("Tcp", "CurrEstab"); !ok || v != 0 {
		t.Errorf("Tcp.CurrEstab = %d, %v: netstat not read in the namespace", v, ok)
	}
}

// probe runs a collector as Take would and reports the network namespace
// of the thread it runs on.
type probe struct {
	Collector
	after []string
	on    func(collector string, tid int, netns uint64)
}

func (p probe) After() []string { return p.after }

func (p probe) Collect(ctx context.Context, src *Sources, snap *Snapshot) error {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return err
	}
	p.on(p.Name(), unix.Gettid(), st.Ino)
	return p.Collector.Collect(ctx, src, snap)
}

// TestTakeConcurrentInNetNS: when a snapshot of another namespace runs
// collectors at the same time, every one of them runs on a thread switched
// into that namespace, so the snapshot shows its links, sockets and
// settings, not the host's; and two snapshots of the idle namespace are the
// same whichever collectors happened to run first.
func TestTakeConcurrentInNetNS(t *testing.T) {
	twoWorkers(t)
	ns := netlab.NewNS(t, "conc")
	if err := ns.Netlink().LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "ndx0"}, PeerName: "ndx1"}); err != nil {
		t.Fatal(err)
	}
	if err := ns.SetSysctl("net/core/somaxconn", "778"); err != nil {
		t.Fatal(err)
	}
	_, port := listenIn(t, ns, 4)
	var nsFile unix.Stat_t
	if err := unix.Stat(ns.Path(), &nsFile); err != nil {
		t.Fatal(err)
	}
	src, err := Open(Options{NetNS: ns.Path()})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	// Which threads ran collectors, and in which namespace.
	var mu sync.Mutex
	var threads map[int]bool
	on := func(name string, tid int, ino uint64) {
		mu.Lock()
		defer mu.Unlock()
		threads[tid] = true
		if ino != nsFile.Ino {
			t.Errorf("%s ran in namespace %d, not the lab's %d", name, ino, nsFile.Ino)
		}
	}
	var cs []Collector
	for _, c := range All() {
		p := probe{Collector: c, on: on}
		if d, ok := c.(Dependent); ok {
			p.after = d.After()
		}
		cs = append(cs, p)
	}
	most := 0
	for range 5 {
		threads = map[int]bool{}
		snap := &Snapshot{Taken: fixedNow()}
		newSchedule(context.Background(), src, snap, cs).run()
		most = max(most, len(threads))
		checkLabSnapshot(t, snap, port)
	}
	if most < 2 {
		t.Errorf("collectors ran on at most %d thread at a time in 5 snapshots, want 2", most)
	}

	a, b := Take(context.Background(), src, fixedNow), Take(context.Background(), src, fixedNow)
	if ja, jb := stableJSON(t, a), stableJSON(t, b); ja != jb {
		t.Errorf("two snapshots of the idle namespace differ:\n%s\n----\n%s", ja, jb)
	}
}

// checkLabSnapshot checks that snap shows TestTakeConcurrentInNetNS's
// namespace: its links, its listener, its somaxconn.
func checkLabSnapshot(t *testing.T, s *Snapshot, port int) {
	t.Helper()
	var names []string
	for _, l := range s.Links {
		names = append(names, l.Name)
	}
	if !slices.Equal(names, []string{"lo", "ndx0", "ndx1"}) {
		t.Errorf("links %q, want the namespace's lo and veth pair", names)
	}
	if nics := slices.Sorted(maps.Keys(s.NICs)); !slices.Equal(nics, []string{"ndx0", "ndx1"}) {
		t.Errorf("ethtool read %q, want the veth pair", nics)
	}
	for _, q := range s.Qdiscs {
		if !slices.Contains(names, q.Iface) {
			t.Errorf("qdisc of %s, not the namespace's", q.Iface)
		}
	}
	if s.Sockets == nil || len(s.Sockets.Listeners) != 1 || s.Sockets.Listeners[0].Port != port {
		t.Errorf("sockets %+v, want the namespace's one listener on port %d", s.Sockets, port)
	}
	if v, _ := s.Sockstat.Get("TCP", "inuse"); v != 1 {
		t.Errorf("sockstat TCP inuse %d, want the namespace's one listener", v)
	}
	if v := s.Sysctls["net.core.somaxconn"]; v.Value != "778" {
		t.Errorf("somaxconn %+v, want the namespace's 778", v)
	}
	if s.Netstat == nil || s.TCPConns == nil || len(s.TCPConns.Conns) != 0 {
		t.Errorf("netstat %v, tcp connections %+v: want the namespace's, which has none", s.Netstat != nil, s.TCPConns)
	}
}

// stableJSON is a snapshot as JSON without what changes in an idle
// namespace: the host's uptime, softnet counters and socket totals, and
// how long each collector took.
func stableJSON(t *testing.T, s *Snapshot) string {
	t.Helper()
	c := *s
	c.Uptime, c.Softnet, c.Sockstat = 0, nil, nil
	c.Runs = nil
	for _, r := range s.Runs {
		c.Runs = append(c.Runs, Run{Collector: r.Collector, Failed: r.Failed})
	}
	b, err := json.MarshalIndent(c, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
