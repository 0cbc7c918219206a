package collectors

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
