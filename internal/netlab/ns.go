// Package netlab builds throw-away network topologies in network namespaces
// for netdx's integration tests. Every namespace it makes has a unique name
// and is removed when the test ends, even when the test fails. Tests use
// only 198.18.0.0/15 and 2001:db8::/32, and probers run inside a namespace,
// so no lab packet can leave the machine.
package netlab

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/netdx/netdx/internal/caps"
)

// RequireRoot skips the test, saying why, unless the process holds the
// capabilities the lab needs: CAP_SYS_ADMIN to create and enter network
// namespaces, CAP_NET_ADMIN to build their links and routes. The kernel
// still has the last word: a test fails if it refuses what these allow.
// Under -short (the fast loop) every lab test skips.
func RequireRoot(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped in -short: lab tests build network namespaces; `make test` runs them")
	}
	set, err := caps.Effective()
	if err != nil {
		t.Skipf("skipped: cannot read this process's capabilities: %v", err)
	}
	for _, c := range []caps.Cap{caps.SysAdmin, caps.NetAdmin} {
		if !set.Has(c) {
			t.Skipf("skipped: building network namespaces needs %s and %s, and this process lacks %s; run `sudo make test`", caps.SysAdmin, caps.NetAdmin, c)
		}
	}
}

// NS is a named network namespace that lives for one test. Its name is
// listed under /run/netns, like `ip netns add` would make it.
type NS struct {
	Name   string
	Handle netns.NsHandle
	nl     *netlink.Handle
}

var seq atomic.Int64

// NewNS makes a namespace named ndx-<prefix>-<pid>-<n>, brings its loopback
// up, and removes it when t ends. prefix must be short: interface names
// made from it must fit in 15 bytes.
func NewNS(t testing.TB, prefix string) *NS {
	t.Helper()
	RequireRoot(t)
	name := fmt.Sprintf("ndx-%s-%d-%d", prefix, os.Getpid(), seq.Add(1))
	ns, err := newNamed(name)
	if err != nil {
		t.Fatalf("create network namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Errorf("remove network namespace %s: %v", name, err)
		}
	})
	lo, err := ns.nl.LinkByName("lo")
	if err == nil {
		err = ns.nl.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatalf("bring up lo in %s: %v", name, err)
	}
	return ns
}

// newNamed creates the namespace on a locked thread and puts the thread
// back in its original namespace before releasing it.
func newNamed(name string) (*NS, error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer orig.Close()
	h, err := netns.NewNamed(name)
	if rerr := netns.Set(orig); rerr != nil {
		// The thread is stuck in the wrong namespace: let it die with
		// this goroutine rather than return it to the scheduler.
		return nil, fmt.Errorf("restore namespace: %w", rerr)
	}
	runtime.UnlockOSThread()
	if err != nil {
		return nil, err
	}
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		h.Close()
		_ = netns.DeleteNamed(name)
		return nil, err
	}
	return &NS{Name: name, Handle: h, nl: nl}, nil
}

// Netlink is a netlink handle bound to the namespace.
func (n *NS) Netlink() *netlink.Handle { return n.nl }

// Path is the namespace's bind mount, usable with setns(2) or `--netns`.
func (n *NS) Path() string { return "/run/netns/" + n.Name }

// Do runs fn on an OS thread switched into the namespace. Sockets fn opens
// stay in the namespace after it returns; goroutines fn starts do not run
// in it.
func (n *NS) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(n.Handle); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter %s: %w", n.Name, err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return fmt.Errorf("leave %s: %w", n.Name, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// Close removes the namespace. Processes or sockets still inside keep it
// alive until they end, as with `ip netns delete`.
func (n *NS) Close() error {
	n.nl.Close()
	err := n.Handle.Close()
	if derr := netns.DeleteNamed(n.Name); derr != nil && !os.IsNotExist(derr) {
		return derr
	}
	return err
}

// SetSysctl writes a per-namespace sysctl ("net/ipv4/ip_forward") inside n.
func (n *NS) SetSysctl(key, value string) error {
	return n.Do(func() error {
		return os.WriteFile("/proc/sys/"+key, []byte(value), 0o644)
	})
}
