// Command perfbench writes docs/performance.md: netdx timed as whole
// processes against what users would otherwise run, on this machine, in
// one run. Each comparison runs its two commands alternately (ABAB…)
// after warm-up runs, so drift in the machine's speed falls on both, and
// reports medians, 90th percentiles, ratios and peak RSS (from wait4's
// rusage):
//
//   - `netdx --version` against a hello-world Go binary (start-up), and
//     a binary that only links the libraries netdx imports against the
//     same hello-world (the start-up floor those libraries set);
//   - `netdx diag --interval 0 --json` against the classic bundle of
//     nstat, ss, ethtool, tc and sysctl, run as one shell script;
//   - `netdx pcap analyze --json` against `tshark -q -z expert` on two
//     generated captures (capturetest.Bulk, kept in a cache directory
//     and regenerated when missing);
//   - `netdx pcap analyze` with GOMAXPROCS=2 against GOMAXPROCS=1, and
//     a check that both print the same JSON.
//
// A comparison whose classic tool is missing is skipped and the document
// says why. Nothing here sends a packet: diag only reads the kernel's
// counters. Run it with `make bench`; it is not part of `make test` or
// CI, because its figures depend on the machine and what else runs on it.
package main

import (
	"bytes"
	"debug/buildinfo"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	o := options{}
	flag.IntVar(&o.runs, "runs", 30, "timed runs of each command in the fast comparisons")
	flag.IntVar(&o.slowRuns, "slow-runs", 5, "timed runs of each command in the comparisons with tshark (seconds per run)")
	flag.IntVar(&o.warmup, "warmup", 1, "untimed runs of each command before the timed ones")
	flag.StringVar(&o.netdx, "netdx", "", "the netdx binary to time (default: go build ./cmd/netdx into a temporary directory)")
	flag.StringVar(&o.cache, "cache", filepath.Join(os.TempDir(), "netdx-bench"), "directory for the generated captures (regenerated when missing)")
	flag.StringVar(&o.out, "out", "docs/performance.md", "the document to write (- for standard output)")
	flag.StringVar(&o.only, "only", "", "run only the comparisons whose ID matches this regular expression (IDs: "+strings.Join(ids(), ", ")+")")
	flag.Float64Var(&o.waitLoad, "wait-load", 0, "before each comparison, wait up to -wait-max for the 1-minute load average to fall below this (0: do not wait)")
	flag.DurationVar(&o.waitMax, "wait-max", 5*time.Minute, "longest wait for -wait-load before each comparison")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "perfbench:", err)
		os.Exit(1)
	}
}

type options struct {
	runs, slowRuns, warmup int
	netdx, cache, out      string
	only                   string
	waitLoad               float64
	waitMax                time.Duration
}

// The captures of the pcap comparisons. The smaller holds whole frames
// over 100 flows (about 530 data segments each, so each flow has its
// reorderings and retransmissions); the larger headers only (snap length
// 128, as `tcpdump -s 128` records) over 1,000 flows.
func captures() []*Capture {
	return []*Capture{
		{Label: "80k", Flows: 100, Snap: 1514, Packets: 80_000},
		{Label: "800k", Flows: 1000, Snap: 128, Packets: 800_000},
	}
}

// The classic bundle: what an SRE types to see what `netdx diag` reads,
// the same counters and settings, as one script so that it is timed as
// one process tree. The sysctl keys are those collectors/sysctl.go reads,
// with each interface's rp_filter (in / form: names may hold dots);
// -e: a key this kernel lacks is not an error (diag skips it too).
const bundle = `# nstat's history file goes to $NSTAT_HISTORY (the harness's temporary directory).
nstat -az
ss -s
ss -lnt
ss -tmi
keys=
for dev in /sys/class/net/*; do
	dev=${dev##*/}
	ethtool "$dev"
	ethtool -S "$dev"
	ethtool -g "$dev"
	ethtool -k "$dev"
	ethtool -l "$dev"
	keys="$keys net/ipv4/conf/$dev/rp_filter"
done
tc -s qdisc
sysctl -e net.core.somaxconn net.core.netdev_max_backlog net.core.netdev_budget net.core.netdev_budget_usecs \
	net.core.flow_limit_table_len net.core.rmem_default net.core.rmem_max net.core.wmem_default \
	net.core.wmem_max net.core.default_qdisc net.ipv4.tcp_syncookies net.ipv4.tcp_max_syn_backlog \
	net.ipv4.tcp_abort_on_overflow net.ipv4.tcp_synack_retries net.ipv4.tcp_syn_retries net.ipv4.tcp_fastopen \
	net.ipv4.tcp_rmem net.ipv4.tcp_wmem net.ipv4.tcp_mem net.ipv4.tcp_max_orphans \
	net.ipv4.tcp_congestion_control net.ipv4.tcp_reordering net.ipv4.tcp_recovery net.ipv4.tcp_mtu_probing \
	net.ipv4.tcp_moderate_rcvbuf net.ipv4.udp_mem net.ipv4.udp_rmem_min net.ipv4.ip_local_port_range \
	net.ipv4.ipfrag_high_thresh net.ipv4.conf.all.rp_filter net.ipv4.conf.default.rp_filter $keys
`

const hello = `package main

import "fmt"

func main() { fmt.Println("hello, world") }
`

// plan lists the comparisons. Command paths are filled in by run.
type plan struct {
	netdx, hello, libraries, bundle, nstatHistory string
	caps                                          []*Capture
	runs, slowRuns                                int
}

func (p plan) comparisons() []*Comparison {
	pcap := func(c *Capture, env ...string) Command {
		name := "netdx pcap analyze --json " + filepath.Base(c.Path)
		if len(env) > 0 {
			name = strings.Join(env, " ") + " " + name
		}
		return Command{Name: name, Argv: []string{p.netdx, "pcap", "analyze", "--json", c.Path}, Env: env, OK: []int{0, 1}}
	}
	out := []*Comparison{
		{ID: "version", Title: "Start-up: `netdx --version` against a hello-world Go binary", Runs: p.runs,
			A:      Command{Name: "netdx --version", Argv: []string{p.netdx, "--version"}},
			B:      Command{Name: "hello", Argv: []string{p.hello}},
			Target: 1.5},
		{ID: "libraries", Title: "Start-up floor: a binary that only links the libraries netdx imports, against a hello-world Go binary", Runs: p.runs,
			A: Command{Name: "libraries", Argv: []string{p.libraries}},
			B: Command{Name: "hello", Argv: []string{p.hello}}},
		{ID: "diag", Title: "Host snapshot: `netdx diag --interval 0 --json` against the classic bundle", Runs: p.runs,
			A:     Command{Name: "netdx diag --interval 0 --json", Argv: []string{p.netdx, "diag", "--interval", "0", "--json"}, OK: []int{0, 1}},
			B:     Command{Name: "sh bundle.sh", Argv: []string{"sh", p.bundle}, Env: []string{"NSTAT_HISTORY=" + p.nstatHistory}},
			Needs: []string{"nstat", "ss", "ethtool", "tc", "sysctl"}, Target: 0.25},
	}
	for i, c := range p.caps {
		out = append(out, &Comparison{ID: "pcap-" + c.Label,
			Title: fmt.Sprintf("Capture analysis, %s packets: `netdx pcap analyze --json` against `tshark -q -z expert`", c.Label),
			Runs:  p.slowRuns, A: pcap(c),
			B:     Command{Name: "tshark -q -z expert -r " + filepath.Base(c.Path), Argv: []string{"tshark", "-q", "-z", "expert", "-r", c.Path}},
			Needs: []string{"tshark"}, Speedup: true, Target: []float64{50, 100}[i], MaxRSS: 64 << 20})
	}
	for _, c := range p.caps {
		out = append(out, &Comparison{ID: "floor-" + c.Label,
			Title: fmt.Sprintf("Capture floor, %s packets: the libraries-only binary starting and reading the file through, nothing else, against `netdx pcap analyze --json`", c.Label),
			Runs:  p.runs, A: Command{Name: "libraries " + filepath.Base(c.Path), Argv: []string{p.libraries, c.Path}}, B: pcap(c),
			Bounds: "pcap-" + c.Label})
	}
	for _, c := range p.caps {
		out = append(out, &Comparison{ID: "cores-" + c.Label,
			Title: fmt.Sprintf("Capture analysis, %s packets: two cores against one (GOMAXPROCS)", c.Label),
			Runs:  p.runs, A: pcap(c, "GOMAXPROCS=2"), B: pcap(c, "GOMAXPROCS=1"), Speedup: true, SameOutput: true})
	}
	return out
}

func ids() []string {
	var out []string
	for _, c := range (plan{caps: captures()}).comparisons() {
		out = append(out, c.ID)
	}
	return out
}

func run(o options) error {
	only, err := regexp.Compile(o.only)
	if err != nil {
		return fmt.Errorf("-only: %w", err)
	}
	goBin := "go"
	if g := os.Getenv("GO"); g != "" {
		goBin = g
	}
	tmp, err := os.MkdirTemp("", "perfbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// Interrupted, the harness still removes its binaries and script; the
	// command being timed gets the terminal's signal itself.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		os.RemoveAll(tmp)
		os.Exit(130)
	}()
	p := plan{netdx: o.netdx, hello: filepath.Join(tmp, "hello"), libraries: filepath.Join(tmp, "libraries"), bundle: filepath.Join(tmp, "bundle.sh"),
		nstatHistory: filepath.Join(tmp, "nstat.history"), runs: o.runs, slowRuns: o.slowRuns, caps: captures()}
	rep := &Report{Runs: o.runs, SlowRuns: o.slowRuns, Warmup: o.warmup, Bundle: bundle, Hello: hello,
		NetdxBuild: "`go build -o netdx ./cmd/netdx`"}
	if p.netdx == "" {
		p.netdx = filepath.Join(tmp, "netdx")
		progress("building netdx")
		build := exec.Command(goBin, "build", "-o", p.netdx, "./cmd/netdx")
		build.Env = append(os.Environ(), "CGO_ENABLED=0") // as `make build` and `make release` build it
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/netdx: %v\n%s", err, out)
		}
	} else {
		rep.NetdxBuild = "`make build` (" + o.netdx + ")"
	}
	if err := buildHello(goBin, tmp, p.hello); err != nil {
		return err
	}
	if rep.Libraries, err = buildLibraries(goBin, p.libraries); err != nil {
		return err
	}
	if err := os.WriteFile(p.bundle, []byte(bundle), 0o644); err != nil {
		return err
	}
	rep.NetdxSize, rep.HelloSize, rep.LibrariesSize = fileSize(p.netdx), fileSize(p.hello), fileSize(p.libraries)
	if bi, err := buildinfo.ReadFile(p.netdx); err == nil {
		for _, s := range bi.Settings {
			if s.Key == "-pgo" && s.Value != "" {
				rep.NetdxBuild += ", profile-guided (`-pgo " + filepath.Base(s.Value) + "`)"
			}
		}
	}
	for _, c := range p.caps {
		progress("capture %s: %s", c.Label, filepath.Join(o.cache, c.file()))
		if err := c.ensure(o.cache); err != nil {
			return err
		}
	}
	rep.Captures = p.caps
	rep.Machine = machine(goBin, describe())
	if rep.RSSFloor, err = rssFloor(); err != nil {
		return err
	}
	whole := startLoad()
	start := time.Now()
	for _, c := range p.comparisons() {
		if !only.MatchString(c.ID) {
			continue
		}
		rep.Comparisons = append(rep.Comparisons, c)
		if c.Skip = missing(c.Needs); c.Skip != "" {
			progress("%s: skipped: %s", c.ID, c.Skip)
			continue
		}
		if o.waitLoad > 0 {
			waitForLoad(o.waitLoad, o.waitMax)
		}
		if err := measure(c, o.warmup); err != nil {
			return err
		}
	}
	rep.Load, rep.Elapsed = whole.stop(), time.Since(start)
	rep.Machine.FirstTouch = firstTouch()
	var md bytes.Buffer
	rep.render(&md)
	if o.out == "-" {
		_, err = os.Stdout.Write(md.Bytes())
	} else {
		err = os.WriteFile(o.out, md.Bytes(), 0o644)
		progress("wrote %s", o.out)
	}
	if err != nil {
		return err
	}
	for _, c := range rep.Comparisons {
		if c.SameOutput && !c.Identical {
			return fmt.Errorf("%s: the two commands' JSON differ: %s", c.ID, c.Difference)
		}
	}
	return nil
}

func measure(c *Comparison, warmup int) error {
	progress("%s: %d runs each of %s | %s", c.ID, c.Runs, c.A.Name, c.B.Name)
	if c.SameOutput {
		a, err := c.A.output()
		if err != nil {
			return err
		}
		b, err := c.B.output()
		if err != nil {
			return err
		}
		c.Difference = sameReport(a, b)
		c.Identical = c.Difference == ""
	}
	lm := startLoad()
	var err error
	c.RA, c.RB, err = interleave(c.A, c.B, warmup, c.Runs, func(i int) {
		if i == c.Runs || i%10 == 0 {
			progress("%s: %d/%d", c.ID, i, c.Runs)
		}
	})
	c.Load = lm.stop()
	if err != nil {
		return err
	}
	a, b := summarize(c.RA), summarize(c.RB)
	progress("%s: %s %s, %s %s: %s", c.ID, c.A.Name, fmtDuration(a.Median), c.B.Name, fmtDuration(b.Median), fmtRatio(c.Ratio()))
	return nil
}

// sameReport compares two JSON reports, all but their start and end
// times, byte for byte once compacted; it says where they first differ,
// or "".
func sameReport(a, b []byte) string {
	strip := func(doc []byte) ([]byte, error) {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(doc, &m); err != nil {
			return nil, err
		}
		delete(m, "started_at")
		delete(m, "ended_at")
		return json.Marshal(m) // keys sorted; values kept as they were written
	}
	x, err := strip(a)
	if err != nil {
		return "first: " + err.Error()
	}
	y, err := strip(b)
	if err != nil {
		return "second: " + err.Error()
	}
	if bytes.Equal(x, y) {
		return ""
	}
	i := 0
	for i < min(len(x), len(y)) && x[i] == y[i] {
		i++
	}
	from := max(0, i-60)
	return fmt.Sprintf("at byte %d of the compacted reports: %q against %q", i, x[from:min(len(x), i+60)], y[from:min(len(y), i+60)])
}

func buildHello(goBin, dir, out string) error {
	src := filepath.Join(dir, "hello-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module hello\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(hello), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(goBin, "build", "-o", out, ".")
	cmd.Dir = src
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building hello-world: %v\n%s", err, b)
	}
	return nil
}

// librariesMain is the libraries-only program's main: given a file, it
// reads it through in chunks the size of capture's read-ahead chunks (256
// KiB), the least any analysis of that file started with these libraries
// costs.
const librariesMain = `func main() {
	if len(os.Args) > 1 {
		f, err := os.Open(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		buf := make([]byte, 256<<10)
		for {
			if _, err := f.Read(buf); err != nil {
				break
			}
		}
	}
	fmt.Println("libraries")
}
`

// buildLibraries builds into out a program that imports, for their
// initialisation only, every package outside netdx that netdx's own
// packages in the binary import, and prints one line: what start-up costs
// before any of netdx's own code runs. It returns the imported packages.
// The program is built inside the module (in a directory go's ./...
// patterns skip, removed after), so the libraries are the versions
// go.mod selects.
func buildLibraries(goBin, out string) ([]string, error) {
	const self = "github.com/netdx/netdx"
	list := exec.Command(goBin, "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./cmd/netdx")
	b, err := list.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -deps ./cmd/netdx: %v", err)
	}
	var libs []string
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) == 0 || (f[0] != self && !strings.HasPrefix(f[0], self+"/")) {
			continue
		}
		for _, imp := range f[1:] {
			if imp != self && !strings.HasPrefix(imp, self+"/") && imp != "C" && !slices.Contains(libs, imp) {
				libs = append(libs, imp)
			}
		}
	}
	slices.Sort(libs)
	src, err := os.MkdirTemp(".", ".perfbench-libraries-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(src)
	var prog strings.Builder
	prog.WriteString("package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n")
	for _, l := range libs {
		fmt.Fprintf(&prog, "\t_ %q\n", l)
	}
	prog.WriteString(")\n\n" + librariesMain)
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(prog.String()), 0o644); err != nil {
		return nil, err
	}
	build := exec.Command(goBin, "build", "-o", out, "./"+filepath.Base(src))
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the libraries-only program: %v\n%s", err, b)
	}
	return libs, nil
}

// missing names the programs of needs that are not in PATH, with the
// Debian packages that bring them, or "".
func missing(needs []string) string {
	pkg := map[string]string{"nstat": "iproute2", "ss": "iproute2", "tc": "iproute2", "ethtool": "ethtool",
		"sysctl": "procps", "tshark": "tshark"}
	var miss, pkgs []string
	for _, n := range needs {
		if _, err := exec.LookPath(n); err != nil {
			miss = append(miss, n)
			if !slices.Contains(pkgs, pkg[n]) {
				pkgs = append(pkgs, pkg[n])
			}
		}
	}
	if len(miss) == 0 {
		return ""
	}
	return fmt.Sprintf("%s not found in PATH (Debian: apt-get install %s)", strings.Join(miss, ", "), strings.Join(pkgs, " "))
}

// describe names the source tree netdx was built from.
func describe() string {
	out, err := exec.Command("git", "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func waitForLoad(limit float64, longest time.Duration) {
	deadline := time.Now().Add(longest)
	for l := loadavg(); l >= limit; l = loadavg() {
		if time.Now().After(deadline) {
			progress("load average still %.2f after %s; measuring anyway", l, longest)
			return
		}
		progress("load average %.2f, waiting for < %.2f", l, limit)
		time.Sleep(15 * time.Second)
	}
}

func fileSize(name string) int64 {
	st, err := os.Stat(name)
	if err != nil {
		return 0
	}
	return st.Size()
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "perfbench: "+format+"\n", args...)
}
