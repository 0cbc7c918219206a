package promtext

import (
	"errors"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"
)

// The Go runtime's families, as client_golang's default Go collector
// (v1.25) exported them: the same names, types, help and meaning. Its
// values come from runtime.ReadMemStats, debug.ReadGCStats and the
// runtime's settings rather than package runtime/metrics, whose start-up
// work every netdx command would pay.
var (
	mGoroutines = &Desc{Name: "go_goroutines", Type: Gauge, Help: "Number of goroutines that currently exist."}
	mThreads    = &Desc{Name: "go_threads", Type: Gauge, Help: "Number of OS threads created."}
	mGoInfo     = &Desc{Name: "go_info", Type: Gauge, Help: "Information about the Go environment.", Labels: []string{"version"}}
	mGCDuration = &Desc{Name: "go_gc_duration_seconds", Type: Summary,
		Help: "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles."}
	mGOGC = &Desc{Name: "go_gc_gogc_percent", Type: Gauge,
		Help: "Heap size target percentage configured by the user, otherwise 100. This value is set by the GOGC environment variable, and the runtime/debug.SetGCPercent function. Sourced from /gc/gogc:percent."}
	mMemLimit = &Desc{Name: "go_gc_gomemlimit_bytes", Type: Gauge,
		Help: "Go runtime memory limit configured by the user, otherwise math.MaxInt64. This value is set by the GOMEMLIMIT environment variable, and the runtime/debug.SetMemoryLimit function. Sourced from /gc/gomemlimit:bytes."}
	mMaxProcs = &Desc{Name: "go_sched_gomaxprocs_threads", Type: Gauge,
		Help: "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously. Sourced from /sched/gomaxprocs:threads."}
)

// memStats are the go_memstats_* families, each with its runtime.MemStats
// field.
var memStats = []struct {
	desc  Desc
	value func(*runtime.MemStats) float64
}{
	{Desc{Name: "go_memstats_alloc_bytes", Type: Gauge, Help: "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes."},
		func(m *runtime.MemStats) float64 { return float64(m.Alloc) }},
	{Desc{Name: "go_memstats_alloc_bytes_total", Type: Counter, Help: "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes."},
		func(m *runtime.MemStats) float64 { return float64(m.TotalAlloc) }},
	{Desc{Name: "go_memstats_buck_hash_sys_bytes", Type: Gauge, Help: "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes."},
		func(m *runtime.MemStats) float64 { return float64(m.BuckHashSys) }},
	{Desc{Name: "go_memstats_frees_total", Type: Counter, Help: "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects."},
		func(m *runtime.MemStats) float64 { return float64(m.Frees) }},
	{Desc{Name: "go_memstats_gc_sys_bytes", Type: Gauge, Help: "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes."},
		func(m *runtime.MemStats) float64 { return float64(m.GCSys) }},
	{Desc{Name: "go_memstats_heap_alloc_bytes", Type: Gauge, Help: "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes."},
		func(m *runtime.MemStats) float64 { return float64(m.HeapAlloc) }},
	{Desc{Name: "go_memstats_heap_idle_bytes", Type: Gauge, Help: "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes."},
		func(m *runtime.MemStats) float64 { return float64(m.HeapIdle) }},
	{Desc{Name: "go_memstats_heap_inuse_bytes", Type: Gauge, Help: "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes"},
		func(m *runtime.MemStats) float64 { return float64(m.HeapInuse) }},
	{Desc{Name: "go_memstats_heap_objects", Type: Gauge, Help: "Number of currently allocated objects. Equals to /gc/heap/objects:objects."},
		func(m *runtime.MemStats) float64 { return float64(m.HeapObjects) }},
	{Desc{Name: "go_memstats_heap_released_bytes", Type: Gauge, Help: "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes."},
		func(m *runtime.MemStats) float64 { return float64(m.HeapReleased) }},
	{Desc{Name: "go_memstats_heap_sys_bytes", Type: Gauge, Help: "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes."},
		func(m *runtime.MemStats) float64 { return float64(m.HeapSys) }},
	{Desc{Name: "go_memstats_last_gc_time_seconds", Type: Gauge, Help: "Number of seconds since 1970 of last garbage collection."},
		func(m *runtime.MemStats) float64 { return float64(m.LastGC) / 1e9 }},
	{Desc{Name: "go_memstats_mallocs_total", Type: Counter, Help: "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects."},
		func(m *runtime.MemStats) float64 { return float64(m.Mallocs) }},
	{Desc{Name: "go_memstats_mcache_inuse_bytes", Type: Gauge, Help: "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes."},
		func(m *runtime.MemStats) float64 { return float64(m.MCacheInuse) }},
	{Desc{Name: "go_memstats_mcache_sys_bytes", Type: Gauge, Help: "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes."},
		func(m *runtime.MemStats) float64 { return float64(m.MCacheSys) }},
	{Desc{Name: "go_memstats_mspan_inuse_bytes", Type: Gauge, Help: "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes."},
		func(m *runtime.MemStats) float64 { return float64(m.MSpanInuse) }},
	{Desc{Name: "go_memstats_mspan_sys_bytes", Type: Gauge, Help: "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes."},
		func(m *runtime.MemStats) float64 { return float64(m.MSpanSys) }},
	{Desc{Name: "go_memstats_next_gc_bytes", Type: Gauge, Help: "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes."},
		func(m *runtime.MemStats) float64 { return float64(m.NextGC) }},
	{Desc{Name: "go_memstats_other_sys_bytes", Type: Gauge, Help: "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes."},
		func(m *runtime.MemStats) float64 { return float64(m.OtherSys) }},
	{Desc{Name: "go_memstats_stack_inuse_bytes", Type: Gauge, Help: "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes."},
		func(m *runtime.MemStats) float64 { return float64(m.StackInuse) }},
	{Desc{Name: "go_memstats_stack_sys_bytes", Type: Gauge, Help: "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes."},
		func(m *runtime.MemStats) float64 { return float64(m.StackSys) }},
	{Desc{Name: "go_memstats_sys_bytes", Type: Gauge, Help: "Number of bytes obtained from system. Equals to /memory/classes/total:byte."},
		func(m *runtime.MemStats) float64 { return float64(m.Sys) }},
}

// gcPauseQuantiles are the quantiles of go_gc_duration_seconds: the
// shortest pause, the quartiles and the longest.
var gcPauseQuantiles = []float64{0, 0.25, 0.5, 0.75, 1}

// Go adds the Go runtime's families.
func Go(s *Set) error {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gc := debug.GCStats{PauseQuantiles: make([]time.Duration, len(gcPauseQuantiles))}
	debug.ReadGCStats(&gc)
	qs := make([]Quantile, len(gcPauseQuantiles))
	for i, q := range gcPauseQuantiles {
		qs[i] = Quantile{Q: q, Value: gc.PauseQuantiles[i].Seconds()}
	}
	threads, _ := runtime.ThreadCreateProfile(nil)
	errs := []error{
		s.Add(mGoroutines, float64(runtime.NumGoroutine())),
		s.Add(mThreads, float64(threads)),
		s.Add(mGoInfo, 1, runtime.Version()),
		s.AddSummary(mGCDuration, uint64(gc.NumGC), gc.PauseTotal.Seconds(), qs),
		s.Add(mGOGC, gogc(os.Getenv("GOGC"))),
		s.Add(mMemLimit, float64(debug.SetMemoryLimit(-1))), // a negative limit only reads it
		s.Add(mMaxProcs, float64(runtime.GOMAXPROCS(0))),
	}
	for i := range memStats {
		errs = append(errs, s.Add(&memStats[i].desc, memStats[i].value(&ms)))
	}
	return errors.Join(errs...)
}

// gogc is the GC percentage the runtime took from the GOGC variable v at
// start-up (readGOGC and setGCPercent in runtime/mgcpacer.go): a 32-bit
// number, 100 for anything else, and off (or any negative number) as
// runtime/metrics reports it and so client_golang exported it: -1 as an
// unsigned 64-bit number, 2^64-1. netdx serve never changes the
// percentage (debug.SetGCPercent), and the runtime offers no way to read
// it but package runtime/metrics.
func gogc(v string) float64 {
	n, err := strconv.ParseInt(v, 10, 32)
	switch {
	case v == "off", err == nil && n < 0:
		return math.MaxUint64
	case err == nil:
		return float64(n)
	}
	return 100
}
