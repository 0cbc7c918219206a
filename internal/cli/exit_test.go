package cli

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netdx/netdx/internal/netlab"
	"github.com/netdx/netdx/probes"
)

// TestExitStatuses runs every command into every exit status of
// docs/exit-codes.md that it can reach, one row each. Rows that need
// another user (a real lack of privilege) run the test binary as nobody
// and need root; the statuses a command cannot reach say why.
func TestExitStatuses(t *testing.T) {
	dir := t.TempDir()
	capFile := scenarioFile(t, dir)
	notPcap := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notPcap, []byte("not a capture\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	malformed := t.TempDir()
	copyTree(t, filepath.Join(hostsDir, "linux-6.18"), malformed)
	if err := os.WriteFile(filepath.Join(malformed, "proc/net/snmp"), []byte("Tcp: InSegs\nTcp: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fixture := filepath.Join(hostsDir, "linux-6.18")

	// diag runs over recorded hosts; a context cancelled during its
	// interval interrupts it.
	diag := func(ctx context.Context, before, after string, args ...string) (int, string, string) {
		a, out, errb := testApp()
		prepare := replay(t, before, after)
		if ctx != nil {
			// A real interval, cut short by the cancellation.
			prepare = func(o *diagOptions) {
				replay(t, before, after)(o)
				o.sleep = nil
			}
		} else {
			ctx = context.Background()
		}
		code := executeCtx(t, ctx, a, prepare, append([]string{"diag"}, args...)...)
		return code, out.String(), errb.String()
	}
	// trace runs over scripted networks.
	trace := func(ctx context.Context, open func(probes.Config, probes.OpenOptions) (probes.Network, error), args ...string) (int, string, string) {
		a, out, errb := traceApp(append([]string{"trace"}, args...)...)
		if ctx == nil {
			return runWith(a, open), out.String(), errb.String()
		}
		saved := openNetwork
		openNetwork = open
		defer func() { openNetwork = saved }()
		root := newRootCmd(a)
		root.SetArgs(testArgs[a])
		err := stoppedBy(ctx, root.ExecuteContext(ctx))
		reportError(a.Err, err)
		return exitStatus(err), out.String(), errb.String()
	}
	// cli runs any command line over buffers.
	cli := func(ctx context.Context, out *bytes.Buffer, args ...string) (int, string, string) {
		a, o, errb := testApp()
		if out != nil {
			a.Out = failingWriter{}
		}
		if ctx == nil {
			ctx = context.Background()
		}
		root := newRootCmd(a)
		root.SetArgs(args)
		err := stoppedBy(ctx, root.ExecuteContext(ctx))
		reportError(a.Err, err)
		return exitStatus(err), o.String(), errb.String()
	}
	cancelSoon := func() context.Context {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		t.Cleanup(cancel)
		return ctx
	}
	cancelled := func() context.Context {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx
	}
	busyBefore, busyAfter := busyHost(t)
	denied := func(cfg probes.Config, _ probes.OpenOptions) (probes.Network, error) {
		return nil, &probes.PrivilegeError{Method: cfg.Method, Err: errors.New("operation not permitted")}
	}

	type row struct {
		command string
		status  int
		// run returns the status, stdout and stderr; nil for a status
		// the command cannot reach.
		run func(t *testing.T) (int, string, string)
		// stdout and stderr must contain these.
		stdout, stderr string
		// why a status is unreachable, or what the row needs.
		note     string
		needRoot bool
	}
	rows := []row{
		{command: "diag", status: exitOK, run: func(t *testing.T) (int, string, string) {
			return diag(nil, fixture, "", "--interval", "0", "--fail-on", "none")
		}, stdout: "FINDINGS"},
		{command: "diag", status: exitFindings, run: func(t *testing.T) (int, string, string) {
			return diag(nil, busyBefore, busyAfter, "--interval", "10s")
		}, stdout: "CRITICAL"},
		{command: "diag", status: exitUsage, run: func(t *testing.T) (int, string, string) {
			return diag(nil, fixture, "", "--interval", "-1s")
		}, stderr: "invalid --interval"},
		{command: "diag", status: exitError, run: func(t *testing.T) (int, string, string) {
			return diag(nil, malformed, "", "--interval", "0", "--fail-on", "none")
		}, stdout: "NOT READ", stderr: "could not be read"},
		{command: "diag --pcap", status: exitError, run: func(t *testing.T) (int, string, string) {
			return diag(nil, busyBefore, busyAfter, "--interval", "10s", "--pcap", notPcap)
		}, stdout: "notes.txt\tfailed", stderr: "not a readable capture",
			note: "a merged source that fails makes the report incomplete: 3 wins over the findings' 1"},
		{command: "diag --trace", status: exitError, run: func(t *testing.T) (int, string, string) {
			saved := lookupHost
			lookupHost = func(context.Context, string, string) ([]netip.Addr, error) { return nil, errors.New("no such host") }
			defer func() { lookupHost = saved }()
			return diag(nil, fixture, "", "--interval", "0", "--fail-on", "none", "--trace", "no-such-host.invalid")
		}, stdout: "path\tno-such-host.invalid\tfailed", stderr: "trace no-such-host.invalid: cannot resolve"},
		{command: "diag", status: exitPrivilege, needRoot: true, run: func(t *testing.T) (int, string, string) {
			ns := netlab.NewNS(t, "exit")
			return runAsNobody(t, "diag", "--netns", ns.Name, "--interval", "0")
		}, stderr: "nothing could be read"},
		{command: "diag", status: exitInterrupted, run: func(t *testing.T) (int, string, string) {
			return diag(cancelSoon(), fixture, "", "--interval", "10s", "--fail-on", "none")
		}, stdout: "INTERRUPTED", stderr: "interrupted"},

		{command: "trace", status: exitOK, run: func(t *testing.T) (int, string, string) {
			return trace(nil, scenarioNet(t, "clean"), "-n", "-c", "5", "-i", "1ms", "198.18.4.2")
		}, stdout: "TRACE 198.18.4.2"},
		{command: "trace", status: exitFindings, run: func(t *testing.T) (int, string, string) {
			return trace(nil, scenarioNet(t, "forwarding_loss"), "-n", "-c", "30", "-i", "1ms", "--probe-timeout", "100ms", "--fail-on", "warning", "198.18.5.2")
		}, stdout: "path.forwarding_loss"},
		{command: "trace", status: exitUsage, run: func(t *testing.T) (int, string, string) {
			return trace(nil, scenarioNet(t, "clean"), "-4", "-6", "198.18.4.2")
		}, stderr: "choose -4 or -6"},
		{command: "trace", status: exitError, run: func(t *testing.T) (int, string, string) {
			saved := lookupHost
			lookupHost = func(context.Context, string, string) ([]netip.Addr, error) { return nil, errors.New("no such host") }
			defer func() { lookupHost = saved }()
			return trace(nil, scenarioNet(t, "clean"), "no-such-host.invalid")
		}, stderr: "cannot resolve"},
		{command: "trace", status: exitPrivilege, run: func(t *testing.T) (int, string, string) {
			return trace(nil, denied, "--icmp", "198.18.4.2")
		}, stderr: "cap_net_raw"},
		{command: "trace", status: exitInterrupted, run: func(t *testing.T) (int, string, string) {
			return trace(cancelSoon(), scenarioNet(t, "clean"), "-n", "-c", "1000", "-i", "5ms", "198.18.4.2")
		}, stdout: "INTERRUPTED"},

		{command: "pcap analyze", status: exitOK, run: func(t *testing.T) (int, string, string) {
			return cli(nil, nil, "pcap", "analyze", "--fail-on", "none", capFile)
		}, stdout: "CAPTURE"},
		{command: "pcap analyze", status: exitFindings, run: func(t *testing.T) (int, string, string) {
			return cli(nil, nil, "pcap", "analyze", "--fail-on", "warning", capFile)
		}, stdout: "capture.reordering"},
		{command: "pcap analyze", status: exitUsage, run: func(t *testing.T) (int, string, string) {
			return cli(nil, nil, "pcap", "analyze", "--progress", "sometimes", capFile)
		}, stderr: "invalid --progress"},
		{command: "pcap analyze", status: exitError, run: func(t *testing.T) (int, string, string) {
			return cli(nil, nil, "pcap", "analyze", "--fail-on", "warning", capFile, notPcap)
		}, stdout: "capture.reordering", stderr: "not a readable capture",
			note: "findings in one file, the other unreadable: 3 wins over 1"},
		{command: "pcap analyze", status: exitPrivilege, needRoot: true, run: func(t *testing.T) (int, string, string) {
			private := filepath.Join(searchableTempDir(t), "private.pcap")
			b, _ := os.ReadFile(capFile)
			if err := os.WriteFile(private, b, 0o600); err != nil {
				t.Fatal(err)
			}
			return runAsNobody(t, "pcap", "analyze", private)
		}, stderr: "permission denied"},
		{command: "pcap analyze", status: exitInterrupted, run: func(t *testing.T) (int, string, string) {
			return cli(cancelled(), nil, "pcap", "analyze", capFile)
		}, stdout: "INTERRUPTED"},

		{command: "explain", status: exitOK, run: func(t *testing.T) (int, string, string) {
			return cli(nil, nil, "explain", "tcp.retransmits")
		}, stdout: "WHEN IT FIRES"},
		{command: "explain", status: exitFindings, note: "explain judges nothing: it has no findings"},
		{command: "explain", status: exitUsage, run: func(t *testing.T) (int, string, string) {
			return cli(nil, nil, "explain", "tcp.retransmit")
		}, stderr: "did you mean tcp.retransmits"},
		{command: "explain", status: exitError, run: func(t *testing.T) (int, string, string) {
			return cli(nil, &bytes.Buffer{}, "explain", "--list")
		}, stderr: "write"},
		{command: "explain", status: exitPrivilege, note: "explain reads nothing that needs privilege"},
		{command: "explain", status: exitInterrupted, run: func(t *testing.T) (int, string, string) {
			return cli(cancelled(), nil, "explain", "--list")
		}, stderr: "interrupted"},
	}
	for _, r := range rows {
		name := r.command + "/" + map[int]string{0: "0", 1: "1", 2: "2", 3: "3", 4: "4", 130: "130"}[r.status]
		t.Run(name, func(t *testing.T) {
			if r.run == nil {
				t.Skipf("not reachable: %s", r.note)
			}
			if r.needRoot {
				netlab.RequireRoot(t)
			}
			code, stdout, stderr := r.run(t)
			if code != r.status {
				t.Errorf("exit %d, want %d\nstderr: %s", code, r.status, stderr)
			}
			if !hasAligned(stdout, r.stdout) || !strings.Contains(stderr, r.stderr) {
				t.Errorf("stdout lacks %q or stderr lacks %q\nstdout: %.600s\nstderr: %s", r.stdout, r.stderr, stdout, stderr)
			}
		})
	}
}

// failingWriter is standard output that cannot be written: a closed pipe,
// a full disk.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }
