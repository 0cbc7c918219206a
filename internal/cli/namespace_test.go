package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/netdx/netdx/internal/netlab"
	"github.com/netdx/netdx/render"
	"github.com/netdx/netdx/report"
)

// netstatValue reads one counter from a netstat-format file.
func netstatValue(t *testing.T, b []byte, section, name string) uint64 {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		names := strings.Fields(sc.Text())
		if !sc.Scan() || len(names) == 0 || names[0] != section+":" {
			continue
		}
		vals := strings.Fields(sc.Text())
		for i, n := range names {
			if n == name && i < len(vals) {
				v, err := strconv.ParseUint(vals[i], 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
		}
	}
	t.Fatalf("no %s.%s", section, name)
	return 0
}

// diagJSON runs diag in process with the live collectors and returns the
// exit status and the JSON report.
func diagJSON(t *testing.T, args ...string) (int, *report.Report) {
	t.Helper()
	a, out, errb := testApp()
	a.Now = time.Now
	code := execute(t, a, nil, append([]string{"diag", "--json", "--fail-on", "none"}, args...)...)
	var rep report.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("exit %d, output not JSON (%v): %s\nstderr %s", code, err, out, errb)
	}
	return code, &rep
}

// TestNamespaceRoots: the report says which procfs and sysfs roots and
// which network namespace it read, and the numbers come from there.
func TestNamespaceRoots(t *testing.T) {
	t.Run("fixture tree given with --proc and --sys", func(t *testing.T) {
		root := filepath.Join(hostsDir, "linux-6.18")
		proc, sys := filepath.Join(root, "proc"), filepath.Join(root, "sys")
		code, rep := diagJSON(t, "--proc", proc, "--sys", sys, "--interval", "0")
		if code != exitOK {
			t.Fatalf("exit %d", code)
		}
		want := report.DiagReadFrom{Proc: proc, Sys: sys, Net: filepath.Join(proc, "net"), NetNS: "own"}
		if rep.Diag.ReadFrom == nil || *rep.Diag.ReadFrom != want {
			t.Errorf("read_from %+v, want %+v", rep.Diag.ReadFrom, want)
		}
		b, err := os.ReadFile(filepath.Join(proc, "net", "netstat"))
		if err != nil {
			t.Fatal(err)
		}
		truth := netstatValue(t, b, "TcpExt", "ListenOverflows")
		if got := rep.Diag.Netstat["TcpExt"]["ListenOverflows"].Total; got != truth {
			t.Errorf("ListenOverflows %d, the fixture's file says %d", got, truth)
		}
		if got := rep.Diag.Sysctls["net.core.somaxconn"].Value; got != "4096" {
			t.Errorf("somaxconn %q, the fixture's says 4096", got)
		}
		if len(rep.Diag.Softnet) != 4 {
			t.Errorf("%d softnet CPUs, the fixture has 4", len(rep.Diag.Softnet))
		}
		t.Logf("reliability: exit %d; read_from proc=%s sys=%s net=%s netns=%s; ListenOverflows %d as in the fixture, 4 softnet CPUs",
			code, strings.TrimPrefix(proc, hostsDir+"/"), strings.TrimPrefix(sys, hostsDir+"/"), strings.TrimPrefix(want.Net, hostsDir+"/"), want.NetNS, truth)
	})

	// A container in its own namespace with the host's /proc mounted: the
	// lab namespace stands for the container, netdx's own namespace for
	// the host, a symlink to /proc for the mount. (Entering the host's
	// namespace is collectors' TestHostProcFromContainer: PID 1 of this
	// machine may refuse even root a look at its namespace.)
	r := newPrivRunner(t)
	ctr := netlab.NewNS(t, "ctr")
	hostProc := filepath.Join(searchableTempDir(t), "host-proc")
	if err := os.Symlink("/proc", hostProc); err != nil {
		t.Fatal(err)
	}
	hostLink := firstHostLink(t)
	for _, tc := range []struct {
		name   string
		caps   []string
		netns  string
		netDir string
	}{
		{"host /proc from a container as nobody, reading the host's files only", nil, "host_files", filepath.Join(hostProc, "1", "net")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := r.run(t, ctr, tc.caps, "diag", "--json", "--proc", hostProc, "--interval", "0", "--fail-on", "none")
			if res.code != exitOK || res.rep == nil {
				t.Fatalf("exit %d; stderr %s", res.code, res.stderr)
			}
			rf := res.rep.Diag.ReadFrom
			if rf == nil || rf.NetNS != tc.netns || rf.Net != tc.netDir {
				t.Fatalf("read_from %+v, want netns %s from %s", rf, tc.netns, tc.netDir)
			}
			var names []string
			for _, i := range res.rep.Diag.Interfaces {
				names = append(names, i.Name)
			}
			if !contains(names, hostLink) {
				t.Errorf("interfaces %v lack the host's %s: the container's namespace was read", names, hostLink)
			}
			denied := permissionSkips(res.rep)
			if tc.netns == "host_files" {
				warned := strings.Contains(strings.Join(res.rep.Warnings, " "), "hostNetwork")
				if !warned || len(denied) == 0 || !strings.Contains(strings.Join(denied, " "), "(CAP_SYS_ADMIN,CAP_SYS_PTRACE)") {
					t.Errorf("warnings %q, permission skips %v: want the hostNetwork warning and CAP_SYS_ADMIN named", res.rep.Warnings, denied)
				}
			}
			t.Logf("reliability: exit %d; read_from netns=%s net=%s; the host's %s listed; permission skips %v",
				res.code, rf.NetNS, strings.TrimPrefix(rf.Net, filepath.Dir(hostProc)+"/"), hostLink, denied)
		})
	}
}

// firstHostLink names an interface of netdx's own namespace other than lo.
func firstHostLink(t *testing.T) string {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if n := l.Attrs().Name; n != "lo" && !strings.HasPrefix(n, "ndx") {
			return n
		}
	}
	t.Skip("skipped: this namespace has no interface but lo to tell it from a container's")
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestNamespaceNetNS runs diag --netns against a lab namespace whose state
// is known: a TUN device there drops a counted number of packets, a
// sysctl has a value of its own; the report must show that namespace's
// values, label the host's, and say so in text.
func TestNamespaceNetNS(t *testing.T) {
	ns := netlab.NewNS(t, "scope")
	if err := ns.SetSysctl("net/core/somaxconn", "777"); err != nil {
		t.Fatal(err)
	}
	name := "ndxtun" + strconv.Itoa(os.Getpid()%10000)
	tun, err := ns.NewStalledTUN(name, netip.MustParseAddr("198.18.77.1"), 10)
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	const sent = 50
	if err := tun.Send(sent); err != nil {
		t.Fatal(err)
	}
	truth := uint64(sent - tun.Queue) // nothing reads the device
	code, rep := diagJSON(t, "--netns", ns.Name, "--interval", "0")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}

	t.Run("link drops of the namespace's device", func(t *testing.T) {
		var names []string
		var dropped *report.DiagCounter
		for _, i := range rep.Diag.Interfaces {
			names = append(names, i.Name)
			if i.Name == name {
				c := i.Stats["tx_dropped"]
				dropped = &c
			}
		}
		if strings.Join(names, ",") != "lo,"+name {
			t.Errorf("interfaces %v, want the namespace's lo and %s only", names, name)
		}
		if dropped == nil || dropped.Total != truth {
			t.Fatalf("tx_dropped %+v, want %d (%d sent, queue %d)", dropped, truth, sent, tun.Queue)
		}
		if _, err := netlink.LinkByName(name); err == nil {
			t.Errorf("%s exists in netdx's own namespace too", name)
		}
		t.Logf("reliability: %s tx_dropped %d = %d sent - queue %d; interfaces %v; absent from the caller's namespace",
			name, dropped.Total, sent, tun.Queue, names)
	})

	t.Run("sysctls labelled per namespace or host", func(t *testing.T) {
		own, host := rep.Diag.Sysctls["net.core.somaxconn"], rep.Diag.Sysctls["net.core.netdev_max_backlog"]
		b, err := os.ReadFile("/proc/sys/net/core/netdev_max_backlog")
		if err != nil {
			t.Fatal(err)
		}
		if own.Value != "777" || own.Scope != report.ScopeNetNS {
			t.Errorf("somaxconn %+v, want the namespace's 777", own)
		}
		if host.Value != strings.TrimSpace(string(b)) || host.Scope != report.ScopeHost {
			t.Errorf("netdev_max_backlog %+v, want the host's %s", host, b)
		}
		t.Logf("reliability: somaxconn %s (%s), netdev_max_backlog %s (%s, hidden in the namespace, read from the host's)",
			own.Value, own.Scope, host.Value, host.Scope)
	})

	t.Run("host-wide counters labelled in JSON and text", func(t *testing.T) {
		want := map[string]string{"netstat": "netns", "interfaces": "netns", "sockets": "netns", "softnet": "host",
			"sockets.sockstat.TCP.mem": "host", "sockets.sockstat.TCP.orphan": "host", "sockets.sockstat.UDP.mem": "host"}
		for k, v := range want {
			if got := rep.Diag.Scope(k); got != v {
				t.Errorf("scope of %s = %q, want %q (scopes %v)", k, got, v, rep.Diag.Scopes)
			}
		}
		if got := rep.Diag.Scope("sockets.sockstat.TCP.inuse"); got != "netns" {
			t.Errorf("TCP in use labelled %q, want netns", got)
		}
		if rep.Diag.ReadFrom == nil || rep.Diag.ReadFrom.NetNS != "named" || rep.Host.NetNS != ns.Name {
			t.Errorf("read_from %+v, host %+v", rep.Diag.ReadFrom, rep.Host)
		}
		var text bytes.Buffer
		if err := (render.Text{}).Render(&text, rep); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"network namespace: the --netns namespace", "[host] marks the whole host's values", "CPUs [host]", "memory"} {
			if !strings.Contains(text.String(), s) {
				t.Errorf("text lacks %q:\n%s", s, text.String())
			}
		}
		t.Logf("reliability: %d scope labels, softnet and sockstat memory/orphans host, the rest netns; text marks them [host]", len(rep.Diag.Scopes))
	})
}

// TestNamespaceHostWide checks the scope labels against the kernel: what
// is labelled host-wide is the same seen from any namespace, or counts
// every namespace's traffic.
func TestNamespaceHostWide(t *testing.T) {
	ns := netlab.NewNS(t, "wide")
	t.Run("softnet_stat counts every namespace's packets", func(t *testing.T) {
		before := softnetProcessed(t, nil)
		const n = 2000
		err := ns.Do(func() error {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			for i := 0; i < n; i++ {
				if err := unix.Sendto(fd, []byte("x"), 0, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: 9}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		after := softnetProcessed(t, nil)
		inNS := softnetProcessed(t, ns)
		if after-before < n {
			t.Errorf("host softnet processed grew by %d, fewer than the %d packets looped inside %s", after-before, n, ns.Name)
		}
		if inNS < after {
			t.Errorf("the namespace sees softnet processed %d, below the host's %d read before it", inNS, after)
		}
		t.Logf("reliability: %d packets looped inside a lab namespace; the host's softnet processed grew by %d", n, after-before)
	})
	t.Run("sockstat in-use is per namespace, memory and orphans host-wide", func(t *testing.T) {
		const k = 5
		for i := 0; i < k; i++ {
			l, err := ns.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
		}
		var nsTCP, hostTCP map[string]uint64
		same := false
		for try := 0; try < 20 && !same; try++ {
			nsTCP, hostTCP = sockstatTCP(t, ns), sockstatTCP(t, nil)
			same = nsTCP["mem"] == hostTCP["mem"] && nsTCP["orphan"] == hostTCP["orphan"] && nsTCP["alloc"] == hostTCP["alloc"]
		}
		if nsTCP["inuse"] != k {
			t.Errorf("the namespace's TCP in use %d, want its %d listeners", nsTCP["inuse"], k)
		}
		if !same {
			t.Errorf("memory, orphans or allocations differ between the namespace %v and the host %v", nsTCP, hostTCP)
		}
		t.Logf("reliability: namespace TCP inuse %d (its %d listeners), host's %d; mem %d, orphan %d, alloc %d the same from both",
			nsTCP["inuse"], k, hostTCP["inuse"], nsTCP["mem"], nsTCP["orphan"], nsTCP["alloc"])
	})
	t.Run("nf_conntrack_max is the host's, read-only in a namespace", func(t *testing.T) {
		const path = "/proc/sys/net/netfilter/nf_conntrack_max"
		hostMax, err := os.ReadFile(path)
		if err != nil {
			t.Skipf("skipped: connection tracking is not loaded (%v)", err)
		}
		var nsMax []byte
		var st unix.Stat_t
		if err := ns.Do(func() (err error) {
			if nsMax, err = os.ReadFile(path); err != nil {
				return err
			}
			return unix.Stat(path, &st)
		}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(nsMax, hostMax) || st.Mode&0o222 != 0 {
			t.Errorf("in the namespace nf_conntrack_max is %s mode %o; the host's is %s: want the same, read-only", nsMax, st.Mode&0o777, hostMax)
		}
		t.Logf("reliability: nf_conntrack_max %s in the namespace, mode %o, equal to the host's", bytes.TrimSpace(nsMax), st.Mode&0o777)
	})
}

// softnetProcessed sums the processed column of softnet_stat, read in ns
// (or netdx's own namespace when nil).
func softnetProcessed(t *testing.T, ns *netlab.NS) uint64 {
	t.Helper()
	b := netFile(t, ns, "softnet_stat")
	var sum uint64
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		v, err := strconv.ParseUint(f[0], 16, 32)
		if err != nil {
			t.Fatal(err)
		}
		sum += v
	}
	return sum
}

// sockstatTCP is the TCP line of /proc/net/sockstat in ns (or netdx's own
// namespace when nil).
func sockstatTCP(t *testing.T, ns *netlab.NS) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, line := range strings.Split(string(netFile(t, ns, "sockstat")), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "TCP:" {
			continue
		}
		for i := 1; i+1 < len(f); i += 2 {
			v, _ := strconv.ParseUint(f[i+1], 10, 64)
			out[f[i]] = v
		}
	}
	return out
}

func netFile(t *testing.T, ns *netlab.NS, name string) []byte {
	t.Helper()
	var b []byte
	var err error
	if ns == nil {
		b, err = os.ReadFile("/proc/net/" + name)
	} else {
		b, err = ns.ReadNetFile(name)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}
