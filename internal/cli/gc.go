package cli

import (
	"os"
	"runtime"
	"runtime/debug"
	"sync"
)

// oneShotHeap is the heap a one-shot command grows to before its first
// garbage collection. Below it the collector would only slow the command
// down (its heap is a few MiB of live data and the garbage of reading);
// it keeps the peak RSS well inside the 64 MiB that docs/performance.md
// holds pcap analyze to.
const oneShotHeap = 40 << 20

// deferGC turns the garbage collector off until the heap reaches
// oneShotHeap, for a command that runs once and exits (diag, pcap
// analyze, explain). The first collection, forced by the memory limit,
// turns it back on as it was, so a command that runs long after all (a
// capture streamed from tcpdump) collects as usual from then on. GOGC or
// GOMEMLIMIT in the environment are the user's choice and left alone.
// Only the first call in a process does anything.
var deferGC = sync.OnceFunc(func() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	percent := debug.SetGCPercent(-1)
	limit := debug.SetMemoryLimit(oneShotHeap)
	// Not a tiny allocation (those share a block and may never be freed
	// alone): its cleanup runs after the first collection.
	sentinel := new([32]byte)
	runtime.AddCleanup(sentinel, func(struct{}) {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	}, struct{}{})
})
