package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/netdx/netdx/internal/netlab"
	"github.com/netdx/netdx/report"
)

// The privilege matrix: each command run by the netdx binary as nobody
// (uid and gid 65534, no supplementary groups) with no capabilities or
// with exactly one, through setpriv(1) from util-linux. Lab runs enter the
// namespace first and drop privilege after, as `ip netns exec NS setpriv
// ... netdx` would.

// nobody is uid and gid 65534.
const nobody = 65534

// privRun is one run of the matrix.
type privRun struct {
	code           int
	stdout, stderr string
	rep            *report.Report // when stdout was a JSON report
}

// privRunner runs a copy of this test binary, as the netdx command, under
// setpriv.
type privRunner struct {
	t   *testing.T
	bin string
}

func newPrivRunner(t *testing.T) *privRunner {
	t.Helper()
	netlab.RequireRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("skipped: setpriv (util-linux) is not installed")
	}
	dir := searchableTempDir(t)
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "netdx")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return &privRunner{t: t, bin: bin}
}

// run runs `netdx args` as nobody holding only capset (setpriv names such
// as "net_raw"), inside ns when it is not nil.
func (r *privRunner) run(t *testing.T, ns *netlab.NS, capset []string, args ...string) privRun {
	t.Helper()
	sp := []string{fmt.Sprintf("--reuid=%d", nobody), fmt.Sprintf("--regid=%d", nobody), "--clear-groups"}
	if len(capset) == 0 {
		sp = append(sp, "--inh-caps=-all")
	} else {
		list := "-all,+" + strings.Join(capset, ",+")
		sp = append(sp, "--inh-caps="+list, "--ambient-caps="+list)
	}
	cmd := exec.Command("setpriv", append(append(sp, r.bin), args...)...)
	cmd.Env = []string{"NETDX_TEST_MAIN=1", "PATH=/usr/bin:/bin"}
	cmd.Dir = filepath.Dir(r.bin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	var err error
	if ns != nil {
		err = ns.Start(cmd)
	} else {
		err = cmd.Start()
	}
	if err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	res := privRun{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
	var rep report.Report
	if json.Unmarshal([]byte(res.stdout), &rep) == nil && rep.Command != "" {
		res.rep = &rep
	}
	return res
}

// wantRun checks who the report says ran it.
func wantRun(t *testing.T, res privRun, code int, capNames ...string) {
	t.Helper()
	if res.code != code {
		t.Fatalf("exit %d, want %d; stderr %s\nstdout %s", res.code, code, res.stderr, res.stdout)
	}
	if res.rep == nil {
		t.Fatalf("no JSON report; stderr %s\nstdout %s", res.stderr, res.stdout)
	}
	p := res.rep.Privileges
	if p == nil || p.UID != nobody || !slices.Equal(p.Capabilities, append([]string{}, capNames...)) {
		t.Errorf("privileges %+v, want uid %d with %v", p, nobody, capNames)
	}
}

// permissionSkips lists the skipped sources refused for lack of
// permission, as "source (CAPABILITY)".
func permissionSkips(rep *report.Report) []string {
	var out []string
	for _, s := range rep.Skipped {
		if s.Reason == report.ReasonPermission {
			out = append(out, s.Source+" ("+s.Capability+")")
		}
	}
	return out
}

func capsLabel(c []string) string {
	if len(c) == 0 {
		return "no capabilities"
	}
	return "CAP_" + strings.ToUpper(strings.Join(c, ", CAP_"))
}

// TestPrivilegeDiag runs diag as nobody inside a lab namespace holding a
// listener root owns: everything but the socket owners is readable
// without privilege; CAP_DAC_READ_SEARCH with CAP_SYS_PTRACE names the
// owner (either alone does not); CAP_NET_ADMIN changes nothing on this
// kernel; --netns needs CAP_SYS_ADMIN.
func TestPrivilegeDiag(t *testing.T) {
	r := newPrivRunner(t)
	l := newLab(t, 8)
	listener := func(rep *report.Report) *report.DiagListener {
		if rep.Diag == nil || rep.Diag.Sockets == nil {
			return nil
		}
		for i := range rep.Diag.Sockets.Listeners {
			if rep.Diag.Sockets.Listeners[i].Port == l.port {
				return &rep.Diag.Sockets.Listeners[i]
			}
		}
		return nil
	}
	for _, tc := range []struct {
		name  string
		caps  []string
		named bool // the listener's process is named
	}{
		{"diag as nobody", nil, false},
		{"diag as nobody with CAP_NET_ADMIN", []string{"net_admin"}, false},
		{"diag as nobody with CAP_DAC_READ_SEARCH", []string{"dac_read_search"}, false},
		{"diag as nobody with CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE", []string{"dac_read_search", "sys_ptrace"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := r.run(t, l.ns, tc.caps, "diag", "--json", "--interval", "0", "--fail-on", "none")
			var want []string
			for _, c := range tc.caps {
				want = append(want, "CAP_"+strings.ToUpper(c))
			}
			wantRun(t, res, exitOK, want...)
			rep := res.rep
			if rep.Diag == nil || len(rep.Diag.Netstat["TcpExt"]) == 0 || len(rep.Diag.Interfaces) == 0 || rep.Diag.Softnet == nil {
				t.Fatalf("netstat, interfaces or softnet not read: %+v", rep.Diag)
			}
			ls := listener(rep)
			if ls == nil {
				t.Fatalf("the namespace's listener on port %d is not in the report", l.port)
			}
			denied := permissionSkips(rep)
			if tc.named {
				if ls.Process == nil || ls.Process.PID != os.Getpid() {
					t.Errorf("listener's process %+v, want this test (pid %d)", ls.Process, os.Getpid())
				}
				if len(denied) != 0 {
					t.Errorf("permission skips %v, want none", denied)
				}
			} else {
				if ls.Process != nil {
					t.Errorf("nobody named root's process %+v", ls.Process)
				}
				if !slices.Equal(denied, []string{"/proc/*/fd (CAP_DAC_READ_SEARCH,CAP_SYS_PTRACE)"}) {
					t.Errorf("permission skips %v, want only /proc/*/fd needing CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE", denied)
				}
				if rep.Sources[0].Status != report.StatusPartial {
					t.Errorf("host status %q, want partial", rep.Sources[0].Status)
				}
			}
			notRead := "nothing"
			if len(denied) > 0 {
				notRead = strings.Join(denied, ", ")
			}
			owner := "owner unnamed"
			if ls.Process != nil {
				owner = "owner named"
			}
			t.Logf("reliability: exit %d; read %d netstat sections, %d interfaces, softnet, the listener (%s); not read: %s",
				res.code, len(rep.Diag.Netstat), len(rep.Diag.Interfaces), owner, notRead)
		})
	}
	for _, tc := range []struct {
		name string
		caps []string
		code int
	}{
		{"diag --netns as nobody", nil, exitPrivilege},
		{"diag --netns as nobody with CAP_SYS_ADMIN", []string{"sys_admin"}, exitOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := r.run(t, nil, tc.caps, "diag", "--json", "--netns", l.ns.Name, "--interval", "0", "--fail-on", "none")
			var want []string
			if len(tc.caps) > 0 {
				want = []string{"CAP_SYS_ADMIN"}
			}
			wantRun(t, res, tc.code, want...)
			rep := res.rep
			if tc.code == exitPrivilege {
				denied := permissionSkips(rep)
				if !slices.Equal(denied, []string{"network namespace " + l.ns.Name + " (CAP_SYS_ADMIN)"}) {
					t.Errorf("permission skips %v, want the namespace needing CAP_SYS_ADMIN", denied)
				}
				if !strings.Contains(res.stderr, "nothing could be read") || !strings.Contains(res.stderr, "CAP_SYS_ADMIN") {
					t.Errorf("stderr %q does not name CAP_SYS_ADMIN", res.stderr)
				}
				t.Logf("reliability: exit %d; %q; not read: %s", res.code, strings.TrimSpace(res.stderr), strings.Join(denied, ", "))
				return
			}
			if rep.Host.NetNS != l.ns.Name || rep.Diag.ReadFrom == nil || rep.Diag.ReadFrom.NetNS != "named" {
				t.Errorf("host %+v, read_from %+v: want the --netns namespace", rep.Host, rep.Diag.ReadFrom)
			}
			if listener(rep) == nil {
				t.Errorf("the namespace's listener on port %d is not in the report", l.port)
			}
			t.Logf("reliability: exit %d; entered %s and read its listener; permission skips: %v", res.code, l.ns.Name, permissionSkips(rep))
		})
	}
	t.Run("unreadable proc file as nobody", func(t *testing.T) {
		tree := searchableTempDir(t)
		copyTree(t, filepath.Join(hostsDir, "linux-6.18"), tree)
		snmp := filepath.Join(tree, "proc/net/snmp")
		if err := os.Chmod(snmp, 0); err != nil {
			t.Fatal(err)
		}
		res := r.run(t, nil, nil, "diag", "--json", "--proc", filepath.Join(tree, "proc"), "--sys", filepath.Join(tree, "sys"),
			"--interval", "0", "--fail-on", "none")
		wantRun(t, res, exitOK)
		var sk *report.Skip
		for i := range res.rep.Skipped {
			if res.rep.Skipped[i].Source == snmp {
				sk = &res.rep.Skipped[i]
			}
		}
		if sk == nil || sk.Reason != report.ReasonPermission || sk.Capability != "CAP_DAC_READ_SEARCH" || !strings.Contains(sk.Message, "permission denied") {
			t.Fatalf("skip for %s = %+v, want permission naming CAP_DAC_READ_SEARCH", snmp, sk)
		}
		if len(res.rep.Diag.Netstat["TcpExt"]) == 0 {
			t.Error("the readable netstat file was not read")
		}
		t.Logf("reliability: exit %d; proc/net/snmp %s: %s, fix %q; the rest read", res.code, sk.Reason, sk.Message, sk.Fix)
	})
}

// TestPrivilegeTrace traces a lab path as nobody from inside the prober's
// namespace: ICMP echo sockets when net.ipv4.ping_group_range admits
// nobody's group, UDP with a warning when it does not (an explicit --icmp
// exits 4 naming the fixes), raw sockets with CAP_NET_RAW.
func TestPrivilegeTrace(t *testing.T) {
	r := newPrivRunner(t)
	p := netlab.NewPath(t, netlab.PathSpec{Routers: make([]netlab.RouterSpec, 2)})
	v4, v6 := p.TargetAddr.V4.String(), p.TargetAddr.V6.String()
	const admit, exclude = "65534 65534", "1 0"
	for _, tc := range []struct {
		name       string
		pingGroups string
		caps       []string
		args       []string
		code       int
		method     string // the method used
		sockets    string
		rawSkipped bool // the report lists raw sockets as refused
		stderr     []string
	}{
		{"ICMP as nobody, ping_group_range admits nobody", admit, nil, []string{"--icmp", v4}, exitOK, "icmp", "datagram", true, nil},
		{"ICMPv6 as nobody, ping_group_range admits nobody", admit, nil, []string{"--icmp", "-6", v6}, exitOK, "icmp", "datagram", true, nil},
		{"default ICMP as nobody, ping_group_range excludes nobody", exclude, nil, []string{v4}, exitOK, "udp", "datagram", true, nil},
		{"explicit --icmp as nobody, ping_group_range excludes nobody", exclude, nil, []string{"--icmp", v4}, exitPrivilege, "", "", false,
			[]string{"setcap cap_net_raw+ep", "ping_group_range"}},
		{"TCP as nobody", exclude, nil, []string{"--tcp", "--port", "9", v4}, exitOK, "tcp", "datagram", true, nil},
		{"ICMP as nobody with CAP_NET_RAW, ping_group_range excludes nobody", exclude, []string{"net_raw"}, []string{"--icmp", v4}, exitOK, "icmp", "raw", false, nil},
		{"TCP as nobody with CAP_NET_RAW", exclude, []string{"net_raw"}, []string{"--tcp", "--port", "9", v4}, exitOK, "tcp", "raw", false, nil},
		{"UDP as nobody with --unprivileged", exclude, nil, []string{"--udp", "--unprivileged", v4}, exitOK, "udp", "datagram", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := p.Prober.SetSysctl("net/ipv4/ping_group_range", tc.pingGroups); err != nil {
				t.Fatal(err)
			}
			res := r.run(t, p.Prober, tc.caps, append([]string{"trace", "--json", "-n", "-c", "2", "-i", "50ms"}, tc.args...)...)
			var want []string
			for _, c := range tc.caps {
				want = append(want, "CAP_"+strings.ToUpper(c))
			}
			if tc.code == exitPrivilege {
				if res.code != tc.code {
					t.Fatalf("exit %d, want %d; stderr %s", res.code, tc.code, res.stderr)
				}
				for _, s := range tc.stderr {
					if !strings.Contains(res.stderr, s) {
						t.Errorf("stderr %q lacks %q", res.stderr, s)
					}
				}
				t.Logf("reliability: ping_group_range %q, %s: exit %d; %q", tc.pingGroups, capsLabel(tc.caps), res.code, firstLine(res.stderr))
				return
			}
			wantRun(t, res, tc.code, want...)
			if len(res.rep.Traces) != 1 {
				t.Fatalf("%d traces", len(res.rep.Traces))
			}
			tr := res.rep.Traces[0]
			if tr.Probe.Method != tc.method || tr.Probe.Sockets != tc.sockets || tr.EndReason != "reached" {
				t.Errorf("method %s over %s sockets, end %s; want %s over %s, reached", tr.Probe.Method, tr.Probe.Sockets, tr.EndReason, tc.method, tc.sockets)
			}
			denied := permissionSkips(res.rep)
			if tc.rawSkipped != slices.Equal(denied, []string{"raw sockets (CAP_NET_RAW)"}) || (!tc.rawSkipped && len(denied) > 0) {
				t.Errorf("permission skips %v; want raw sockets listed: %v", denied, tc.rawSkipped)
			}
			fellBack := strings.Contains(strings.Join(res.rep.Warnings, " "), "traced with UDP instead")
			if fellBack != (tc.method == "udp" && !slices.Contains(tc.args, "--udp")) {
				t.Errorf("warnings %q: fallback to UDP said %v", res.rep.Warnings, fellBack)
			}
			note := ""
			if fellBack {
				note = "; warning: traced with UDP instead"
			}
			t.Logf("reliability: ping_group_range %q, %s: exit %d; %s probes over %s sockets, destination reached at hop %d; permission skips %v%s",
				tc.pingGroups, capsLabel(tc.caps), res.code, tr.Probe.Method, tr.Probe.Sockets, *tr.DestinationTTL, denied, note)
		})
	}
}

// TestPrivilegePcap analyses captures as nobody: a readable file needs no
// privilege; a file nobody may not read exits 4 naming it, unless
// CAP_DAC_READ_SEARCH lets netdx past the file's permission.
func TestPrivilegePcap(t *testing.T) {
	r := newPrivRunner(t)
	dir := searchableTempDir(t)
	file := scenarioFile(t, dir)
	private := filepath.Join(dir, "private.pcap")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(private, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		file string
		caps []string
		code int
	}{
		{"readable capture as nobody", file, nil, exitOK},
		{"capture only root may read, as nobody", private, nil, exitPrivilege},
		{"capture only root may read, as nobody with CAP_DAC_READ_SEARCH", private, []string{"dac_read_search"}, exitOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := r.run(t, nil, tc.caps, "pcap", "analyze", "--json", "--fail-on", "none", tc.file)
			var want []string
			for _, c := range tc.caps {
				want = append(want, "CAP_"+strings.ToUpper(c))
			}
			wantRun(t, res, tc.code, want...)
			if tc.code == exitPrivilege {
				if !strings.Contains(res.stderr, tc.file) || !strings.Contains(res.stderr, "permission denied") {
					t.Errorf("stderr %q does not name %s and the permission", res.stderr, tc.file)
				}
				if len(res.rep.Captures) != 0 || len(res.rep.Sources) != 1 || res.rep.Sources[0].Status != report.StatusFailed {
					t.Errorf("captures %d, sources %+v: want the file failed", len(res.rep.Captures), res.rep.Sources)
				}
				t.Logf("reliability: %s: exit %d; %q", capsLabel(tc.caps), res.code, firstLine(strings.ReplaceAll(res.stderr, dir+"/", "")))
				return
			}
			if len(res.rep.Captures) != 1 || res.rep.Captures[0].Packets == 0 {
				t.Fatalf("captures %+v", res.rep.Captures)
			}
			t.Logf("reliability: %s: exit %d; %d packets analysed", capsLabel(tc.caps), res.code, res.rep.Captures[0].Packets)
		})
	}
}
