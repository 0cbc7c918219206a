package drops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/netdx/netdx/internal/netlab"
)

// tracefsFor mounts tracefs for the test at a directory of its own and
// returns it; it is unmounted when the test ends. tracefs has one
// superblock: mount options (gid, mode) apply to every mount of it, so
// with group set the test skips when tracefs is mounted elsewhere
// already, and restores root-only access before unmounting.
func tracefsFor(t *testing.T, group bool) string {
	t.Helper()
	netlab.RequireRoot(t)
	if group {
		for _, m := range tracefsMounts {
			if _, err := os.Stat(filepath.Join(m, "events")); err == nil {
				t.Skipf("skipped: tracefs is mounted at %s; changing its group would change it for everyone", m)
			}
		}
	}
	dir := searchableDir(t)
	opts := ""
	if group {
		opts = fmt.Sprintf("gid=%d,mode=0750", nobody)
	}
	if err := unix.Mount("nodev", dir, "tracefs", 0, opts); err != nil {
		t.Skipf("skipped: cannot mount tracefs: %v", err)
	}
	t.Cleanup(func() {
		if group {
			if err := unix.Mount("nodev", dir, "tracefs", unix.MS_REMOUNT, "gid=0,mode=0700"); err != nil {
				t.Errorf("restore tracefs access: %v", err)
			}
		}
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount tracefs at %s: %v", dir, err)
		}
	})
	return dir
}

// TestLabFallbackSources runs each fallback next to the tp_btf source
// over the same drops: a namespace receiving datagrams to a closed port.
// The fallbacks see no namespaces, so their host-wide NO_SOCKET count is
// compared with the tp_btf source's host-wide count, taken inside their
// window (other tests' drops may add a few), and must cover the
// namespace's own Udp NoPorts.
func TestLabFallbackSources(t *testing.T) {
	for _, kind := range []Kind{KindTracepoint, KindPerf} {
		t.Run(string(kind), func(t *testing.T) {
			ref := startSource(t, KindBTF, Options{})
			s := startSource(t, kind, Options{TraceFS: tracefsFor(t, false)})
			p := netlab.NewPath(t, netlab.PathSpec{})
			settle(t, p.Target)
			before, _ := consistent(t, p.Target, s)
			w0 := snapshot(t, s)
			r0 := snapshot(t, ref)
			if _, err := p.Prober.SendUDP(netip.Addr{}, netip.AddrPortFrom(p.TargetAddr.V4, 9), 2000, 64); err != nil {
				t.Fatal(err)
			}
			after := settle(t, p.Target)
			r := snapshot(t, ref).Sub(r0)
			w := snapshot(t, s).Sub(w0)
			noPorts := uint64(after.Sub(before)["Udp.NoPorts"])
			all := func(w Window) uint64 {
				var n uint64
				for _, d := range w.Drops {
					if d.Reason == "NO_SOCKET" && d.EtherType == 0x0800 {
						n += d.Count
					}
				}
				return n
			}
			got, want := all(w), all(r)
			t.Logf("%s: NO_SOCKET/ipv4 %d (lost %d); tp_btf %d; NoPorts in %s %d", kind, got, w.Overflow.Lost, want, p.Target.Name, noPorts)
			if noPorts < 1900 {
				t.Fatalf("NoPorts moved by %d for 2000 datagrams", noPorts)
			}
			if w.Overflow.Lost != 0 {
				t.Errorf("%d samples lost at 2000 drops", w.Overflow.Lost)
			}
			if got < want || got > want+want/100+5 || got < noPorts {
				t.Errorf("%s counted %d NO_SOCKET, tp_btf %d within its window, NoPorts %d", kind, got, want, noPorts)
			}
			if w.Kind != kind || len(w.Failures) != 0 || w.Names != "btf" {
				t.Errorf("window from %s, failures %v, names from %q", w.Kind, w.Failures, w.Names)
			}
		})
	}
}

// nobody is the unprivileged user the privilege tests run as.
const nobody = 65534

// childEnv makes the test binary, run again, start a Source and print
// what it got instead of running tests (TestMain).
const childEnv = "NETDX_DROPS_CHILD_TRACEFS"

func TestMain(m *testing.M) {
	if tfs, ok := os.LookupEnv(childEnv); ok {
		os.Exit(childStart(tfs))
	}
	os.Exit(m.Run())
}

// childResult is what a child reports.
type childResult struct {
	Kind     Kind
	Failures []struct{ Kind, Err, Need string }
}

func childStart(tracefs string) int {
	s := New(Options{TraceFS: tracefs})
	if err := s.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	var res childResult
	res.Kind = s.Kind()
	for _, f := range s.Failures() {
		res.Failures = append(res.Failures, struct{ Kind, Err, Need string }{string(f.Kind), f.Err.Error(), f.Need})
	}
	if _, err := s.Snapshot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

// TestPrivilegeSources runs Start as nobody with a few capability sets
// (setpriv from util-linux) and checks which source wins and what each
// refusal says would enable the better ones.
func TestPrivilegeSources(t *testing.T) {
	netlab.RequireRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("skipped: setpriv (util-linux) is not installed")
	}
	bin := copyTestBinary(t)
	readable := tracefsFor(t, true)
	unmounted := searchableDir(t)
	paranoid := paranoid()
	if paranoid == "-1" {
		t.Skip("skipped: kernel.perf_event_paranoid is -1, so perf needs no privilege here")
	}
	bpfNeed := "CAP_BPF and CAP_PERFMON (or root)"
	mountNeed := "tracefs mounted: mount -t tracefs nodev /sys/kernel/tracing"
	perfNeed := "CAP_PERFMON, or kernel.perf_event_paranoid=-1 (now " + paranoid + ")"
	for _, tc := range []struct {
		name    string
		caps    []string
		tracefs string
		kind    Kind
		needs   []string // of the failed sources, in order
	}{
		{"no capabilities, no tracefs", nil, unmounted, KindNone, []string{bpfNeed, mountNeed, mountNeed}},
		{"no capabilities", nil, readable, KindNone, []string{bpfNeed, bpfNeed, perfNeed}},
		{"CAP_PERFMON", []string{"perfmon"}, readable, KindPerf, []string{bpfNeed, bpfNeed}},
		{"CAP_BPF and CAP_PERFMON", []string{"bpf", "perfmon"}, unmounted, KindBTF, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := []string{fmt.Sprintf("--reuid=%d", nobody), fmt.Sprintf("--regid=%d", nobody), "--clear-groups"}
			if len(tc.caps) == 0 {
				sp = append(sp, "--inh-caps=-all")
			} else {
				list := "-all,+" + strings.Join(tc.caps, ",+")
				sp = append(sp, "--inh-caps="+list, "--ambient-caps="+list)
			}
			cmd := exec.Command("setpriv", append(sp, bin)...)
			cmd.Env = []string{childEnv + "=" + tc.tracefs}
			cmd.Dir = filepath.Dir(bin)
			out, err := cmd.Output()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("child failed: %v: %s", err, ee.Stderr)
			} else if err != nil {
				t.Fatal(err)
			}
			var res childResult
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("child output %q: %v", out, err)
			}
			var needs []string
			for _, f := range res.Failures {
				needs = append(needs, f.Need)
			}
			t.Logf("%s: %s; failures %+v", tc.name, res.Kind, res.Failures)
			if res.Kind != tc.kind || !slices.Equal(needs, tc.needs) {
				t.Errorf("source %s needing %q, want %s needing %q", res.Kind, needs, tc.kind, tc.needs)
			}
		})
	}
}

// searchableDir is a temporary directory other users may enter (unlike
// t.TempDir's, whose parent only its owner may enter).
func searchableDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "netdx-drops-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyTestBinary copies this test binary where nobody can run it.
func copyTestBinary(t *testing.T) string {
	t.Helper()
	dir := searchableDir(t)
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "drops.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}
