package metrics

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netdx/netdx/diagnose"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/internal/promtext"
	"github.com/netdx/netdx/report"
)

const hostsDir = "../../collectors/testdata/hosts"

var fixedEnd = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func TestDefsFollowPrometheusNaming(t *testing.T) {
	name := regexp.MustCompile(`^netdx_[a-z][a-z0-9_]*[a-z0-9]$`)
	label := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	seen := map[string]bool{}
	for _, d := range Defs() {
		switch {
		case !name.MatchString(d.Name):
			t.Errorf("%s: not a snake_case netdx_ name", d.Name)
		case seen[d.Name]:
			t.Errorf("%s defined twice", d.Name)
		case d.Type == counter && !strings.HasSuffix(d.Name, "_total"):
			t.Errorf("counter %s does not end in _total", d.Name)
		case d.Type == gauge && strings.HasSuffix(d.Name, "_total"):
			t.Errorf("gauge %s ends in _total", d.Name)
		case strings.HasSuffix(d.Name, "_info") && d.Type != gauge:
			t.Errorf("info metric %s is not a gauge", d.Name)
		case d.Help == "" || !strings.HasSuffix(d.Help, "."):
			t.Errorf("%s: help %q", d.Name, d.Help)
		}
		seen[d.Name] = true
		for _, l := range d.Labels {
			if !label.MatchString(l) || l == "instance" || l == "job" {
				t.Errorf("%s: label %q", d.Name, l)
			}
		}
	}
}

// TestAlertsReadExportedMetrics checks every metric an alert expression
// reads is one diag -o prometheus exports (not only serve).
func TestAlertsReadExportedMetrics(t *testing.T) {
	for m := range exprMetrics(diagnose.AlertRules()) {
		d := defByName(m)
		if d == nil || d.Serve {
			t.Errorf("an alert reads %s, which netdx does not export from a report", m)
		}
	}
}

func TestExporterReplacesFindings(t *testing.T) {
	e := NewExporter()
	rep := func(fs ...report.Finding) *report.Report {
		r := report.New("serve", report.Tool{Name: "netdx", Version: "test"}, report.Host{}, fixedEnd)
		r.Findings, r.EndedAt = fs, fixedEnd
		return r
	}
	listen := report.Finding{ID: "tcp.listen_overflow", Severity: report.Critical, Subject: "0.0.0.0:80 (nginx[12])"}
	ring := report.Finding{ID: "driver.ring_overflow", Severity: report.Warning, Subject: "eth0"}
	e.Publish(rep(listen, ring, ring), true)
	want := `# HELP netdx_finding 1 for each finding of the latest evaluation; a finding that no longer stands disappears.
# TYPE netdx_finding gauge
netdx_finding{id="driver.ring_overflow",severity="warning",subject="eth0"} 1
netdx_finding{id="tcp.listen_overflow",severity="critical",subject="0.0.0.0:80 (nginx[12])"} 1
`
	compareExporter(t, e, want, "netdx_finding")
	e.Publish(rep(ring), true)
	want = `# HELP netdx_finding 1 for each finding of the latest evaluation; a finding that no longer stands disappears.
# TYPE netdx_finding gauge
netdx_finding{id="driver.ring_overflow",severity="warning",subject="eth0"} 1
`
	compareExporter(t, e, want, "netdx_finding")
	counts := `# HELP netdx_evaluations_total Evaluations of the rules.
# TYPE netdx_evaluations_total counter
netdx_evaluations_total 2
# HELP netdx_findings Number of findings of the latest evaluation at each severity.
# TYPE netdx_findings gauge
netdx_findings{severity="critical"} 0
netdx_findings{severity="info"} 0
netdx_findings{severity="warning"} 1
`
	compareExporter(t, e, counts, "netdx_findings", "netdx_evaluations_total")
	e.Publish(rep(), true)
	compareExporter(t, e, "", "netdx_finding")
}

func TestExporterHealth(t *testing.T) {
	e := NewExporter("192.0.2.1")
	snap := &collectors.Snapshot{Taken: fixedEnd, Runs: []collectors.Run{
		{Collector: "netstat", Duration: 3 * time.Millisecond}, {Collector: "nic", Duration: time.Millisecond, Failed: true}}}
	e.ObserveSample(snap, 5*time.Millisecond)
	e.ObserveSample(snap, 5*time.Millisecond)
	e.ObserveTrace("192.0.2.1", 2*time.Second, fixedEnd, nil)
	e.ObserveTrace("192.0.2.1", time.Second, fixedEnd, os.ErrPermission)
	want := `# HELP netdx_collector_duration_seconds How long the collector took in the latest host sample.
# TYPE netdx_collector_duration_seconds gauge
netdx_collector_duration_seconds{collector="netstat"} 0.003
netdx_collector_duration_seconds{collector="nic"} 0.001
# HELP netdx_collector_failures_total Host samples in which the collector failed.
# TYPE netdx_collector_failures_total counter
netdx_collector_failures_total{collector="netstat"} 0
netdx_collector_failures_total{collector="nic"} 2
# HELP netdx_collector_last_success_timestamp_seconds When the collector last ran without failing (Unix time); a source skipped for lack of support or privilege is not a failure.
# TYPE netdx_collector_last_success_timestamp_seconds gauge
netdx_collector_last_success_timestamp_seconds{collector="netstat"} 1.772600767e+09
# HELP netdx_host_samples_total Host samples taken.
# TYPE netdx_host_samples_total counter
netdx_host_samples_total 2
# HELP netdx_trace_failures_total Traces of the target that failed (resolution, sockets).
# TYPE netdx_trace_failures_total counter
netdx_trace_failures_total{target="192.0.2.1"} 1
# HELP netdx_trace_runs_total Traces of the target run.
# TYPE netdx_trace_runs_total counter
netdx_trace_runs_total{target="192.0.2.1"} 2
`
	compareExporter(t, e, want, "netdx_collector_failures_total", "netdx_collector_last_success_timestamp_seconds",
		"netdx_collector_duration_seconds", "netdx_host_samples_total", "netdx_trace_runs_total", "netdx_trace_failures_total")
	t.Run("promtool", func(t *testing.T) {
		all, err := exporterText(e)
		if err != nil {
			t.Fatal(err)
		}
		checkMetrics(t, promtool(t), all)
	})
}

// compareExporter compares the exposition of e's families named with want.
func compareExporter(t *testing.T, e *Exporter, want string, names ...string) {
	t.Helper()
	got, err := exporterText(e, names...)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("exposition of %v:\n%s\nwant:\n%s", names, got, want)
	}
}

// fixtureReport judges a recorded host sampled twice (the same tree: no
// change) and adds findings, as diag would.
func fixtureReport(t testing.TB, host string) *report.Report {
	t.Helper()
	src, err := collectors.Replay(filepath.Join(hostsDir, host))
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return fixedEnd }
	in := &diagnose.Input{Diag: collectors.NewWindow(collectors.Take(context.Background(), src, now),
		collectors.Take(context.Background(), src, now), 10*time.Second)}
	rep := report.New("diag", report.Tool{Name: "netdx", Version: "v1.2.3", Commit: "abc123"}, report.Host{Hostname: "web-7"}, fixedEnd)
	rep.Findings, rep.Checks = diagnose.Evaluate(in)
	rep.Findings = append(rep.Findings,
		report.Finding{ID: "driver.ring_overflow", Severity: report.Warning, Subject: "eth0"},
		report.Finding{ID: "conntrack.drops", Severity: report.Critical})
	rep.Diag = report.NewDiag(in.Diag)
	rep.Skipped = report.DiagSkips(in.Diag)
	rep.EndedAt = fixedEnd
	return rep
}

var goVersion = regexp.MustCompile(`goversion="[^"]*"`)

// TestFixtureExposition is the golden exposition of a recorded host:
// stable order (by name, then labels), every series of the report.
func TestFixtureExposition(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, fixtureReport(t, "linux-6.18")); err != nil {
		t.Fatal(err)
	}
	got := goVersion.ReplaceAll(b.Bytes(), []byte(`goversion="GO"`))
	golden(t, "TestFixtureExposition", got)
	for _, line := range []string{
		`netdx_build_info{commit="abc123",goversion="GO",version="v1.2.3"} 1`,
		`netdx_finding{id="conntrack.drops",severity="critical",subject=""} 1`,
		`netdx_nic_dropped_packets_total{direction="rx",interface="eth0",kind="ring",queue="0",stat="rx0_drops"} 0`,
		`netdx_sysctl{index="2",name="net.ipv4.tcp_mem"}`,
		`netdx_sysctl_info{name="net.ipv4.tcp_congestion_control",value="cubic"} 1`,
		`netdx_interface_line_rate{interface="veth1a2b"} 0`,
		`netdx_interface_line_rate{interface="eth0"} 1`,
		`netdx_report_window_seconds 10`,
	} {
		if !bytes.Contains(got, []byte(line)) {
			t.Errorf("no line %s", line)
		}
	}
}

// TestFixtureExpositionChecks runs promtool check metrics on the
// exposition of every recorded host.
func TestFixtureExpositionChecks(t *testing.T) {
	tool := promtool(t)
	hosts, err := os.ReadDir(hostsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if !h.IsDir() {
			continue
		}
		t.Run(h.Name(), func(t *testing.T) {
			var b bytes.Buffer
			if err := Write(&b, fixtureReport(t, h.Name())); err != nil {
				t.Fatal(err)
			}
			checkMetrics(t, tool, b.Bytes())
		})
	}
}

func checkMetrics(t *testing.T, tool string, exposition []byte) {
	t.Helper()
	cmd := exec.Command(tool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestLiveExposition exports this host's own counters: promtool accepts
// them, and the exported Tcp.OutSegs lies between what /proc/net/snmp
// said just before and just after.
func TestLiveExposition(t *testing.T) {
	tool := promtool(t)
	src, err := collectors.Open(collectors.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	low := readSnmp(t, "Tcp", "OutSegs")
	before := collectors.Take(context.Background(), src, time.Now)
	time.Sleep(50 * time.Millisecond)
	in := &diagnose.Input{Diag: collectors.NewWindow(before, collectors.Take(context.Background(), src, time.Now), 50*time.Millisecond)}
	high := readSnmp(t, "Tcp", "OutSegs")
	rep := report.New("diag", report.Tool{Name: "netdx", Version: "test"}, report.Host{}, time.Now())
	rep.Findings, rep.Checks = diagnose.Evaluate(in)
	rep.Diag, rep.Skipped, rep.EndedAt = report.NewDiag(in.Diag), report.DiagSkips(in.Diag), time.Now()
	var b bytes.Buffer
	if err := Write(&b, rep); err != nil {
		t.Fatal(err)
	}
	checkMetrics(t, tool, b.Bytes())
	got := seriesValue(t, b.Bytes(), `netdx_netstat_total{name="OutSegs",section="Tcp"}`)
	if got < low || got > high {
		t.Errorf("exported Tcp.OutSegs %v, /proc/net/snmp said %v before and %v after", got, low, high)
	}
}

// readSnmp reads one counter of /proc/net/snmp directly.
func readSnmp(t *testing.T, section, name string) float64 {
	t.Helper()
	f, err := os.Open("/proc/net/snmp")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var header []string
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != section+":" {
			continue
		}
		if header == nil {
			header = fields
			continue
		}
		for i, h := range header {
			if h == name {
				v, _ := strconv.ParseFloat(fields[i], 64)
				return v
			}
		}
	}
	t.Fatalf("no %s.%s in /proc/net/snmp", section, name)
	return 0
}

func seriesValue(t *testing.T, exposition []byte, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(string(exposition), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no series %s", series)
	return 0
}

// TestSeriesShapes pins how report values become series: drop statistics
// with their queue, listeners sharing an address summed, settings of
// several integers split, text settings as info, duplicate findings once.
func TestSeriesShapes(t *testing.T) {
	drops := uint64(7)
	rep := &report.Report{
		Findings: []report.Finding{{ID: "nic.errors", Severity: report.Warning, Subject: "eth0"},
			{ID: "nic.errors", Severity: report.Warning, Subject: "eth0"},
			{ID: "nic.rx_dropped", Severity: report.Info, Subject: "bad\xffname"}},
		Diag: &report.Diag{
			Interfaces: []report.DiagInterface{{Name: "eth0", Kind: "device", Driver: &report.DiagDriver{Driver: "mlx5_core", BusInfo: "0000:3b:00.0"},
				EthtoolDropStats: []string{"rx3_dropped", "rx_discards_phy"},
				EthtoolStats:     map[string]report.DiagCounter{"rx3_dropped": {Total: 5}, "rx_discards_phy": {Total: 9}}}},
			Sysctls: map[string]report.DiagSysctl{"net.ipv4.tcp_rmem": {Value: "4096 131072 6291456"}, "net.core.default_qdisc": {Value: "fq"}},
			Sockets: &report.DiagSockets{Listeners: []report.DiagListener{
				{Local: "0.0.0.0:443", AcceptQueue: 3, Backlog: 511, Drops: &report.DiagCounter{Total: drops}, Process: &report.DiagProcess{PID: 1, Comm: "envoy"}},
				{Local: "0.0.0.0:443", AcceptQueue: 4, Backlog: 511, Drops: &report.DiagCounter{Total: drops}, Process: &report.DiagProcess{PID: 2, Comm: "envoy"}},
			}},
		},
	}
	var b bytes.Buffer
	if err := Write(&b, rep); err != nil {
		t.Fatal(err)
	}
	for series, want := range map[string]float64{
		`netdx_nic_dropped_packets_total{direction="rx",interface="eth0",kind="ring",queue="3",stat="rx3_dropped"}`:    5,
		`netdx_nic_dropped_packets_total{direction="rx",interface="eth0",kind="port",queue="",stat="rx_discards_phy"}`: 9,
		`netdx_tcp_listen_queue_connections{address="0.0.0.0:443",process="envoy"}`:                                    7,
		`netdx_tcp_listen_backlog_connections{address="0.0.0.0:443",process="envoy"}`:                                  1022,
		`netdx_tcp_listen_dropped_connections_total{address="0.0.0.0:443",process="envoy"}`:                            14,
		`netdx_sysctl{index="2",name="net.ipv4.tcp_rmem"}`:                                                             6291456,
		`netdx_sysctl_info{name="net.core.default_qdisc",value="fq"}`:                                                  1,
		`netdx_finding{id="nic.errors",severity="warning",subject="eth0"}`:                                             1,
		`netdx_interface_line_rate{interface="eth0"}`:                                                                  1,
		`netdx_findings{severity="warning"}`:                                                                           2,
		"netdx_finding{id=\"nic.rx_dropped\",severity=\"info\",subject=\"bad\uFFFDname\"}":                             1,
	} {
		if got := seriesValue(t, b.Bytes(), series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

// BenchmarkWrite measures one scrape's render cost: gathering and encoding
// a recorded host's report.
func BenchmarkWrite(b *testing.B) {
	rep := fixtureReport(b, "linux-6.18")
	b.ReportAllocs()
	for b.Loop() {
		if err := Write(io.Discard, rep); err != nil {
			b.Fatal(err)
		}
	}
}

// exporterText is the text exposition of e, of the families named when
// names are given.
func exporterText(e *Exporter, names ...string) ([]byte, error) {
	var s promtext.Set
	if err := e.Collect(&s); err != nil {
		return nil, err
	}
	if len(names) > 0 {
		s.Filter(func(name string) bool { return slices.Contains(names, name) })
	}
	var b bytes.Buffer
	err := s.Write(&b)
	return b.Bytes(), err
}
