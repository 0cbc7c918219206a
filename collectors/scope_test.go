package collectors

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/netdx/netdx/internal/netlab"
)

// TestNamespaceSysctlScopes checks each sysctl's scope label against the
// running kernel: a per-namespace setting is a writable file in a fresh
// namespace; a host-wide one is absent there (net_core_table, ipv4_table
// are registered for the initial namespace only) or a read-only mirror of
// the host's (net.core.[rw]mem_{default,max} since 6.15).
func TestNamespaceSysctlScopes(t *testing.T) {
	ns := netlab.NewNS(t, "sysctl")
	for _, path := range sysctlNames {
		name := sysctlName(path)
		t.Run(name, func(t *testing.T) {
			var mode fs.FileMode
			var err error
			if derr := ns.Do(func() error {
				var st os.FileInfo
				st, err = os.Stat("/proc/sys/" + path)
				if err == nil {
					mode = st.Mode()
				}
				return nil
			}); derr != nil {
				t.Fatal(derr)
			}
			var seen string
			switch {
			case errors.Is(err, fs.ErrNotExist):
				seen = "absent in a child namespace"
			case err != nil:
				t.Fatal(err)
			case mode&0o222 == 0:
				seen = "read-only in a child namespace"
			default:
				seen = "writable in a child namespace"
			}
			host := seen != "writable in a child namespace"
			if host != hostSysctls[name] {
				t.Errorf("%s is %s, but labelled host=%v", name, seen, hostSysctls[name])
			}
			scope := ScopeNetNS
			if hostSysctls[name] {
				scope = ScopeHost
			}
			t.Logf("reliability: %s (mode %o); labelled %s", seen, mode&0o777, scope)
		})
	}
}

// TestNamespaceSameNetNS checks the test diag falls back on in a
// container that may not look at PID 1's namespace link: PID 1's route
// and if_inet6 tables against netdx's own. The truth for the live cases is
// the namespace links themselves, which root may compare.
func TestNamespaceSameNetNS(t *testing.T) {
	route := "Iface\tDestination\tGateway\nEth0\t00000000\t010200C0\n"
	addrs := "00000000000000000000000000000001 01 80 10 80       lo\n20010db8000000000000000000000001 02 40 00 80     eth0\n"
	dir := func(files map[string]string) string {
		d := t.TempDir()
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(d, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	host := map[string]string{"route": route, "if_inet6": addrs}
	bare := map[string]string{"route": "Iface\n", "if_inet6": addrs[:strings.Index(addrs, "\n")+1]}
	for _, tc := range []struct {
		name string
		a, b map[string]string
		want bool
	}{
		{"the same tables", host, host, true},
		{"another default route", host, map[string]string{"route": strings.Replace(route, "010200C0", "010300C0", 1), "if_inet6": addrs}, false},
		{"only loopback and no routes, twice", bare, bare, false},
		{"no tables", host, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameNetNS(dir(tc.a), dir(tc.b)); got != tc.want {
				t.Errorf("sameNetNS = %v, want %v", got, tc.want)
			}
			t.Logf("reliability: same namespace %v", tc.want)
		})
	}

	ns := netlab.NewNS(t, "samens")
	// The truth: PID 1's namespace is this thread's when its UDP table
	// lists a socket this thread just bound (PID 1's namespace link
	// itself may be unreadable even to root, as on this lab's VMs).
	pid1Sees := func() bool {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		table, err := os.ReadFile("/proc/1/net/udp")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Contains(string(table), fmt.Sprintf("0100007F:%04X", c.LocalAddr().(*net.UDPAddr).Port))
	}
	t.Run("this process against PID 1", func(t *testing.T) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		want := pid1Sees()
		if got := sameNetNS("/proc/1/net", "/proc/thread-self/net"); got != want {
			t.Errorf("sameNetNS = %v, PID 1's UDP table says %v", got, want)
		}
		t.Logf("reliability: same namespace %v, as PID 1's UDP table says", want)
	})
	t.Run("a lab namespace against PID 1", func(t *testing.T) {
		var got, want bool
		if err := ns.Do(func() error {
			got, want = sameNetNS("/proc/1/net", "/proc/thread-self/net"), pid1Sees()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if want || got {
			t.Errorf("sameNetNS = %v inside %s (PID 1 sees its socket: %v)", got, ns.Name, want)
		}
		t.Logf("reliability: told apart from PID 1's namespace")
	})
}
