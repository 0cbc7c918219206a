package collectors

import (
	"errors"
	"io/fs"
	"os"
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
