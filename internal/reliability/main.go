// Command reliability writes docs/reliability.md: what netdx was put
// through to show it survives hostile input, missing privileges, odd
// kernels and interrupted runs, and what happened. It runs every fuzz
// target for a set time, counting executions, and the tests of the
// convention groups (TestMalformed, TestBounded, TestInterrupt,
// TestPrivilege, TestNamespace, TestProbeSafety) with `go test -json`,
// one table row per subtest. Run it with `make reliability`.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

func main() {
	fuzztime := flag.Duration("fuzztime", 30*time.Second, "how long to run each fuzz target")
	pkgs := flag.String("pkgs", "./...", "packages whose fuzz targets and tests run")
	out := flag.String("out", "docs/reliability.md", "the document to write")
	noFuzz := flag.Bool("no-fuzz", false, "skip the fuzz targets (the table says so)")
	flag.Parse()
	if err := run(*fuzztime, *pkgs, *out, *noFuzz); err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		os.Exit(1)
	}
}

func run(fuzztime time.Duration, pkgs, out string, noFuzz bool) error {
	env := environment()
	doc := &Doc{Env: env, FuzzTime: fuzztime, FuzzSkipped: noFuzz}
	if !noFuzz {
		list, err := goCmd(io.Discard, "test", "-list", "^Fuzz", pkgs)
		if err != nil {
			return fmt.Errorf("listing fuzz targets: %v\n%s", err, list)
		}
		for _, t := range parseList(list) {
			fmt.Fprintf(os.Stderr, "== %s (%s, %s)\n", t.Name, t.Package, fuzztime)
			start := time.Now()
			b, _ := goCmd(os.Stderr, "test", "-run", "^$", "-fuzz", "^"+t.Name+"$", "-fuzztime", fuzztime.String(),
				"-fuzzminimizetime", "1s", t.Package)
			r := parseFuzz(b)
			r.Target, r.Elapsed = t, time.Since(start)
			doc.Fuzz = append(doc.Fuzz, r)
		}
	}
	fmt.Fprintf(os.Stderr, "== convention tests (%s)\n", testPattern)
	b, err := goCmd(io.Discard, "test", "-json", "-v", "-count=1", "-run", testPattern, pkgs)
	events, perr := parseEvents(bytes.NewReader(b))
	if perr != nil {
		return fmt.Errorf("reading go test -json: %v (go test: %v)", perr, err)
	}
	doc.Sections, doc.Broken = sections(events)
	var md bytes.Buffer
	doc.render(&md)
	if err := os.WriteFile(out, md.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %s\n", out, doc.summary())
	if doc.failed() {
		return fmt.Errorf("some fuzz targets or tests failed; see %s", out)
	}
	return nil
}

// goCmd runs the go command, copying its output to w as it comes, and
// returns the output.
func goCmd(w io.Writer, args ...string) ([]byte, error) {
	var buf bytes.Buffer
	cmd := exec.Command(goBin(), args...)
	cmd.Stdout = io.MultiWriter(&buf, w)
	cmd.Stderr = io.MultiWriter(&buf, w)
	err := cmd.Run()
	return buf.Bytes(), err
}

func goBin() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

// Env is where the document was made.
type Env struct {
	Date, Kernel, Go, User string
	CPUs                   int
}

func environment() Env {
	e := Env{Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), CPUs: runtime.NumCPU(), Kernel: "unknown", Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		e.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := exec.Command(goBin(), "env", "GOVERSION").Output(); err == nil {
		e.Go = strings.TrimSpace(string(b))
	}
	e.User = fmt.Sprintf("uid %d", os.Geteuid())
	if os.Geteuid() == 0 {
		e.User = "root"
	}
	return e
}
