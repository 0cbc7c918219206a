package drops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// perfRingPages is the data size of each CPU's ring in pages (a power of
// two): 64 pages hold about 5,000 samples of 48 bytes.
const perfRingPages = 64

// openTracepointEvent opens a perf event for the tracepoint on one CPU,
// sampling every hit with its raw record.
func openTracepointEvent(id uint64, cpu int) (int, error) {
	attr := unix.PerfEventAttr{
		Type:        unix.PERF_TYPE_TRACEPOINT,
		Config:      id,
		Size:        uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
		Sample_type: unix.PERF_SAMPLE_RAW,
		Sample:      1,
		// Wake the reader when a quarter of the ring is full.
		Bits:   unix.PerfBitWatermark | unix.PerfBitDisabled,
		Wakeup: perfRingPages * 4096 / 4,
	}
	fd, err := unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		return -1, os.NewSyscallError("perf_event_open", err)
	}
	return fd, nil
}

// onlineCPUs lists the CPUs in /sys/devices/system/cpu/online ("0-3,6").
func onlineCPUs() ([]int, error) {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return nil, err
	}
	return parseCPUList(strings.TrimSpace(string(b)))
}

func parseCPUList(s string) ([]int, error) {
	var cpus []int
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		b := a
		if isRange && err == nil {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a || b > 1<<16 {
			return nil, fmt.Errorf("bad CPU list %q", s)
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// perfRing is one CPU's mapped ring.
type perfRing struct {
	fd   int
	mem  []byte
	meta *unix.PerfEventMmapPage
	data []byte
	buf  []byte // an unwrapped copy when records wrap around the end
}

func newPerfRing(fd int) (*perfRing, error) {
	page := os.Getpagesize()
	mem, err := unix.Mmap(fd, 0, page*(1+perfRingPages), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, os.NewSyscallError("mmap perf ring", err)
	}
	meta := (*unix.PerfEventMmapPage)(unsafe.Pointer(&mem[0]))
	return &perfRing{fd: fd, mem: mem, meta: meta, data: mem[page:]}, nil
}

// read hands the records written since the last read to parse and
// frees their space.
func (r *perfRing) read(sample func([]byte), lost func(uint64)) error {
	head := atomic.LoadUint64(&r.meta.Data_head)
	tail := r.meta.Data_tail
	if head == tail {
		return nil
	}
	size := uint64(len(r.data))
	start, n := tail%size, head-tail
	var b []byte
	if start+n <= size {
		b = r.data[start : start+n]
	} else {
		r.buf = append(append(r.buf[:0], r.data[start:]...), r.data[:n-(size-start)]...)
		b = r.buf
	}
	used, err := parsePerfRecords(b, sample, lost)
	if err != nil {
		// The ring is beyond repair: skip what is in it.
		used = len(b)
	}
	atomic.StoreUint64(&r.meta.Data_tail, tail+uint64(used))
	return err
}

func (r *perfRing) close() error {
	return errors.Join(unix.Munmap(r.mem), unix.Close(r.fd))
}

// perfReader samples the tracepoint on every CPU and counts its records
// by reason and EtherType in user space.
type perfReader struct {
	layout rawLayout
	rings  []*perfRing
	stop   chan struct{}
	done   sync.WaitGroup

	mu        sync.Mutex
	counts    map[key]uint64
	lost      uint64
	malformed uint64
	err       error // the first malformed record
}

func openPerfReader(tp *tracepoint) (*perfReader, error) {
	layout, err := layoutOf(tp.format)
	if err != nil {
		return nil, err
	}
	cpus, err := onlineCPUs()
	if err != nil {
		return nil, err
	}
	pr := &perfReader{layout: layout, counts: map[key]uint64{}, stop: make(chan struct{})}
	for _, cpu := range cpus {
		fd, err := openTracepointEvent(tp.id, cpu)
		if err != nil {
			pr.close()
			return nil, err
		}
		ring, err := newPerfRing(fd)
		if err != nil {
			unix.Close(fd)
			pr.close()
			return nil, err
		}
		pr.rings = append(pr.rings, ring)
	}
	return pr, nil
}

// start enables the events and reads the rings until ctx ends or close.
func (pr *perfReader) start(ctx context.Context) error {
	for _, r := range pr.rings {
		if err := unix.IoctlSetInt(r.fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
			return os.NewSyscallError("enable perf event", err)
		}
	}
	pr.done.Add(1)
	go pr.loop(ctx)
	return nil
}

func (pr *perfReader) loop(ctx context.Context) {
	defer pr.done.Done()
	fds := make([]unix.PollFd, len(pr.rings))
	for i, r := range pr.rings {
		fds[i] = unix.PollFd{Fd: int32(r.fd), Events: unix.POLLIN}
	}
	for {
		// Poll wakes at the watermark; the timeout bounds how stale
		// a snapshot can be and how long close waits.
		_, err := unix.Poll(fds, 50)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		pr.drain()
		select {
		case <-ctx.Done():
			return
		case <-pr.stop:
			return
		default:
		}
	}
}

// drain reads every ring once.
func (pr *perfReader) drain() {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	sample := func(raw []byte) {
		k, err := pr.layout.decodeRaw(raw)
		if err != nil {
			pr.malformed++
			return
		}
		pr.counts[k]++
	}
	lost := func(n uint64) { pr.lost += n }
	for _, r := range pr.rings {
		if err := r.read(sample, lost); err != nil && pr.err == nil {
			pr.err = err
		}
	}
}

// snapshot reads the rings and copies the counts.
func (pr *perfReader) snapshot() (map[key]uint64, uint64) {
	pr.drain()
	pr.mu.Lock()
	defer pr.mu.Unlock()
	out := make(map[key]uint64, len(pr.counts))
	for k, v := range pr.counts {
		out[k] = v
	}
	return out, pr.lost + pr.malformed
}

func (pr *perfReader) close() error {
	select {
	case <-pr.stop:
	default:
		close(pr.stop)
	}
	pr.done.Wait()
	var errs []error
	for _, r := range pr.rings {
		errs = append(errs, r.close())
	}
	pr.rings = nil
	return errors.Join(errs...)
}
