package promtext

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strconv"
	"testing"
)

// collect runs collect on a new Set and returns its samples.
func collect(t *testing.T, collect func(*Set) error) map[string]float64 {
	t.Helper()
	var s Set
	if err := collect(&s); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := s.Write(&b); err != nil {
		t.Fatal(err)
	}
	return samples(t, b.String())
}

// readRuntime reads runtime/metrics samples by name.
func readRuntime(names ...string) map[string]float64 {
	rs := make([]metrics.Sample, len(names))
	for i, n := range names {
		rs[i].Name = n
	}
	metrics.Read(rs)
	out := map[string]float64{}
	for _, r := range rs {
		switch r.Value.Kind() {
		case metrics.KindUint64:
			out[r.Name] = float64(r.Value.Uint64())
		case metrics.KindFloat64:
			out[r.Name] = r.Value.Float64()
		}
	}
	return out
}

// TestGoAgreesWithRuntime checks the Go families against what the runtime
// says of itself: goroutines, GOMAXPROCS, the version, and, between two
// collections, the GC counts and heap goal of package runtime/metrics,
// which client_golang read them from.
func TestGoAgreesWithRuntime(t *testing.T) {
	runtime.GC()
	var m map[string]float64
	var rm map[string]float64
	for range 10 { // a collection between the two readings spoils them
		before := readRuntime("/gc/cycles/total:gc-cycles")
		m = collect(t, Go)
		rm = readRuntime("/gc/cycles/total:gc-cycles", "/gc/heap/goal:bytes")
		if before["/gc/cycles/total:gc-cycles"] == rm["/gc/cycles/total:gc-cycles"] {
			break
		}
	}
	for series, want := range map[string]float64{
		"go_goroutines":                                float64(runtime.NumGoroutine()),
		"go_sched_gomaxprocs_threads":                  float64(runtime.GOMAXPROCS(0)),
		`go_info{version="` + runtime.Version() + `"}`: 1,
		"go_gc_duration_seconds_count":                 rm["/gc/cycles/total:gc-cycles"],
		"go_memstats_next_gc_bytes":                    rm["/gc/heap/goal:bytes"],
		"go_memstats_heap_sys_bytes":                   m["go_memstats_heap_inuse_bytes"] + m["go_memstats_heap_idle_bytes"],
		"go_memstats_alloc_bytes":                      m["go_memstats_heap_alloc_bytes"],
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	q := func(v string) float64 { return m[`go_gc_duration_seconds{quantile="`+v+`"}`] }
	if !(0 < q("0") && q("0") <= q("0.5") && q("0.5") <= q("1") && q("1") <= m["go_gc_duration_seconds_sum"]) {
		t.Errorf("GC pauses: min %v, median %v, max %v, sum %v", q("0"), q("0.5"), q("1"), m["go_gc_duration_seconds_sum"])
	}
	if len(m) != 6+7+len(memStats) { // the summary is seven lines

		t.Errorf("%d series: %v", len(m), m)
	}
}

// TestGoSettings runs this test binary with GOGC and GOMEMLIMIT set, and
// TestGoSettingsChild checks in it that go_gc_gogc_percent and
// go_gc_gomemlimit_bytes are what package runtime/metrics says.
func TestGoSettings(t *testing.T) {
	for _, env := range [][]string{{}, {"GOGC=off"}, {"GOGC=50"}, {"GOGC=+70"}, {"GOGC=-5"}, {"GOGC=abc"}, {"GOGC=2147483648"},
		{"GOMEMLIMIT=1GiB"}, {"GOGC=off", "GOMEMLIMIT=300MiB"}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestGoSettingsChild$", "-test.v")
		cmd.Env = append(os.Environ(), "PROMTEXT_TEST_CHILD=1", "GOGC=", "GOMEMLIMIT=")
		cmd.Env = append(cmd.Env, env...)
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestGoSettingsChild")) {
			t.Errorf("%v: %v\n%s", env, err, out)
		}
	}
}

func TestGoSettingsChild(t *testing.T) {
	if os.Getenv("PROMTEXT_TEST_CHILD") == "" {
		t.Skip("run by TestGoSettings")
	}
	m := collect(t, Go)
	rm := readRuntime("/gc/gogc:percent", "/gc/gomemlimit:bytes")
	if m["go_gc_gogc_percent"] != rm["/gc/gogc:percent"] || m["go_gc_gomemlimit_bytes"] != rm["/gc/gomemlimit:bytes"] {
		t.Errorf("GOGC=%q GOMEMLIMIT=%q: gogc %v, gomemlimit %v; the runtime says %v", os.Getenv("GOGC"), os.Getenv("GOMEMLIMIT"),
			m["go_gc_gogc_percent"], strconv.FormatFloat(m["go_gc_gomemlimit_bytes"], 'f', -1, 64), rm)
	}
}
