package main

import (
	"bufio"
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Target is one fuzz target of a package.
type Target struct {
	Package, Name string
}

// parseList reads `go test -list ^Fuzz` output: a package's target names,
// then its "ok <package> <time>" line.
func parseList(out []byte) []Target {
	var names []string
	var targets []Target
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 1 && strings.HasPrefix(f[0], "Fuzz"):
			names = append(names, f[0])
		case len(f) >= 2 && f[0] == "ok":
			for _, n := range names {
				targets = append(targets, Target{Package: f[1], Name: n})
			}
			names = nil
		}
	}
	return targets
}

// FuzzResult is what one target's run printed.
type FuzzResult struct {
	Target  Target
	Elapsed time.Duration
	// Execs is the last execution count the fuzzer printed; New the
	// inputs it found that reach new code, Corpus its corpus size at the
	// end (seeds included).
	Execs, New, Corpus int64
	// Passed says go test passed; Crasher is the failing input the
	// fuzzer wrote and Failure the first line saying why.
	Passed           bool
	Crasher, Failure string
	// Note explains a pass despite go test failing.
	Note string
}

// deadlineRace is go's own failure at the end of -fuzztime: a worker's
// cancellation escapes as "context deadline exceeded" with no failing
// input (golang/go#75804, fixed in go1.27). It is not a finding.
const deadlineRace = "context deadline exceeded"

var (
	progressRe = regexp.MustCompile(`^fuzz: elapsed: \S+, execs: (\d+) \(\d+/sec\), new interesting: (\d+) \(total: (\d+)\)`)
	crasherRe  = regexp.MustCompile(`Failing input written to (\S+)`)
	messageRe  = regexp.MustCompile(`^\s*(\S+\.go:\d+: .*|panic: .*)$`)
)

// parseFuzz reads the output of `go test -fuzz`.
func parseFuzz(out []byte) FuzzResult {
	var r FuzzResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	var last string
	for sc.Scan() {
		line := sc.Text()
		if m := progressRe.FindStringSubmatch(line); m != nil {
			r.Execs, _ = strconv.ParseInt(m[1], 10, 64)
			r.New, _ = strconv.ParseInt(m[2], 10, 64)
			r.Corpus, _ = strconv.ParseInt(m[3], 10, 64)
		}
		if m := crasherRe.FindStringSubmatch(line); m != nil {
			r.Crasher = m[1]
		}
		if m := messageRe.FindStringSubmatch(line); m != nil && r.Failure == "" {
			r.Failure = strings.TrimSpace(m[1])
		}
		if strings.TrimSpace(line) != "" {
			last = line
		}
	}
	r.Passed = strings.HasPrefix(last, "ok ")
	if !r.Passed && r.Crasher == "" && r.Execs > 0 && bytes.Contains(out, []byte("\n    "+deadlineRace+"\n")) {
		r.Passed, r.Note = true, "go's end-of-fuzztime race (golang/go#75804), no failing input"
	}
	if !r.Passed && r.Failure == "" {
		r.Failure = strings.TrimSpace(last)
	}
	if r.Passed {
		r.Failure = ""
	}
	return r
}
