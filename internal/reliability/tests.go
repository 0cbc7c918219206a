package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

// The convention groups: a test whose top-level name starts with a prefix
// belongs to that section of the document.
var groups = []struct{ Prefix, Title, About string }{
	{"TestMalformed", "Malformed input", "pcap, /proc and ICMP input that is broken on purpose"},
	{"TestBounded", "Bounded resources", "memory and the flow table under inputs built to exhaust them"},
	{"TestInterrupt", "Timeouts and interruption", "--timeout and Ctrl-C on every command"},
	{"TestPrivilege", "Privilege matrix", "who ran it, with which capabilities, and what each command did"},
	{"TestNamespace", "Namespaces and host roots", "--proc/--sys/--netns and host-global labels"},
	{"TestProbeSafety", "Probe safety", "where probes go and which replies are accepted"},
}

// testPattern selects the convention tests for go test -run.
var testPattern = func() string {
	p := make([]string, len(groups))
	for i, g := range groups {
		p[i] = g.Prefix
	}
	return "^(" + strings.Join(p, "|") + ")"
}()

// Event is one line of `go test -json` (cmd/test2json).
type Event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

func parseEvents(r io.Reader) ([]Event, error) {
	var out []Event
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != '{' {
			continue // go build's own messages around the stream
		}
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("%q: %w", line, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// Row is one table row: a subtest, or a test without subtests.
type Row struct {
	Package, Test string
	// Tried is the subtest's name made readable ("caplen greater than
	// snaplen"); the test's own name when it has no subtests.
	Tried   string
	Result  string // PASS, FAIL or SKIP
	Outcome string // the "reliability: " line, else the skip or failure message
}

// Section is one convention group's rows.
type Section struct {
	Title, Prefix, About string
	Rows                 []Row
}

type testRun struct {
	pkg, name string
	result    string
	outcome   string // the reliability line
	message   string // the first other log line (skip reason, failure)
}

// messageLineRe matches a t.Log line: "    file_test.go:12: text".
var messageLineRe = regexp.MustCompile(`^\s+\S+\.go:\d+: (.*)$`)

// sections groups the convention tests' results. Broken lists packages
// that failed without running a test (a build failure, a panic in
// init), which the document must not hide.
func sections(events []Event) ([]Section, []string) {
	runs := map[string]*testRun{}
	var order []string
	pkgFailed := map[string]bool{}
	pkgHasTests := map[string]bool{}
	for _, e := range events {
		if e.Test == "" {
			if e.Action == "fail" || e.Action == "build-fail" {
				pkgFailed[e.Package] = true
			}
			continue
		}
		pkgHasTests[e.Package] = true
		key := e.Package + "\x00" + e.Test
		r := runs[key]
		if r == nil {
			r = &testRun{pkg: e.Package, name: e.Test}
			runs[key] = r
			order = append(order, key)
		}
		switch e.Action {
		case "pass", "fail", "skip":
			r.result = strings.ToUpper(e.Action)
		case "output":
			m := messageLineRe.FindStringSubmatch(strings.TrimRight(e.Output, "\n"))
			if m == nil {
				continue
			}
			if text, ok := strings.CutPrefix(m[1], "reliability: "); ok {
				if r.outcome == "" {
					r.outcome = text
				}
			} else if r.message == "" {
				r.message = m[1]
			}
		}
	}
	parent := map[string]bool{}
	for _, k := range order {
		r := runs[k]
		for p := r.name; strings.Contains(p, "/"); {
			p = p[:strings.LastIndex(p, "/")]
			parent[r.pkg+"\x00"+p] = true
		}
	}
	out := make([]Section, len(groups))
	for i, g := range groups {
		out[i] = Section{Title: g.Title, Prefix: g.Prefix, About: g.About}
	}
	for _, k := range order {
		r := runs[k]
		if parent[k] && r.outcome == "" {
			continue // its subtests are the rows
		}
		top, sub, _ := strings.Cut(r.name, "/")
		for i, g := range groups {
			if !strings.HasPrefix(top, g.Prefix) {
				continue
			}
			row := Row{Package: r.pkg, Test: top, Tried: readable(sub), Result: r.result, Outcome: r.outcome}
			if row.Tried == "" {
				row.Tried = top
			}
			if row.Result == "" {
				row.Result = "FAIL" // started and never finished: the binary died
			}
			switch {
			case row.Result == "FAIL" && r.message != "" && row.Outcome != "":
				row.Outcome = r.message + " (logged: " + row.Outcome + ")"
			case row.Outcome != "":
			case row.Result != "PASS" && r.message != "":
				row.Outcome = r.message
			default:
				row.Outcome = "(no reliability line logged)"
			}
			out[i].Rows = append(out[i].Rows, row)
			break
		}
	}
	var broken []string
	for p := range pkgFailed {
		if !pkgHasTests[p] {
			broken = append(broken, p)
		}
	}
	sort.Strings(broken)
	return out, broken
}

// readable undoes go's subtest name escaping enough to read: spaces
// come back, and nested subtests are joined by " / ".
func readable(sub string) string {
	return strings.ReplaceAll(strings.ReplaceAll(sub, "_", " "), "/", " / ")
}
