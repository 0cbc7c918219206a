package promtext

import (
	"errors"
	"io/fs"

	"github.com/prometheus/procfs"
)

// The process's families, as client_golang's process collector exported
// them on Linux, read through procfs as it did: /proc/self/stat, fd,
// limits and net/netstat.
var (
	mCPU      = &Desc{Name: "process_cpu_seconds_total", Type: Counter, Help: "Total user and system CPU time spent in seconds."}
	mOpenFDs  = &Desc{Name: "process_open_fds", Type: Gauge, Help: "Number of open file descriptors."}
	mMaxFDs   = &Desc{Name: "process_max_fds", Type: Gauge, Help: "Maximum number of open file descriptors."}
	mVirtual  = &Desc{Name: "process_virtual_memory_bytes", Type: Gauge, Help: "Virtual memory size in bytes."}
	mVirtMax  = &Desc{Name: "process_virtual_memory_max_bytes", Type: Gauge, Help: "Maximum amount of virtual memory available in bytes."}
	mResident = &Desc{Name: "process_resident_memory_bytes", Type: Gauge, Help: "Resident memory size in bytes."}
	mStart    = &Desc{Name: "process_start_time_seconds", Type: Gauge, Help: "Start time of the process since unix epoch in seconds."}
	mNetRx    = &Desc{Name: "process_network_receive_bytes_total", Type: Counter, Help: "Number of bytes received by the process over the network."}
	mNetTx    = &Desc{Name: "process_network_transmit_bytes_total", Type: Counter, Help: "Number of bytes sent by the process over the network."}
)

// Process adds the families of this process, read from /proc/self. A file
// that does not exist (net/netstat in some sandboxes) leaves its families
// out without an error.
func Process(s *Set) error {
	p, err := procfs.Self()
	if err != nil {
		return err
	}
	var errs []error
	add := func(d *Desc, v float64) { errs = append(errs, s.Add(d, v)) }
	if stat, err := p.Stat(); err != nil {
		errs = append(errs, err)
	} else {
		add(mCPU, stat.CPUTime())
		add(mVirtual, float64(stat.VirtualMemory()))
		add(mResident, float64(stat.ResidentMemory()))
		start, err := stat.StartTime()
		errs = append(errs, err)
		if err == nil {
			add(mStart, start)
		}
	}
	if n, err := p.FileDescriptorsLen(); err != nil {
		errs = append(errs, err)
	} else {
		add(mOpenFDs, float64(n))
	}
	if l, err := p.Limits(); err != nil {
		errs = append(errs, err)
	} else {
		add(mMaxFDs, float64(l.OpenFiles))
		add(mVirtMax, float64(l.AddressSpace))
	}
	if n, err := p.Netstat(); err != nil {
		errs = append(errs, err)
	} else {
		add(mNetRx, value(n.InOctets))
		add(mNetTx, value(n.OutOctets))
	}
	for i, err := range errs {
		if errors.Is(err, fs.ErrNotExist) {
			errs[i] = nil
		}
	}
	return errors.Join(errs...)
}

// value is *v, 0 when the kernel lacks the counter.
func value(v *float64) float64 {
	if v == nil {
		return 0
	}
	return *v
}
