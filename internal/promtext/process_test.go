package promtext

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// TestProcessAgreesWithKernel checks the process families against the
// kernel's own answers through other calls: the limits (getrlimit), the
// descriptors open (/proc/self/fd, less the one reading it), the CPU time
// (getrusage, before and after; /proc counts user and system time each in
// whole clock ticks of 10 ms) and the peak resident size.
func TestProcessAgreesWithKernel(t *testing.T) {
	var files, as syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &files); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &as); err != nil {
		t.Fatal(err)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	cpu := func() float64 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	low := cpu()
	m := collect(t, Process)
	high := cpu()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}

	for series, want := range map[string]float64{
		"process_max_fds":                  float64(files.Cur),
		"process_virtual_memory_max_bytes": float64(as.Cur),
		"process_open_fds":                 float64(len(fds) - 1),
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if got := m["process_cpu_seconds_total"]; got < low-0.02 || got > high {
		t.Errorf("process_cpu_seconds_total = %v, getrusage said %v before and %v after", got, low, high)
	}
	if rss := m["process_resident_memory_bytes"]; rss <= 0 || rss > float64(ru.Maxrss)*1024 || rss > m["process_virtual_memory_bytes"] {
		t.Errorf("resident %v, peak %v KiB, virtual %v", rss, ru.Maxrss, m["process_virtual_memory_bytes"])
	}
	now := float64(time.Now().UnixNano()) / 1e9
	if start := m["process_start_time_seconds"]; start > now || start < now-3600 {
		t.Errorf("process_start_time_seconds = %v, now %v: a test binary started within the hour", start, now)
	}
	for _, series := range []string{"process_network_receive_bytes_total", "process_network_transmit_bytes_total"} {
		if _, ok := m[series]; !ok {
			t.Errorf("no %s", series)
		}
	}
	if len(m) != 9 {
		t.Errorf("%d series: %v", len(m), m)
	}
}
