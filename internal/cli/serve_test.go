package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netdx/netdx/collectors"
	"github.com/netdx/netdx/report"
)

// runArgs runs a command line through the real root and returns the exit
// status.
func runArgs(a *app, args ...string) int {
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	reportError(a.Err, err)
	return exitStatus(err)
}

func TestPrometheusOutputOnlyForDiagAndServe(t *testing.T) {
	for _, args := range [][]string{
		{"trace", "-o", "prometheus", "198.18.0.1"},
		{"explain", "--output", "prometheus", "tcp.listen_overflow"},
		{"--format", "prometheus", "explain", "--list"},
		{"pcap", "analyze", "-o", "prometheus", "capture.pcap"},
	} {
		a, out, errb := testApp()
		if code := runArgs(a, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
		if !strings.Contains(errb.String(), "--output prometheus is for `netdx diag`") || out.Len() > 0 {
			t.Errorf("%v: stdout %q, stderr %q", args, out, errb)
		}
	}
}

// TestDiagPrometheus writes the busy fixture host as Prometheus text via
// --format (the alias of --output): golden, accepted by promtool, and with
// exactly the findings of the JSON report as netdx_finding series.
func TestDiagPrometheus(t *testing.T) {
	a, out, errb := testApp()
	b, af := busyHost(t)
	code := execute(t, a, replay(t, b, af), "diag", "--interval", "10s", "--format", "prometheus")
	if code != exitFindings {
		t.Errorf("exit %d, want %d; stderr %s", code, exitFindings, errb)
	}
	got := regexp.MustCompile(`goversion="[^"]*"`).ReplaceAll(out.Bytes(), []byte(`goversion="GO"`))
	golden(t, "TestDiagBusyPrometheus", got)
	if tool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(tool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(out.Bytes())
		if o, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, o)
		}
	} else {
		t.Log("promtool not found: install Debian's prometheus package to check the exposition")
	}

	a, jout, _ := testApp()
	execute(t, a, replay(t, b, af), "diag", "--interval", "10s", "--json")
	var rep report.Report
	if err := json.Unmarshal(jout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range rep.Findings {
		want = append(want, fmt.Sprintf("netdx_finding{id=%q,severity=%q,subject=%q} 1", f.ID, f.Severity, f.Subject))
	}
	sort.Strings(want)
	var series []string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "netdx_finding{") {
			series = append(series, line)
		}
	}
	if strings.Join(series, "\n") != strings.Join(want, "\n") || len(want) == 0 {
		t.Errorf("finding series:\n%s\nwant the JSON report's findings:\n%s", strings.Join(series, "\n"), strings.Join(want, "\n"))
	}
}

// serveTest runs `netdx serve ARGS` in this process with prepare applied
// to its options and returns the address it serves and a function that
// stops it (as SIGTERM would) and returns the exit status.
func serveTest(t *testing.T, prepare func(*serveOptions), args ...string) (string, func() int) {
	t.Helper()
	a, _, errb := testApp()
	a.Now = time.Now
	addr := make(chan net.Addr, 1)
	root := newRootCmd(a)
	for _, c := range root.Commands() {
		if c.Name() == "serve" {
			root.RemoveCommand(c)
		}
	}
	s := serveCommand(a, func(o *serveOptions) {
		if prepare != nil {
			prepare(o)
		}
		o.ready = func(x net.Addr) { addr <- x }
	})
	wrapArgs(s)
	root.AddCommand(s)
	root.SetArgs(append([]string{"serve", "--listen", "127.0.0.1:0"}, args...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		err := root.ExecuteContext(ctx)
		reportError(a.Err, err)
		done <- exitStatus(err)
	}()
	var once sync.Once
	code := -1
	stop := func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(10 * time.Second):
				t.Error("serve did not stop within 10s of its context ending")
			}
		})
		return code
	}
	select {
	case x := <-addr:
		t.Cleanup(func() { stop() })
		return x.String(), stop
	case code := <-done:
		t.Fatalf("serve exited %d before serving: %s", code, errb)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start within 10s")
	}
	return "", nil
}

// scrape returns the text exposition of addr's /metrics, one value per
// series.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// waitFor scrapes addr until cond holds, for at most limit.
func waitFor(t *testing.T, addr string, limit time.Duration, what string, cond func(map[string]float64) bool) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		m := scrape(t, addr)
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func findingSeries(m map[string]float64) []string {
	var out []string
	for k := range m {
		if strings.HasPrefix(k, "netdx_finding{") {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// replayBusy has serve sample the recorded quiet host first and the busy
// one from then on.
func replayBusy(t *testing.T) func(*serveOptions) {
	before, after := busyHost(t)
	return func(o *serveOptions) {
		o.open = func(n int) (*collectors.Sources, error) {
			if n == 0 {
				return collectors.Replay(before)
			}
			return collectors.Replay(after)
		}
	}
}

// TestServeReplacesFindings serves a recorded host that gets busy between
// its first two samples and then stays as it is: the first window's
// findings are exported, and disappear when the next window shows nothing
// new.
func TestServeReplacesFindings(t *testing.T) {
	addr, stop := serveTest(t, replayBusy(t), "--interval", "400ms")
	m := waitFor(t, addr, 10*time.Second, "first evaluation", func(m map[string]float64) bool { return m["netdx_evaluations_total"] >= 1 })
	if m["netdx_evaluations_total"] == 1 {
		fs := findingSeries(m)
		if len(fs) == 0 || m[`netdx_findings{severity="critical"}`] == 0 {
			t.Errorf("the busy window exported no critical findings: %v", fs)
		}
		if !strings.Contains(strings.Join(fs, " "), `id="tcp.listen_overflow"`) {
			t.Errorf("no tcp.listen_overflow among %v", fs)
		}
	} else {
		t.Log("the first window's scrape was missed; checking the replacement only")
	}
	// The second window sees no change: the findings on counters go; the
	// conntrack table stays as full as it was.
	m = waitFor(t, addr, 10*time.Second, "second evaluation", func(m map[string]float64) bool { return m["netdx_evaluations_total"] >= 2 })
	want := []string{`netdx_finding{id="conntrack.table_full",severity="critical",subject="this netns"}`}
	if fs := findingSeries(m); strings.Join(fs, " ") != strings.Join(want, " ") {
		t.Errorf("after a quiet window the findings are %v, want only %v", fs, want)
	}
	for _, series := range []string{"netdx_host_samples_total", `netdx_collector_duration_seconds{collector="netstat"}`,
		`netdx_netstat_total{name="ListenOverflows",section="TcpExt"}`, "netdx_report_window_seconds", "netdx_last_evaluation_timestamp_seconds",
		"go_goroutines", `promhttp_metric_handler_requests_total{code="200"}`} {
		if _, ok := m[series]; !ok {
			t.Errorf("no series %s", series)
		}
	}
	if tool, err := exec.LookPath("promtool"); err == nil {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(tool, "check", "metrics")
		cmd.Stdin = resp.Body
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics on serve's /metrics: %v\n%s", err, out)
		}
		resp.Body.Close()
	} else {
		t.Log("promtool not found: install Debian's prometheus package to check the exposition")
	}
	for path, want := range map[string]string{"/-/healthy": "healthy", "/-/ready": "ready", "/": "/metrics"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("%s: %s %q", path, resp.Status, body)
		}
	}
	if resp, err := http.Get("http://" + addr + "/nothing"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("/nothing: %v %v", resp, err)
	}
	if code := stop(); code != exitOK {
		t.Errorf("exit %d after a clean shutdown, want 0", code)
	}
}

func TestServeUsage(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"serve", "--interval", "0"}, exitUsage, "invalid --interval"},
		{[]string{"serve", "--trace-count", "0"}, exitUsage, "invalid --trace-count"},
		{[]string{"serve", "--trace-interval", "-1s"}, exitUsage, "invalid --trace-interval"},
		{[]string{"serve", "--netns", "ndx-no-such-namespace"}, exitUsage, "no such network namespace"},
		{[]string{"serve", "extra"}, exitUsage, "unknown command"},
		{[]string{"serve", "--listen", busy.Addr().String()}, exitError, "cannot serve on --listen " + busy.Addr().String()},
	} {
		a, _, errb := testApp()
		if code := runArgs(a, c.args...); code != c.code || !strings.Contains(errb.String(), c.msg) {
			t.Errorf("%v: exit %d (want %d), stderr %q (want %q)", c.args, code, c.code, errb, c.msg)
		}
	}
}

// TestServeSIGTERM runs serve as its own process and stops it with
// SIGTERM: it shuts down cleanly and exits 0.
func TestServeSIGTERM(t *testing.T) {
	cmd := exec.Command(os.Args[0], "serve", "--listen", "127.0.0.1:0", "--interval", "200ms", "-v")
	cmd.Env = append(os.Environ(), "NETDX_TEST_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var log []string
	addrRe := regexp.MustCompile(`msg="serving metrics" address=(\S+)`)
	var addr string
	for addr == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("serve exited before serving: %s", strings.Join(log, "\n"))
			}
			log = append(log, l)
			if m := addrRe.FindStringSubmatch(l); m != nil {
				addr = m[1]
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("serve did not say where it serves: %s", strings.Join(log, "\n"))
		}
	}
	waitFor(t, addr, 10*time.Second, "a host sample", func(m map[string]float64) bool { return m["netdx_host_samples_total"] >= 1 })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		log = append(log, l)
	}
	err = cmd.Wait()
	if err != nil {
		t.Errorf("after SIGTERM: %v; stderr:\n%s", err, strings.Join(log, "\n"))
	}
	if !strings.Contains(strings.Join(log, "\n"), "shutting down") {
		t.Errorf("no shutdown logged: %s", strings.Join(log, "\n"))
	}
}

// freePort returns a loopback port nobody listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServePrometheusRoundTrip is the fleet path end to end: netdx serve
// on loopback, a real Prometheus server scraping it every second, and a
// netdx metric read back through Prometheus's HTTP API.
func TestServePrometheusRoundTrip(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not found: install Debian's prometheus package (apt-get install prometheus); .ci/run does")
	}
	addr, stop := serveTest(t, nil, "--interval", "1s")
	dir := t.TempDir()
	config := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: netdx\n    static_configs:\n      - targets: [%q]\n", addr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr := freePort(t)
	var plog bytes.Buffer
	cmd := exec.Command(prom, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &plog, &plog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	query := func(q string) ([]float64, error) {
		resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var r struct {
			Status string
			Data   struct {
				Result []struct {
					Metric map[string]string
					Value  [2]any
				}
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return nil, err
		}
		var out []float64
		for _, res := range r.Data.Result {
			v, err := strconv.ParseFloat(fmt.Sprint(res.Value[1]), 64)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	deadline := time.Now().Add(90 * time.Second)
	var got []float64
	for {
		select {
		case err := <-exited:
			t.Fatalf("prometheus exited: %v\n%s", err, plog.String())
		default:
		}
		got, err = query(`netdx_netstat_total{job="netdx",section="Tcp",name="OutSegs"}`)
		if err == nil && len(got) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus had not scraped netdx within 90s (last: %v %v)\n%s", got, err, plog.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
	if got[0] <= 0 {
		t.Errorf("Tcp.OutSegs through Prometheus: %v", got)
	}
	if up, err := query(`up{job="netdx"}`); err != nil || len(up) != 1 || up[0] != 1 {
		t.Errorf("up{job=\"netdx\"} = %v (%v)", up, err)
	}
	if n, err := query(`count(netdx_findings)`); err != nil || len(n) != 1 || n[0] != 3 {
		t.Errorf("count(netdx_findings) = %v (%v), want the three severities", n, err)
	}
	if code := stop(); code != exitOK {
		t.Errorf("serve exit %d", code)
	}
}

// TestServeRuntimeFamilies pins the families serve exports besides its
// own (go_*, process_*, promhttp_*) with their help, type and labels,
// values masked: dashboards built on them keep working. The golden file
// was scraped from serve when client_golang's (v1.25) Go and process
// collectors and promhttp served them; internal/promtext serves them now.
func TestServeRuntimeFamilies(t *testing.T) {
	addr, _ := serveTest(t, replayBusy(t), "--interval", "1h")
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	value := regexp.MustCompile(` \S+$`)
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		name := line
		if f := strings.Fields(line); len(f) > 2 && f[0] == "#" {
			name = f[2]
		}
		if strings.HasPrefix(name, "netdx_") {
			continue
		}
		if !strings.HasPrefix(line, "#") {
			line = value.ReplaceAllString(line, " V")
		}
		b.WriteString(line + "\n")
	}
	got := regexp.MustCompile(`version="[^"]*"`).ReplaceAllString(b.String(), `version="GO"`)
	golden(t, "TestServeRuntimeFamilies", []byte(got))
}
