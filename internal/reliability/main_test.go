package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// The inputs are real output: testdata/gotest-sample.json and
// fuzz-crash.txt come from `go test -json -v` and `go test -fuzz` on a
// small package with passing, skipped, failing and parallel subtests and
// a fuzz target that panics; fuzz-pass.txt and list-netdx.txt from this
// repository's own targets.

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseList(t *testing.T) {
	got := parseList(read(t, "list-netdx.txt"))
	want := []Target{{module + "/capture", "FuzzAnalyze"}, {module + "/capture/decode", "FuzzDecode"}, {module + "/probes", "FuzzParseReply"}}
	if len(got) != len(want) {
		t.Fatalf("targets %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("target %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestParseFuzzPass(t *testing.T) {
	r := parseFuzz(read(t, "fuzz-pass.txt"))
	if !r.Passed || r.Execs != 145831 || r.New != 31 || r.Corpus != 94 || r.Failure != "" || r.Crasher != "" {
		t.Errorf("parsed %+v; want passed, 145831 execs, 31 new, corpus 94", r)
	}
}

func TestParseFuzzCrash(t *testing.T) {
	r := parseFuzz(read(t, "fuzz-crash.txt"))
	if r.Passed || r.Crasher != "testdata/fuzz/FuzzSample/77caecd9c5f77243" || r.Failure != "testing.go:1927: panic: sample crash" {
		t.Errorf("parsed %+v; want a failure with the crasher and the panic", r)
	}
}

func TestParseFuzzDeadlineRace(t *testing.T) {
	r := parseFuzz(read(t, "fuzz-deadline-race.txt"))
	if !r.Passed || r.Note == "" || r.Execs != 27152 || r.Crasher != "" {
		t.Errorf("parsed %+v; want a pass with a note on go's race", r)
	}
}

func TestParseFuzzBuildFailure(t *testing.T) {
	out := "# example.com/x\n./x_test.go:3:1: syntax error\nFAIL\texample.com/x [build failed]\n"
	r := parseFuzz([]byte(out))
	if r.Passed || r.Execs != 0 || r.Failure != "FAIL\texample.com/x [build failed]" {
		t.Errorf("parsed %+v; want a failure saying the build failed", r)
	}
}

func TestSections(t *testing.T) {
	events, err := parseEvents(bytes.NewReader(read(t, "gotest-sample.json")))
	if err != nil {
		t.Fatal(err)
	}
	secs, broken := sections(events)
	if len(secs) != len(groups) || len(broken) != 0 {
		t.Fatalf("%d sections, broken %v", len(secs), broken)
	}
	rows := map[string]Row{}
	for _, s := range secs {
		for _, r := range s.Rows {
			rows[s.Prefix+": "+r.Tried] = r
		}
	}
	want := map[string]Row{
		"TestMalformed: caplen greater than snaplen": {Result: "PASS", Outcome: `exit 3; "capture.pcap: record 7 at byte 4123: caplen 70000 > snaplen 65535"; 6 records analysed`},
		"TestMalformed: wrong magic":                 {Result: "SKIP", Outcome: "needs the shared captures"},
		"TestMalformed: zero-length frames":          {Result: "PASS"},
		"TestMalformed: header | without values":     {Result: "FAIL", Outcome: "got exit 0, want 3 (logged: exit 0; parse error named)"},
		"TestBounded: TestBoundedFlows":              {Result: "PASS", Outcome: "2000000 flows; peak heap 61 MiB; 1999936 evicted, warned"},
	}
	if len(rows) != len(want) {
		t.Errorf("rows %v", rows)
	}
	for k, w := range want {
		r, ok := rows[k]
		if !ok {
			t.Errorf("no row %q", k)
			continue
		}
		if r.Result != w.Result || (w.Outcome != "" && r.Outcome != w.Outcome) {
			t.Errorf("%s: %s %q, want %s %q", k, r.Result, r.Outcome, w.Result, w.Outcome)
		}
		if r.Package != "example.com/relsample" {
			t.Errorf("%s: package %q", k, r.Package)
		}
	}
	if r := rows["TestMalformed: zero-length frames"]; !strings.HasPrefix(r.Outcome, "exit 3;") {
		t.Errorf("parallel subtest outcome %q", r.Outcome)
	}
}

func TestSectionsBrokenPackage(t *testing.T) {
	in := `{"Action":"start","Package":"example.com/b"}
{"Action":"output","Package":"example.com/b","Output":"panic: init\n"}
{"Action":"fail","Package":"example.com/b","Elapsed":0.01}
`
	events, err := parseEvents(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if _, broken := sections(events); len(broken) != 1 || broken[0] != "example.com/b" {
		t.Errorf("broken %v", broken)
	}
}

func TestRender(t *testing.T) {
	events, err := parseEvents(bytes.NewReader(read(t, "gotest-sample.json")))
	if err != nil {
		t.Fatal(err)
	}
	d := &Doc{Env: Env{Date: "2026-11-23 15:00 UTC", Kernel: "6.18.0", Go: "go1.26.0", User: "root", CPUs: 2}, FuzzTime: 30 * time.Second}
	d.Fuzz = []FuzzResult{parseFuzz(read(t, "fuzz-pass.txt")), parseFuzz(read(t, "fuzz-crash.txt"))}
	d.Fuzz[0].Target = Target{module + "/collectors", "FuzzNetDev"}
	d.Fuzz[1].Target = Target{"example.com/relsample", "FuzzSample"}
	d.Sections, d.Broken = sections(events)
	var b bytes.Buffer
	d.render(&b)
	md := b.String()
	for _, want := range []string{
		"kernel 6.18.0, go1.26.0, as root on 2 CPUs",
		"| FuzzNetDev | collectors | 0s | 145,831 | 31 | 94 | PASS |",
		"| FuzzSample | example.com/relsample | 0s | 0 | 0 | 0 | FAIL: testing.go:1927: panic: sample crash (input: testdata/fuzz/FuzzSample/77caecd9c5f77243) |",
		"| example.com/relsample | TestMalformedBroken | header \\| without values | FAIL |",
		"No tests in this group yet (no test named `TestPrivilege...`).",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("document lacks %q:\n%s", want, md)
		}
	}
	if !d.failed() {
		t.Error("a failed fuzz target and test do not fail the run")
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 145831: "145,831", 12345678: "12,345,678"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
