package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/netdx/netdx/capture/capturetest"
	"github.com/netdx/netdx/internal/netlab"
	"github.com/netdx/netdx/report"
)

// Every command stopped by Ctrl-C (SIGINT), SIGTERM or --timeout, as a
// real process: this test binary run as netdx (NETDX_TEST_MAIN=1, see
// TestMain), so main's own signal handling is what is tested. The report
// printed must be the partial one, marked interrupted in text and JSON,
// and the exit status the one docs/exit-codes.md gives.

// child is a netdx process.
type child struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
	err            error
}

// startChild starts netdx ARGS, inside ns when it is not nil (a process
// forked from a thread in a namespace lives in it), with stdin.
func startChild(t *testing.T, ns *netlab.NS, stdin *os.File, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(os.Args[0], args...), done: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), "NETDX_TEST_MAIN=1")
	c.cmd.Stdin, c.cmd.Stdout, c.cmd.Stderr = stdin, &c.stdout, &c.stderr
	start := func() error { return c.cmd.Start() }
	var err error
	if ns != nil {
		err = ns.Do(start)
	} else {
		err = start()
	}
	if err != nil {
		t.Fatal(err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// wait waits up to limit for the child to end and returns its exit status.
func (c *child) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(limit):
		_ = c.cmd.Process.Kill()
		<-c.done
		t.Fatalf("netdx did not stop within %s\nstderr: %s", limit, c.stderr.String())
	}
	if ee, ok := c.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if c.err != nil {
		t.Fatal(c.err)
	}
	return 0
}

// stalledPipe is a pipe holding data whose writer stays open and silent:
// a capture on stdin that stops arriving. written is closed once the
// reader has taken all but what the pipe buffers.
func stalledPipe(t *testing.T, data []byte) (r *os.File, written <-chan struct{}) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _, _ = w.Write(data); close(done) }()
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, done
}

// stalledRecords is how many whole records stalledCapture writes.
const stalledRecords = 405

// stalledCapture is the generated scenario (405 records) and the first
// half of one more record: the stream stalls inside record 406.
func stalledCapture(t *testing.T) []byte {
	g := capturetest.NewGen(t, layers.LinkTypeEthernet)
	capturetest.RetransScenario(capturetest.NewConv(g, "198.18.0.1:40000", "198.18.1.1:5201"))
	if len(g.Recs) != stalledRecords {
		t.Fatalf("%d records, want %d", len(g.Recs), stalledRecords)
	}
	b := g.Pcap()
	return append(b, b[24:24+20]...)
}

// stop is how a run is stopped.
type stop struct {
	name   string
	signal syscall.Signal // 0: --timeout
}

var (
	bySIGINT  = stop{"SIGINT", syscall.SIGINT}
	bySIGTERM = stop{"SIGTERM", syscall.SIGTERM}
	byTimeout = stop{"--timeout", 0}
)

// interruptCase is one command stopped one way.
type interruptCase struct {
	name string
	how  stop
	json bool
	lab  bool // runs in a lab path's prober namespace: needs root
	// args are the command line; TARGET is replaced by the lab target.
	args  []string
	stdin func(t *testing.T) []byte
	// check asserts the partial report and returns what it held.
	check func(t *testing.T, rep *report.Report, text string) string
}

func TestInterruptEveryCommand(t *testing.T) {
	partialCapture := func(t *testing.T, rep *report.Report, text string) string {
		if rep == nil {
			if !strings.Contains(text, "CAPTURE stdin") || !strings.Contains(text, "INCOMPLETE") {
				t.Errorf("text report lacks the partial capture")
			}
			return "partial capture section printed"
		}
		if len(rep.Captures) != 1 || rep.Captures[0].Packets != stalledRecords || rep.Captures[0].Complete {
			t.Fatalf("captures %+v, want one incomplete capture of the %d records sent", rep.Captures, stalledRecords)
		}
		return fmt.Sprintf("capture of the %d records that arrived", rep.Captures[0].Packets)
	}
	partialDiag := func(t *testing.T, rep *report.Report, text string) string {
		if rep == nil {
			if !strings.Contains(text, "CHECKED") {
				t.Errorf("text report lacks the health table")
			}
			return "host report printed"
		}
		if rep.Diag == nil || len(rep.Diag.Netstat) == 0 {
			t.Fatalf("no host section: %+v", rep.Diag)
		}
		return fmt.Sprintf("host report with %d counter sections", len(rep.Diag.Netstat))
	}
	partialTrace := func(t *testing.T, rep *report.Report, text string) string {
		if rep == nil {
			if !strings.Contains(text, "TRACE ") {
				t.Errorf("text report lacks the trace")
			}
			return "trace printed"
		}
		if len(rep.Traces) != 1 || len(rep.Traces[0].Hops) == 0 {
			t.Fatalf("traces %+v, want one with hops", rep.Traces)
		}
		return fmt.Sprintf("trace with %d hops", len(rep.Traces[0].Hops))
	}
	both := func(a, b func(*testing.T, *report.Report, string) string) func(*testing.T, *report.Report, string) string {
		return func(t *testing.T, rep *report.Report, text string) string {
			return a(t, rep, text) + " and " + b(t, rep, text)
		}
	}
	diagArgs := []string{"diag", "--interval", "30s", "--fail-on", "none"}
	traceArgs := []string{"trace", "--report", "-n", "-c", "1000", "-i", "100ms", "--fail-on", "none", "TARGET"}
	cases := []interruptCase{
		{name: "pcap analyze", how: bySIGINT, args: []string{"pcap", "analyze", "--fail-on", "none", "-"}, stdin: stalledCapture, check: partialCapture},
		{name: "pcap analyze", how: bySIGTERM, json: true, args: []string{"pcap", "analyze", "--fail-on", "none", "-"}, stdin: stalledCapture, check: partialCapture},
		{name: "pcap analyze", how: byTimeout, json: true, args: []string{"pcap", "analyze", "--fail-on", "none", "-"}, stdin: stalledCapture, check: partialCapture},
		{name: "diag", how: bySIGINT, args: diagArgs, check: partialDiag},
		{name: "diag", how: bySIGTERM, json: true, args: diagArgs, check: partialDiag},
		{name: "diag", how: byTimeout, json: true, args: diagArgs, check: partialDiag},
		{name: "diag --pcap", how: bySIGINT, json: true, args: append(append([]string(nil), diagArgs...), "--pcap", "-"), stdin: stalledCapture,
			check: both(partialDiag, partialCapture)},
		{name: "diag --pcap", how: byTimeout, args: append(append([]string(nil), diagArgs...), "--pcap", "-"), stdin: stalledCapture,
			check: both(partialDiag, partialCapture)},
		{name: "diag --trace", how: bySIGINT, json: true, lab: true, args: append(append([]string(nil), diagArgs...), "--trace", "TARGET"),
			check: both(partialDiag, partialTrace)},
		{name: "diag --trace", how: byTimeout, lab: true, args: append(append([]string(nil), diagArgs...), "--trace", "TARGET"),
			check: both(partialDiag, partialTrace)},
		{name: "trace --report", how: bySIGINT, lab: true, args: traceArgs, check: partialTrace},
		{name: "trace --report", how: bySIGTERM, json: true, lab: true, args: traceArgs, check: partialTrace},
		{name: "trace --report", how: byTimeout, json: true, lab: true, args: traceArgs, check: partialTrace},
	}
	for _, tc := range cases {
		format := "text"
		if tc.json {
			format = "json"
		}
		t.Run(fmt.Sprintf("%s stopped by %s, %s", tc.name, tc.how.name, format), func(t *testing.T) {
			t.Parallel()
			var ns *netlab.NS
			args := append([]string(nil), tc.args...)
			if tc.lab {
				netlab.RequireRoot(t)
				p := netlab.NewPath(t, netlab.PathSpec{Routers: []netlab.RouterSpec{{}, {}}})
				ns = p.Prober
				for i, a := range args {
					if a == "TARGET" {
						args[i] = p.TargetAddr.V4.String()
					}
				}
			}
			if tc.json {
				args = append(args, "--json")
			}
			if tc.how.signal == 0 {
				args = append(args, "--timeout", "3s")
			}
			var stdin *os.File
			var written <-chan struct{}
			if tc.stdin != nil {
				stdin, written = stalledPipe(t, tc.stdin(t))
			}
			c := startChild(t, ns, stdin, args...)
			want := exitInterrupted
			if tc.how.signal != 0 {
				// Stop it in the middle of its work: once the capture
				// that arrives has been read, or two seconds in.
				if written != nil {
					select {
					case <-written:
					case <-time.After(15 * time.Second):
						t.Fatal("netdx did not read its stdin")
					}
				}
				time.Sleep(2 * time.Second)
				if err := c.cmd.Process.Signal(tc.how.signal); err != nil {
					t.Fatal(err)
				}
			} else {
				want = exitError
			}
			code := c.wait(t, 20*time.Second)
			out, errOut := c.stdout.String(), c.stderr.String()
			if code != want {
				t.Errorf("exit %d, want %d\nstderr: %s", code, want, errOut)
			}
			var rep *report.Report
			if tc.json {
				validReport(t, strings.Join(args, " "), []byte(out))
				rep = &report.Report{}
				if err := json.Unmarshal([]byte(out), rep); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
				if !rep.Interrupted {
					t.Errorf("JSON report not marked interrupted")
				}
			} else if !strings.Contains(out, "INTERRUPTED: this report is partial") {
				t.Errorf("text report lacks the INTERRUPTED line:\n%.2000s", out)
			}
			wantErr := "netdx: interrupted"
			if tc.how.signal == 0 {
				wantErr = "netdx: stopped by --timeout 3s"
			}
			if !strings.Contains(errOut, wantErr) {
				t.Errorf("stderr lacks %q: %s", wantErr, errOut)
			}
			held := tc.check(t, rep, out)
			t.Logf("reliability: exit %d; %q on stderr; %s report marked interrupted; %s", code, wantErr, format, held)
		})
	}
}

// TestInterruptServe: SIGTERM, Ctrl-C and --timeout end netdx serve
// cleanly with status 0: a requested stop is a server's normal end.
func TestInterruptServe(t *testing.T) {
	for _, how := range []stop{bySIGTERM, bySIGINT, byTimeout} {
		t.Run("serve stopped by "+how.name, func(t *testing.T) {
			t.Parallel()
			netlab.RequireRoot(t)
			ns := netlab.NewNS(t, "srvstop")
			args := []string{"serve", "-v", "--listen", "127.0.0.1:0", "--interval", "1s"}
			if how.signal == 0 {
				args = append(args, "--timeout", "2s")
			}
			c := startChild(t, ns, nil, args...)
			if how.signal != 0 {
				time.Sleep(2 * time.Second)
				if err := c.cmd.Process.Signal(how.signal); err != nil {
					t.Fatal(err)
				}
			}
			code := c.wait(t, 20*time.Second)
			errOut := c.stderr.String()
			if code != exitOK || !strings.Contains(errOut, "serving metrics") || !strings.Contains(errOut, "shutting down") {
				t.Errorf("exit %d, want 0 after serving and shutting down\nstderr: %s", code, errOut)
			}
			t.Logf("reliability: exit %d; served, then logged \"shutting down\" and stopped cleanly", code)
		})
	}
}
