package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netdx/netdx/probes"
	"github.com/netdx/netdx/probes/probestest"
	"github.com/netdx/netdx/report"
)

// traceApp is a test app with a real clock, for the command line args.
func traceApp(args ...string) (*app, *bytes.Buffer, *bytes.Buffer) {
	a, out, errb := testApp()
	a.Now = time.Now
	testArgs[a] = args
	return a, out, errb
}

var testArgs = map[*app][]string{}

// runWith runs the command line given to traceApp with the trace
// command's network replaced, and returns the exit status.
func runWith(a *app, open func(probes.Config, probes.OpenOptions) (probes.Network, error)) int {
	saved := openNetwork
	openNetwork = open
	defer func() { openNetwork = saved }()
	root := newRootCmd(a)
	root.SetArgs(testArgs[a])
	err := root.ExecuteContext(context.Background())
	reportError(a.Err, err)
	return exitStatus(err)
}

// runScripted runs the command line in a synctest bubble over the named
// scripted network: round trips, probe timeouts and intervals run on the
// bubble's clock, so what the trace measures does not depend on how busy
// the machine is.
func runScripted(t *testing.T, a *app, name string) int {
	t.Helper()
	open := scenarioNet(t, name)
	var code int
	synctest.Test(t, func(*testing.T) { code = runWith(a, open) })
	return code
}

func scenarioNet(t *testing.T, name string) func(probes.Config, probes.OpenOptions) (probes.Network, error) {
	s, err := probestest.Load(filepath.Join("..", "..", "probes", "testdata", "scenarios", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return func(probes.Config, probes.OpenOptions) (probes.Network, error) { return probestest.New(s), nil }
}

func TestTraceReportNonTTY(t *testing.T) {
	a, out, errb := traceApp("trace", "-n", "-c", "20", "-i", "1ms", "--probe-timeout", "100ms", "198.18.4.2")
	if code := runScripted(t, a, "rate_limited"); code != exitOK {
		t.Fatalf("exit %d; stderr %s", code, errb)
	}
	s := out.String()
	for _, want := range []string{"TRACE 198.18.4.2", "icmp probes, scripted sockets, 20 round(s), destination reached at hop 4",
		"HOP\tHOST\tLOSS%\tSNT\tRECV", "\n4\t198.18.4.2\t0.0%\t20\t20\t", "INFO path.icmp_rate_limited", "not packet loss"} {
		if !hasAligned(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "\x1b[") {
		t.Error("non-TTY output has escape sequences")
	}
}

func TestTraceJSON(t *testing.T) {
	a, out, errb := traceApp("trace", "--json", "-n", "-c", "30", "-i", "1ms", "--probe-timeout", "100ms", "--fail-on", "warning", "198.18.5.2")
	code := runScripted(t, a, "forwarding_loss")
	if code != exitFindings {
		t.Fatalf("exit %d, want %d (forwarding loss is critical); stderr %s", code, exitFindings, errb)
	}
	var rep report.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Command != "trace" || len(rep.Traces) != 1 {
		t.Fatalf("report %+v", rep)
	}
	tr := rep.Traces[0]
	if tr.Target.IP != "198.18.5.2" || tr.Probe.Count != 30 || tr.Probe.IntervalMs != 1 || tr.EndReason != "reached" || len(tr.Hops) != 5 {
		t.Errorf("trace %+v", tr)
	}
	if tr.Hops[0].RTT == nil || tr.Hops[0].Responders[0].Reply.Kind != "time_exceeded" {
		t.Errorf("hop 1 %+v", tr.Hops[0])
	}
	var idsSeen []string
	for _, f := range rep.Findings {
		idsSeen = append(idsSeen, f.ID)
	}
	if !strings.Contains(strings.Join(idsSeen, ","), "path.forwarding_loss") {
		t.Errorf("findings %v lack path.forwarding_loss", idsSeen)
	}
}

func TestTraceLiveQuit(t *testing.T) {
	s := liveQuit(t)
	if n := strings.Count(s, clearScreen); n < 3 {
		t.Errorf("live view redrew %d times, want one per round", n)
	}
	if !strings.Contains(s, "\r\n") || !strings.Contains(s, "FINDINGS") || strings.Contains(s, "INTERRUPTED") {
		t.Errorf("live output:\n%q", s)
	}
}

// liveQuit runs the live view on the clean scripted path with more
// flags, presses q after 100 ms, checks it ends well and returns what it
// wrote.
func liveQuit(t *testing.T, flags ...string) string {
	t.Helper()
	args := append([]string{"trace", "-n", "-i", "5ms", "--probe-timeout", "100ms"}, flags...)
	a, out, errb := traceApp(append(args, "198.18.4.2")...)
	a.OutTTY = true
	r, w := io.Pipe()
	a.In = r
	go func() {
		time.Sleep(100 * time.Millisecond)
		w.Write([]byte("q"))
	}()
	if code := runWith(a, scenarioNet(t, "clean")); code != exitOK {
		t.Fatalf("exit %d; stderr %s", code, errb)
	}
	return out.String()
}

func TestTraceLiveCtrlC(t *testing.T) {
	a, out, _ := traceApp("trace", "-n", "-i", "5ms", "198.18.4.2")
	a.OutTTY = true
	a.In = strings.NewReader("\x03")
	if code := runWith(a, scenarioNet(t, "clean")); code != exitInterrupted {
		t.Fatalf("exit %d, want %d", code, exitInterrupted)
	}
	if !strings.Contains(out.String(), "INTERRUPTED") {
		t.Error("report not marked interrupted")
	}
}

func TestTraceUsageAndErrors(t *testing.T) {
	for _, args := range [][]string{
		{"trace", "-4", "-6", "198.18.0.1"},
		{"trace", "--udp", "--tcp", "198.18.0.1"},
		{"trace", "-i", "-1s", "198.18.0.1"},
		{"trace", "--max-ttl", "300", "198.18.0.1"},
		{"trace", "-6", "198.18.0.1"},
		{"trace", "--source", "nonsense", "198.18.0.1"},
		{"trace"},
	} {
		a, _, errb := traceApp(args...)
		if code := runWith(a, scenarioNet(t, "clean")); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, errb)
		}
	}
	// Nothing may send: exit 4 with the fixes named.
	denied := func(cfg probes.Config, _ probes.OpenOptions) (probes.Network, error) {
		return nil, &probes.PrivilegeError{Method: cfg.Method, Err: errors.New("operation not permitted")}
	}
	a, _, errb := traceApp("trace", "--icmp", "198.18.0.1")
	if code := runWith(a, denied); code != exitPrivilege {
		t.Errorf("exit %d, want %d", code, exitPrivilege)
	}
	for _, want := range []string{"setcap cap_net_raw+ep", "ping_group_range", "NET_RAW"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("privilege message lacks %q: %s", want, errb)
		}
	}
	// A name that does not resolve: exit 3, naming it.
	a, _, errb = traceApp("trace", "no-such-host.invalid")
	saved := lookupHost
	lookupHost = func(context.Context, string, string) ([]netip.Addr, error) { return nil, errors.New("no such host") }
	defer func() { lookupHost = saved }()
	if code := runWith(a, scenarioNet(t, "clean")); code != exitError || !strings.Contains(errb.String(), "cannot resolve no-such-host.invalid") {
		t.Errorf("exit %d, stderr %s", code, errb)
	}
}
