package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Machine is where the figures were measured.
type Machine struct {
	Date, CPU, Kernel, Go, Netdx string
	Cores                        int
	Memory                       int64
	Processes, Interfaces        int // what diag and the classic bundle walk
	Tools                        []string
	FirstTouch                   time.Duration // see firstTouch; 0 when it could not be measured
}

func machine(goBin, netdxBuild string) Machine {
	m := Machine{Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), Cores: runtime.NumCPU(), Netdx: netdxBuild,
		Kernel: strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")), CPU: "unknown"}
	for line := range strings.Lines(readFile("/proc/cpuinfo")) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			m.CPU = strings.TrimSpace(v)
			break
		}
	}
	for line := range strings.Lines(readFile("/proc/meminfo")) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kib, _ := strconv.ParseInt(f[1], 10, 64)
			m.Memory = kib << 10
		}
	}
	if b, err := exec.Command(goBin, "env", "GOVERSION").Output(); err == nil {
		m.Go = strings.TrimSpace(string(b))
	}
	if ents, err := os.ReadDir("/proc"); err == nil {
		for _, e := range ents {
			if _, err := strconv.Atoi(e.Name()); err == nil {
				m.Processes++
			}
		}
	}
	if ents, err := os.ReadDir("/sys/class/net"); err == nil {
		m.Interfaces = len(ents)
	}
	for _, t := range [][]string{{"tshark", "--version"}, {"ethtool", "--version"}, {"ss", "-V"}, {"nstat", "-V"},
		{"tc", "-V"}, {"sysctl", "--version"}} {
		if v := toolVersion(t...); v != "" {
			m.Tools = append(m.Tools, v)
		}
	}
	return m
}

// firstTouch is what the first write to a page of fresh anonymous memory
// costs a process here: the page fault that gives it the page. Every page a
// process touches for the first time (its heap and stacks growing, its
// binary's data written) costs about that much, so the page faults of the
// comparisons weigh in proportion; under a hypervisor's shadow paging it
// is several times what it is on bare metal. The median over five 16 MiB
// mappings, each written one byte per page. It runs after the timed
// runs: the peak RSS a child reports includes this process's (see run),
// which the 16 MiB would raise.
func firstTouch() time.Duration {
	const size = 16 << 20
	page := os.Getpagesize()
	var per []float64
	for range 5 {
		b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
		if err != nil {
			return 0
		}
		start := time.Now()
		for i := 0; i < size; i += page {
			b[i] = 1
		}
		per = append(per, float64(time.Since(start))/float64(size/page))
		if err := syscall.Munmap(b); err != nil {
			return 0
		}
	}
	return time.Duration(quantile(per, 0.5))
}

// toolVersion is the first line a tool prints about its version, or ""
// when it is not installed.
func toolVersion(argv ...string) string {
	if _, err := exec.LookPath(argv[0]); err != nil {
		return ""
	}
	out, _ := exec.Command(argv[0], argv[1:]...).Output()
	if len(bytes.TrimSpace(out)) == 0 {
		out, _ = exec.Command(argv[0], argv[1:]...).CombinedOutput()
	}
	line, _, _ := bytes.Cut(out, []byte("\n"))
	return argv[0] + ": " + strings.TrimSpace(string(line))
}

func readFile(name string) string {
	b, _ := os.ReadFile(name)
	return string(b)
}

// Load is what else the machine did while a comparison ran.
type Load struct {
	Before, After float64 // 1-minute load average
	// Others is the CPU that other processes used during the
	// comparison, in cores: the machine's busy time less the harness's
	// own and its children's, over the elapsed time.
	Others float64
}

// loadMeter takes the readings a Load is made of.
type loadMeter struct {
	start    time.Time
	busy     float64 // seconds of CPU the machine spent, from /proc/stat
	ours     float64 // seconds of CPU this process and its children spent
	loadavg  float64
	unusable bool
}

func startLoad() *loadMeter {
	m := &loadMeter{start: time.Now(), loadavg: loadavg()}
	m.busy, m.unusable = busySeconds()
	m.ours = ownCPU()
	return m
}

func (m *loadMeter) stop() Load {
	busy, bad := busySeconds()
	l := Load{Before: m.loadavg, After: loadavg()}
	if elapsed := time.Since(m.start).Seconds(); !m.unusable && !bad && elapsed > 0 {
		l.Others = max(0, (busy-m.busy)-(ownCPU()-m.ours)) / elapsed
	}
	return l
}

func loadavg() float64 {
	f := strings.Fields(readFile("/proc/loadavg"))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// userHZ is the unit of /proc/stat: 100 on every Linux ABI.
const userHZ = 100

// busySeconds sums the non-idle columns of /proc/stat's cpu line (user,
// nice, system, irq, softirq, steal; not idle or iowait); false when it
// cannot be read.
func busySeconds() (float64, bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, true
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, true
	}
	cols := strings.Fields(sc.Text())
	if len(cols) < 9 || cols[0] != "cpu" {
		return 0, true
	}
	var busy float64
	for i, c := range cols[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		v, err := strconv.ParseFloat(c, 64)
		if err != nil {
			return 0, true
		}
		busy += v
	}
	return busy / userHZ, false
}

func ownCPU() float64 {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	sec := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return sec(self.Utime) + sec(self.Stime) + sec(children.Utime) + sec(children.Stime)
}
