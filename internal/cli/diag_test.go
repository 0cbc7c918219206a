package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/render"
	"github.com/netdx/netdx/report"
)

const hostsDir = "../../collectors/testdata/hosts"

var testHost = report.Host{Hostname: "web-7", Kernel: "6.18.0-test"}

// replay makes diag read recorded trees: before for sample 0, after for
// sample 1 (the same tree when after is empty), with a fixed host name
// and no real waiting.
func replay(t *testing.T, before, after string) func(*diagOptions) {
	return func(o *diagOptions) {
		o.host = func(netns string) report.Host { h := testHost; h.NetNS = netns; return h }
		o.sleep = func(context.Context, time.Duration) {}
		o.open = func(n int) (*collectors.Sources, error) {
			dir := before
			if n == 1 && after != "" {
				dir = after
			}
			src, err := collectors.Replay(dir)
			if err == nil {
				src.Ifaces = o.ifaces
			}
			return src, err
		}
	}
}

// busyHost builds the "busy" scenario: the 6.18 tree before, and 10 s
// later the same tree with testdata/busy-after laid over it.
func busyHost(t *testing.T) (before, after string) {
	before = filepath.Join(hostsDir, "linux-6.18")
	after = t.TempDir()
	copyTree(t, before, after)
	copyTree(t, "testdata/busy-after", after)
	return before, after
}

func TestDiagBusyText(t *testing.T) {
	a, out, errb := testApp()
	b, af := busyHost(t)
	code := execute(t, a, replay(t, b, af), "diag", "--interval", "10s")
	if code != exitFindings {
		t.Errorf("exit %d, want %d (critical findings); stderr: %s", code, exitFindings, errb)
	}
	golden(t, "TestDiagBusyText", out.Bytes())
}

func TestDiagBusyJSON(t *testing.T) {
	a, out, _ := testApp()
	b, af := busyHost(t)
	code := execute(t, a, replay(t, b, af), "diag", "--interval", "10s", "--json", "--fail-on", "none")
	if code != exitOK {
		t.Errorf("exit %d with --fail-on none", code)
	}
	golden(t, "TestDiagBusyJSON", out.Bytes())

	var rep report.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	d := rep.Diag
	if d == nil || d.SinceBoot || d.IntervalSeconds != 10 {
		t.Fatalf("diag = %+v", d)
	}
	lo := d.Netstat["TcpExt"]["ListenOverflows"]
	if lo.Delta == nil || *lo.Delta != 120 || *lo.RatePerSec != 12 {
		t.Errorf("ListenOverflows = %+v", lo)
	}
	var ids []string
	for _, f := range rep.Findings {
		ids = append(ids, f.ID)
	}
	for _, want := range []string{"conntrack.table_full", "conntrack.drops", "tcp.listen_overflow", "softnet.backlog_drops",
		"qdisc.drops", "tcp.retransmits", "udp.receive_buffer_errors", "conntrack.insert_failed"} {
		if !strings.Contains(strings.Join(ids, " "), want) {
			t.Errorf("no %s in %v", want, ids)
		}
	}
	if rep.Findings[0].Severity != report.Critical {
		t.Errorf("findings not most severe first: %v", ids)
	}
}

// TestDiagBusyStyled renders the busy report with colour and borders, as
// a terminal sees it.
func TestDiagBusyStyled(t *testing.T) {
	a, out, _ := testApp()
	b, af := busyHost(t)
	execute(t, a, replay(t, b, af), "diag", "--interval", "10s", "--json")
	var rep report.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	var styled bytes.Buffer
	r := lipgloss.NewRenderer(&styled)
	r.SetColorProfile(termenv.ANSI)
	if err := (render.Text{R: r, Styled: true, Width: 80}).Render(&styled, &rep); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(styled.Bytes(), []byte("\x1b[")) {
		t.Error("styled output has no ANSI escape")
	}
	golden(t, "TestDiagBusyStyled", styled.Bytes())
}

// TestDiagSinceBoot reads one sample of an old kernel: totals, labelled.
func TestDiagSinceBoot(t *testing.T) {
	for _, kernel := range []string{"linux-3.10", "rhel-4.18", "linux-5.4", "linux-5.15", "linux-6.18"} {
		t.Run(kernel, func(t *testing.T) {
			a, out, errb := testApp()
			code := execute(t, a, replay(t, filepath.Join(hostsDir, kernel), ""), "diag", "--interval", "0", "--fail-on", "none")
			if code != exitOK {
				t.Errorf("exit %d; stderr %s", code, errb)
			}
			text := out.String()
			for _, want := range []string{"totals since boot (--interval 0), no rates", "--interval 0: judged totals since boot"} {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks %q", want)
				}
			}
			golden(t, "TestDiagSinceBoot_"+kernel, out.Bytes())
		})
	}
}

func TestDiagSinceBootJSON(t *testing.T) {
	a, out, _ := testApp()
	execute(t, a, replay(t, filepath.Join(hostsDir, "linux-3.10"), ""), "diag", "--interval", "0", "--json")
	var rep report.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	d := rep.Diag
	if !d.SinceBoot || d.IntervalSeconds != 0 {
		t.Errorf("since_boot %v interval %v", d.SinceBoot, d.IntervalSeconds)
	}
	c := d.Netstat["Tcp"]["RetransSegs"]
	if c.Total != 43210 || c.Delta != nil || c.RatePerSec != nil {
		t.Errorf("since-boot counter = %+v, want a total without delta or rate", c)
	}
	if _, ok := d.Netstat["TcpExt"]["TCPRcvQDrop"]; ok {
		t.Error("a counter 3.10 lacks is in the JSON")
	}
}

func TestDiagIface(t *testing.T) {
	a, out, _ := testApp()
	b, af := busyHost(t)
	execute(t, a, replay(t, b, af), "diag", "--interval", "10s", "--iface", "veth1a2b", "--json", "--fail-on", "none")
	var rep report.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	for _, i := range rep.Diag.Interfaces {
		if i.Name != "veth1a2b" {
			t.Errorf("interface %s outside --iface", i.Name)
		}
	}
	for _, f := range rep.Findings {
		if f.ID == "qdisc.drops" {
			t.Errorf("eth0's qdisc judged with --iface veth1a2b: %s", f.Summary)
		}
	}
}

func TestDiagUsage(t *testing.T) {
	for _, args := range [][]string{
		{"diag", "--interval", "-1s"},
		{"diag", "--interval", "soon"},
		{"diag", "extra"},
		{"diag", "--netns", "ndx-no-such-namespace"},
	} {
		a, _, errb := testApp()
		if code := execute(t, a, nil, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d; stderr %s", args, code, exitUsage, errb)
		}
	}
}

// TestDiagMalformed: a corrupt /proc file is a NOT READ line naming the
// file and line, the rest of the report stands, and the exit status is 3.
func TestDiagMalformed(t *testing.T) {
	dir := t.TempDir()
	copyTree(t, filepath.Join(hostsDir, "linux-6.18"), dir)
	if err := os.WriteFile(filepath.Join(dir, "proc/net/snmp"), []byte("Tcp: InSegs OutSegs\nTcp: 12\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "proc/net/softnet_stat"), []byte("0000000x 1 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, out, errb := testApp()
	code := execute(t, a, replay(t, dir, ""), "diag", "--interval", "1s", "--fail-on", "none")
	if code != exitError {
		t.Errorf("exit %d, want %d", code, exitError)
	}
	text := out.String()
	for _, want := range []string{
		"proc/net/snmp\terror\tmalformed " + dir + "/proc/net/snmp line 2: Tcp has 2 names but 1 values",
		"proc/net/softnet_stat\terror\tmalformed " + dir + "/proc/net/softnet_stat line 1: 3 columns, want at least 9",
		"softnet backlog\tnot checked\t/proc/net/softnet_stat not read",
		"tcp\tlisten accept queues\tok", // netstat still read
	} {
		if !hasAligned(text, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if !strings.Contains(errb.String(), "2 source(s) could not be read") {
		t.Errorf("stderr = %q", errb)
	}
}

// TestDiagNothingReadable: a tree with nothing in it gives exit 3 and says so.
func TestDiagNothingReadable(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"proc", "sys"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a, _, errb := testApp()
	code := execute(t, a, replay(t, dir, ""), "diag", "--interval", "0")
	if code != exitError || !strings.Contains(errb.String(), "nothing could be read") {
		t.Errorf("exit %d, stderr %q", code, errb)
	}
}
