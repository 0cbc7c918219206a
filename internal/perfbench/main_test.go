package main

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/performance.golden.md")

func TestQuantile(t *testing.T) {
	ten := []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}
	for _, tc := range []struct {
		xs   []float64
		q    float64
		want float64
	}{
		{ten, 0.5, 5.5}, // even count: mean of the middle two
		{ten, 0.9, 9.1},
		{ten, 0.1, 1.9},
		{ten, 0, 1},
		{ten, 1, 10},
		{[]float64{3, 1, 2}, 0.5, 2},
		{[]float64{7}, 0.9, 7},
	} {
		if got := quantile(tc.xs, tc.q); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("quantile(%v, %v) = %v, want %v", tc.xs, tc.q, got, tc.want)
		}
	}
	if !math.IsNaN(quantile(nil, 0.5)) {
		t.Error("quantile of nothing is not NaN")
	}
	if ten[0] != 10 {
		t.Error("quantile sorted its argument")
	}
}

func runs(ms ...float64) []Run {
	out := make([]Run, len(ms))
	for i, m := range ms {
		out[i] = Run{Wall: time.Duration(m * float64(time.Millisecond)), CPU: time.Duration(m * float64(time.Millisecond) / 2),
			MaxRSS: int64(10+i) << 20}
	}
	return out
}

func TestSummarize(t *testing.T) {
	s := summarize(runs(30, 10, 20, 40))
	want := Summary{N: 4, Median: 25 * time.Millisecond, P90: 37 * time.Millisecond, Min: 10 * time.Millisecond,
		CPU: 12500 * time.Microsecond, MaxRSS: 13 << 20, MedianRSS: 23 << 19}
	if s != want {
		t.Errorf("summarize = %+v\nwant        %+v", s, want)
	}
	if (summarize(nil) != Summary{}) {
		t.Error("summary of no runs is not zero")
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{fmtDuration(6420 * time.Microsecond), "6.42 ms"},
		{fmtDuration(57300 * time.Microsecond), "57.3 ms"},
		{fmtDuration(132 * time.Millisecond), "132 ms"},
		{fmtDuration(1530 * time.Millisecond), "1.53 s"},
		{fmtRatio(0.4812), "0.48×"},
		{fmtRatio(3.87), "3.9×"},
		{fmtRatio(27.4), "27×"},
		{fmtRatio(math.NaN()), "–"},
		{fmtRatio(math.Inf(1)), "–"},
		{fmtBytes(18 << 20), "18.0 MiB"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestRatioAndVerdict(t *testing.T) {
	startup := &Comparison{RA: runs(24, 26, 25), RB: runs(6, 7, 5), Target: 1.5}
	if r := startup.Ratio(); math.Abs(r-25.0/6) > 1e-9 {
		t.Errorf("A ÷ B = %v", r)
	}
	if v := startup.verdict(); v != "≤ 1.5×: **not met**" {
		t.Errorf("verdict %q", v)
	}
	pcap := &Comparison{RA: runs(50, 60, 55), RB: runs(1500, 1700, 1600), Speedup: true, Target: 25, MaxRSS: 64 << 20}
	if r := pcap.Ratio(); math.Abs(r-1600.0/55) > 1e-9 {
		t.Errorf("B ÷ A = %v", r)
	}
	if v := pcap.verdict(); v != "≥ 25×: met; A's peak RSS ≤ 64.0 MiB: met" {
		t.Errorf("verdict %q", v)
	}
	pcap.MaxRSS = 11 << 20
	if v := pcap.verdict(); v != "≥ 25×: met; A's peak RSS ≤ 11.0 MiB: **not met**" {
		t.Errorf("a peak RSS over its target is %q", v)
	}
	// Adjacent runs pair up: (50,1500) (60,1700) (55,1600) give 30, 28.3, 29.1.
	lo, hi := pcap.pairSpread()
	if math.Abs(lo-(28.33+0.2*(29.09-28.33))) > 0.01 || math.Abs(hi-(29.09+0.8*(30-29.09))) > 0.01 {
		t.Errorf("pair spread %v–%v", lo, hi)
	}
	if r := pcap.minRatio(); math.Abs(r-1500.0/50) > 1e-9 {
		t.Errorf("ratio of the fastest runs %v", r)
	}
	if v := (&Comparison{}).verdict(); v != "–" {
		t.Errorf("no target: %q", v)
	}
}

func TestSameReport(t *testing.T) {
	a := []byte(`{"schema_version": "1.0", "started_at": "2026-12-04T16:53:36Z", "ended_at": "2026-12-04T16:53:37Z", "flows": [1, 2]}`)
	b := []byte(`{
  "schema_version": "1.0",
  "started_at": "2026-12-04T17:00:00Z",
  "ended_at": "2026-12-04T17:00:01Z",
  "flows": [1, 2]
}`)
	if d := sameReport(a, b); d != "" {
		t.Errorf("same reports but for their times differ: %s", d)
	}
	c := bytes.Replace(b, []byte("2]"), []byte("3]"), 1)
	if d := sameReport(a, c); !strings.Contains(d, "at byte") || !strings.Contains(d, "[1,3]") {
		t.Errorf("a different flow list: %q", d)
	}
	if d := sameReport(a, []byte("{")); !strings.HasPrefix(d, "second:") {
		t.Errorf("a broken report: %q", d)
	}
}

func TestMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	got := missing([]string{"nstat", "ss", "ethtool", "tshark"})
	want := "nstat, ss, ethtool, tshark not found in PATH (Debian: apt-get install iproute2 ethtool tshark)"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := missing(nil); got != "" {
		t.Errorf("nothing needed: %q", got)
	}
}

// TestRun times real processes: the statuses a command accepts, and
// rusage filled in.
func TestRun(t *testing.T) {
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	ok := Command{Name: "exit 1", Argv: []string{"sh", "-c", "exit 1"}, OK: []int{0, 1}}
	r, err := ok.run(devnull, stderr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Wall <= 0 || r.MaxRSS <= 0 {
		t.Errorf("run %+v: no time or peak RSS", r)
	}
	if floor, err := rssFloor(); err != nil || floor <= 0 {
		t.Errorf("rss floor %d, %v", floor, err)
	}
	bad := Command{Name: "fails", Argv: []string{"sh", "-c", "echo broken >&2; exit 3"}, OK: []int{0, 1}}
	if _, err := bad.run(devnull, stderr); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("exit 3 with {0, 1} accepted: %v", err)
	}
	strict := Command{Name: "exit 1", Argv: []string{"sh", "-c", "exit 1"}}
	if _, err := strict.run(devnull, stderr); err == nil {
		t.Error("exit 1 accepted when only 0 is")
	}
	a, b, err := interleave(Command{Name: "true", Argv: []string{"true"}}, strict, 0, 1, func(int) {})
	if err == nil || a != nil || b != nil {
		t.Errorf("interleave went on past a failed run: %v", err)
	}
}

func TestCaptureCache(t *testing.T) {
	dir := t.TempDir()
	c := &Capture{Label: "tiny", Flows: 3, Snap: 128, Packets: 1000}
	if err := c.ensure(dir); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(c.Path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(first)) != c.Size || c.Size < 24+1000*16 {
		t.Fatalf("size %d, file %d bytes", c.Size, len(first))
	}
	// Kept: a second ensure finds it and does not write it again.
	st, _ := os.Stat(c.Path)
	again := &Capture{Label: "tiny", Flows: 3, Snap: 128, Packets: 1000}
	if err := again.ensure(dir); err != nil || again.Size != c.Size {
		t.Fatalf("second ensure: %v, size %d", err, again.Size)
	}
	if st2, _ := os.Stat(c.Path); !st2.ModTime().Equal(st.ModTime()) {
		t.Error("the cached capture was written again")
	}
	// Regenerated the same when missing.
	os.Remove(c.Path)
	if err := again.ensure(dir); err != nil {
		t.Fatal(err)
	}
	if second, _ := os.ReadFile(c.Path); !bytes.Equal(first, second) {
		t.Error("the same parameters gave a different capture")
	}
}

func withRSS(rs []Run, rss int64) []Run {
	for i := range rs {
		rs[i].MaxRSS = rss + int64(i)<<18
		rs[i].Faults = rss>>12 + int64(i)
	}
	return rs
}

// TestRender pins the document's layout with made-up runs.
func TestRender(t *testing.T) {
	at := time.Date(2026, 12, 4, 17, 0, 0, 0, time.UTC)
	rep := &Report{
		Machine: Machine{Date: at.Format("2006-01-02 15:04 UTC"), CPU: "AMD EPYC", Kernel: "6.18.44", Go: "go1.26.8",
			Netdx: "04e6150", Cores: 2, Memory: 24 << 30, Processes: 100, Interfaces: 5,
			Tools: []string{"tshark: TShark (Wireshark) 4.0.17"}, FirstTouch: 11 * time.Microsecond},
		Runs: 3, SlowRuns: 3, Warmup: 1, NetdxBuild: "`make build` (bin/netdx), profile-guided (`-pgo default.pgo`)", NetdxSize: 25 << 20, HelloSize: 2 << 20,
		Bundle: "nstat -az\n", Hello: hello,
		Captures: []*Capture{{Label: "80k", Flows: 100, Snap: 1514, Packets: 80000, Size: 80 << 20}},
		Comparisons: []*Comparison{
			{ID: "version", Title: "Start-up", A: Command{Name: "netdx --version"}, B: Command{Name: "hello"}, Runs: 3,
				RA: withRSS(runs(24, 26, 25), 15<<20), RB: runs(6, 7, 5), Target: 1.5, Load: Load{Before: 1.5, After: 1.25, Others: 0.5}},
			{ID: "pcap-80k", Title: "Capture", A: Command{Name: "netdx pcap analyze --json x.pcap"},
				B: Command{Name: "tshark -q -z expert -r x.pcap"}, Skip: "tshark not found in PATH (Debian: apt-get install tshark)"},
			{ID: "pcap-800k", Title: "Capture", A: Command{Name: "netdx pcap analyze --json y.pcap"},
				B: Command{Name: "tshark -q -z expert -r y.pcap"}, Runs: 3, RA: withRSS(runs(180, 170, 175), 20<<20),
				RB: withRSS(runs(12800, 12000, 13000), 200<<20), Speedup: true, Target: 100, MaxRSS: 64 << 20},
			{ID: "floor-800k", Title: "Floor", A: Command{Name: "libraries y.pcap"}, B: Command{Name: "netdx pcap analyze --json y.pcap"},
				Runs: 3, RA: runs(40, 41, 39), RB: runs(180, 170, 175), Bounds: "pcap-800k"},
			{ID: "cores-80k", Title: "Cores", A: Command{Name: "GOMAXPROCS=2 netdx"}, B: Command{Name: "GOMAXPROCS=1 netdx"},
				Runs: 3, RA: withRSS(runs(50, 52, 51), 26<<20), RB: withRSS(runs(55, 56, 54), 25<<20), Speedup: true, SameOutput: true, Identical: true},
		},
		Load: Load{Before: 1.5, After: 1.25, Others: 0.5}, Elapsed: 42 * time.Second, RSSFloor: 12 << 20,
	}
	var b bytes.Buffer
	rep.render(&b)
	golden := filepath.Join("testdata", "performance.golden.md")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("the document changed; if that is meant, go test ./internal/perfbench -run TestRender -update\n%s", b.String())
	}
}
