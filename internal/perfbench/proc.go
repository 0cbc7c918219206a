package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Command is one process the harness times.
type Command struct {
	Name string   // what the tables call it
	Argv []string // Argv[0] is a path or a program in PATH
	Env  []string // added to the harness's environment, e.g. GOMAXPROCS=1
	OK   []int    // exit statuses that count as a run; none means 0 only
}

func (c Command) accepts(status int) bool {
	if len(c.OK) == 0 {
		return status == 0
	}
	return slices.Contains(c.OK, status)
}

// cleanEnv is the harness's environment without the Go runtime settings
// that would change what a Go program does (a command sets its own).
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "GOMAXPROCS", "GODEBUG", "GOGC", "GOMEMLIMIT", "GOTRACEBACK":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// run starts the command with standard output to /dev/null and waits for
// it. The wall time covers fork to reaped; CPU time, peak RSS and page
// faults come from wait4's rusage, which folds in the children the
// process waited for (so a script's figures cover its whole tree, and
// its peak RSS is that of its largest process).
//
// A child's reported peak RSS has a floor: started by this harness,
// /bin/true reports several MiB (1 MiB under GNU time), because Linux
// folds the high-water mark of the address space a process leaves at
// exec into its rusage (exec_mmap), and Go starts children with vfork
// from its own address space. rssFloor measures it.
func (c Command) run(stdout, stderr *os.File) (Run, error) {
	path, err := exec.LookPath(c.Argv[0])
	if err != nil {
		return Run{}, err
	}
	cmd := &exec.Cmd{Path: path, Args: c.Argv, Env: append(cleanEnv(), c.Env...), Stdout: stdout, Stderr: stderr}
	if err := stderr.Truncate(0); err != nil {
		return Run{}, err
	}
	if _, err := stderr.Seek(0, 0); err != nil {
		return Run{}, err
	}
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return Run{}, fmt.Errorf("%s: %w", c.Name, err)
	}
	ps := cmd.ProcessState
	if !c.accepts(ps.ExitCode()) {
		msg, _ := os.ReadFile(stderr.Name())
		return Run{}, fmt.Errorf("%s: %s\n%s", c.Name, ps, tail(msg, 2000))
	}
	ru, _ := ps.SysUsage().(*syscall.Rusage)
	r := Run{Wall: wall, CPU: ps.UserTime() + ps.SystemTime()}
	if ru != nil {
		r.MaxRSS = ru.Maxrss << 10 // KiB on Linux
		r.Faults = ru.Minflt + ru.Majflt
	}
	return r, nil
}

// output runs the command once and returns its standard output.
func (c Command) output() ([]byte, error) {
	cmd := exec.Command(c.Argv[0], c.Argv[1:]...)
	cmd.Env = append(cleanEnv(), c.Env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) && c.accepts(ee.ExitCode()) {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v\n%s", c.Name, err, tail(stderr.Bytes(), 2000))
	}
	return out, nil
}

// rssFloor is the largest peak RSS `true` reports in a few runs: a
// command whose peak is no larger cannot be told from nothing.
func rssFloor() (int64, error) {
	var floor int64
	_, runs, err := interleave(Command{Name: "true", Argv: []string{"true"}}, Command{Name: "true", Argv: []string{"true"}}, 0, 3, func(int) {})
	for _, r := range runs {
		floor = max(floor, r.MaxRSS)
	}
	return floor, err
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// interleave times a and b alternately, ABAB…, after warm-up runs of each
// that are not kept (they fill the page cache), so that a change in the
// machine's speed during the runs falls on both alike.
func interleave(a, b Command, warmup, runs int, progress func(i int)) (ra, rb []Run, err error) {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, nil, err
	}
	defer devnull.Close()
	stderr, err := os.CreateTemp("", "perfbench-stderr-")
	if err != nil {
		return nil, nil, err
	}
	defer os.Remove(stderr.Name())
	defer stderr.Close()
	for i := range warmup + runs {
		x, err := a.run(devnull, stderr)
		if err != nil {
			return nil, nil, err
		}
		y, err := b.run(devnull, stderr)
		if err != nil {
			return nil, nil, err
		}
		if i >= warmup {
			ra, rb = append(ra, x), append(rb, y)
			progress(i - warmup + 1)
		}
	}
	return ra, rb, nil
}
